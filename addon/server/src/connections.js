// The bound on open connections. Each idle socket costs a file descriptor and about 15 KiB: 10,000 of
// them took the server from 60 to over 200 MiB and, at a descriptor limit of 1,024, made /health
// unreachable. Legitimate clients of a home server need a handful (Home Assistant's session and event
// stream, the ingress proxy's few, the health check, a script or two), so:
// - at most 128 connections: about 2 MiB of sockets; after a flood of 10,000 the server's RSS stays
//   5-12 MB above where it was (bench/abuse; 256 left it 17-20 MB above on a fresh server). Never more
//   than half the descriptors left after a reserve of 64, so that a file of the page can be opened for
//   each connection;
// - once half of those are taken, at most 32 from one address (IPv6: one /64), the ingress proxy
//   excepted: a client's burst is not limited while there is room, a flood from one address cannot
//   take the others' share;
// - at either bound, a new connection takes the place of the oldest idle connection that never
//   carried an authenticated request (event streams, requests in progress and authenticated
//   keep-alive connections are never closed), so /health and Home Assistant get in. A connection gets
//   250 ms to send its first request before it can be closed that way, and such replacements are
//   rationed to a quarter of the slots a second: a flood that reconnects as fast as it can would
//   otherwise have the server set up and tear down a socket for each attempt, and the allocator keeps
//   the peak. A connection from an address that presented the valid token before (Home Assistant) or
//   from the ingress proxy is let in at once all the same, and so is one from an address that holds no
//   connection (the health check), in the place of an idle one of the address that holds the most. Any
//   other is closed before Node has spent anything on it, as Node's own server.maxConnections would.
// When descriptors run out anyway (resources.js; reading the limit every second needs one, so a
// shortage is noticed within a second), idle unauthenticated connections are closed and the listening
// socket is closed until descriptors have been available for 10 s: libuv retries a pending connection
// it cannot accept on every turn of the event loop, a busy loop, and a closed port tells clients at
// once instead. Open connections (Home Assistant's among them) go on being served meanwhile.
import { fs, net } from './builtins.js';
import { addressKey } from './ratelimit.js';

export const CONNECTION_LIMITS = { maxConnections: 128, perAddress: 32, graceMs: 250 };
/**
 * Connections the kernel queues for accepting (Linux caps it at net.core.somaxconn, 4096 by
 * default). Node's default of 511 overflows under a burst of new connections, and the kernel then
 * drops the SYN of /health's connection: its client retries after a second.
 */
export const LISTEN_BACKLOG = 4096;
const FD_RESERVE = 64;
const MIN_CONNECTIONS = 16;
const CHECK_MS = 1000;

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
  /** Replacements left this second (not counting trusted clients'). */
  let replacements = cap / 4;
  /** Where the server listens, while it does not (a descriptor shortage). */
  /** @type {{port: number, host: string}|null} */
  let paused = null;
  let stopped = false;
  /** @type {NodeJS.Timeout|null} */
  let timer = null;

  const idle = (s) => !s.authenticated && s.active === 0;
  const settled = (s) => now() - s.at >= graceMs;

  const forget = (socket) => {
    const s = open.get(socket);
    if (!s) return;
    open.delete(socket);
    const mine = byAddress.get(s.key);
    mine?.delete(socket);
    if (mine?.size === 0) byAddress.delete(s.key);
  };

  /**
   * Close the oldest idle connection among `sockets` that has had its 250 ms, within this second's
   * ration; false when there is none. `force` (a client that must get in): without the ration, and
   * a younger idle one if no older one is left.
   */
  const evictOne = (sockets, force) => {
    if (!force && replacements < 1) return false;
    let young = null;
    let victim = null;
    for (const socket of sockets) {
      const s = open.get(socket);
      if (!idle(s)) continue;
      if (settled(s)) {
        victim = socket;
        break;
      }
      young ??= socket;
    }
    victim ??= force ? young : null;
    if (!victim) return false;
    forget(victim);
    victim.destroy();
    counts.evicted++;
    if (!force) replacements--;
    return true;
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
      server.listen({ port, host, backlog: LISTEN_BACKLOG });
    }
    cap = limit === null ? maxConnections : Math.min(maxConnections, Math.max(MIN_CONNECTIONS, Math.floor((limit - FD_RESERVE) / 2)));
    replacements = cap / 4;
  };

  resources.onShortage(() => {
    for (const [socket, s] of open) {
      if (!idle(s) || !settled(s)) continue;
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

  /**
   * Whether a connection from this address may come in, making room for it if it must. Decided on the
   * raw handle (see below), so nothing has been spent on the connection yet.
   */
  const admit = (address) => {
    const key = addressKey(address);
    const force = trusted(key) || exempt(address);
    const mine = byAddress.get(key);
    const shared = open.size >= cap / 2 && !exempt(address);
    if (shared && mine && mine.size >= perAddress && !evictOne(mine, force)) return false;
    if (open.size < cap || evictOne(open.keys(), force)) return true;
    // An address with no connection open (the health check, a client's first) may still take the
    // place of an idle connection of the address that holds the most, if that holds two or more.
    return !mine && evictFromBusiest();
  };

  const evictFromBusiest = () => {
    let busiest = null;
    for (const [key, sockets] of byAddress) {
      if (trusted(key) || exempt(key) || sockets.size < 2 || sockets.size <= (busiest?.size ?? 0)) continue;
      busiest = sockets;
    }
    return busiest !== null && evictOne(busiest, true);
  };

  // Admission is decided before Node builds a socket for the connection: net.Server hands every
  // accepted connection to its listening handle's onconnection, which is wrapped each time the server
  // starts listening. A refused connection is closed there, which costs what Node's own
  // server.maxConnections costs; refusing it after Node had built the socket (and the HTTP parser and
  // its bookkeeping) would leave the server some 15 MB larger after a flood of 10,000.
  server.on('listening', () => {
    const handle = /** @type {any} */ (server)._handle;
    const accept = handle.onconnection;
    handle.onconnection = function onconnection(err, clientHandle) {
      if (!err) {
        const peer = {};
        clientHandle.getpeername?.(peer);
        if (!admit(plainAddress(peer.address))) {
          counts.refused++;
          clientHandle.close();
          return;
        }
      }
      accept.call(this, err, clientHandle);
    };
  });

  server.on('connection', (socket) => {
    const key = addressKey(plainAddress(socket.remoteAddress));
    open.set(socket, { key, at: now(), active: 0, authenticated: false });
    const mine = byAddress.get(key);
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
    /**
     * Shutdown: close every connection with no request in progress, idle keep-alive ones and those
     * that never sent a request (or sent part of one). Node's closeIdleConnections() leaves the
     * latter open, and the shutdown would wait its whole grace period for them.
     */
    closeIdle() {
      for (const [socket, s] of open) if (s.active === 0) socket.destroy();
    },
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
