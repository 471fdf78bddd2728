// Loading and self-testing the two native modules. Everything that touches a compiled addon goes
// through here, with an injectable loader, so a module that fails to load (a missing or mismatched
// .node file, the classic Alpine failure) becomes a reported check instead of a crash.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fs } from './builtins.js';
import { writeReadRollback } from './db.js';
import { errorText } from './logger.js';
import { openHeld, prepareHeld } from './sqlite-handles.js';

const require = createRequire(import.meta.url);

const MIN_NODE_MAJOR = 20;
export const SELF_TEST_BCRYPT_COST = 4;

/** @typedef {(name: string) => any} ModuleLoader */

/** @type {ModuleLoader} */
export const requireLoader = (name) => require(name);

/**
 * @typedef {object} NativeModule
 * @property {string} name
 * @property {any} module        the loaded module, null when loading failed
 * @property {boolean} loaded
 * @property {string|null} version
 * @property {string|null} error  why loading failed
 * @property {any} [scratch]     better-sqlite3 only: the :memory: database its self-test uses
 */

/**
 * Load both modules. better-sqlite3 binds its addon lazily on the first `new Database()`, so
 * "loaded" means a :memory: database opened; it is kept for the periodic self-test.
 * @param {ModuleLoader} [loader]
 * @returns {{bcrypt: NativeModule, 'better-sqlite3': NativeModule}}
 */
export function loadNativeModules(loader = requireLoader) {
  return {
    bcrypt: loadOne('bcrypt', loader, (m) => {
      if (typeof m.hash !== 'function' || typeof m.compare !== 'function') throw new Error('not a bcrypt module');
    }),
    'better-sqlite3': loadOne('better-sqlite3', loader, (Database) => {
      const scratch = openHeld(Database, ':memory:');
      scratch.exec('CREATE TABLE selftest (v TEXT)');
      return scratch;
    }),
  };
}

function loadOne(name, loader, activate) {
  const version = packageVersion(name);
  try {
    const mod = loader(name);
    const scratch = activate(mod);
    return { name, module: mod, loaded: true, version, error: null, scratch };
  } catch (err) {
    return { name, module: null, loaded: false, version, error: errorText(err) };
  }
}

/** Read from package.json, which needs no compiled code, so the version is known even on failure. */
function packageVersion(name) {
  try {
    return require(`${name}/package.json`).version ?? null;
  } catch {
    return null;
  }
}

/**
 * A real hash and verify at a low cost, plus a wrong secret that must be rejected.
 * @param {{hash: Function, compare: Function}} bcrypt
 */
export async function selfTestBcrypt(bcrypt) {
  const secret = randomBytes(16).toString('hex');
  const hash = await bcrypt.hash(secret, SELF_TEST_BCRYPT_COST);
  const prefix = `$2b$${String(SELF_TEST_BCRYPT_COST).padStart(2, '0')}$`;
  if (typeof hash !== 'string' || hash.length !== 60 || !hash.startsWith(prefix)) {
    throw new Error('hash() returned a malformed hash');
  }
  if ((await bcrypt.compare(secret, hash)) !== true) throw new Error('compare() rejected the matching secret');
  if ((await bcrypt.compare(`${secret}x`, hash)) !== false) throw new Error('compare() accepted a wrong secret');
}

/**
 * Write, read and roll back on a scratch table; `db` is the :memory: database opened at load, or
 * (verify-native) a WAL file in a temp dir.
 * @param {import('better-sqlite3').Database} db  with a `selftest (v TEXT)` table
 */
export function selfTestSqlite(db) {
  writeReadRollback(db, 'selftest');
}

/** Node's major version and whether it is supported. */
export function nodeInfo(version = process.versions.node) {
  const major = Number(version.split('.')[0]);
  return { version, major, min_major: MIN_NODE_MAJOR, supported: major >= MIN_NODE_MAJOR };
}

/**
 * What `hasync verify-native` runs at image build time: the Node gate, both modules loaded and
 * self-tested, the SQLite one on a WAL file in a temp dir (no /data needed).
 * @param {{loader?: ModuleLoader, nodeVersion?: string}} [options]
 * @returns {Promise<{ok: boolean, lines: string[], failing: string[]}>}
 */
export async function verifyNative({ loader = requireLoader, nodeVersion = process.versions.node } = {}) {
  const lines = [];
  const failing = [];
  const report = (name, error, detail) => {
    if (error) failing.push(name);
    lines.push(error ? `FAIL ${name}: ${error}` : `ok   ${name}: ${detail}`);
  };

  const node = nodeInfo(nodeVersion);
  report(
    'node',
    node.supported ? null : `Node v${node.version} is below the minimum major ${MIN_NODE_MAJOR}`,
    `v${node.version} (minimum ${MIN_NODE_MAJOR})`,
  );

  const mods = loadNativeModules(loader);
  const bcrypt = mods.bcrypt;
  if (!bcrypt.loaded) report('bcrypt', `failed to load: ${bcrypt.error}`);
  else {
    try {
      await selfTestBcrypt(bcrypt.module);
      report('bcrypt', null, `${bcrypt.version} hash+verify ok`);
    } catch (err) {
      report('bcrypt', `self-test failed: ${errorText(err)}`);
    }
  }

  const sqlite = mods['better-sqlite3'];
  if (!sqlite.loaded) report('better-sqlite3', `failed to load: ${sqlite.error}`);
  else {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hasync-verify-'));
    let db = null;
    try {
      db = openHeld(sqlite.module, path.join(dir, 'verify.db'));
      const mode = prepareHeld(db, 'PRAGMA journal_mode = WAL').pluck().get();
      if (mode !== 'wal') throw new Error(`journal_mode WAL not available (got ${mode})`);
      db.exec('CREATE TABLE selftest (v TEXT)');
      selfTestSqlite(db);
      report('better-sqlite3', null, `${sqlite.version} write/read/rollback ok (WAL file)`);
    } catch (err) {
      report('better-sqlite3', `self-test failed: ${errorText(err)}`);
    } finally {
      db?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return { ok: failing.length === 0, lines, failing };
}
