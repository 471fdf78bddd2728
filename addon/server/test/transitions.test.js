import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { requireLoader } from '../src/native.js';
import { assertConforms } from '../test-support/openapi.js';
import { frontendCopy, query, request, startApp, waitFor } from '../test-support/harness.js';

const FAST = { cheapMs: 25, selfTestMs: 40, sampleMs: 25 };

const health = async (base) => (await request(base, '/health')).json;
const waitForHealth = (base, expected) =>
  waitFor(async () => JSON.stringify(await health(base)) === JSON.stringify(expected), { what: JSON.stringify(expected) });
const checkOf = (doc, name) => doc.checks.find((c) => c.name === name);

/** Real bcrypt whose compare() can be broken and repaired while the server runs. */
function switchableBcrypt() {
  const real = requireLoader('bcrypt');
  const sw = { broken: false };
  sw.module = { hash: real.hash, compare: async (s, h) => (sw.broken ? true : real.compare(s, h)) };
  sw.loader = (name) => (name === 'bcrypt' ? sw.module : requireLoader(name));
  return sw;
}

test('frontend build removed and restored: ok → degraded (200) → ok', async (t) => {
  const dir = frontendCopy(t);
  const { base, token } = await startApp(t, { env: { HASYNC_FRONTEND_DIR: dir }, options: { intervals: FAST } });
  assert.deepEqual(await health(base), { status: 'ok' });

  fs.renameSync(path.join(dir, 'hasync-build.json'), path.join(dir, 'stamp.bak'));
  await waitForHealth(base, { status: 'degraded', failing: ['frontend'] });
  const res = await request(base, '/health');
  assert.equal(res.status, 200);
  assertConforms('/health', 'GET', res);
  const doc = (await request(base, '/api/v1/status', { token })).json;
  assert.equal(doc.status, 'degraded');
  assert.deepEqual(doc.frontend, { present: false, build_id: null, built_at: null });
  assert.match(checkOf(doc, 'frontend').message, /^not built: .*hasync-build\.json is missing$/);

  fs.renameSync(path.join(dir, 'stamp.bak'), path.join(dir, 'hasync-build.json'));
  await waitForHealth(base, { status: 'ok' });
});

test('bcrypt self-test starts failing: error (503 naming bcrypt), the API still authenticates, then recovers', async (t) => {
  const sw = switchableBcrypt();
  const { base, token, log } = await startApp(t, { options: { loader: sw.loader, intervals: FAST } });
  sw.broken = true;
  await waitForHealth(base, { status: 'error', failing: ['bcrypt'] });
  const res = await request(base, '/health');
  assert.equal(res.status, 503);
  assertConforms('/health', 'GET', res);

  const status = await request(base, '/api/v1/status', { token });
  assert.equal(status.status, 200, 'verified with bcryptjs while native bcrypt is unhealthy');
  assertConforms('/api/v1/status', 'GET', status);
  assert.equal(status.json.status, 'error');
  assert.equal(status.json.native_modules.bcrypt.self_test_ok, false);
  assert.equal(status.json.native_modules.bcrypt.error, 'self-test failed: compare() accepted a wrong secret');
  assert.match(checkOf(status.json, 'bcrypt').message, /accepted a wrong secret; API tokens are verified with bcryptjs$/);
  assert.equal((await request(base, '/api/v1/status', { token: 'wrong' })).status, 401, 'bcryptjs still rejects wrong tokens');
  assert.match(log.text(), /WARNING check bcrypt failing: self-test failed/);

  sw.broken = false;
  await waitForHealth(base, { status: 'ok' });
  assert.match(log.text(), /INFO check bcrypt ok/);
});

test('bcrypt fails to load: error state, token created and verified with bcryptjs', async (t) => {
  const loader = (name) => {
    if (name === 'bcrypt') throw new Error('Error relocating bcrypt.node: symbol not found');
    return requireLoader(name);
  };
  const { base, token, app } = await startApp(t, { options: { loader } });
  assert.ok(token, 'a token is still generated');
  assert.match(app.db.readToken().hash, /^\$2b\$04\$/);
  const res = await request(base, '/health');
  assert.equal(res.status, 503);
  assert.deepEqual(res.json, { status: 'error', failing: ['bcrypt'] });
  const doc = (await request(base, '/api/v1/status', { token })).json;
  assert.deepEqual(
    { ...doc.native_modules.bcrypt, checked_at: null },
    { loaded: false, version: doc.native_modules.bcrypt.version, self_test_ok: false, error: 'Error relocating bcrypt.node: symbol not found', checked_at: null },
  );
  assert.deepEqual(checkOf(doc, 'bcrypt'), {
    name: 'bcrypt',
    ok: false,
    critical: true,
    message: 'failed to load: Error relocating bcrypt.node: symbol not found; API tokens are verified with bcryptjs',
  });
});

test('better-sqlite3 fails to load: no token store (503), /health names better-sqlite3 and database, no crash', async (t) => {
  const loader = (name) => {
    if (name === 'better-sqlite3') throw new Error('The module was compiled against a different Node.js version');
    return requireLoader(name);
  };
  const { base, out, app } = await startApp(t, { options: { loader, intervals: FAST } });
  assert.equal(out.text(), '', 'no token without a store');
  assert.equal(app.db, null);
  const h = await request(base, '/health');
  assert.equal(h.status, 503);
  assert.deepEqual(h.json, { status: 'error', failing: ['better-sqlite3', 'database'] });
  for (const p of ['/api/v1/status', '/api/v1/history', '/api/v1/events']) {
    const res = await request(base, p, { token: 'anything' });
    assert.equal(res.status, 503, p);
    assert.deepEqual(res.json, {
      error: 'service_unavailable',
      reason: 'token store unavailable: the database cannot be used (the app log says why)',
    });
    assertConforms(p, 'GET', res);
  }
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await request(base, '/health')).status, 503, 'still serving after the sampler and checks ran');
});

test('better-sqlite3 fails to load but HASYNC_TOKEN is set: the status document is served', async (t) => {
  const loader = (name) => {
    if (name === 'better-sqlite3') throw new Error('invalid ELF header');
    return requireLoader(name);
  };
  const fixed = 'fixed-token-abcdefghijklmnopqrstuvwxyz';
  const { base, config } = await startApp(t, { env: { HASYNC_TOKEN: fixed }, options: { loader } });
  const res = await request(base, '/api/v1/status', { token: fixed });
  assert.equal(res.status, 200);
  assertConforms('/api/v1/status', 'GET', res);
  const doc = res.json;
  assert.equal(doc.status, 'error');
  assert.equal(doc.server.instance_id, null);
  assert.deepEqual(doc.database, {
    ok: false,
    path: config.dbPath,
    size_bytes: null,
    journal_mode: null,
    integrity: null,
    integrity_checked_at: null,
    error: 'better-sqlite3 failed to load: invalid ELF header',
  });
  assert.equal(doc.history.availability_24h_percent, null);
  const history = await request(base, '/api/v1/history', { token: fixed });
  assert.equal(history.status, 503);
  assertConforms('/api/v1/history', 'GET', history);
});

test('a full database marks the database check failed with the SQLite error, and recovers', async (t) => {
  const { base, token, app } = await startApp(t, { options: { intervals: FAST } });
  const pages = query(app.db.raw, 'PRAGMA page_count')[0].page_count;
  app.db.raw.exec(`PRAGMA max_page_count = ${pages}`);
  // Fill the last page so the sampler's next insert needs a page it cannot get.
  assert.throws(() => {
    for (let i = 0; i < 10_000; i++) {
      app.db.insertSample({ ts: i, rss_bytes: 1, memory_bytes: 1, process_cpu_percent: 1, container_cpu_percent: 1, status: 'ok' }, 25);
    }
  }, /database or disk is full/);
  await waitForHealth(base, { status: 'error', failing: ['database'] });
  const doc = (await request(base, '/api/v1/status', { token })).json;
  assert.equal(doc.database.ok, false);
  assert.equal(doc.database.error, 'write failed: database or disk is full');
  assert.equal(checkOf(doc, 'database').message, 'write failed: database or disk is full');

  app.db.raw.exec('PRAGMA max_page_count = 1073741823');
  await waitForHealth(base, { status: 'ok' });
});

test('the database file deleted while open: database check fails, /health keeps answering', async (t) => {
  const { base, config } = await startApp(t, { options: { intervals: FAST } });
  fs.unlinkSync(config.dbPath);
  await waitForHealth(base, { status: 'error', failing: ['database'] });
  const res = await request(base, '/health');
  assert.equal(res.status, 503);
});

test('an unsupported Node version fails the node check', async (t) => {
  const { base, token } = await startApp(t, { options: { nodeVersion: '18.20.4' } });
  assert.deepEqual(await health(base), { status: 'error', failing: ['node'] });
  const doc = (await request(base, '/api/v1/status', { token })).json;
  assert.deepEqual(doc.node, { version: '18.20.4', major: 18, min_major: 20, supported: false });
  assert.equal(checkOf(doc, 'node').message, 'Node v18.20.4 is below the minimum major 20');
});

test('several failures: /health lists the critical ones when in error', async (t) => {
  const dir = frontendCopy(t);
  fs.rmSync(path.join(dir, 'index.html'));
  const loader = (name) => {
    if (name === 'bcrypt') throw new Error('gone');
    return requireLoader(name);
  };
  const { base, token } = await startApp(t, { env: { HASYNC_FRONTEND_DIR: dir }, options: { loader, nodeVersion: '19.0.0' } });
  assert.deepEqual(await health(base), { status: 'error', failing: ['node', 'bcrypt'] });
  const doc = (await request(base, '/api/v1/status', { token })).json;
  assert.deepEqual(doc.checks.filter((c) => !c.ok).map((c) => c.name), ['node', 'bcrypt', 'frontend']);
});
