// Server-Sent Events: the status document on connect, on every change, and as a heartbeat.
// The stream is state, not a log, so a reconnecting client simply gets the current document.
// Each stream remembers the generation of the stored token it was opened with; when rotate-token
// replaces that token, endStale() ends those streams so their clients reconnect and meet a 401.

export const DEFAULT_SSE_TIMING = { heartbeatMs: 30_000, retryMs: 5000 };
// A client that stops reading is dropped rather than buffered without bound.
const MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * @param {{json: () => string, logger: import('./logger.js').Logger, timing?: Partial<typeof DEFAULT_SSE_TIMING>}} deps
 *   json: the status document's JSON text
 */
export function createSseHub({ json, logger, timing = {} }) {
  const { heartbeatMs, retryMs } = { ...DEFAULT_SSE_TIMING, ...timing };
  /** Open streams and the token generation each was authorized with (null: ingress or HASYNC_TOKEN). */
  /** @type {Map<import('node:http').ServerResponse, number|null>} */
  const clients = new Map();
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
     */
    open(req, res, generation = null) {
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
      clients.set(res, generation);
      res.on('close', () => clients.delete(res));
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

    closeAll() {
      clearInterval(heartbeat);
      heartbeat = null;
      for (const res of clients.keys()) res.end();
      clients.clear();
    },
  };
}
