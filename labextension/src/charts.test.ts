import { describe, expect, it } from 'vitest';

import { polylines, Sample, series, value } from './charts';

function s(time: number, node: string, gpu: number, util: number | null): Sample {
  return { time, node, gpu, util_pct: util, mem_used_mib: 40, mem_total_mib: 80, power_w: 150, power_limit_w: 300 };
}

describe('GPU charts', () => {
  it('keep one series per GPU per node, in time order, newest kept', () => {
    const got = series([s(2, 'a', 0, 1), s(1, 'a', 0, 2), s(1, 'b', 0, 3), s(3, 'a', 0, 4)], 2);
    expect([...got.keys()]).toEqual(['a/0', 'b/0']);
    expect(got.get('a/0')!.map(x => x.time)).toEqual([2, 3]);
  });

  it('scale memory and power to their totals', () => {
    expect(value(s(0, 'a', 0, 5), 'mem')).toBe(50);
    expect(value(s(0, 'a', 0, 5), 'power')).toBe(50);
    expect(value({ ...s(0, 'a', 0, 5), mem_total_mib: null }, 'mem')).toBeNull();
  });

  it('draw measured runs, broken where a sample is unmeasured (MIG: no utilisation)', () => {
    const list = [s(0, 'a', 0, 0), s(5, 'a', 0, 100), s(6, 'a', 0, null), s(10, 'a', 0, 50)];
    expect(polylines(list, 'util', 0, 10, 100, 50)).toEqual(['0.0,50.0 50.0,0.0', '100.0,25.0']);
    expect(polylines([s(0, 'a', 0, null)], 'util', 0, 10, 100, 50)).toEqual([]);
  });
});
