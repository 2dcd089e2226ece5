import { describe, expect, it } from 'vitest';

import { SseParser } from './sse';

describe('SseParser', () => {
  it('gives events split across chunks anywhere, and skips comments', () => {
    const p = new SseParser();
    const text = ': keepalive\n\nevent: view\ndata: {"a":\ndata: 1}\n\nevent: view\r\ndata: 2\r\n\r\n';
    const got = [];
    for (let i = 0; i < text.length; i += 3) {
      got.push(...p.feed(text.slice(i, i + 3)));
    }
    expect(got).toEqual([
      { event: 'view', data: '{"a":\n1}' },
      { event: 'view', data: '2' }
    ]);
  });

  it('names an unnamed event "message" and keeps a partial one for later', () => {
    const p = new SseParser();
    expect(p.feed('data: x\n\ndata: y')).toEqual([{ event: 'message', data: 'x' }]);
    expect(p.feed('\n\n')).toEqual([{ event: 'message', data: 'y' }]);
  });
});
