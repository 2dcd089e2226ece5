/**
 * Words and numbers of the sidebar: pure functions of the server's view and a clock,
 * tested without a browser. The server decides what things mean (reason words, SU
 * rates); this only moves counters on between reads and lays values out.
 */

import type { GpuAvailability, LabJob, LabView } from './types';

/** A length of time as a person reads it: 45s, 12m, 1h05m, 2d03h; null is a dash. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) {
    return '–';
  }
  const s = Math.max(Math.floor(seconds), 0);
  if (s < 60) {
    return `${s}s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)}m`;
  }
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 86400) {
    return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  }
  return `${Math.floor(s / 86400)}d${pad(Math.floor((s % 86400) / 3600))}h`;
}

/**
 * Seconds since the view's read, by the server's clock: `receivedAt` is the client's
 * time when the view arrived (its `now` was the server's time then).
 */
export function sinceRead(view: LabView, clientNow: number, receivedAt: number): number | null {
  if (!view.read_at) {
    return null;
  }
  const serverNow = Date.parse(view.now) + (clientNow - receivedAt);
  return Math.max((serverNow - Date.parse(view.read_at)) / 1000, 0);
}

/** A running job's elapsed and time left, `since` seconds after the read. */
export function liveTimes(
  job: LabJob,
  since: number | null
): { elapsed: number | null; left: number | null } {
  if (job.elapsed_s === null) {
    return { elapsed: null, left: null };
  }
  const elapsed = job.elapsed_s + (since ?? 0);
  const left = job.time_limit_s === null ? null : Math.max(job.time_limit_s - elapsed, 0);
  return { elapsed, left };
}

/** SUs spent so far, `since` seconds after the read. */
export function liveSus(job: LabJob, since: number | null): number | null {
  if (job.sus === null || job.su_per_hour === null) {
    return job.sus;
  }
  return job.sus + (job.su_per_hour * (since ?? 0)) / 3600;
}

/** How old the data is, in words; stale data says so. */
export function ageText(view: LabView, since: number | null): string {
  if (since === null) {
    return view.connection.status === 'failed' ? 'no data' : 'reading…';
  }
  const age = `read ${duration(since)} ago`;
  return view.stale ? `stale: ${age}` : age;
}

/** A start time as the clock on the wall: "14:05", or "Tue 14:05" when not today. */
export function clock(iso: string | null, now: Date = new Date()): string {
  if (!iso) {
    return '–';
  }
  const t = new Date(iso);
  if (isNaN(t.getTime())) {
    return '–';
  }
  const hm = t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
  if (t.toDateString() === now.toDateString()) {
    return hm;
  }
  return `${t.toLocaleDateString([], { weekday: 'short' })} ${hm}`;
}

export type SortKey = 'job_id' | 'name' | 'state' | 'partition' | 'gpus' | 'left';

/** Jobs sorted by `key` (numbers as numbers, ids by their number), then by id. */
export function sortJobs(jobs: LabJob[], key: SortKey, ascending: boolean): LabJob[] {
  const idNum = (j: LabJob) => parseInt(j.job_id, 10) || 0;
  const value = (j: LabJob): number | string => {
    switch (key) {
      case 'job_id':
        return idNum(j);
      case 'gpus':
        return j.gpus;
      case 'left':
        return j.left_s ?? Number.POSITIVE_INFINITY;
      default:
        return (j[key] ?? '').toString().toLowerCase();
    }
  };
  const sign = ascending ? 1 : -1;
  return [...jobs].sort((a, b) => {
    const va = value(a);
    const vb = value(b);
    if (va < vb) {
      return -sign;
    }
    if (va > vb) {
      return sign;
    }
    return idNum(a) - idNum(b);
  });
}

/** Jobs whose id, name, partition, state, GPU type, node or reason contain every word. */
export function filterJobs(jobs: LabJob[], text: string): LabJob[] {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) {
    return jobs;
  }
  return jobs.filter(j => {
    const hay = [j.job_id, j.name, j.partition, j.state, j.gpu_label, j.node_list, j.reason_code]
      .filter(Boolean)
      .join(' ')
      .toLowerCase();
    return words.every(w => hay.includes(w));
  });
}

/** "12.5 of 50 TB" style usage, and the used share as 0..100 (null if unknown). */
export function share(used: number | null, total: number | null): number | null {
  if (used === null || total === null || total <= 0) {
    return null;
  }
  return Math.min(Math.max((100 * used) / total, 0), 100);
}

/** A number of SUs as people write them: 1,234.5 */
export function sus(value: number | null | undefined): string {
  if (value === null || value === undefined) {
    return '–';
  }
  return value.toLocaleString('en-US', { maximumFractionDigits: value < 10 ? 2 : 0 });
}

/** Free GPUs and the SU rate per GPU type, summed over its partitions (for the picker). */
export function typeChoices(gpus: GpuAvailability[]): { value: string; label: string }[] {
  const byType = new Map<string, { label: string; free: number; total: number; su: number | null }>();
  for (const g of gpus) {
    if (!g.gpu_type) {
      continue;
    }
    const t = byType.get(g.gpu_type) ?? { label: g.label, free: 0, total: 0, su: g.su_per_gpu_hour };
    t.free += g.free;
    t.total += g.total;
    byType.set(g.gpu_type, t);
  }
  const free = [...byType.values()].reduce((n, t) => n + t.free, 0);
  return [
    { value: 'any', label: `any type (${free} free now)` },
    ...[...byType.entries()].map(([value, t]) => ({
      value,
      label: `${t.label}: ${t.free}/${t.total} free, ${t.su ? sus(t.su) + ' SU/GPU-h' : 'no SU charge'}`
    }))
  ];
}
