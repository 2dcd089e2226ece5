/**
 * A notebook on a Rivanna kernel: a toolbar badge (queued and why, with Cancel; the job,
 * node and time left once it runs), the walltime countdown in the status bar, and a
 * dialog when the kernel's job ends that offers a new allocation with the same options.
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, SessionContextDialogs, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { explain } from './actions';
import { requestAPI } from './api';
import { h } from './dom';
import { sinceRead } from './format';
import { duration, endedText, jobOf, queuedText, runningText, urgency } from './kernels';
import type { LiveView } from './live';
import type { KernelInfo } from './types';

function kernelIdOf(panel: NotebookPanel | null): string | undefined {
  return panel?.sessionContext.session?.kernel?.id;
}

/** The line for a running kernel, with its urgency class. */
function running(live: LiveView, k: KernelInfo): { text: string; level: string } {
  const view = live.view;
  const since = view ? sinceRead(view, Date.now(), live.receivedAt) : null;
  const { text, left } = runningText(k, jobOf(k, view), since);
  return { text, level: `rv-urgency-${urgency(left, view?.warn_s ?? 600)}` };
}

/**
 * Lab says "appears to have died. It will restart automatically" when a kernel dies;
 * for a Rivanna kernel whose job ended that is wrong (it cannot restart in a job that is
 * gone), and askWhenJobsEnd says what happened instead. So a notebook on a Rivanna
 * kernel does without Lab's dialog, and gets it back on another kernel.
 */
function quietRestartDialog(panel: NotebookPanel, quiet: boolean): void {
  const p = panel as any;
  const handler = p._onSessionStatusChanged;
  if (typeof handler !== 'function' || p._rvQuiet === quiet) {
    return; // another JupyterLab: its dialog stays
  }
  if (quiet) {
    panel.sessionContext.statusChanged.disconnect(handler, panel);
  } else {
    panel.sessionContext.statusChanged.connect(handler, panel);
  }
  p._rvQuiet = quiet;
}

/** The toolbar badge of one notebook. */
export class KernelBadge extends Widget {
  private readonly label = h('span', { className: 'rv-badge-text', role: 'status' });
  private readonly cancel = h('button', { className: 'rv-badge-cancel', type: 'button' }, 'Cancel');
  private readonly ticker: number;

  constructor(
    private readonly panel: NotebookPanel,
    private readonly live: LiveView
  ) {
    super();
    this.addClass('rv-badge');
    this.node.append(this.label, this.cancel);
    this.cancel.addEventListener('click', () => void this.cancelStart());
    live.changed.connect(this.render, this);
    panel.sessionContext.kernelChanged.connect(this.render, this);
    this.ticker = window.setInterval(() => this.render(), 1000);
    this.render();
  }

  dispose(): void {
    window.clearInterval(this.ticker);
    this.live.changed.disconnect(this.render, this);
    super.dispose();
  }

  private render(): void {
    const k = this.live.kernel(kernelIdOf(this.panel));
    this.node.classList.toggle('rv-hidden', !k);
    quietRestartDialog(this.panel, !!k);
    if (!k) {
      return;
    }
    this.cancel.hidden = !k.pending;
    this.cancel.title = `Cancel every job this kernel's start submitted`;
    let text: string;
    let level = '';
    if (k.pending) {
      text = queuedText(k);
      level = 'rv-urgency-queued';
    } else if (k.ended_state) {
      text = endedText(k);
      level = 'rv-urgency-last';
    } else if (k.job && k.node) {
      ({ text, level } = running(this.live, k));
    } else {
      text = k.status;
    }
    this.label.textContent = text;
    this.label.title = `${text}\n${k.status}`;
    this.node.className = `rv-badge lm-Widget ${level}`;
  }

  private async cancelStart(): Promise<void> {
    const id = kernelIdOf(this.panel);
    if (!id) {
      return;
    }
    try {
      await requestAPI(`kernels/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
    } catch (err) {
      await showErrorMessage('The start was not cancelled', explain(err));
    }
  }
}

/** The status bar's countdown for the current notebook's Rivanna kernel. */
export class WalltimeStatus extends Widget {
  private readonly ticker: number;
  private readonly _activeChanged = new Signal<this, void>(this);
  private wasActive = false;

  constructor(
    private readonly tracker: INotebookTracker,
    private readonly live: LiveView,
    onClick: (jobId: string | null) => void
  ) {
    super();
    this.addClass('rv-walltime');
    this.node.setAttribute('role', 'button');
    this.node.tabIndex = 0;
    this.node.title = 'Rivanna: this notebook\u2019s job (click for its page)';
    const click = () => onClick(this.live.kernel(kernelIdOf(this.tracker.currentWidget))?.job ?? null);
    this.node.addEventListener('click', click);
    this.node.addEventListener('keydown', e => {
      if (e.key === 'Enter' || e.key === ' ') {
        click();
      }
    });
    live.changed.connect(this.render, this);
    tracker.currentChanged.connect(this.render, this);
    this.ticker = window.setInterval(() => this.render(), 1000);
    this.render();
  }

  /** Emitted when `active` changes: the status bar shows or hides the item. */
  get activeChanged(): ISignal<this, void> {
    return this._activeChanged;
  }

  /** Whether the current notebook is on a Rivanna kernel. */
  get active(): boolean {
    return !!this.live.kernel(kernelIdOf(this.tracker.currentWidget));
  }

  dispose(): void {
    window.clearInterval(this.ticker);
    super.dispose();
  }

  private render(): void {
    const k = this.live.kernel(kernelIdOf(this.tracker.currentWidget));
    if (!!k !== this.wasActive) {
      this.wasActive = !!k;
      this._activeChanged.emit();
    }
    if (!k) {
      this.node.textContent = '';
      return;
    }
    if (k.pending) {
      this.node.textContent = 'Rivanna: queued';
      this.node.className = 'rv-walltime lm-Widget rv-urgency-queued';
    } else if (k.job && k.node && !k.ended_state) {
      const { text, level } = running(this.live, k);
      this.node.textContent = text;
      this.node.className = `rv-walltime lm-Widget ${level}`;
    } else {
      this.node.textContent = k.ended_state ? `Job ${k.job} ended (${k.ended_state})` : k.status;
      this.node.className = 'rv-walltime lm-Widget rv-urgency-last';
    }
  }
}

/**
 * When a notebook's kernel job ends, ask once what to do: a new allocation with the
 * same options (the kernel restarts there), another kernel, or nothing.
 */
export function askWhenJobsEnd(app: JupyterFrontEnd, tracker: INotebookTracker, live: LiveView): void {
  const asked = new Set<string>();
  const dialogs = new SessionContextDialogs();
  live.changed.connect(() => {
    tracker.forEach(panel => {
      const k = live.kernel(kernelIdOf(panel));
      if (!k || !k.ended_state || !k.job) {
        return;
      }
      const key = `${k.kernel_id}:${k.job}`;
      if (asked.has(key)) {
        return;
      }
      asked.add(key);
      void ask(panel, k);
    });
  });

  async function ask(panel: NotebookPanel, k: KernelInfo): Promise<void> {
    const answer = await showDialog({
      title: `Your Rivanna job ${k.job} has ended`,
      body: `${endedText(k)} The kernel of ${panel.title.label} is gone with it.`,
      buttons: [
        Dialog.cancelButton({ label: 'Nothing' }),
        Dialog.okButton({ label: 'Another kernel', displayType: 'default', actions: ['other'] }),
        Dialog.okButton({ label: 'New allocation, same options', actions: ['again'] })
      ]
    });
    const actions = answer.button.actions;
    if (!answer.button.accept) {
      return;
    }
    if (actions.includes('other')) {
      await dialogs.selectKernel(panel.sessionContext);
      return;
    }
    try {
      await requestAPI(`kernels/${encodeURIComponent(k.kernel_id)}/reallocate`, { method: 'POST' });
      await panel.sessionContext.session?.kernel?.restart();
    } catch (err) {
      await showErrorMessage('No new allocation', explain(err));
    }
  }
  void app;
}

/** A notification when a running Rivanna kernel's job reaches the walltime warning. */
export function warnBeforeWalltime(live: LiveView, tell: (message: string) => void): void {
  const warned = new Set<string>();
  window.setInterval(() => {
    const view = live.view;
    if (!view) {
      return;
    }
    const since = sinceRead(view, Date.now(), live.receivedAt);
    for (const k of live.kernels) {
      const job = jobOf(k, view);
      if (!job || k.pending || k.ended_state) {
        continue;
      }
      const { left } = runningText(k, job, since);
      const key = `${k.kernel_id}:${k.job}`;
      if (left !== null && left <= view.warn_s && !warned.has(key)) {
        warned.add(key);
        tell(
          `Job ${k.job} (kernel ${k.display_name}) has ${duration(left)} of walltime left: ` +
            'save your work; the kernel ends with the job.'
        );
      }
    }
  }, 5000);
}
