/**
 * Small line charts of GPU telemetry as SVG: one line per GPU per node, drawn from the
 * samples in a few hundred points (no plotting library: JupyterLab ships none we could
 * share, and an SVG polyline of 1,800 points redraws in well under a frame).
 */

export interface Sample {
  time: number; // seconds since the epoch
  node: string;
  gpu: number;
  util_pct: number | null;
  mem_used_mib: number | null;
  mem_total_mib: number | null;
  power_w: number | null;
  power_limit_w: number | null;
}

export type Metric = 'util' | 'mem' | 'power';

/** A sample's value for a metric, as a share of its scale (0..100); null if unmeasured. */
export function value(s: Sample, metric: Metric): number | null {
  if (metric === 'util') {
    return s.util_pct;
  }
  if (metric === 'mem') {
    return s.mem_used_mib !== null && s.mem_total_mib ? (100 * s.mem_used_mib) / s.mem_total_mib : null;
  }
  return s.power_w !== null && s.power_limit_w ? (100 * s.power_w) / s.power_limit_w : null;
}

/** Samples per series ("node/gpu"), in time order, the newest `keep` of each. */
export function series(samples: Sample[], keep = 1800): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  for (const s of samples) {
    const key = `${s.node}/${s.gpu}`;
    let list = out.get(key);
    if (!list) {
      list = [];
      out.set(key, list);
    }
    list.push(s);
  }
  for (const [key, list] of out) {
    list.sort((a, b) => a.time - b.time);
    if (list.length > keep) {
      out.set(key, list.slice(list.length - keep));
    }
  }
  return out;
}

/**
 * The `points` attribute of a polyline for one series over [t0, t1], in a w x h box
 * (0 % at the bottom, 100 % at the top). An unmeasured sample breaks the line: each
 * run of measured samples is a string of its own.
 */
export function polylines(list: Sample[], metric: Metric, t0: number, t1: number, w: number, h: number): string[] {
  const span = Math.max(t1 - t0, 1e-9);
  const runs: string[] = [];
  let run: string[] = [];
  for (const s of list) {
    const v = value(s, metric);
    if (v === null) {
      if (run.length) {
        runs.push(run.join(' '));
      }
      run = [];
      continue;
    }
    const x = ((s.time - t0) / span) * w;
    const y = h - (Math.min(Math.max(v, 0), 100) / 100) * h;
    run.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  }
  if (run.length) {
    runs.push(run.join(' '));
  }
  return runs;
}
