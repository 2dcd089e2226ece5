/** Calls to rv-jupyter's server extension under `<base>/rv/api/`, with Jupyter's auth. */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { SseParser, ServerEvent } from './sse';

/** An error the server explained: its message and what to do (`hint`). */
export class RvApiError extends Error {
  constructor(
    message: string,
    readonly hint: string | null = null,
    readonly status = 0
  ) {
    super(message);
  }
}

function url(path: string, settings: ServerConnection.ISettings): string {
  return URLExt.join(settings.baseUrl, 'rv', 'api', path);
}

/** A JSON call; an RvApiError carrying the server's message and hint when it fails. */
export async function requestAPI<T>(path: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url(path, settings), init, settings);
  } catch (err) {
    throw new RvApiError('The Jupyter server did not answer.', 'Is it still running?');
  }
  const text = await response.text();
  let body: any = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body?.message ?? `${response.status} ${response.statusText}`;
    throw new RvApiError(message, body?.hint ?? null, response.status);
  }
  return body as T;
}

/**
 * Read the server-sent events of `path` until the stream ends or `signal` aborts;
 * resolves when it ended, rejects (RvApiError) when it could not be opened.
 */
export async function streamEvents(
  path: string,
  onEvent: (event: ServerEvent) => void,
  signal: AbortSignal
): Promise<void> {
  const settings = ServerConnection.makeSettings();
  const response = await ServerConnection.makeRequest(
    url(path, settings),
    { signal, headers: { Accept: 'text/event-stream' } },
    settings
  );
  if (!response.ok || !response.body) {
    throw new RvApiError(`${response.status} ${response.statusText}`, null, response.status);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      return;
    }
    for (const event of parser.feed(decoder.decode(value, { stream: true }))) {
      onEvent(event);
    }
  }
}
