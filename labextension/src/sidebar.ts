/**
 * The "Rivanna" sidebar: connection, my jobs (sortable, filterable, cancel), GPUs per
 * type, SU balances, storage and fairshare, from the page's LiveView.
 */

import { Widget } from '@lumino/widgets';

import { cancelJob } from './actions';
import { bar, h } from './dom';
import {
  ageText,
  clock,
  duration,
  filterJobs,
  liveSus,
  liveTimes,
  share,
  sinceRead,
  sortJobs,
  SortKey,
  sus
} from './format';
import type { LiveView } from './live';
import type { LabJob, LabView } from './types';

// Rows drawn at once: the filter narrows a long list; the count says what is hidden.
const MAX_ROWS = 500;
const COLUMNS: [SortKey, string][] = [
  ['job_id', 'Job'],
  ['name', 'Name'],
  ['state', 'State'],
  ['gpus', 'GPUs'],
  ['left', 'Time left']
];

export class RivannaSidebar extends Widget {
  private sortKey: SortKey = 'job_id';
  private ascending = false;
  private filter = '';
  private readonly connLine = h('div', { className: 'rv-conn', role: 'status' });
  private readonly jobsBody = h('ul', { className: 'rv-jobs', 'aria-label': 'Jobs' });
  private readonly jobsHead = h('div', { className: 'rv-sortbar', role: 'toolbar', 'aria-label': 'Sort jobs' });
  private readonly jobsCount = h('span', { className: 'rv-count' });
  private readonly gpusBox = h('div', { className: 'rv-gpus' });
  private readonly moneyBox = h('div', { className: 'rv-money' });
  private readonly storageBox = h('div', { className: 'rv-storage' });
  private readonly ticker: number;

  constructor(
    private readonly live: LiveView,
    private readonly openJob: (jobId: string) => void
  ) {
    super();
    this.id = 'rv-sidebar';
    this.addClass('rv-sidebar');
    this.title.caption = 'Rivanna: your jobs, GPUs, SUs and storage';
    const search = h('input', {
      type: 'search',
      className: 'rv-filter jp-mod-styled',
      placeholder: 'Filter jobs (id, name, state, GPU, node)',
      'aria-label': 'Filter jobs'
    });
    search.addEventListener('input', () => {
      this.filter = search.value;
      this.renderJobs();
    });
    this.node.append(
      this.connLine,
      h(
        'section',
        { className: 'rv-section', 'aria-label': 'My jobs' },
        h('h3', {}, 'My jobs ', this.jobsCount),
        search,
        this.jobsHead,
        this.jobsBody
      ),
      h('section', { className: 'rv-section', 'aria-label': 'GPUs' }, h('h3', {}, 'GPUs'), this.gpusBox),
      h(
        'section',
        { className: 'rv-section', 'aria-label': 'Service units' },
        h('h3', {}, 'Service units'),
        this.moneyBox
      ),
      h(
        'section',
        { className: 'rv-section', 'aria-label': 'Storage' },
        h('h3', {}, 'Storage'),
        this.storageBox
      )
    );
    this.renderHead();
    live.changed.connect(this.render, this);
    this.ticker = window.setInterval(() => this.tick(), 1000);
    this.render();
  }

  dispose(): void {
    window.clearInterval(this.ticker);
    this.live.changed.disconnect(this.render, this);
    super.dispose();
  }

  private since(view: LabView): number | null {
    return sinceRead(view, Date.now(), this.live.receivedAt);
  }

  private render(): void {
    this.renderConnection();
    this.renderJobs();
    this.renderGpus();
    this.renderMoney();
    this.renderStorage();
  }

  private tick(): void {
    if (!this.isVisible || !this.live.view) {
      return;
    }
    this.renderConnection();
    const since = this.since(this.live.view);
    for (const row of Array.from(this.jobsBody.querySelectorAll<HTMLElement>('li[data-job]'))) {
      const job = this.live.view.jobs.find(j => j.job_id === row.dataset.job);
      const cell = row.querySelector<HTMLElement>('.rv-left');
      if (job && cell) {
        cell.textContent = this.leftText(job, since);
      }
    }
  }

  private renderConnection(): void {
    const view = this.live.view;
    const problem = this.live.problem;
    this.connLine.replaceChildren();
    if (!view) {
      this.connLine.className = `rv-conn ${problem ? 'rv-bad' : 'rv-wait'}`;
      this.connLine.append(problem ?? 'Connecting to Rivanna…');
      return;
    }
    const c = view.connection;
    const status = problem ? 'reconnecting' : c.status;
    const who = c.user && c.host ? `${c.user}@${c.host}` : (c.host ?? 'Rivanna');
    const words = {
      ok: 'OK',
      reconnecting: 'reconnecting',
      failed: 'failed',
      connecting: 'connecting'
    }[status];
    this.connLine.className = `rv-conn rv-${status}`;
    this.connLine.append(
      h('span', { className: 'rv-dot', 'aria-hidden': 'true' }),
      h('b', {}, who),
      ` · ${words} · `,
      h('span', { className: view.stale ? 'rv-stale' : 'rv-age' }, ageText(view, this.since(view)))
    );
    const why = problem ?? c.error;
    if (why && status !== 'ok') {
      this.connLine.append(h('div', { className: 'rv-why' }, why));
    }
  }

  private renderHead(): void {
    this.jobsHead.replaceChildren(
      h('span', { className: 'rv-detail' }, 'Sort:'),
      ...COLUMNS.map(([key, label]) => {
        const sorted = this.sortKey === key;
        const button = h(
          'button',
          {
            className: `rv-sort${sorted ? ' rv-sorted' : ''}`,
            type: 'button',
            title: `Sort by ${label.toLowerCase()}`,
            'aria-pressed': sorted ? 'true' : 'false'
          },
          label,
          sorted ? (this.ascending ? ' ▲' : ' ▼') : ''
        );
        button.addEventListener('click', () => {
          this.ascending = sorted ? !this.ascending : true;
          this.sortKey = key;
          this.renderHead();
          this.renderJobs();
        });
        return button;
      })
    );
  }

  private leftText(job: LabJob, since: number | null): string {
    if (job.state === 'pending') {
      return job.start_time ? `starts ${clock(job.start_time)}` : 'pending';
    }
    const { left } = liveTimes(job, since);
    return duration(left);
  }

  private renderJobs(): void {
    const view = this.live.view;
    const jobs = view ? view.jobs : [];
    const shown = sortJobs(filterJobs(jobs, this.filter), this.sortKey, this.ascending);
    this.jobsCount.textContent =
      shown.length === jobs.length ? `(${jobs.length})` : `(${shown.length} of ${jobs.length})`;
    const since = view ? this.since(view) : null;
    const rows = shown.slice(0, MAX_ROWS).map(job => this.jobRow(job, since));
    if (!jobs.length) {
      rows.push(h('li', { className: 'rv-empty' }, view ? 'No jobs.' : '…'));
    } else if (shown.length > MAX_ROWS) {
      rows.push(h('li', { className: 'rv-empty' }, `${shown.length - MAX_ROWS} more: filter to see them.`));
    }
    this.jobsBody.replaceChildren(...rows);
  }

  private jobRow(job: LabJob, since: number | null): HTMLElement {
    const cancel = h(
      'button',
      {
        className: 'rv-cancel',
        type: 'button',
        title: `Cancel job ${job.job_id}`,
        'aria-label': `Cancel job ${job.job_id}`
      },
      '✕'
    );
    cancel.addEventListener('click', () => void this.cancel(job));
    const open = h(
      'button',
      { className: 'rv-open', type: 'button', title: `Open the page of job ${job.job_id}`, 'aria-label': `Open job ${job.job_id}` },
      '↗'
    );
    open.addEventListener('click', () => this.openJob(job.job_id));
    const detail: string[] = [];
    if (job.state === 'pending') {
      if (job.reason_code) {
        detail.push(job.reason_text ? `${job.reason_text} (${job.reason_code})` : job.reason_code);
      }
    } else if (job.node_list) {
      detail.push(job.node_list);
    }
    if (job.partition) {
      detail.push(job.partition);
    }
    const spent = liveSus(job, since);
    if (spent !== null) {
      detail.push(`${sus(spent)} SUs so far`);
    }
    const { elapsed } = liveTimes(job, since);
    if (elapsed !== null) {
      detail.push(`ran ${duration(elapsed)}`);
    }
    const gpus = job.gpus ? `${job.gpus}× ${job.gpu_label ?? 'GPU'}` : 'no GPU';
    return h(
      'li',
      { 'data-job': job.job_id, className: `rv-job rv-state-${job.state}` },
      h(
        'div',
        { className: 'rv-job-line' },
        h('span', { className: 'rv-id' }, job.job_id),
        h('span', { className: 'rv-name', title: job.name }, job.name),
        h('span', { className: 'rv-left', title: 'Time left' }, this.leftText(job, since)),
        open,
        cancel
      ),
      h(
        'div',
        { className: 'rv-job-line rv-detail' },
        h('span', { className: 'rv-state', title: `Slurm: ${job.raw_state}` }, job.state),
        h('span', { className: 'rv-gpus-n' }, gpus)
      ),
      h('div', { className: 'rv-detail rv-more' }, detail.join(' · '))
    );
  }

  private cancel(job: LabJob): Promise<boolean> {
    return cancelJob(job.job_id, `${job.name} (${job.state}${job.node_list ? ' on ' + job.node_list : ''})`);
  }

  private renderGpus(): void {
    const view = this.live.view;
    if (!view) {
      return;
    }
    if (!view.gpus.length) {
      this.gpusBox.replaceChildren(h('div', { className: 'rv-empty' }, view.errors.sinfo ?? 'No GPU partitions read.'));
      return;
    }
    this.gpusBox.replaceChildren(
      ...view.gpus.map(g => {
        const pct = share(g.free, g.total);
        const label = `${g.label}: ${g.free} of ${g.total} free`;
        return h(
          'div',
          { className: 'rv-gpu' },
          h(
            'div',
            { className: 'rv-gpu-line' },
            h('span', { className: 'rv-gpu-label' }, g.label),
            h('span', { className: 'rv-gpu-free' }, `${g.free}/${g.total} free`),
            h('span', { className: 'rv-su' }, g.su_per_gpu_hour === null ? '' : g.su_per_gpu_hour === 0 ? 'no SU charge' : `${sus(g.su_per_gpu_hour)} SU/GPU-h`)
          ),
          bar(pct, label, g.free === 0 ? 'rv-none' : ''),
          h(
            'div',
            { className: 'rv-detail' },
            `${g.partition} · nodes ${g.nodes_idle} idle, ${g.nodes_mixed} mixed, ${g.nodes_allocated} full` +
              (g.nodes_down ? `, ${g.nodes_down} down` : '')
          )
        );
      })
    );
  }

  private renderMoney(): void {
    const view = this.live.view;
    if (!view) {
      return;
    }
    const rows: HTMLElement[] = view.allocations.map(a =>
      h(
        'div',
        { className: 'rv-balance' },
        h('span', {}, a.account),
        h('span', { className: 'rv-num' }, `${sus(a.balance)} SUs left`),
        a.allocation ? bar(share(a.used, a.allocation), `${a.account}: ${sus(a.used)} of ${sus(a.allocation)} used`) : ''
      )
    );
    if (!rows.length) {
      rows.push(h('div', { className: 'rv-empty' }, view.errors.allocations ?? 'No allocations read.'));
    }
    if (view.fairshare !== null) {
      rows.push(
        h(
          'div',
          { className: 'rv-detail', title: 'Slurm FairShare (0 to 1): higher starts sooner' },
          `Fairshare ${view.fairshare.toFixed(2)}`
        )
      );
    }
    this.moneyBox.replaceChildren(...rows);
  }

  private renderStorage(): void {
    const view = this.live.view;
    if (!view) {
      return;
    }
    const rows = view.quotas.map(q => {
      const pct = q.use_percent ?? share(q.used_bytes, q.size_bytes);
      const where = q.location ?? q.type;
      return h(
        'div',
        { className: 'rv-quota' },
        h(
          'div',
          { className: 'rv-gpu-line' },
          h('span', {}, where),
          h('span', { className: 'rv-num' }, `${q.used_text ?? '?'} of ${q.size_text ?? '?'}`)
        ),
        bar(pct, `${where}: ${pct === null ? '?' : Math.round(pct)} % used`, pct !== null && pct >= 90 ? 'rv-none' : '')
      );
    });
    this.storageBox.replaceChildren(
      ...(rows.length ? rows : [h('div', { className: 'rv-empty' }, view.errors.hdquota ?? 'No quotas read.')])
    );
  }
}
