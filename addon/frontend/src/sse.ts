// Server-Sent Events over fetch() + ReadableStream. EventSource cannot send an Authorization
// header, and the token must never go into a URL. Reconnects with exponential backoff.

import { AuthError, RateLimitError, authHeaders, checkResponse } from './api';

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

export type LinkState = 'connecting' | 'live' | 'reconnecting';

export interface SseOptions {
  url: string;
  onMessage: (msg: SseMessage) => void;
  onState: (state: LinkState) => void;
  /** The server wants a token (or rejected ours); the stream stops for good. */
  onAuthError: (err: AuthError) => void;
}

/** No bytes for this long means a dead connection (the server's heartbeat is 30 s). */
const IDLE_TIMEOUT_MS = 45_000;
/**
 * Reconnection waits start here and double up to the server's `retry:` value (5 s; this until it
 * has sent one), however long the outage: a page left open through an app update shows the server
 * again within seconds of its return, and an attempt against a stopped server costs next to nothing.
 */
const FIRST_RETRY_MS = 1000;
const DEFAULT_RETRY_MS = 5000;

/** Splits an SSE byte stream into messages (WHATWG "event stream interpretation"). */
class SseParser {
  private buffer = '';
  private pendingCR = false;
  private data: string[] = [];
  private event = '';
  private id: string | null = null;
  /** Last `retry:` value from the server, in ms. */
  retryMs: number | null = null;

  feed(chunk: string, emit: (msg: SseMessage) => void): void {
    // A CRLF split across two chunks is one line end, not two.
    if (this.pendingCR && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.pendingCR = chunk.endsWith('\r');
    this.buffer += chunk;
    const lines = this.buffer.split(/\r\n|\r|\n/);
    this.buffer = lines.pop() ?? ''; // an incomplete last line waits for the next chunk
    for (const line of lines) this.line(line, emit);
  }

  private line(line: string, emit: (msg: SseMessage) => void): void {
    if (line === '') {
      if (this.data.length) emit({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
  }
}

/** Opens the stream and keeps it open until the returned function is called. */
export function openEventStream(opts: SseOptions): () => void {
  let stopped = false;
  let attempt = 0;
  let retryMs = DEFAULT_RETRY_MS;
  let controller: AbortController | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const connect = async () => {
    controller = new AbortController();
    const ctl = controller;
    let idle: ReturnType<typeof setTimeout> | undefined;
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => ctl.abort(), IDLE_TIMEOUT_MS);
    };
    opts.onState(attempt === 0 ? 'connecting' : 'reconnecting');
    let wait = 0;
    try {
      armIdle();
      const res = await checkResponse(
        await fetch(opts.url, {
          headers: { Accept: 'text/event-stream', ...authHeaders() },
          cache: 'no-store',
          signal: ctl.signal,
        }),
      );
      if (!res.body) throw new Error('response has no body');
      const parser = new SseParser();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        armIdle();
        parser.feed(value, (msg) => {
          attempt = 0;
          opts.onState('live');
          opts.onMessage(msg);
        });
        if (parser.retryMs !== null) retryMs = parser.retryMs;
      }
    } catch (err) {
      if (stopped) return;
      if (err instanceof AuthError) {
        stopped = true;
        opts.onAuthError(err);
        return;
      }
      if (err instanceof RateLimitError) wait = err.retryAfterS * 1000;
    } finally {
      clearTimeout(idle);
    }
    if (stopped) return;
    // The stream ended or failed: back off from 1 s, doubling up to the server's retry value, with jitter.
    attempt += 1;
    const backoff = Math.min(retryMs, FIRST_RETRY_MS * 2 ** Math.min(attempt - 1, 6));
    opts.onState('reconnecting');
    timer = setTimeout(connect, Math.max(wait, backoff * (0.75 + Math.random() * 0.5)));
  };

  void connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    controller?.abort();
  };
}
