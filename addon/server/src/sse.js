// Server-Sent Events: the status document on connect, on every change, and as a heartbeat.
// The stream is state, not a log, so a reconnecting client simply gets the current document.
// Each stream remembers the generation of the stored token it was opened with; when rotate-token
// replaces that token, endStale() ends those streams so their clients reconnect and meet a 401.
import { sendJson } from './respond.js';

export const DEFAULT_SSE_TIMING = { heartbeatMs: 30_000, retryMs: 5000 };
/**
 * An open stream costs 13-37 KiB. Home Assistant needs one per config entry, the ingress page one
 * per open browser tab, and one token serves every client of an installation (Home Assistant
 * instances, dashboards, scripts, tools): 50 per token (stored or HASYNC_TOKEN; the ingress proxy
 * counts as one) leaves room for all of them and for reconnects that overlap a dying stream, and 64
 * in all keeps 14 for the ingress page whatever the token holders do, at most about 2.4 MiB. Beyond
 * either, 429: a client that opens streams in a loop cannot grow the server's memory.
 */
export const STREAM_LIMITS = { perToken: 50, total: 64 };
// A client that stops reading is dropped rather than buffered without bound.
const MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * @param {{json: () => string, logger: import('./logger.js').Logger, timing?: Partial<typeof DEFAULT_SSE_TIMING>,
 *          limits?: Partial<typeof STREAM_LIMITS>}} deps
 *   json: the status document's JSON text
 */
export function createSseHub({ json, logger, timing = {}, limits = {} }) {
  const { heartbeatMs, retryMs } = { ...DEFAULT_SSE_TIMING, ...timing };
  const { perToken, total } = { ...STREAM_LIMITS, ...limits };
  /** Open streams and the token generation each was authorized with (null: ingress or HASYNC_TOKEN). */
  /** @type {Map<import('node:http').ServerResponse, number|null>} */
  const clients = new Map();
  /** The stream each connection carries, and the open streams per token. */
  /** @type {Map<import('node:net').Socket, import('node:http').ServerResponse>} */
  const bySocket = new Map();
  /** @type {Map<string, number>} */
  const perIdentity = new Map();
  let lastId = 0;
  let heartbeat = null;

  const frame = () => `id: ${++lastId}\nevent: status\ndata: ${json()}\n\n`;

  const send = (res, text) => {
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      logger.warning('events: dropping a client that stopped reading');
      res.destroy();
      return;
    }
    res.write(text);
  };

  return {
    /**
     * @param {import('node:http').IncomingMessage} req
     * @param {import('node:http').ServerResponse} res
     * @param {number|null} [generation]  of the stored token the request was authorized with
     * @param {string} [identity]  who the stream counts against: 'ingress', or the token
     */
    open(req, res, generation = null, identity = `token ${generation}`) {
      if (req.method !== 'HEAD') {
        const mine = perIdentity.get(identity) ?? 0;
        const reason =
          mine >= perToken ? `too many event streams open with this token (${perToken})`
          : clients.size >= total ? `too many event streams open on this server (${total})`
          : null;
        if (reason) {
          sendJson(res, 429, { error: 'too_many_requests', reason, retry_after_s: retryMs / 1000 }, { 'retry-after': retryMs / 1000 });
          return;
        }
      }
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-store',
        'x-accel-buffering': 'no', // the ingress proxy must not buffer the stream
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      req.socket.setNoDelay(true);
      req.socket.setTimeout(0);
      const socket = req.socket;
      clients.set(res, generation);
      bySocket.set(socket, res);
      perIdentity.set(identity, (perIdentity.get(identity) ?? 0) + 1);
      res.on('close', () => {
        clients.delete(res);
        if (bySocket.get(socket) === res) bySocket.delete(socket);
        const left = perIdentity.get(identity) - 1;
        if (left > 0) perIdentity.set(identity, left);
        else perIdentity.delete(identity);
      });
      send(res, `retry: ${retryMs}\n${frame()}`);
      if (!heartbeat) {
        heartbeat = setInterval(() => this.broadcast(), heartbeatMs);
        heartbeat.unref();
      }
    },

    /** Push the current document to every client. */
    broadcast() {
      if (clients.size === 0) return;
      const text = frame();
      for (const res of clients.keys()) send(res, text);
    },

    /**
     * End the streams authorized with a stored token other than the current one.
     * @param {number|null} generation  the current generation (null: no token stored any more)
     * @returns {number} how many streams were ended
     */
    endStale(generation) {
      let ended = 0;
      for (const [res, opened] of clients) {
        if (opened === null || opened === generation) continue;
        clients.delete(res);
        res.end();
        ended++;
      }
      return ended;
    },

    /**
     * A request arrived on a connection that carries a stream (HTTP/1.1 pipelining): responses go out
     * in order, so it would wait for the endless stream. End the stream so it is answered.
     * @param {import('node:net').Socket} socket
     */
    endOn(socket) {
      const res = bySocket.get(socket);
      if (!res) return;
      clients.delete(res);
      bySocket.delete(socket);
      res.end();
    },

    closeAll() {
      clearInterval(heartbeat);
      heartbeat = null;
      for (const res of clients.keys()) res.end();
      clients.clear();
    },
  };
}
