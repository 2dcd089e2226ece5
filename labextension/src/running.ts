/**
 * Your Rivanna jobs in JupyterLab's Running panel: each with its node and time left (or
 * why it waits); a click opens its page, the shutdown button cancels it (after asking).
 */

import { IRunningSessions } from '@jupyterlab/running';
import { LabIcon } from '@jupyterlab/ui-components';

import { cancelJob } from './actions';
import { clock, duration, liveTimes, sinceRead } from './format';
import type { LiveView } from './live';

export function runningJobs(live: LiveView, icon: LabIcon, openJob: (id: string) => void): IRunningSessions.IManager {
  const jobs = () => (live.view?.jobs ?? []).filter(j => j.state === 'running' || j.state === 'pending');
  return {
    name: 'Rivanna jobs',
    running: () => {
      const view = live.view;
      const since = view ? sinceRead(view, Date.now(), live.receivedAt) : null;
      return jobs().map(job => ({
        icon: () => icon,
        label: () => `${job.job_id} ${job.name}`,
        labelTitle: () => `${job.name}: ${job.state}${job.node_list ? ' on ' + job.node_list : ''}`,
        detail: () =>
          job.state === 'pending'
            ? `pending${job.reason_code ? ' (' + job.reason_code + ')' : ''}${job.start_time ? ', starts ~' + clock(job.start_time) : ''}`
            : `${job.node_list ?? ''} · ${duration(liveTimes(job, since).left)} left`,
        open: () => openJob(job.job_id),
        shutdown: () => void cancelJob(job.job_id, `${job.name} (${job.state})`)
      }));
    },
    shutdownAll: () => {
      for (const job of jobs()) {
        void cancelJob(job.job_id, job.name, false);
      }
    },
    refreshRunning: () => live.restart(),
    runningChanged: live.changed,
    shutdownLabel: 'Cancel job',
    shutdownAllLabel: 'Cancel all',
    shutdownAllConfirmationText: () =>
      `Cancel all ${jobs().length} of your running and pending Rivanna jobs? What they have not saved is lost.`
  };
}
