import { describe, expect, it } from 'vitest';

import { countdown, endedText, queuedText, runningText, urgency } from './kernels';
import type { KernelInfo, LabJob } from './types';

function kernel(over: Partial<KernelInfo>): KernelInfo {
  return {
    kernel_id: 'k1', display_name: 'Rivanna GPU', status: 'waiting', pending: true, job: null,
    node: null, allocated: true, ended: null, transport: 'ssh', strategies: [], ended_state: null,
    hint: null, ...over
  };
}

describe('a pending kernel', () => {
  it('names its strategies, the best one and why it waits, and the soonest start', () => {
    const k = kernel({
      strategies: [
        { strategy: 'a6000/1x1', partition: 'gpu-a6000', job: '5', state: 'pending', reason: 'Resources', start: '2026-12-01 14:20' },
        { strategy: 'a40/1x1', partition: 'gpu-a40', job: '6', state: 'pending', reason: 'Priority', start: '2026-12-01 14:05' },
        { strategy: 'mig/1x1', partition: 'gpu-mig', job: '7', state: 'pending', reason: null, start: null }
      ]
    });
    expect(queuedText(k)).toBe('Queued: 3 strategies, best gpu-a6000 (Resources), est. 14:05');
    expect(queuedText(kernel({}))).toBe('Queued: submitting…');
  });
});

describe('a running kernel', () => {
  const job = { job_id: '9', gpus: 2, gpu_label: 'A100 80GB', elapsed_s: 100, time_limit_s: 3700 } as LabJob;

  it('says job, node, GPUs and time left, moving on from the read', () => {
    const k = kernel({ pending: false, job: '9', node: 'udc-an28-1' });
    expect(runningText(k, job, 10)).toEqual({
      text: 'Job 9 · udc-an28-1 · 2× A100 80GB · 59:50 left',
      left: 3590
    });
    expect(runningText(k, null, 10).text).toBe('Job 9 · udc-an28-1 · time left unknown');
  });

  it('turns amber at the warning and red in the last two minutes', () => {
    expect([urgency(3600, 600), urgency(600, 600), urgency(120, 600), urgency(null, 600)]).toEqual([
      'ok', 'warn', 'last', 'ok'
    ]);
    expect([countdown(3723), countdown(65), countdown(-3)]).toEqual(['1:02:03', '1:05', '0:00']);
  });

  it('tells how its job ended and what that means', () => {
    const k = kernel({ job: '9', ended_state: 'TIMEOUT', hint: 'the walltime ran out' });
    expect(endedText(k)).toBe('Job 9 ended (TIMEOUT): the walltime ran out.');
  });
});
