/**
 * Server-sent events, parsed from the text of a fetch() body as it arrives.
 *
 * fetch() rather than EventSource: it sends Jupyter's Authorization header and XSRF
 * cookie like every other call (EventSource can send neither), and can be aborted.
 */

export interface ServerEvent {
  event: string;
  data: string;
}

export class SseParser {
  private buffer = '';
  private name = '';
  private data: string[] = [];

  /** Feed a chunk of the stream; the events it completes. */
  feed(chunk: string): ServerEvent[] {
    this.buffer += chunk;
    const out: ServerEvent[] = [];
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      const width = this.buffer.startsWith('\r\n', nl) ? 2 : 1;
      this.buffer = this.buffer.slice(nl + width);
      if (line === '') {
        if (this.data.length) {
          out.push({ event: this.name || 'message', data: this.data.join('\n') });
        }
        this.name = '';
        this.data = [];
        continue;
      }
      if (line.startsWith(':')) {
        continue; // a comment: the server's keepalive
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) {
        value = value.slice(1);
      }
      if (field === 'event') {
        this.name = value;
      } else if (field === 'data') {
        this.data.push(value);
      }
    }
    return out;
  }
}
