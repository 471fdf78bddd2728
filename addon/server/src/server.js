// createApp(config, options): wires the modules together. Tests start it in-process on port 0 with
// shortened intervals and injected loaders; bin/hasync.js starts it with the config from the environment.
import { fs, http } from './builtins.js';
import { announce } from './discovery.js';
import { createAuthenticator } from './auth.js';
import { createCgroupReader } from './cgroup.js';
import { createChecks } from './checks.js';
import { createConnectionGuard, LISTEN_BACKLOG } from './connections.js';
import { DataDirLocked, lockDataDir } from './datalock.js';
import { openDatabase } from './db.js';
import { createErrorCounter } from './errors.js';
import { createHasher } from './hasher.js';
import { createHistory } from './history.js';
import { createLogger, errorText } from './logger.js';
import { createMetrics } from './metrics.js';
import { loadNativeModules, requireLoader } from './native.js';
import { createRateLimiter } from './ratelimit.js';
import { createResourceMonitor } from './resources.js';
import { createRouter } from './routes.js';
import { createSampler, DEFAULT_SAMPLER_INTERVALS } from './sampler.js';
import { createSseHub } from './sse.js';
import { cachedJson, statusDocumentBuilder } from './status.js';
import { ensureToken, TOKEN_BCRYPT_COST, tokenBanner } from './tokens.js';
import { createVerifyQueue } from './verifyqueue.js';
import { VERSION } from './version.js';

const MAX_HEADER_BYTES = 16 * 1024;
/**
 * Shutdown is bounded: bin/hasync.js exits at SHUTDOWN_BOUND_MS whatever is still open. In-flight
 * requests get all but the last second, which is kept for the WAL checkpoint and closing the database.
 * The image gives more than the bound (addon/Dockerfile: S6_KILL_GRACETIME, inside Supervisor's 10 s
 * stop timeout), so the server always finishes its own shutdown before anything kills it.
 */
export const SHUTDOWN_BOUND_MS = 5000;
const SHUTDOWN_GRACE_MS = SHUTDOWN_BOUND_MS - 1000;
/**
 * Slow clients: the request head must arrive within 10 s and a whole request within 15 s (no route
 * takes a body), checked every second; an idle keep-alive connection closes after 5 s. Node's
 * defaults (60 s, 300 s, checked every 30 s) let a slowloris client hold sockets for minutes.
 * An event stream is a response, so these limits do not apply to it once its request is in.
 */
export const DEFAULT_HTTP_TIMEOUTS = {
  headersTimeout: 10_000,
  requestTimeout: 15_000,
  keepAliveTimeout: 5000,
  connectionsCheckingInterval: 1000,
};

/** The OpenAPI document as served: the version comes from package.json. */
export function openapiDocument() {
  const doc = JSON.parse(fs.readFileSync(new URL('./openapi.json', import.meta.url), 'utf8'));
  doc.info.version = VERSION;
  return doc;
}

/**
 * @typedef {object} AppOptions
 * @property {import('./native.js').ModuleLoader} [loader]  native module loader (tests inject failures)
 * @property {import('./logger.js').Logger} [logger]
 * @property {{write(s: string, callback: () => void): unknown}} [stdout]  where the token banner goes
 *   (the callback says it was handed on: only then is the new token marked delivered)
 * @property {Partial<import('./checks.js').DEFAULT_CHECK_INTERVALS & typeof DEFAULT_SAMPLER_INTERVALS>} [intervals]
 * @property {Partial<import('./sse.js').DEFAULT_SSE_TIMING>} [sse]
 * @property {Partial<import('./auth.js').DEFAULT_AUTH_TIMING>} [auth]
 * @property {Partial<typeof DEFAULT_HTTP_TIMEOUTS>} [http]  slow-client limits (tests shorten them)
 * @property {{connections?: Partial<import('./connections.js').CONNECTION_LIMITS>,
 *             streams?: Partial<import('./sse.js').STREAM_LIMITS>,
 *             verify?: Partial<import('./verifyqueue.js').VERIFY_LIMITS>}} [limits]  the global bounds
 * @property {() => number} [now]  the wall clock of samples and history windows (tests move it)
 * @property {{root?: string, procCgroup?: string, cpuCount?: number}} [cgroup]
 * @property {number} [tokenCost]  bcrypt cost of the stored token hash (10)
 * @property {string} [nodeVersion]
 * @property {() => number} [now]  the clock of the samples and the history windows (tests set it)
 */

/**
 * @param {import('./config.js').Config} config
 * @param {AppOptions} [options]
 */
export function createApp(config, options = {}) {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const stdout = options.stdout ?? process.stdout;
  // HASYNC_SAMPLE_INTERVAL_S sets the sampler; tests may shorten any interval below a second.
  const intervals = { sampleMs: config.sampleIntervalS * 1000, ...options.intervals };
  if (config.token) logger.redact(config.token);
  // Counted from the first record on: a native module that fails to load is logged at start.
  const errors = createErrorCounter();
  logger.observe(errors.record);

  const app = {
    /** @type {import('./db.js').HasyncDb|null} */
    db: null,
    port: 0,
    /** @type {import('node:http').Server|null} */
    server: null,
    /** @type {ReturnType<typeof createAuthenticator>|null} */
    auth: null,
    /** @type {ReturnType<typeof createRouter>|null} */
    router: null,
    /** @type {ReturnType<typeof createSampler>|null} */
    sampler: null,
    /** @type {ReturnType<typeof createConnectionGuard>|null} */
    connections: null,
    start,
    stop,
  };
  /** @type {ReturnType<typeof createChecks>|null} */
  let checks = null;
  /** @type {import('node:http').Server|null} */
  let server = null;
  let sampler = null;
  let metrics = null;
  let sse = null;
  let auth = null;
  let lock = null;
  let connections = null;
  let stopping = null;
  let openapiBody = null;

  async function start() {
    const startedAt = new Date();
    const native = loadNativeModules(options.loader ?? requireLoader);
    for (const m of Object.values(native)) {
      if (!m.loaded) logger.error(`native module ${m.name} ${m.version ?? ''} failed to load: ${m.error}`);
    }

    let dbError = null;
    const sqlite = native['better-sqlite3'];
    if (!sqlite.loaded) dbError = `better-sqlite3 failed to load: ${sqlite.error}`;
    else {
      // Another server on this data directory stops this start (DataDirLocked), before anything is
      // written there.
      try {
        lock = lockDataDir(sqlite.module, config.dataDir);
        app.db = openDatabase(sqlite.module, config.dbPath, { create: true });
      } catch (err) {
        if (err instanceof DataDirLocked) throw err;
        dbError = `cannot open ${config.dbPath}: ${errorText(err)}`;
      }
    }
    const db = app.db;
    const resources = createResourceMonitor({ logger });

    checks = createChecks({
      native,
      db,
      dbPath: config.dbPath,
      dbError,
      frontendDir: config.frontendDir,
      logger,
      resources,
      intervals,
      nodeVersion: options.nodeVersion,
    });
    await checks.start();
    const hasher = createHasher(checks.healthyBcrypt);

    let newToken = null;
    let storeError = dbError;
    if (!config.token && db) {
      try {
        newToken = await ensureToken(db, hasher, options.tokenCost ?? TOKEN_BCRYPT_COST);
      } catch (err) {
        storeError = `could not store a new token: ${errorText(err)}`;
        checks.reportWrite(err);
      }
    }
    if (newToken) logger.redact(newToken);

    let instanceId = null;
    if (db) {
      try {
        instanceId = db.instanceId();
      } catch (err) {
        checks.reportWrite(err);
      }
    }

    metrics = createMetrics({ cgroup: createCgroupReader({ ...options.cgroup, enabled: config.containerMetrics }), resources });
    const now = options.now ?? Date.now;
    const history = db ? createHistory({ db, sampleIntervalMs: intervals.sampleMs, now }) : null;
    sampler = createSampler({ db, metrics, checks, history, errors, logger, retentionDays: config.retentionDays, intervals, now });
    app.sampler = sampler;
    const statusDocument = statusDocumentBuilder({ version: VERSION, instanceId, startedAt, checks, metrics, history, errors });
    const statusJson = cachedJson(statusDocument);
    sse = createSseHub({ json: statusDocument, logger, timing: options.sse, limits: options.limits?.streams });
    checks.events.on('change', () => {
      statusJson.invalidate();
      sse.broadcast();
    });

    auth = createAuthenticator({
      envToken: config.token,
      store: config.token ? null : storeError === null ? db : null,
      unavailableReason: storeError,
      hasher,
      logger,
      timing: options.auth,
      queue: createVerifyQueue({ limits: options.limits?.verify }),
    });
    // requireHostHeader: the router answers a missing Host with a JSON 400 (Node's own 400 has no body).
    const httpOptions = { maxHeaderSize: MAX_HEADER_BYTES, requireHostHeader: false, ...DEFAULT_HTTP_TIMEOUTS, ...options.http };
    server = http.createServer(httpOptions);
    const limiter = createRateLimiter();
    const ingressProxy = config.supervisor?.ingressProxy ?? null;
    connections = createConnectionGuard({
      server,
      resources,
      trusted: limiter.trusted,
      exempt: (addr) => addr === ingressProxy,
      limits: options.limits?.connections,
    });
    const router = createRouter({
      config,
      checks,
      auth,
      limiter,
      sse,
      statusJson: () => statusJson.body(),
      history,
      errors,
      // Built on the first request: only tools ask for it, so idle servers need not hold it.
      openapi: () => (openapiBody ??= Buffer.from(JSON.stringify(openapiDocument()))),
      connections,
      resources,
      logger,
    });
    server.on('request', router);

    auth.watch(() => {
      const ended = sse.endStale(auth.generation());
      if (ended) logger.info(`closed ${ended} event stream${ended === 1 ? '' : 's'} opened with the previous token`);
    });

    server.on('clientError', onClientError);
    server.on('connect', onConnect);
    app.server = server;
    app.auth = auth;
    app.router = router;
    app.connections = connections;
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => {
      if (!resources.outOfFiles(err, 'accepting a connection')) logger.error(`server: ${errorText(err)}`);
    });
    app.port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
    logger.info(`HAsync server ${VERSION} listening on http://${config.host}:${app.port} (status ${checks.status()})`);
    sampler.start();

    const announced = config.token ?? newToken;
    let delivered = false;
    if (config.supervisor && announced) {
      try {
        await announce(config.supervisor, { port: app.port, token: announced });
        logger.info('API token announced to Home Assistant through Supervisor discovery');
        delivered = true;
      } catch (err) {
        logger.warning(`${errorText(err)}; ${newToken ? 'printing the token instead' : 'HASYNC_TOKEN was not announced'}`);
      }
    }
    if (newToken && !delivered) {
      await new Promise((resolve) => stdout.write(tokenBanner(newToken), resolve));
      delivered = true;
    }
    if (newToken) {
      try {
        db.markTokenDelivered();
      } catch (err) {
        checks.reportWrite(err);
      }
    }
    return app;
  }

  /**
   * Stop accepting, end SSE streams, let in-flight requests finish (closing every connection
   * without a request in progress as it goes idle), then checkpoint and close the database.
   */
  function stop() {
    stopping ??= (async () => {
      checks?.stop();
      sampler?.stop();
      auth?.stop();
      connections?.stop();
      if (server) {
        const closed = new Promise((resolve) => server.close(resolve));
        sse?.closeAll();
        connections.closeIdle();
        const sweeper = setInterval(() => connections.closeIdle(), 50);
        let timer;
        const timedOut = await Promise.race([
          closed.then(() => false),
          new Promise((resolve) => {
            timer = setTimeout(() => resolve(true), SHUTDOWN_GRACE_MS);
          }),
        ]);
        clearTimeout(timer);
        clearInterval(sweeper);
        if (timedOut) {
          logger.warning('shutdown: requests still open after the grace period; closing them');
          server.closeAllConnections();
        }
      }
      metrics?.stop();
      sampler?.flushErrors();
      if (app.db) {
        try {
          app.db.close();
        } catch (err) {
          // A failed final checkpoint (a full disk) loses nothing: the next open reads the WAL.
          const log = err.code === 'HASYNC_CHECKPOINT_FAILED' ? logger.warning : logger.error;
          log(`closing the database: ${errorText(err)}`);
        }
      }
      lock?.release();
    })();
    return stopping;
  }

  return app;
}

/** CONNECT (a proxy tunnel) is not served: 405 instead of Node's silent close. */
function onConnect(req, socket) {
  const body = JSON.stringify({ error: 'method_not_allowed', reason: 'CONNECT is not allowed here; use GET or HEAD' });
  socket.on('error', () => socket.destroy());
  socket.end(
    `HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Malformed requests and oversized headers get a JSON answer instead of Node's bare one. */
function onClientError(err, socket) {
  // A response already under way on this socket (a slow body after the answer) gets no second one.
  if (!socket.writable || err.code === 'ECONNRESET' || socket._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, error, reason] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', `request headers are limited to ${MAX_HEADER_BYTES} bytes`]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'request not received in time']
        : [400, 'bad_request', 'malformed HTTP request'];
  const body = JSON.stringify({ error, reason });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
