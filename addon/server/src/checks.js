// The checks behind /health and the status document. They run on timers (never per request):
// cheap ones every 2 s, native self-tests every 60 s, the SQLite integrity check hourly. Whenever a
// check's ok/message or the overall status changes, 'change' is emitted (SSE push, /health body).
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { fs } from './builtins.js';
import { errorText } from './logger.js';
import { nodeInfo, SELF_TEST_BCRYPT_COST, selfTestBcrypt, selfTestSqlite } from './native.js';
import { isOutOfFiles } from './resources.js';

const NON_CRITICAL = new Set(['frontend']);

export const DEFAULT_CHECK_INTERVALS = {
  cheapMs: 2000,
  selfTestMs: 60_000,
  integrityMs: 3600_000,
};

/**
 * @typedef {{name: string, ok: boolean, critical: boolean, message: string}} Check
 * @typedef {'ok'|'degraded'|'error'} Status
 */

/**
 * @param {object} deps
 * @param {ReturnType<typeof import('./native.js').loadNativeModules>} deps.native
 * @param {import('./db.js').HasyncDb|null} deps.db
 * @param {string} deps.dbPath
 * @param {string|null} deps.dbError  why the database could not be opened
 * @param {string} deps.frontendDir
 * @param {import('./logger.js').Logger} deps.logger
 * @param {ReturnType<typeof import('./resources.js').createResourceMonitor>} [deps.resources]
 * @param {Partial<typeof DEFAULT_CHECK_INTERVALS>} [deps.intervals]
 * @param {string} [deps.nodeVersion]
 */
export function createChecks({ native, db, dbPath, dbError, frontendDir, logger, resources, intervals = {}, nodeVersion }) {
  const every = { ...DEFAULT_CHECK_INTERVALS, ...intervals };
  const events = new EventEmitter();
  const node = nodeInfo(nodeVersion);
  const now = () => new Date().toISOString();

  const modules = {
    bcrypt: moduleState(native.bcrypt, now()),
    'better-sqlite3': moduleState(native['better-sqlite3'], now()),
  };
  const database = {
    openError: dbError,
    probeError: /** @type {string|null} */ (null),
    writeError: /** @type {string|null} */ (null),
    integrity: /** @type {string|null} */ (null),
    integrity_checked_at: /** @type {string|null} */ (null),
    size_bytes: db ? db.sizeBytes() : null,
  };
  const frontend = { present: false, build_id: null, built_at: null, problem: 'not checked yet' };

  /** @type {Check[]} */
  let checks = [];
  /** @type {Status} */
  let status = 'error';
  let signature = '';
  // Bumped after any change to what the status document shows from the checks, so src/status.js
  // reuses their serialized sections until then.
  let revision = 0;
  // The /health answer; its body is a string for the reason cachedJson() in status.js gives.
  let health = { statusCode: 503, body: '{}' };
  const timers = [];
  let selfTestRunning = null;
  // Until start() has run every check once, results are incomplete: do not evaluate or log them.
  let started = false;

  function databaseError() {
    const integrityError =
      database.integrity !== null && database.integrity !== 'ok' ? `integrity check failed: ${database.integrity}` : null;
    return database.openError ?? database.writeError ?? database.probeError ?? integrityError;
  }

  function evaluate() {
    if (!started) return;
    const bc = modules.bcrypt;
    const sq = modules['better-sqlite3'];
    const dbErr = databaseError();
    checks = [
      check('node', node.supported, node.supported ? `Node v${node.version} (minimum ${node.min_major})`
        : `Node v${node.version} is below the minimum major ${node.min_major}`),
      check('bcrypt', bc.self_test_ok, bc.self_test_ok ? `hash+verify ok (cost ${SELF_TEST_BCRYPT_COST})`
        : `${moduleProblem(bc)}; API tokens are verified with bcryptjs`),
      check('better-sqlite3', sq.self_test_ok, sq.self_test_ok ? 'write/read/rollback ok' : moduleProblem(sq)),
      check('database', dbErr === null, dbErr ?? 'ok'),
      check('frontend', frontend.present, frontend.present ? `build ${frontend.build_id}` : `not built: ${frontend.problem}`),
    ];
    const failing = checks.filter((c) => !c.ok);
    const critical = failing.filter((c) => c.critical);
    status = critical.length ? 'error' : failing.length ? 'degraded' : 'ok';
    // /health names the checks that decide its answer: the critical ones for error, else the rest.
    const named = (critical.length ? critical : failing).map((c) => c.name);
    const body = JSON.stringify(named.length ? { status, failing: named } : { status });
    if (body !== health.body) health = { statusCode: status === 'error' ? 503 : 200, body };

    const next = JSON.stringify([status, checks.map((c) => [c.ok, c.message])]);
    if (next === signature) return;
    const previous = signature ? JSON.parse(signature) : null;
    signature = next;
    revision++;
    checks.forEach((c, i) => {
      const before = previous?.[1][i];
      if (before && before[0] === c.ok && before[1] === c.message) return;
      if (!c.ok) logger.warning(`check ${c.name} failing: ${c.message}`);
      else if (before) logger.info(`check ${c.name} ok: ${c.message}`);
    });
    events.emit('change');
  }

  async function runSelfTests() {
    if (selfTestRunning) return selfTestRunning;
    selfTestRunning = (async () => {
      await selfTest(modules.bcrypt, native.bcrypt, (m) => selfTestBcrypt(m.module));
      await selfTest(modules['better-sqlite3'], native['better-sqlite3'], (m) => selfTestSqlite(m.scratch));
    })();
    try {
      await selfTestRunning;
    } finally {
      selfTestRunning = null;
      revision++; // checked_at, at least
    }
    evaluate();
  }

  async function selfTest(state, loaded, test) {
    state.checked_at = now();
    if (!loaded.loaded) return;
    try {
      await test(loaded);
      state.self_test_ok = true;
      state.error = null;
    } catch (err) {
      state.self_test_ok = false;
      state.error = `self-test failed: ${errorText(err)}`;
    }
  }

  function runCheap() {
    const shown = () => [database.size_bytes, database.probeError, frontend.present, frontend.build_id, frontend.built_at].join('|');
    const before = shown();
    if (db && !database.openError) {
      try {
        database.size_bytes = db.probe();
        database.probeError = null;
      } catch (err) {
        database.probeError = errorText(err);
      }
    }
    try {
      Object.assign(frontend, readFrontend(frontendDir));
    } catch (err) {
      // Out of file descriptors says nothing about the build: keep the last result.
      if (!resources?.outOfFiles(err, 'checking the frontend build')) throw err;
    }
    if (shown() !== before) revision++;
    evaluate();
  }

  function runIntegrity(quick) {
    if (!db || database.openError) return;
    try {
      database.integrity = db.integrityCheck(quick);
    } catch (err) {
      database.integrity = errorText(err);
    }
    database.integrity_checked_at = now();
    revision++;
    evaluate();
  }

  const repeat = (fn, ms) => {
    const t = setInterval(fn, ms);
    t.unref();
    timers.push(t);
  };

  return {
    events,
    /** Run every check once, then keep them running on their timers. */
    async start() {
      runIntegrity(false);
      runCheap();
      await runSelfTests();
      started = true;
      evaluate();
      repeat(runCheap, every.cheapMs);
      repeat(() => runSelfTests().catch((err) => logger.error(`self-tests: ${errorText(err)}`)), every.selfTestMs);
      repeat(() => runIntegrity(true), every.integrityMs);
    },
    stop() {
      for (const t of timers) clearInterval(t);
      timers.length = 0;
    },
    /** A failed (or, with null, a successful) write by the sampler or maintenance job. */
    reportWrite(err) {
      const next = err ? `write failed: ${errorText(err)}` : null;
      if (next === database.writeError) return;
      database.writeError = next;
      evaluate();
    },
    /** Native bcrypt while it loads and passes its self-test; the hasher falls back to bcryptjs otherwise. */
    healthyBcrypt: () => (modules.bcrypt.self_test_ok ? native.bcrypt.module : null),
    /** Changes whenever status, checks, node, nativeModules, database or frontend may answer differently. */
    revision: () => revision,
    status: () => status,
    checks: () => checks,
    health: () => health,
    node: () => node,
    nativeModules: () => ({
      bcrypt: publicModule(modules.bcrypt),
      'better-sqlite3': publicModule(modules['better-sqlite3']),
    }),
    database: () => ({
      ok: databaseError() === null,
      path: dbPath,
      size_bytes: database.size_bytes,
      journal_mode: db ? db.journalMode : null,
      integrity: database.integrity,
      integrity_checked_at: database.integrity_checked_at,
      error: databaseError(),
    }),
    frontend: () => ({ present: frontend.present, build_id: frontend.build_id, built_at: frontend.built_at }),
  };
}

function check(name, ok, message) {
  return { name, ok, critical: !NON_CRITICAL.has(name), message };
}

function moduleState(loaded, at) {
  return {
    loaded: loaded.loaded,
    version: loaded.version,
    self_test_ok: false,
    error: loaded.loaded ? null : loaded.error,
    checked_at: at,
  };
}

function moduleProblem(state) {
  if (!state.loaded) return `failed to load: ${state.error}`;
  return state.error ?? 'self-test has not run';
}

function publicModule(state) {
  return {
    loaded: state.loaded,
    version: state.version,
    self_test_ok: state.self_test_ok,
    error: state.error,
    checked_at: state.checked_at,
  };
}

/**
 * The page is present when index.html and the build stamp written by the frontend build are readable.
 * Throws when out of file descriptors, which says nothing about the build.
 * @param {string} dir
 */
function readFrontend(dir) {
  const absent = (problem) => ({ present: false, build_id: null, built_at: null, problem });
  try {
    if (!fs.statSync(path.join(dir, 'index.html')).isFile()) return absent(`${dir}/index.html is not a file`);
  } catch (err) {
    if (isOutOfFiles(err)) throw err;
    return absent(`${dir}/index.html is missing`);
  }
  let stamp;
  try {
    stamp = JSON.parse(fs.readFileSync(path.join(dir, 'hasync-build.json'), 'utf8'));
  } catch (err) {
    if (isOutOfFiles(err)) throw err;
    return absent(`${dir}/hasync-build.json is ${err.code === 'ENOENT' ? 'missing' : 'unreadable'}`);
  }
  if (typeof stamp?.build_id !== 'string' || stamp.build_id === '') {
    return absent(`${dir}/hasync-build.json has no build_id`);
  }
  const builtAt = typeof stamp.built_at === 'string' ? Date.parse(stamp.built_at) : NaN;
  return {
    present: true,
    build_id: stamp.build_id.slice(0, 64),
    built_at: Number.isNaN(builtAt) ? null : new Date(builtAt).toISOString(),
    problem: null,
  };
}
