import { describe, expect, it } from 'vitest';

import { ageText, duration, filterJobs, liveSus, liveTimes, share, sinceRead, sortJobs, typeChoices } from './format';
import type { LabJob, LabView } from './types';

function job(over: Partial<LabJob>): LabJob {
  return {
    job_id: '1', name: 'train', partition: 'gpu-a6000', account: 'lab', state: 'running',
    raw_state: 'RUNNING', reason_code: null, reason_text: null, gpus: 2, gpu_label: 'A6000',
    node_list: 'udc-a6k-1', nodes: 1, elapsed_s: 60, time_limit_s: 600, left_s: 540,
    start_time: null, su_per_hour: 36, sus: 0.6, ...over
  };
}

function view(over: Partial<LabView>): LabView {
  return {
    connection: { user: 'me', host: 'login', status: 'ok', error: null },
    now: '2026-12-01T12:00:10Z', read_at: '2026-12-01T12:00:00Z', age_s: 10, stale: false,
    jobs: [], gpus: [], allocations: [], quotas: [], fairshare: null, errors: {}, ...over
  };
}

describe('duration', () => {
  it.each([
    [null, '–'], [45, '45s'], [720, '12m'], [3900, '1h05m'], [183600, '2d03h'], [-5, '0s']
  ])('%s is %s', (s, text) => {
    expect(duration(s as number | null)).toBe(text);
  });
});

describe('counters between reads', () => {
  it('go on from the read by the server clock, whatever the client clock says', () => {
    const v = view({});
    // The client clock is an hour off; 5 s after the view arrived it is 15 s after the read.
    const received = Date.parse('2026-12-01T13:00:00Z');
    const since = sinceRead(v, received + 5000, received);
    expect(since).toBe(15);
    expect(liveTimes(job({}), since)).toEqual({ elapsed: 75, left: 525 });
    expect(liveSus(job({}), since)).toBeCloseTo(0.75);
    expect(ageText(v, since)).toBe('read 15s ago');
    expect(ageText(view({ stale: true }), since)).toBe('stale: read 15s ago');
  });

  it('never count a pending job, and never go below zero left', () => {
    expect(liveTimes(job({ elapsed_s: null, state: 'pending' }), 30)).toEqual({ elapsed: null, left: null });
    expect(liveTimes(job({}), 10_000).left).toBe(0);
    expect(ageText(view({ read_at: null }), null)).toBe('reading…');
  });
});

describe('the job list', () => {
  const jobs = [
    job({ job_id: '9', name: 'b', gpus: 1, left_s: 100 }),
    job({ job_id: '10', name: 'a', gpus: 4, left_s: null, state: 'pending', reason_code: 'Resources' }),
    job({ job_id: '8', name: 'c', gpus: 2, left_s: 50 })
  ];

  it('sorts ids as numbers, and puts unknown time left last', () => {
    expect(sortJobs(jobs, 'job_id', true).map(j => j.job_id)).toEqual(['8', '9', '10']);
    expect(sortJobs(jobs, 'left', true).map(j => j.job_id)).toEqual(['8', '9', '10']);
    expect(sortJobs(jobs, 'gpus', false).map(j => j.job_id)).toEqual(['10', '8', '9']);
  });

  it('filters on every word, any field', () => {
    expect(filterJobs(jobs, 'pending resources').map(j => j.job_id)).toEqual(['10']);
    expect(filterJobs(jobs, '  ').length).toBe(3);
    expect(filterJobs(jobs, 'nothing-like-this')).toEqual([]);
  });

  it('keeps every match of a long list, in order', () => {
    const many = Array.from({ length: 5000 }, (_, i) => job({ job_id: String(i), name: `n${i}` }));
    const out = sortJobs(filterJobs(many, 'n4'), 'job_id', true);
    expect(out.length).toBe(1111);
    expect(out[0].job_id).toBe('4');
    expect(out[1].job_id).toBe('40');
  });
});

describe('share', () => {
  it('is a bounded percentage, or null when unknown', () => {
    expect(share(5, 20)).toBe(25);
    expect(share(30, 20)).toBe(100);
    expect(share(null, 20)).toBeNull();
    expect(share(1, 0)).toBeNull();
  });
});

describe('the launcher type picker', () => {
  it('sums free GPUs per type over its partitions and says its SU rate', () => {
    const g = (partition: string, gpu_type: string | null, label: string, free: number, total: number, su: number | null) => ({
      partition, gpu_type, gres: 'x', label, vram_gb: null, su_per_gpu_hour: su, total, free,
      nodes_idle: 0, nodes_mixed: 0, nodes_allocated: 0, nodes_down: 0
    });
    const choices = typeChoices([
      g('gpu-a6000', 'a6000', 'A6000', 3, 8, 142.73), g('gpu', 'a6000', 'A6000', 1, 8, 142.73),
      g('gpu-mig', 'mig', 'MIG 1g.10gb', 8, 8, 0), g('gpu-new', null, 'b200', 8, 8, null)
    ]);
    expect(choices).toEqual([
      { value: 'any', label: 'any type (12 free now)' },
      { value: 'a6000', label: 'A6000: 4/16 free, 143 SU/GPU-h' },
      { value: 'mig', label: 'MIG 1g.10gb: 8/8 free, no SU charge' }
    ]);
  });
});
