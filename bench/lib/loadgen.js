// A small HTTP/1.1 keep-alive load generator on raw sockets, so the benches need no wrk, ab or
// autocannon. Each connection sends one request, waits for the whole response (Content-Length
// framing), records the latency and sends the next: closed-loop, like `wrk -c N` without pipelining.
import net from 'node:net';

/**
 * @param {object} o
 * @param {number} o.port
 * @param {string} [o.host]
 * @param {string} o.path
 * @param {Record<string, string>} [o.headers]
 * @param {number} [o.connections]  concurrent keep-alive connections (c)
 * @param {number} [o.durationMs]   stop sending after this long...
 * @param {number} [o.requests]     ...or after this many requests in total
 * @returns {Promise<{requests: number, errors: number, statuses: Record<string, number>, seconds: number,
 *                    rps: number, p50_ms: number, p95_ms: number, p99_ms: number, max_ms: number}>}
 */
/**
 * Figures of a finished run: `extra` (error counts, statuses) plus requests, seconds, req/s and the
 * p50/p95/p99/max latency in ms.
 * @param {number[]} latencies  ms, one per answered request
 * @param {bigint} started      process.hrtime.bigint() at the start
 */
export function summarize(latencies, started, extra) {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const sorted = Float64Array.from(latencies).sort();
  const pct = (p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);
  return {
    requests: latencies.length,
    ...extra,
    seconds,
    rps: latencies.length / seconds,
    p50_ms: pct(50),
    p95_ms: pct(95),
    p99_ms: pct(99),
    max_ms: sorted.length ? sorted[sorted.length - 1] : NaN,
  };
}

export function load({ port, host = '127.0.0.1', path, headers = {}, connections = 10, durationMs, requests }) {
  const head = Object.entries({ host: `${host}:${port}`, ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const request = Buffer.from(`GET ${path} HTTP/1.1\r\n${head}\r\n`);
  const latencies = [];
  const statuses = {};
  let sent = 0;
  let errors = 0;
  const started = process.hrtime.bigint();
  const deadline = durationMs ? started + BigInt(durationMs) * 1_000_000n : null;
  const more = () => (requests === undefined || sent < requests) && (deadline === null || process.hrtime.bigint() < deadline);

  const connection = () =>
    new Promise((resolve) => {
      const socket = net.connect(port, host);
      socket.setNoDelay(true);
      let buf = Buffer.alloc(0);
      let t0 = 0n;
      const send = () => {
        if (!more()) {
          socket.end();
          return;
        }
        sent++;
        t0 = process.hrtime.bigint();
        socket.write(request);
      };
      socket.on('connect', send);
      socket.on('data', (chunk) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end === -1) return;
          const headerText = buf.subarray(0, end).toString('latin1');
          const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(headerText)?.[1] ?? 0);
          if (buf.length < end + 4 + length) return;
          const status = headerText.slice(9, 12);
          statuses[status] = (statuses[status] ?? 0) + 1;
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
          buf = buf.subarray(end + 4 + length);
          send();
        }
      });
      socket.on('error', () => {
        errors++;
        socket.destroy();
      });
      socket.on('close', resolve);
    });

  return Promise.all(Array.from({ length: connections }, connection)).then(() =>
    summarize(latencies, started, { errors, statuses }),
  );
}
