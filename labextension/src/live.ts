/**
 * The page's one live feed of the server's view (GET /rv/api/live), shared by every
 * Rivanna face in this Lab page. It is open only while the page is visible: a hidden
 * tab closes it, so the server's poller reads for visible tabs only; except when the
 * user allowed desktop notifications, which a hidden tab exists to deliver.
 */

/** Whether this page may show desktop notifications (the user allowed them). */
export function desktopAllowed(): boolean {
  return typeof Notification !== 'undefined' && Notification.permission === 'granted';
}

import { ISignal, Signal } from '@lumino/signaling';

import { streamEvents } from './api';
import type { JobEvent, KernelInfo, LabView } from './types';

const RETRY_MS = [1000, 2000, 5000, 10000, 30000];

export class LiveView {
  private _view: LabView | null = null;
  private _kernels: KernelInfo[] = [];
  private _receivedAt = 0;
  private _changed = new Signal<this, LabView | null>(this);
  private _jobEvent = new Signal<this, JobEvent>(this);
  private _problem: string | null = null;
  private _abort: AbortController | null = null;
  private _failures = 0;
  private _disposed = false;
  private _timer: number | null = null;

  constructor(private readonly doc: Document = document) {
    this.doc.addEventListener('visibilitychange', this._onVisibility);
    this._onVisibility();
  }

  /** The latest view, or null before the first. */
  get view(): LabView | null {
    return this._view;
  }

  /** This server's Rivanna kernels, as last pushed. */
  get kernels(): KernelInfo[] {
    return this._kernels;
  }

  /** The Rivanna kernel with this id, if it is one. */
  kernel(id: string | undefined): KernelInfo | null {
    return (id && this._kernels.find(k => k.kernel_id === id)) || null;
  }

  /** The client's clock (ms) when the latest view arrived. */
  get receivedAt(): number {
    return this._receivedAt;
  }

  /** Why the feed is down now (the server unreachable...), or null while it flows. */
  get problem(): string | null {
    return this._problem;
  }

  /** A job started, ended or failed (seen while this page listened). */
  get jobEvent(): ISignal<this, JobEvent> {
    return this._jobEvent;
  }

  /** A new view, or a change of `problem`. */
  get changed(): ISignal<this, LabView | null> {
    return this._changed;
  }

  /** Reopen the feed now (after the user acted: a cancel, a retry). */
  restart(): void {
    this._close();
    this._failures = 0;
    if (this.doc.visibilityState !== 'hidden' || desktopAllowed()) {
      this._open();
    }
  }

  dispose(): void {
    this._disposed = true;
    this.doc.removeEventListener('visibilitychange', this._onVisibility);
    this._close();
  }

  private _onVisibility = (): void => {
    if (this.doc.visibilityState === 'hidden' && !desktopAllowed()) {
      this._close();
    } else if (!this._abort) {
      this._open();
    }
  };

  private _open(): void {
    if (this._disposed) {
      return;
    }
    const abort = new AbortController();
    this._abort = abort;
    streamEvents(
      'live',
      event => {
        if (event.event === 'job') {
          this._jobEvent.emit(JSON.parse(event.data) as JobEvent);
          return;
        }
        if (event.event === 'kernels') {
          this._kernels = JSON.parse(event.data) as KernelInfo[];
          this._changed.emit(this._view);
          return;
        }
        if (event.event !== 'view') {
          return;
        }
        this._view = JSON.parse(event.data) as LabView;
        this._receivedAt = Date.now();
        this._failures = 0;
        this._problem = null;
        this._changed.emit(this._view);
      },
      abort.signal
    )
      .then(() => this._retry(abort, 'The Jupyter server closed the live feed.'))
      .catch(err => this._retry(abort, err?.message ?? String(err)));
  }

  private _retry(abort: AbortController, why: string): void {
    if (abort.signal.aborted || this._abort !== abort) {
      return; // closed on purpose
    }
    this._abort = null;
    this._problem = `Lost the Jupyter server (${why}); trying again.`;
    this._changed.emit(this._view);
    const wait = RETRY_MS[Math.min(this._failures, RETRY_MS.length - 1)];
    this._failures += 1;
    this._timer = window.setTimeout(() => {
      this._timer = null;
      if ((this.doc.visibilityState !== 'hidden' || desktopAllowed()) && !this._abort) {
        this._open();
      }
    }, wait);
  }

  private _close(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
    const abort = this._abort;
    this._abort = null;
    abort?.abort();
  }
}
