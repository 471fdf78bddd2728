// The request handler: a route table, the auth/ingress rules, body limits and JSON errors.
import path from 'node:path';
import { plainAddress } from './connections.js';
import { HISTORY_WINDOWS } from './history.js';
import { errorText } from './logger.js';
import { addressKey } from './ratelimit.js';
import { sendError, sendJson } from './respond.js';
import { CACHE_IMMUTABLE, CACHE_REVALIDATE, resolveAsset, sendFile } from './static.js';

const MAX_BODY_BYTES = 16 * 1024;
const ALLOW = 'GET, HEAD';
const WINDOWS = Object.keys(HISTORY_WINDOWS);
// Answers anyone may read name no path and no library error: those are in the log and in the
// authenticated status document (`database.error`, the checks' messages).
const NO_TOKEN_STORE = 'token store unavailable: the database cannot be used (the app log says why)';
const NO_HISTORY = 'history unavailable: the database cannot be used (see database.error in /api/v1/status)';
const OUT_OF_FILES = 'the server is short of file descriptors; retry in a moment';

/**
 * @typedef {object} RouterContext
 * @property {import('./config.js').Config} config
 * @property {ReturnType<typeof import('./checks.js').createChecks>} checks
 * @property {ReturnType<typeof import('./auth.js').createAuthenticator>} auth
 * @property {ReturnType<typeof import('./ratelimit.js').createRateLimiter>} limiter
 * @property {ReturnType<typeof import('./sse.js').createSseHub>} sse
 * @property {() => string} statusJson  the serialized status document (cached up to 1 s)
 * @property {ReturnType<typeof import('./history.js').createHistory>|null} history
 * @property {{http5xx(): void}} errors  counts 5xx answers (/health's 503 reports a check, not an error)
 * @property {() => Buffer} openapi  the served OpenAPI document
 * @property {ReturnType<typeof import('./connections.js').createConnectionGuard>} connections
 * @property {ReturnType<typeof import('./resources.js').createResourceMonitor>} resources
 * @property {import('./logger.js').Logger} logger
 */

/** Client address without the IPv4-mapped IPv6 prefix. */
const clientAddress = (req) => plainAddress(req.socket.remoteAddress);

/** The token from `Authorization: Bearer <token>`, or null. */
function bearerToken(header) {
  if (typeof header !== 'string') return null;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m ? m[1] : null;
}

/**
 * @param {RouterContext} ctx
 * @returns {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void}
 */
export function createRouter(ctx) {
  const { config, checks, auth, limiter, sse, connections, resources, logger, errors } = ctx;
  /** 503: the route cannot answer now (counted with the server's errors). */
  const unavailable = (res, reason) => {
    errors.http5xx();
    sendError(res, 503, 'service_unavailable', reason);
  };
  const ingressProxy = config.supervisor?.ingressProxy ?? null;
  const fromIngress = (req) => ingressProxy !== null && clientAddress(req) === ingressProxy;

  /**
   * API routes need a token, except GET/HEAD through the ingress proxy under Supervisor. The handler
   * gets the generation of the stored token that was checked (null through ingress or HASYNC_TOKEN)
   * and who the request counts against ('ingress' or 'token').
   */
  const authed = (handler) => (req, res, url) => {
    if (fromIngress(req)) {
      connections.authenticated(req.socket);
      return handler(req, res, url, null, 'ingress');
    }
    if (auth.unavailableReason) return unavailable(res, NO_TOKEN_STORE);
    // No token is no guess: 401 even while the address is blocked, and it does not count.
    const token = bearerToken(req.headers.authorization);
    if (!token) return sendError(res, 401, 'unauthorized', 'missing bearer token');
    const addr = addressKey(clientAddress(req));
    const retryAfter = limiter.retryAfter(addr);
    if (retryAfter) return tooMany(res, retryAfter, 'too many failed authentication attempts');
    const key = auth.keyOf(token);
    const granted = (generation) => {
      connections.authenticated(req.socket);
      return handler(req, res, url, generation, 'token');
    };
    // The common case under load: a token verified before, answered without a promise.
    const known = auth.knownValid(key);
    if (known !== null) return granted(known);
    // Distinct tokens being checked count towards the limit, so a burst of concurrent wrong tokens
    // cannot start more bcrypt runs than the limit allows failures.
    if (!limiter.begin(addr, key)) return tooMany(res, 1, 'too many authentication attempts at once');
    return auth.check(token, key, { first: limiter.trusted(addr) }).then(
      ({ verdict, generation }) => {
        // The failure that reaches the limit is still a 401; the block starts with the next request.
        limiter.end(addr, key, verdict === 'invalid');
        if (verdict === 'valid') {
          limiter.succeeded(addr);
          return granted(generation);
        }
        if (verdict === 'busy') return tooMany(res, 1, 'the server is busy verifying other tokens; retry in a moment');
        if (verdict === 'unavailable') return unavailable(res, NO_TOKEN_STORE);
        return sendError(res, 401, 'unauthorized', 'invalid token');
      },
      (err) => {
        limiter.end(addr, key, false);
        throw err;
      },
    );
  };

  /** Under Supervisor the page is for the ingress proxy only; standalone it is public (the API is not). */
  const page = (handler) => (req, res, url) => {
    if (ingressProxy !== null && !fromIngress(req)) {
      return sendError(res, 403, 'forbidden', 'the page is served only through Home Assistant ingress');
    }
    return handler(req, res, url);
  };

  /** A file of the ingress page: 404 when missing (or outside the folder), 503 when out of descriptors. */
  const serve = async (req, res, file, cacheControl, missing) => {
    const outcome = file
      ? await sendFile(req, res, config.frontendDir, file, cacheControl, (err) => resources.outOfFiles(err, 'opening a file of the ingress page'))
      : 'missing';
    if (outcome === 'missing') sendError(res, 404, 'not_found', missing);
    else if (outcome === 'busy') sendError(res, 503, 'service_unavailable', OUT_OF_FILES, { 'retry-after': 1 });
  };
  const index = (req, res) =>
    serve(req, res, path.join(config.frontendDir, 'index.html'), CACHE_REVALIDATE, 'frontend not built (see the frontend check in /api/v1/status)');
  const asset = (req, res, url) =>
    serve(req, res, resolveAsset(config.frontendDir, url.pathname), CACHE_IMMUTABLE, 'no such asset');

  const history = (req, res, url) => {
    const window = new URLSearchParams(url.query).get('window') ?? '24h';
    if (!Object.hasOwn(HISTORY_WINDOWS, window)) {
      return sendError(res, 400, 'bad_request', `window must be one of ${WINDOWS.join(', ')}`);
    }
    if (!ctx.history) return unavailable(res, NO_HISTORY);
    let body;
    try {
      body = ctx.history.points(/** @type {keyof HISTORY_WINDOWS} */ (window));
    } catch (err) {
      logger.warning(`history: ${errorText(err)}`);
      return unavailable(res, NO_HISTORY);
    }
    return sendJson(res, 200, body);
  };

  const health = (req, res) => {
    const h = checks.health();
    sendJson(res, h.statusCode, h.body);
  };
  const status = (req, res) => sendJson(res, 200, ctx.statusJson());
  const events = (req, res, url, generation, who) => {
    sse.open(req, res, generation, who === 'ingress' ? 'ingress' : `token ${generation}`);
    // Requests pipelined behind this one arrived while it was being authorized: they are answered
    // after the first event instead of never.
    if (connections.inFlight(req.socket) > 1) sse.endOn(req.socket);
  };
  const openapi = (req, res) => sendJson(res, 200, ctx.openapi(), { 'cache-control': 'no-cache' });

  // Every route, as the OpenAPI document lists it (tests compare the two). `secured` routes get the
  // bearer check; `page` routes are for the ingress proxy only under Supervisor.
  const table = [
    { path: '/health', get: health },
    { path: '/api/v1/status', get: status, secured: true },
    { path: '/api/v1/events', get: events, secured: true },
    { path: '/api/v1/history', get: history, secured: true },
    { path: '/api/v1/openapi.json', get: openapi },
    { path: '/', get: index, page: true },
    { path: '/index.html', get: index, page: true },
    { path: '/assets/{file}', get: asset, page: true },
  ];
  const guarded = (r) => (r.secured ? authed(r.get) : r.page ? page(r.get) : r.get);
  /** @type {Map<string, Record<string, Function>>} */
  const routes = new Map(table.filter((r) => !r.path.includes('{')).map((r) => [r.path, { GET: guarded(r) }]));
  const assets = { GET: guarded(table.find((r) => r.path === '/assets/{file}')) };

  /** What the request log names a request by: its route template (set when dispatched). */
  /** @type {WeakMap<import('node:http').IncomingMessage, string>} */
  const logged = new WeakMap();
  const logRequests = logger.enabled('debug');

  function dispatch(req, res) {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const url = { pathname: q === -1 ? raw : raw.slice(0, q), query: q === -1 ? '' : raw.slice(q + 1) };
    const methods = routes.get(url.pathname) ?? (url.pathname.startsWith('/assets/') ? assets : null);
    if (logRequests) logged.set(req, methods === assets ? '/assets/{file}' : methods ? url.pathname : `[unknown path of ${url.pathname.length} chars]`);
    if (!methods) return sendError(res, 404, 'not_found', 'no such route; see /api/v1/openapi.json');
    const handler = methods[req.method === 'HEAD' ? 'GET' : req.method];
    if (!handler) {
      return sendError(res, 405, 'method_not_allowed', `${req.method} is not allowed here; use GET or HEAD`, { allow: ALLOW });
    }
    try {
      const pending = handler(req, res, url);
      if (pending instanceof Promise) pending.catch((err) => internalError(res, err));
    } catch (err) {
      internalError(res, err);
    }
  }

  function handle(req, res) {
    // A request pipelined behind an event stream would wait for that endless response.
    sse.endOn(req.socket);
    const started = logRequests ? performance.now() : 0;
    if (started) {
      res.on('finish', () => {
        // The route, never the raw target: a client may put anything there, a token included.
        const route = logged.get(req) ?? '[not routed]';
        logger.debug(`${req.method} ${route} ${res.statusCode} ${(performance.now() - started).toFixed(1)} ms from ${clientAddress(req)}`);
      });
    }
    // No route takes a body. A declared length over the limit is refused up front; a chunked body is
    // read (and dropped) before routing, so that one over the limit gets its 413 too.
    if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
      return sendError(res, 400, 'bad_request', 'HTTP/1.1 requests need a Host header', { connection: 'close' });
    }
    const length = req.headers['content-length'];
    if (length !== undefined && Number(length) > MAX_BODY_BYTES) return payloadTooLarge(res);
    if (req.headers['transfer-encoding'] === undefined) return dispatch(req, res);
    let seen = 0;
    req.on('data', (chunk) => {
      seen += chunk.length;
      if (seen > MAX_BODY_BYTES && !res.headersSent) {
        payloadTooLarge(res);
        req.pause();
      }
    });
    req.on('end', () => {
      if (!res.headersSent) dispatch(req, res);
    });
  }

  handle.routes = table.map((r) => ({ path: r.path, methods: ['GET', 'HEAD'], secured: Boolean(r.secured), page: Boolean(r.page) }));
  return handle;

  function internalError(res, err) {
    logger.error(`request failed: ${errorText(err)}`);
    if (res.headersSent) return res.destroy();
    errors.http5xx();
    sendError(res, 500, 'internal_error', 'internal error; see the add-on log');
  }
}

function tooMany(res, retryAfter, reason) {
  sendJson(res, 429, { error: 'too_many_requests', reason, retry_after_s: retryAfter }, { 'retry-after': retryAfter });
}

function payloadTooLarge(res) {
  sendError(res, 413, 'payload_too_large', `request bodies are limited to ${MAX_BODY_BYTES} bytes`, { connection: 'close' });
}
