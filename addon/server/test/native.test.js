import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHasher } from '../src/hasher.js';
import { loadNativeModules, nodeInfo, requireLoader, selfTestBcrypt, selfTestSqlite, verifyNative } from '../src/native.js';

/** A loader that fails for one module, the way a missing or mismatched .node file does. */
const failing = (name, message = `Cannot find module '${name}.node'`) => (mod) => {
  if (mod === name) throw new Error(message);
  return requireLoader(mod);
};

test('both modules load for real, with their versions and a working self-test', async () => {
  const mods = loadNativeModules();
  assert.equal(mods.bcrypt.loaded, true);
  assert.equal(mods['better-sqlite3'].loaded, true);
  assert.match(mods.bcrypt.version, /^6\./);
  assert.match(mods['better-sqlite3'].version, /^12\./);
  await selfTestBcrypt(mods.bcrypt.module);
  selfTestSqlite(mods['better-sqlite3'].scratch);
  selfTestSqlite(mods['better-sqlite3'].scratch);
});

test('a module that fails to load is reported, not thrown; the version still comes from package.json', () => {
  const mods = loadNativeModules(failing('bcrypt', 'Error loading shared library bcrypt.node: Exec format error'));
  assert.equal(mods.bcrypt.loaded, false);
  assert.equal(mods.bcrypt.module, null);
  assert.equal(mods.bcrypt.error, 'Error loading shared library bcrypt.node: Exec format error');
  assert.match(mods.bcrypt.version, /^6\./);
  assert.equal(mods['better-sqlite3'].loaded, true);
});

test('better-sqlite3 counts as loaded only when a database opens (its addon binds lazily)', () => {
  class Broken {
    constructor() {
      throw new Error('Could not locate the bindings file');
    }
  }
  const mods = loadNativeModules((name) => (name === 'better-sqlite3' ? Broken : requireLoader(name)));
  assert.equal(mods['better-sqlite3'].loaded, false);
  assert.match(mods['better-sqlite3'].error, /bindings file/);
});

test('the bcrypt self-test catches a module that loads but does not verify', async () => {
  const real = requireLoader('bcrypt');
  await assert.rejects(selfTestBcrypt({ hash: real.hash, compare: async () => true }), /accepted a wrong secret/);
  await assert.rejects(selfTestBcrypt({ hash: real.hash, compare: async () => false }), /rejected the matching secret/);
  await assert.rejects(selfTestBcrypt({ hash: async () => 'plain', compare: real.compare }), /malformed hash/);
});

test('the hasher falls back to bcryptjs with the same $2b$ format while native bcrypt is unhealthy', async () => {
  const native = requireLoader('bcrypt');
  let healthy = false;
  const hasher = createHasher(() => (healthy ? native : null));
  const fromJs = await hasher.hash('token', 4);
  assert.match(fromJs, /^\$2b\$04\$/);
  healthy = true;
  assert.equal(await hasher.compare('token', fromJs), true, 'native verifies a bcryptjs hash');
  const fromNative = await hasher.hash('token', 4);
  healthy = false;
  assert.equal(await hasher.compare('token', fromNative), true, 'bcryptjs verifies a native hash');
  assert.equal(await hasher.compare('other', fromNative), false);
});

test('nodeInfo gates on major 20', () => {
  assert.deepEqual(nodeInfo('20.0.0'), { version: '20.0.0', major: 20, min_major: 20, supported: true });
  assert.equal(nodeInfo('18.20.4').supported, false);
  assert.equal(nodeInfo('24.21.0').major, 24);
});

test('verifyNative: one line per check, ok on this machine', async () => {
  const r = await verifyNative();
  assert.equal(r.ok, true);
  assert.deepEqual(r.failing, []);
  assert.deepEqual(r.lines.map((l) => l.split(':')[0]), ['ok   node', 'ok   bcrypt', 'ok   better-sqlite3']);
});

test('verifyNative names every failing module and an old Node', async () => {
  const r = await verifyNative({
    loader: (name) => {
      throw new Error(`no ${name} here`);
    },
    nodeVersion: '18.19.0',
  });
  assert.equal(r.ok, false);
  assert.deepEqual(r.failing, ['node', 'bcrypt', 'better-sqlite3']);
  assert.match(r.lines[0], /^FAIL node: Node v18\.19\.0 is below the minimum major 20$/);
  assert.match(r.lines[1], /^FAIL bcrypt: failed to load: no bcrypt here$/);
  assert.match(r.lines[2], /^FAIL better-sqlite3: failed to load: no better-sqlite3 here$/);
});
