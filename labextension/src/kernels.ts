/**
 * What a notebook on a Rivanna kernel says about it: pure functions of the kernel's
 * info, the live view and a clock (tested without a browser).
 */

import { duration, liveTimes } from './format';
import type { KernelInfo, LabJob, LabView } from './types';

/** "Queued: 3 strategies, best gpu-a6000 (Resources), est. 14:05". */
export function queuedText(k: KernelInfo): string {
  const rows = k.strategies;
  if (!rows.length) {
    return 'Queued: submitting…';
  }
  const best = rows[0];
  const starts = rows.map(r => r.start).filter((s): s is string => !!s).sort();
  const n = rows.length === 1 ? '1 strategy' : `${rows.length} strategies`;
  const why = best.reason ? ` (${best.reason})` : '';
  const when = starts.length ? `, est. ${starts[0].split(' ').pop()}` : '';
  return `Queued: ${n}, best ${best.partition}${why}${when}`;
}

/** The live view's row for the kernel's job, if it has one. */
export function jobOf(k: KernelInfo, view: LabView | null): LabJob | null {
  if (!k.job || !view) {
    return null;
  }
  return view.jobs.find(j => j.job_id === k.job) ?? null;
}

export type Urgency = 'ok' | 'warn' | 'last';

/** How near the walltime is: amber from the warning, red in the last 2 minutes. */
export function urgency(left: number | null, warnS: number): Urgency {
  if (left === null) {
    return 'ok';
  }
  if (left <= 120) {
    return 'last';
  }
  return left <= warnS ? 'warn' : 'ok';
}

/** A countdown as a clock: 1:02:03, 4:05. */
export function countdown(left: number | null): string {
  if (left === null) {
    return '–';
  }
  const s = Math.max(Math.floor(left), 0);
  const pad = (n: number) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** The status-bar line of a running kernel: job, node, GPU type and time left. */
export function runningText(k: KernelInfo, job: LabJob | null, since: number | null): {
  text: string;
  left: number | null;
} {
  const left = job ? liveTimes(job, since).left : null;
  const parts = [`Job ${k.job}`];
  if (k.node) {
    parts.push(k.node);
  }
  if (job?.gpu_label) {
    parts.push(job.gpus > 1 ? `${job.gpus}× ${job.gpu_label}` : job.gpu_label);
  }
  parts.push(left === null ? 'time left unknown' : `${countdown(left)} left`);
  return { text: parts.join(' · '), left };
}

/** The words for a job's end: Slurm's state and what it means. */
export function endedText(k: KernelInfo): string {
  const state = k.ended_state ?? 'ended';
  const hint = k.hint ? `: ${k.hint}` : '';
  return `Job ${k.job ?? ''} ended (${state})${hint}.`;
}

export { duration };
