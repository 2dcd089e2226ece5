/**
 * A job's page (a main-area tab): Slurm's facts, its web ports with Open buttons
 * (through /rv/proxy/), its GPUs as plots per GPU per node, its log following live
 * (stdout or stderr), cancel, and the SUs spent so far.
 */

import { MainAreaWidget, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { cancelJob, explain } from './actions';
import { requestAPI, RvApiError, streamEvents } from './api';
import { Metric, polylines, Sample, series } from './charts';
import { h } from './dom';
import { clock, duration, liveSus, liveTimes, sinceRead, sus } from './format';
import type { LiveView } from './live';
import type { LabJob } from './types';

// What the page keeps of a log: the newest part, a page a person can still scroll.
const MAX_LOG_CHARS = 400_000;
const SVG = 'http://www.w3.org/2000/svg';
const METRICS: [Metric, string][] = [
  ['util', 'Utilisation %'],
  ['mem', 'Memory used %'],
  ['power', 'Power % of limit']
];
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

interface JobDetail {
  job: LabJob | null;
  ports: { port: number; process: string }[];
  ended: string | null;
}

class JobPageBody extends Widget {
  private readonly facts = h('dl', { className: 'rv-facts' });
  private readonly portsBox = h('div', { className: 'rv-ports' });
  private readonly plots = h('div', { className: 'rv-plots' });
  private readonly logBox = h('pre', { className: 'rv-log', tabindex: 0, 'aria-label': 'Job log' });
  private readonly logNote = h('div', { className: 'rv-detail' });
  private samples: Sample[] = [];
  private logAbort: AbortController | null = null;
  private gpuAbort: AbortController | null = null;
  private readonly ticker: number;
  private stream: 'out' | 'err' = 'out';

  constructor(
    readonly jobId: string,
    private readonly live: LiveView
  ) {
    super();
    this.addClass('rv-jobpage');
    const cancel = h('button', { className: 'rv-button rv-danger', type: 'button' }, 'Cancel job');
    cancel.addEventListener('click', () => void this.cancel());
    const out = h('button', { className: 'rv-button', type: 'button', 'aria-pressed': 'true' }, 'stdout');
    const err = h('button', { className: 'rv-button', type: 'button', 'aria-pressed': 'false' }, 'stderr');
    const pick = (which: 'out' | 'err') => {
      out.setAttribute('aria-pressed', String(which === 'out'));
      err.setAttribute('aria-pressed', String(which === 'err'));
      this.followLog(which);
    };
    out.addEventListener('click', () => pick('out'));
    err.addEventListener('click', () => pick('err'));
    this.node.append(
      h('div', { className: 'rv-jobpage-head' }, h('h2', {}, `Job ${jobId}`), cancel),
      this.facts,
      h('h3', {}, 'Web ports'),
      this.portsBox,
      h('h3', {}, 'GPUs'),
      this.plots,
      h('h3', {}, 'Log ', out, err),
      this.logNote,
      this.logBox
    );
    live.changed.connect(this.renderFacts, this);
    this.ticker = window.setInterval(() => this.renderFacts(), 1000);
    this.renderFacts();
    void this.loadDetail();
    this.followLog('out');
    this.followGpus();
  }

  dispose(): void {
    window.clearInterval(this.ticker);
    this.live.changed.disconnect(this.renderFacts, this);
    this.logAbort?.abort();
    this.gpuAbort?.abort();
    super.dispose();
  }

  private job(): LabJob | null {
    return this.live.view?.jobs.find(j => j.job_id === this.jobId) ?? null;
  }

  private renderFacts(): void {
    const view = this.live.view;
    const job = this.job();
    const rows: [string, string][] = [];
    if (!job) {
      rows.push(['State', view ? 'not in the queue (ended)' : '…']);
    } else {
      const since = view ? sinceRead(view, Date.now(), this.live.receivedAt) : null;
      const { elapsed, left } = liveTimes(job, since);
      rows.push(
        ['Name', job.name],
        ['State', job.reason_code ? `${job.state}: ${job.reason_text ?? job.reason_code} (${job.reason_code})` : job.state],
        ['Partition', job.partition ?? '–'],
        ['Account', job.account ?? '–'],
        ['GPUs', job.gpus ? `${job.gpus}× ${job.gpu_label ?? 'GPU'}` : 'none'],
        ['Nodes', job.node_list ?? (job.start_time ? `starts ~${clock(job.start_time)}` : '–')],
        ['Elapsed', duration(elapsed)],
        ['Time left', duration(left)],
        ['SUs so far', sus(liveSus(job, since))]
      );
    }
    this.facts.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  private async loadDetail(): Promise<void> {
    try {
      const detail = await requestAPI<JobDetail>(`jobs/${encodeURIComponent(this.jobId)}`);
      if (detail.ended) {
        this.portsBox.replaceChildren(h('div', { className: 'rv-empty' }, `The job has ended: ${detail.ended}.`));
        return;
      }
      if (!detail.ports.length) {
        this.portsBox.replaceChildren(h('div', { className: 'rv-empty' }, 'The job listens on no port (yet).'));
      } else {
        this.portsBox.replaceChildren(
          ...detail.ports.map(p => {
            const open = h('button', { className: 'rv-button', type: 'button' }, `Open ${p.port}`);
            open.addEventListener('click', () => void this.openPort(p.port));
            return h('div', { className: 'rv-port' }, open, ` ${p.process}`);
          })
        );
      }
    } catch (err) {
      this.portsBox.replaceChildren(h('div', { className: 'rv-empty' }, (err as Error).message));
    }
    const refresh = h('button', { className: 'rv-button', type: 'button' }, 'Look again');
    refresh.addEventListener('click', () => void this.loadDetail());
    this.portsBox.append(refresh);
  }

  private async openPort(port: number): Promise<void> {
    // The window is opened by the click itself: a browser blocks one opened later.
    const win = window.open('about:blank', '_blank');
    try {
      const fwd = await requestAPI<{ proxy_path: string }>('forwards', {
        method: 'POST',
        body: JSON.stringify({ job_id: this.jobId, port })
      });
      if (win) {
        win.location.href = fwd.proxy_path;
      }
    } catch (err) {
      win?.close();
      await showErrorMessage(`Port ${port} of job ${this.jobId}`, explain(err));
    }
  }

  private followLog(which: 'out' | 'err'): void {
    this.logAbort?.abort();
    this.stream = which;
    const abort = new AbortController();
    this.logAbort = abort;
    this.logBox.textContent = '';
    this.logNote.textContent = 'Following the log…';
    streamEvents(
      `jobs/${encodeURIComponent(this.jobId)}/log?stream=${which}`,
      event => {
        if (event.event === 'text') {
          this.appendLog(JSON.parse(event.data) as string);
        } else if (event.event === 'end') {
          this.logNote.textContent = 'The job has left the queue: this is the whole log.';
        } else if (event.event === 'error') {
          const e = JSON.parse(event.data) as { message: string; hint: string | null };
          this.logNote.textContent = e.hint ? `${e.message} ${e.hint}` : e.message;
        }
      },
      abort.signal
    ).catch(err => {
      if (!abort.signal.aborted) {
        this.logNote.textContent = `The log stopped: ${(err as Error).message}`;
      }
    });
  }

  private appendLog(text: string): void {
    const box = this.logBox;
    const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    let all = (box.textContent ?? '') + text;
    if (all.length > MAX_LOG_CHARS) {
      all = all.slice(all.length - MAX_LOG_CHARS);
    }
    box.textContent = all;
    if (atBottom) {
      box.scrollTop = box.scrollHeight;
    }
  }

  private followGpus(): void {
    const abort = new AbortController();
    this.gpuAbort = abort;
    this.plots.replaceChildren(h('div', { className: 'rv-empty' }, 'Waiting for GPU samples…'));
    streamEvents(
      `jobs/${encodeURIComponent(this.jobId)}/gpus/stream`,
      event => {
        if (event.event === 'sample') {
          this.samples = this.samples.concat(JSON.parse(event.data) as Sample[]);
          if (this.samples.length > 20_000) {
            this.samples = this.samples.slice(this.samples.length - 20_000);
          }
          this.drawPlots();
        }
      },
      abort.signal
    ).catch(err => {
      if (!abort.signal.aborted) {
        const e = err as RvApiError;
        const why = e.status === 404 ? 'GPU telemetry needs a running job.' : e.message;
        this.plots.replaceChildren(h('div', { className: 'rv-empty' }, why));
      }
    });
  }

  private drawPlots(): void {
    if (!this.isVisible) {
      return;
    }
    const bySeries = series(this.samples);
    const times = this.samples.map(s => s.time);
    const t1 = Math.max(...times);
    const t0 = Math.max(Math.min(...times), t1 - 600);
    const w = 320;
    const ht = 80;
    const keys = [...bySeries.keys()];
    const legend = h(
      'div',
      { className: 'rv-legend' },
      ...keys.map((k, i) => {
        const sw = h('span', { className: 'rv-swatch' });
        sw.style.background = PALETTE[i % PALETTE.length];
        return h('span', {}, sw, k.replace('/', ' GPU '));
      })
    );
    const charts = METRICS.map(([metric, title]) => {
      const svg = document.createElementNS(SVG, 'svg');
      svg.setAttribute('viewBox', `0 0 ${w} ${ht}`);
      svg.setAttribute('class', 'rv-chart');
      svg.setAttribute('role', 'img');
      svg.setAttribute('aria-label', `${title} over the last ${duration(t1 - t0)}`);
      keys.forEach((k, i) => {
        for (const points of polylines(bySeries.get(k)!, metric, t0, t1, w, ht)) {
          const line = document.createElementNS(SVG, 'polyline');
          line.setAttribute('points', points);
          line.setAttribute('fill', 'none');
          line.setAttribute('stroke', PALETTE[i % PALETTE.length]);
          line.setAttribute('stroke-width', '1.5');
          svg.append(line);
        }
      });
      const latest = keys.map(k => { const l = bySeries.get(k)!; return l[l.length - 1]; });
      const unmeasured = metric === 'util' && latest.every(s => s.util_pct === null);
      return h(
        'figure',
        { className: 'rv-figure' },
        h('figcaption', {}, title, unmeasured ? ' (not measured: MIG slices do not report it)' : ''),
        svg
      );
    });
    this.plots.replaceChildren(legend, ...charts);
  }

  private cancel(): Promise<boolean> {
    return cancelJob(this.jobId, `Job ${this.jobId}`);
  }

  get logStream(): 'out' | 'err' {
    return this.stream;
  }
}

/** The main-area tab of one job. */
export function jobPage(jobId: string, live: LiveView): MainAreaWidget<JobPageBody> {
  const page = new MainAreaWidget({ content: new JobPageBody(jobId, live) });
  page.id = `rv-job-${jobId}`;
  page.title.label = `Job ${jobId}`;
  page.title.caption = `Rivanna job ${jobId}`;
  page.title.closable = true;
  return page;
}
