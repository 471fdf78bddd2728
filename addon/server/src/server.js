// createApp(config, options): wires the modules together. Tests start it in-process on port 0 with
// shortened intervals and injected loaders; bin/hasync.js starts it with the config from the environment.
import { fs, http } from './builtins.js';
import { announce } from './discovery.js';
import { createAuthenticator } from './auth.js';
import { createCgroupReader } from './cgroup.js';
import { createChecks } from './checks.js';
import { openDatabase } from './db.js';
import { createHasher } from './hasher.js';
import { createHistory } from './history.js';
import { createLogger, errorText } from './logger.js';
import { createMetrics } from './metrics.js';
import { loadNativeModules, requireLoader } from './native.js';
import { createRateLimiter } from './ratelimit.js';
import { createRouter } from './routes.js';
import { createSampler, DEFAULT_SAMPLER_INTERVALS } from './sampler.js';
import { createSseHub } from './sse.js';
import { cachedJson, statusDocumentBuilder } from './status.js';
import { ensureToken, TOKEN_BCRYPT_COST, tokenBanner } from './tokens.js';
import { VERSION } from './version.js';

const MAX_HEADER_BYTES = 16 * 1024;
const SHUTDOWN_GRACE_MS = 4000;

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
 * @property {{write(s: string): unknown}} [stdout]  where the token banner goes
 * @property {Partial<import('./checks.js').DEFAULT_CHECK_INTERVALS & typeof DEFAULT_SAMPLER_INTERVALS>} [intervals]
 * @property {Partial<import('./sse.js').DEFAULT_SSE_TIMING>} [sse]
 * @property {Partial<import('./auth.js').DEFAULT_AUTH_TIMING>} [auth]
 * @property {{root?: string, procCgroup?: string, cpuCount?: number}} [cgroup]
 * @property {number} [tokenCost]  bcrypt cost of the stored token hash (10)
 * @property {string} [nodeVersion]
 */

/**
 * @param {import('./config.js').Config} config
 * @param {AppOptions} [options]
 */
export function createApp(config, options = {}) {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const stdout = options.stdout ?? process.stdout;
  const intervals = options.intervals ?? {};
  if (config.token) logger.redact(config.token);

  const app = {
    /** @type {import('./db.js').HasyncDb|null} */
    db: null,
    port: 0,
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
  let stopping = null;

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
      try {
        app.db = openDatabase(sqlite.module, config.dbPath);
      } catch (err) {
        dbError = `cannot open ${config.dbPath}: ${errorText(err)}`;
      }
    }
    const db = app.db;

    checks = createChecks({
      native,
      db,
      dbPath: config.dbPath,
      dbError,
      frontendDir: config.frontendDir,
      logger,
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

    metrics = createMetrics({ cgroup: createCgroupReader(options.cgroup) });
    const sampleMs = intervals.sampleMs ?? DEFAULT_SAMPLER_INTERVALS.sampleMs;
    const history = db ? createHistory({ db, sampleIntervalMs: sampleMs }) : null;
    sampler = createSampler({ db, metrics, checks, history, logger, retentionDays: config.retentionDays, intervals });
    const statusDocument = statusDocumentBuilder({ version: VERSION, instanceId, startedAt, checks, metrics, history });
    const statusJson = cachedJson(statusDocument);
    sse = createSseHub({ document: statusDocument, logger, timing: options.sse });
    checks.events.on('change', () => {
      statusJson.invalidate();
      sse.broadcast();
    });

    const auth = createAuthenticator({
      envToken: config.token,
      store: config.token ? null : storeError === null ? db : null,
      unavailableReason: storeError,
      hasher,
      logger,
      timing: options.auth,
    });
    const router = createRouter({
      config,
      checks,
      auth,
      limiter: createRateLimiter(),
      sse,
      statusJson: () => statusJson.body(),
      history,
      historyUnavailable: dbError,
      openapi: Buffer.from(JSON.stringify(openapiDocument())),
      logger,
    });

    server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, router);
    server.on('clientError', onClientError);
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => logger.error(`server: ${errorText(err)}`));
    app.port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
    logger.info(`HAsync server ${VERSION} listening on http://${config.host}:${app.port} (status ${checks.status()})`);
    sampler.start();

    const announced = config.token ?? newToken;
    if (config.supervisor && announced) {
      try {
        await announce(config.supervisor, { port: app.port, token: announced });
        logger.info('API token announced to Home Assistant through Supervisor discovery');
      } catch (err) {
        logger.warning(`${errorText(err)}; ${newToken ? 'printing the token instead' : 'HASYNC_TOKEN was not announced'}`);
        if (newToken) stdout.write(tokenBanner(newToken));
      }
    } else if (newToken) {
      stdout.write(tokenBanner(newToken));
    }
    return app;
  }

  /**
   * Stop accepting, end SSE streams, let in-flight requests finish (closing idle keep-alive
   * connections as they go idle), then checkpoint and close the database.
   */
  function stop() {
    stopping ??= (async () => {
      checks?.stop();
      sampler?.stop();
      if (server) {
        const closed = new Promise((resolve) => server.close(resolve));
        sse?.closeAll();
        server.closeIdleConnections();
        const sweeper = setInterval(() => server.closeIdleConnections(), 50);
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
      if (app.db) {
        try {
          app.db.close();
        } catch (err) {
          logger.error(`closing the database: ${errorText(err)}`);
        }
      }
    })();
    return stopping;
  }

  return app;
}

/** Malformed requests and oversized headers get a JSON answer instead of Node's bare one. */
function onClientError(err, socket) {
  if (!socket.writable || err.code === 'ECONNRESET') {
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
