import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { assertConforms, spec } from '../test-support/openapi.js';
import { openDatabase } from '../src/db.js';
import { createHasher } from '../src/hasher.js';
import { requireLoader } from '../src/native.js';
import { rotateToken } from '../src/tokens.js';
import { Database, FIXTURES, FRONTEND_FIXTURE, request, SERVER_DIR, startApp, tempDir, waitFor } from '../test-support/harness.js';

const VERSION = JSON.parse(fs.readFileSync(path.join(SERVER_DIR, 'package.json'), 'utf8')).version;

/** Send raw bytes and return the raw response text. */
function rawRequest(port, text) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (c) => (data += c));
    socket.on('end', () => resolve(data));
    socket.on('close', () => resolve(data));
    socket.on('error', (err) => (err.code === 'ECONNRESET' ? resolve(data) : reject(err)));
  });
}

test('GET /health: 200 {"status":"ok"} when every check passes', async (t) => {
  const { base } = await startApp(t);
  const res = await request(base, '/health');
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, { status: 'ok' });
  assert.equal(res.headers['cache-control'], 'no-store');
  assertConforms('/health', 'GET', res);
  const head = await request(base, '/health', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
});

test('GET /api/v1/status: 401 without a valid bearer token', async (t) => {
  const { base, token } = await startApp(t);
  const cases = [
    [{}, 'missing bearer token'],
    [{ headers: { authorization: `Basic ${token}` } }, 'missing bearer token'],
    [{ headers: { authorization: 'Bearer' } }, 'missing bearer token'],
    [{ token: `${token}x` }, 'invalid token'],
    [{ token: 'x'.repeat(43) }, 'invalid token'],
  ];
  for (const [opts, reason] of cases) {
    const res = await request(base, '/api/v1/status', opts);
    assert.equal(res.status, 401, JSON.stringify(opts));
    assert.deepEqual(res.json, { error: 'unauthorized', reason });
    assertConforms('/api/v1/status', 'GET', res);
  }
  const inQuery = await request(base, `/api/v1/status?token=${token}`);
  assert.equal(inQuery.status, 401, 'tokens in query strings are not accepted');
});

test('GET /api/v1/status: the full document, conforming to the OpenAPI schema', async (t) => {
  const { base, token, config } = await startApp(t);
  const res = await request(base, '/api/v1/status', { token });
  assert.equal(res.status, 200);
  assertConforms('/api/v1/status', 'GET', res);
  const doc = res.json;
  assert.equal(doc.schema_version, 1);
  assert.equal(doc.server.version, VERSION);
  assert.equal(doc.status, 'ok');
  assert.deepEqual(doc.checks.map((c) => [c.name, c.ok, c.critical]), [
    ['node', true, true],
    ['bcrypt', true, true],
    ['better-sqlite3', true, true],
    ['database', true, true],
    ['frontend', true, false],
  ]);
  assert.equal(doc.node.version, process.versions.node);
  assert.equal(doc.node.supported, Number(process.versions.node.split('.')[0]) >= 20);
  assert.equal(doc.native_modules.bcrypt.self_test_ok, true);
  assert.equal(doc.native_modules['better-sqlite3'].loaded, true);
  assert.equal(doc.database.path, config.dbPath);
  assert.equal(doc.database.journal_mode, 'wal');
  assert.equal(doc.database.integrity, 'ok');
  assert.deepEqual(doc.frontend, { present: true, build_id: 'fixture01', built_at: '2026-11-20T10:00:00.000Z' });
  assert.ok(doc.process.rss_bytes > 10 * 1024 * 1024);
  assert.ok(Date.parse(doc.server.started_at) <= Date.now());
  assert.equal(doc.history.samples, 0);
  assert.equal(doc.history.availability_24h_percent, null);
});

test('the instance id survives a restart on the same data dir; the token is not printed again', async (t) => {
  const first = await startApp(t);
  const a = (await request(first.base, '/api/v1/status', { token: first.token })).json.server.instance_id;
  await first.app.stop();
  const second = await startApp(t, { dataDir: first.config.dataDir });
  assert.equal(second.token, null);
  const res = await request(second.base, '/api/v1/status', { token: first.token });
  assert.equal(res.status, 200);
  assert.equal(res.json.server.instance_id, a);
});

test('a first start killed before it printed its token: the next start replaces the unseen token', async (t) => {
  const dataDir = tempDir(t);
  // What a SIGKILL between storing the hash and printing the banner leaves behind.
  const db = openDatabase(Database, path.join(dataDir, 'hasync.db'));
  const lost = await rotateToken(db, createHasher(() => requireLoader('bcrypt')), 4, { undelivered: true });
  db.close();
  const started = await startApp(t, { dataDir });
  assert.ok(started.token && started.token !== lost, 'a new token is printed');
  assert.equal((await request(started.base, '/api/v1/status', { token: started.token })).status, 200);
  assert.equal((await request(started.base, '/api/v1/status', { token: lost })).status, 401);
  assert.equal(started.app.db.tokenUndelivered(), false);
  await started.app.stop();
  const again = await startApp(t, { dataDir });
  assert.equal(again.token, null, 'a delivered token is kept');
  assert.equal((await request(again.base, '/api/v1/status', { token: started.token })).status, 200);
});

test('only the bcrypt hash of the token is stored', async (t) => {
  const { app, token } = await startApp(t);
  const { hash } = app.db.readToken();
  assert.match(hash, /^\$2b\$04\$/);
  assert.ok(!hash.includes(token));
  assert.match(token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
});

test('GET /api/v1/history: windows, samples from the sampler, 400 for an unknown window', async (t) => {
  const { base, token } = await startApp(t, { options: { intervals: { sampleMs: 40 } } });
  await waitFor(async () => (await request(base, '/api/v1/history?window=1h', { token })).json.points.length > 0, {
    what: 'a stored sample',
  });
  for (const [query, window, step] of [['', '24h', 300], ['?window=1h', '1h', 60], ['?window=7d', '7d', 1800]]) {
    const res = await request(base, `/api/v1/history${query}`, { token });
    assert.equal(res.status, 200);
    assertConforms('/api/v1/history', 'GET', res);
    assert.equal(res.json.window, window);
    assert.equal(res.json.step_s, step);
    assert.equal(res.json.points.at(-1).status, 'ok');
    assert.ok(res.json.points.at(-1).rss_bytes > 0);
  }
  for (const bad of ['30d', 'constructor', '']) {
    const res = await request(base, `/api/v1/history?window=${bad}`, { token });
    assert.equal(res.status, 400, bad);
    assert.deepEqual(res.json, { error: 'bad_request', reason: 'window must be one of 1h, 24h, 7d' });
    assertConforms('/api/v1/history', 'GET', res);
  }
  assert.equal((await request(base, '/api/v1/history?window=1h')).status, 401);
});

test('the status document picks up the history figures; availability once an hour is covered', async (t) => {
  // The samples are taken here, 10 s apart on an injected clock, so no CPU load can make them late.
  const start = Date.UTC(2026, 10, 25, 12);
  let clock = start;
  const { app, base, token } = await startApp(t, { options: { now: () => clock } });
  app.sampler.stop();
  let taken = 0;
  const sampleUntil = (n) => {
    while (taken < n) {
      taken += 1;
      clock = start + taken * 10_000;
      app.sampler.sample();
    }
  };
  const history = (until) =>
    waitFor(async () => {
      const h = (await request(base, '/api/v1/status', { token })).json.history;
      return until(h) ? h : null;
    });

  sampleUntil(3);
  let h = await history((x) => x.samples === 3);
  assert.equal(h.availability_24h_percent, null, '20 s of samples');
  assert.equal(h.availability_7d_percent, null);
  assert.equal(h.availability_24h_covered_hours, 0.006);
  assert.equal(h.memory_growth_mib_per_hour, null, 'less than 10 minutes of samples');

  sampleUntil(361); // the first sample at 10 s, the last an hour later
  h = await history((x) => x.samples === 361);
  assert.equal(h.availability_24h_percent, 100);
  assert.equal(h.availability_24h_covered_hours, 1);
  assert.equal(h.availability_7d_percent, null, 'the 7 d figure needs 24 h');
  assert.equal(h.availability_7d_covered_hours, 1);
  assert.equal(typeof h.memory_growth_mib_per_hour, 'number');
});

test('GET /api/v1/openapi.json: public, OpenAPI 3.1, version from package.json', async (t) => {
  const { base } = await startApp(t);
  const res = await request(base, '/api/v1/openapi.json');
  assert.equal(res.status, 200);
  assertConforms('/api/v1/openapi.json', 'GET', res);
  assert.equal(res.json.openapi, '3.1.0');
  assert.equal(res.json.info.version, VERSION);
  assert.deepEqual(res.json, spec);
});

test('every operation marked with the bearer scheme answers 401 without a token', async (t) => {
  const { base } = await startApp(t);
  const secured = [];
  for (const [p, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const security = op.security ?? spec.security;
      if (security.some((s) => 'bearer' in s)) secured.push([p, method]);
    }
  }
  assert.deepEqual(secured.map(([p]) => p).sort(), ['/api/v1/events', '/api/v1/history', '/api/v1/status']);
  for (const [p, method] of secured) {
    const res = await request(base, p, { method: method.toUpperCase() });
    assert.equal(res.status, 401, p);
    assertConforms(p, method, res);
  }
});

test('unknown routes 404, wrong methods 405, both with JSON error bodies', async (t) => {
  const { base, token } = await startApp(t);
  const missing = await request(base, '/api/v2/status', { token });
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error, 'not_found');
  assert.deepEqual(Object.keys(missing.json), ['error', 'reason']);
  for (const [method, p] of [['POST', '/health'], ['DELETE', '/api/v1/status'], ['PUT', '/'], ['OPTIONS', '/api/v1/openapi.json']]) {
    const res = await request(base, p, { method });
    assert.equal(res.status, 405, `${method} ${p}`);
    assert.equal(res.headers.allow, 'GET, HEAD');
    assert.equal(res.json.error, 'method_not_allowed');
  }
});

test('bodies over 16 KiB: 413; headers over 16 KiB: 431; malformed requests: 400', async (t) => {
  const { app, base } = await startApp(t);
  const big = await request(base, '/health', { method: 'POST', body: 'x'.repeat(17 * 1024) });
  assert.equal(big.status, 413);
  assert.equal(big.json.error, 'payload_too_large');

  const chunked = await rawRequest(
    app.port,
    `GET /api/v1/status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4400\r\n${'y'.repeat(0x4400)}\r\n0\r\n\r\n`,
  );
  assert.match(chunked, /^HTTP\/1\.1 413 /);

  const headers = await request(base, '/health', { headers: { 'x-filler': 'z'.repeat(17 * 1024) } });
  assert.equal(headers.status, 431);
  assert.equal(headers.json.error, 'headers_too_large');

  const garbage = await rawRequest(app.port, 'NOT HTTP AT ALL\r\n\r\n');
  assert.match(garbage, /^HTTP\/1\.1 400 /);
  assert.match(garbage, /"error":"bad_request"/);

  // A body within the limit is fine.
  assert.equal((await request(base, '/health', { body: 'x'.repeat(1000), headers: { 'content-length': '1000' } })).status, 200);
  const smallChunked = await rawRequest(app.port, 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
  assert.match(smallChunked, /^HTTP\/1\.1 200 /);
});

test('10 invalid tokens from one address within 60 s: 429 with Retry-After; /health unaffected', async (t) => {
  const { base, token } = await startApp(t);
  for (let i = 0; i < 10; i++) assert.equal((await request(base, '/api/v1/status', { token: `bad${i}` })).status, 401);
  const eleventh = await request(base, '/api/v1/status', { token: 'bad-11' });
  assert.equal(eleventh.status, 429);
  for (const p of ['/api/v1/status', '/api/v1/history', '/api/v1/events']) {
    const res = await request(base, p, { token });
    assert.equal(res.status, 429, `${p} with the valid token while blocked`);
    assert.equal(res.json.error, 'too_many_requests');
    assert.ok(res.json.retry_after_s >= 59 && res.json.retry_after_s <= 60);
    assert.equal(res.headers['retry-after'], String(res.json.retry_after_s));
    assertConforms(p, 'GET', res);
  }
  for (let i = 0; i < 50; i++) assert.equal((await request(base, '/health')).status, 200);
  assert.equal((await request(base, '/api/v1/openapi.json')).status, 200);
});

test('the token never reaches the log, even at debug level', async (t) => {
  const { base, token, log } = await startApp(t, { env: { HASYNC_LOG_LEVEL: 'trace' } });
  await request(base, '/api/v1/status', { token });
  await request(base, `/api/v1/status?token=${token}`);
  await request(base, '/api/v1/status', { token: 'wrong-token-value' });
  await request(base, '/nope', { token });
  assert.match(log.text(), /DEBUG GET \/api\/v1\/status 200/);
  assert.ok(!log.text().includes(token));
  assert.ok(!log.text().includes('wrong-token-value'));
});

test('after a restart (the plain token is no longer known to redact), a token in the path is not logged', async (t) => {
  const first = await startApp(t);
  await first.app.stop();
  const { base, log } = await startApp(t, { dataDir: first.config.dataDir, env: { HASYNC_LOG_LEVEL: 'trace' } });
  const token = first.token;
  for (const p of [`/api/v1/${token}`, `/assets/${token}.js`, `/${token}`, `/api/v1/status/${token}`]) {
    await request(base, p, { token });
  }
  await request(base, `/api/v1/history?window=${token}`, { token });
  assert.match(log.text(), /DEBUG GET \[unknown path of \d+ chars\] 404 /);
  assert.match(log.text(), /DEBUG GET \/assets\/\{file\} 404 /);
  assert.match(log.text(), /DEBUG GET \/api\/v1\/history 400 /);
  assert.ok(!log.text().includes(token));
  assert.ok(!log.text().includes('[redacted]'), 'nothing had to be redacted');
});

test('HASYNC_TOKEN: that token is accepted, nothing is generated or printed', async (t) => {
  const fixed = 'a-fixed-token-for-tests-0123456789';
  const { base, out, app } = await startApp(t, { env: { HASYNC_TOKEN: fixed } });
  assert.equal(out.text(), '');
  assert.equal(app.db.readToken(), null);
  assert.equal((await request(base, '/api/v1/status', { token: fixed })).status, 200);
  assert.equal((await request(base, '/api/v1/status', { token: `${fixed}0` })).status, 401);
});

test('the frontend check reads the build stamp', async (t) => {
  const { base, token } = await startApp(t, { env: { HASYNC_FRONTEND_DIR: FRONTEND_FIXTURE } });
  const check = (await request(base, '/api/v1/status', { token })).json.checks.find((c) => c.name === 'frontend');
  assert.deepEqual(check, { name: 'frontend', ok: true, critical: false, message: 'build fixture01' });
});

test('the container section comes from the cgroup files (v2 fixture: 100 MiB used minus 20 MiB inactive)', async (t) => {
  const cg = (name) => ({ root: path.join(FIXTURES, 'cgroup', name, 'root'), procCgroup: path.join(FIXTURES, 'cgroup', name, 'proc-self-cgroup'), cpuCount: 2 });
  const v2 = await startApp(t, { options: { cgroup: cg('v2') } });
  const doc = (await request(v2.base, '/api/v1/status', { token: v2.token })).json;
  // The fixture's CPU counter never moves: 0 %, or null while the first window is under 100 ms.
  assert.ok(doc.container.cpu_percent === 0 || doc.container.cpu_percent === null);
  assert.deepEqual(
    { ...doc.container, cpu_percent: 0 },
    { cgroup: 'v2', memory_used_bytes: 80 * 1024 * 1024, memory_limit_bytes: null, memory_percent: null, cpu_percent: 0 },
  );

  const none = await startApp(t, { options: { cgroup: cg('none') } });
  const res = await request(none.base, '/api/v1/status', { token: none.token });
  assertConforms('/api/v1/status', 'GET', res);
  assert.deepEqual(res.json.container, { cgroup: 'none', memory_used_bytes: null, memory_limit_bytes: null, memory_percent: null, cpu_percent: null });
});
