// The bound on open connections. Each idle socket costs 15-40 KiB and a file descriptor: 10,000 of
// them took the server from 60 to over 200 MiB and, at a descriptor limit of 1,024, made /health
// unreachable. Legitimate clients of a home server need a handful (Home Assistant's session and event
// stream, the ingress proxy, the health check, a script or two), so:
// - at most 256 connections (about 8 MiB of sockets at worst), and never more than half the
//   descriptors left after a reserve of 64, so that a static file can be opened for each connection;
// - once half of those are taken, at most 32 from one address (IPv6: one /64), the ingress proxy
//   excepted: a client's burst is not limited while there is room, a flood from one address cannot
//   take the others' share;
// - at either bound a new connection takes the place of the oldest idle one that never carried an
//   authenticated request (event streams, requests in progress and authenticated keep-alive
//   connections are never closed), so /health and Home Assistant always get in. A connection gets
//   250 ms to send its first request before it can be closed that way; a new connection from an
//   address that presented the valid token before does not wait for that. With nothing to close,
//   the new connection is answered 503 and closed.
// When descriptors run out anyway (resources.js; reading the limit every second needs one, so a
// shortage is noticed within a second), idle unauthenticated connections are closed and the listening
// socket is closed until descriptors have been available for 10 s: libuv retries a pending connection
// it cannot accept on every turn of the event loop, a busy loop, and a closed port tells clients at
// once instead. Open connections (Home Assistant's among them) go on being served meanwhile.
import { fs, net } from './builtins.js';
import { addressKey } from './ratelimit.js';

export const CONNECTION_LIMITS = { maxConnections: 256, perAddress: 32, graceMs: 250 };
const FD_RESERVE = 64;
const MIN_CONNECTIONS = 16;
const CHECK_MS = 1000;

const REFUSED = (() => {
  const body = JSON.stringify({ error: 'service_unavailable', reason: 'too many open connections; retry in a moment' });
  return (
    `HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Retry-After: 1\r\nConnection: close\r\n\r\n${body}`
  );
})();

/** The soft limit on open files, from /proc/self/limits; null when it cannot be read or is unlimited. */
export function readDescriptorLimit() {
  const text = fs.readFileSync('/proc/self/limits', 'utf8');
  const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
  return soft && /^\d+$/.test(soft) ? Number(soft) : null;
}

/** Client address without the IPv4-mapped IPv6 prefix. */
export function plainAddress(addr = '') {
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}

/**
 * @param {object} deps
 * @param {import('node:http').Server} deps.server
 * @param {ReturnType<typeof import('./resources.js').createResourceMonitor>} deps.resources
 * @param {(key: string) => boolean} deps.trusted  by addressKey(): presented the valid token before
 * @param {(addr: string) => boolean} deps.exempt  by plain address: the ingress proxy
 * @param {Partial<typeof CONNECTION_LIMITS>} [deps.limits]
 * @param {() => number|null} [deps.descriptorLimit]
 * @param {() => number} [deps.now]
 */
export function createConnectionGuard({
  server,
  resources,
  trusted,
  exempt,
  limits = {},
  descriptorLimit = readDescriptorLimit,
  now = () => performance.now(),
}) {
  const { maxConnections, perAddress, graceMs } = { ...CONNECTION_LIMITS, ...limits };
  /** @typedef {{key: string, at: number, active: number, authenticated: boolean}} State */
  /** @type {Map<import('node:net').Socket, State>} oldest first */
  const open = new Map();
  /** @type {Map<string, Set<import('node:net').Socket>>} */
  const byAddress = new Map();
  const counts = { refused: 0, evicted: 0, shed: 0, paused: 0 };
  let cap = maxConnections;
  /** Where the server listens, while it does not (a descriptor shortage). */
  /** @type {{port: number, host: string}|null} */
  let paused = null;
  let stopped = false;
  /** @type {NodeJS.Timeout|null} */
  let timer = null;

  const idle = (s, force) => !s.authenticated && s.active === 0 && (force || now() - s.at >= graceMs);

  const forget = (socket) => {
    const s = open.get(socket);
    if (!s) return;
    open.delete(socket);
    const mine = byAddress.get(s.key);
    mine?.delete(socket);
    if (mine?.size === 0) byAddress.delete(s.key);
  };

  /** Close the oldest idle connection among `sockets`; false when there is none. */
  const evictOne = (sockets, force) => {
    for (const socket of sockets) {
      if (!idle(open.get(socket), force)) continue;
      forget(socket);
      socket.destroy();
      counts.evicted++;
      return true;
    }
    return false;
  };

  /** Re-read the descriptor limit; reading it needs a descriptor, so it also tells a shortage. */
  const check = () => {
    let limit;
    try {
      limit = descriptorLimit();
    } catch (err) {
      resources.outOfFiles(err, 'reading the descriptor limit');
      return;
    }
    resources.available();
    if (paused && !resources.short() && !stopped) {
      const { port, host } = paused;
      paused = null;
      timer?.unref();
      // A failure (still no descriptor for the socket) comes back as the server's 'error'.
      server.listen(port, host);
    }
    cap = limit === null ? maxConnections : Math.min(maxConnections, Math.max(MIN_CONNECTIONS, Math.floor((limit - FD_RESERVE) / 2)));
  };

  resources.onShortage(() => {
    for (const [socket, s] of open) {
      if (!idle(s, false)) continue;
      forget(socket);
      socket.destroy();
      counts.shed++;
    }
    const address = server.address();
    if (!paused && address && typeof address === 'object') {
      paused = { port: address.port, host: address.address };
      counts.paused++;
      // net.Server's close: http.Server's would also close idle keep-alive connections.
      net.Server.prototype.close.call(server);
      // The listening socket kept the process alive; now the timer that reopens it must.
      timer?.ref();
    }
  });

  server.on('connection', (socket) => {
    const address = plainAddress(socket.remoteAddress);
    const key = addressKey(address);
    const force = trusted(key) || exempt(address);
    const mine = byAddress.get(key);
    const shared = open.size >= cap / 2 && !exempt(address);
    if (
      (shared && mine && mine.size >= perAddress && !evictOne(mine, force)) ||
      (open.size >= cap && !evictOne(open.keys(), force))
    ) {
      counts.refused++;
      socket.on('error', () => {});
      socket.end(REFUSED);
      socket.destroySoon();
      return;
    }
    open.set(socket, { key, at: now(), active: 0, authenticated: false });
    if (mine) mine.add(socket);
    else byAddress.set(key, new Set([socket]));
    socket.once('close', () => forget(socket));
  });

  // Before the router, so a request is counted before its handler can finish it.
  server.prependListener('request', (req, res) => {
    const s = open.get(req.socket);
    if (!s) return;
    s.active++;
    res.once('close', () => s.active--);
  });

  check();
  timer = setInterval(check, CHECK_MS);
  timer.unref();

  return {
    /** The connection carried a request with the valid token (or from the ingress proxy): keep it. */
    authenticated(socket) {
      const s = open.get(socket);
      if (s) s.authenticated = true;
    },
    /** Requests in progress on the connection (more than one: pipelined). */
    inFlight: (socket) => open.get(socket)?.active ?? 0,
    /**
     * Figures for tests: open connections, the cap in force, the most from one address, and how many
     * were refused or closed.
     */
    stats: () => ({ open: open.size, cap, accepting: paused === null, busiest: Math.max(0, ...[...byAddress.values()].map((m) => m.size)), ...counts }),
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
