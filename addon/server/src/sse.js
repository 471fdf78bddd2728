// Server-Sent Events: the status document on connect, on every change, and as a heartbeat.
// The stream is state, not a log, so a reconnecting client simply gets the current document.

export const DEFAULT_SSE_TIMING = { heartbeatMs: 30_000, retryMs: 5000 };
// A client that stops reading is dropped rather than buffered without bound.
const MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * @param {{document: () => object, logger: import('./logger.js').Logger, timing?: Partial<typeof DEFAULT_SSE_TIMING>}} deps
 */
export function createSseHub({ document, logger, timing = {} }) {
  const { heartbeatMs, retryMs } = { ...DEFAULT_SSE_TIMING, ...timing };
  /** @type {Set<import('node:http').ServerResponse>} */
  const clients = new Set();
  let lastId = 0;
  let heartbeat = null;

  const frame = () => `id: ${++lastId}\nevent: status\ndata: ${JSON.stringify(document())}\n\n`;

  const send = (res, text) => {
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      logger.warning('events: dropping a client that stopped reading');
      res.destroy();
      return;
    }
    res.write(text);
  };

  return {
    /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res */
    open(req, res) {
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
      clients.add(res);
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
      for (const res of clients) send(res, text);
    },

    closeAll() {
      clearInterval(heartbeat);
      heartbeat = null;
      for (const res of clients) res.end();
      clients.clear();
    },
  };
}
