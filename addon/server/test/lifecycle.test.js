// Real child processes: the acceptance run, SIGTERM/SIGINT, rotate-token.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { fakeSupervisor } from '../test-support/fake-supervisor.js';
import { openDb, openEvents, query, request, spawnCli, spawnServer, tempDir, tokenFrom, waitFor } from '../test-support/harness.js';

test('acceptance: a fresh data dir, no frontend: /health 200 degraded, token printed once, status validates', async (t) => {
  const dataDir = tempDir(t);
  const server = await spawnServer(t, { env: { HASYNC_DATA_DIR: dataDir, HASYNC_FRONTEND_DIR: path.join(dataDir, 'no-frontend') } });
  const health = await request(server.base, '/health');
  assert.equal(health.status, 200);
  assert.deepEqual(health.json, { status: 'degraded', failing: ['frontend'] });

  const { token } = server;
  assert.match(token, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(server.stdout().split(token).length, 2, 'the token appears exactly once');
  assert.match(server.stdout(), /rotate-token/);
  assert.equal((await request(server.base, '/api/v1/status')).status, 401);

  // Validate with the schema the server itself serves, as a client would.
  const spec = (await request(server.base, '/api/v1/openapi.json')).json;
  const ajv = new Ajv2020({ strict: false, allowUnionTypes: true });
  addFormats(ajv);
  ajv.addSchema(spec, 'served');
  const validate = ajv.getSchema('served#/components/schemas/StatusDocument');
  const status = await request(server.base, '/api/v1/status', { token });
  assert.equal(status.status, 200);
  assert.ok(validate(status.json), ajv.errorsText(validate.errors));
  assert.equal(status.json.status, 'degraded');

  const db = openDb(path.join(dataDir, 'hasync.db'), { readonly: true });
  t.after(() => db.close());
  const [{ hash }] = query(db, 'SELECT hash FROM tokens');
  assert.match(hash, /^\$2b\$10\$/, 'stored as a bcrypt hash at cost 10');
});

/** Send a request on an open keep-alive connection and resolve with its status. */
function keepAliveGet(agent, base, p, token) {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}${p}`, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
  });
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  test(`${signal}: in-flight request finishes, streams end, exit 0, database intact`, async (t) => {
    const dataDir = tempDir(t);
    const server = await spawnServer(t, { env: { HASYNC_DATA_DIR: dataDir } });
    const stream = await openEvents(server.base, { token: server.token });
    await stream.next();

    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    assert.equal(await keepAliveGet(agent, server.base, '/health', server.token), 200);
    // The first request with this token runs bcrypt at cost 10 (tens of ms): the signal lands mid-request.
    const inflight = keepAliveGet(agent, server.base, '/api/v1/status', server.token);
    await new Promise((r) => setTimeout(r, 10));
    const sent = Date.now();
    server.child.kill(signal);

    assert.equal(await inflight, 200);
    assert.equal(await stream.next(5000), null, 'the event stream was closed');
    const exit = await server.exit;
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - sent < 5000, 'exited within 5 s');
    assert.match(server.stdout(), new RegExp(`INFO ${signal} received; shutting down`));
    assert.match(server.stdout(), /INFO stopped/);
    assert.equal(server.stderr(), '');

    const file = path.join(dataDir, 'hasync.db');
    assert.ok(!fs.existsSync(`${file}-wal`) || fs.statSync(`${file}-wal`).size === 0, 'WAL checkpointed');
    const db = openDb(file, { readonly: true });
    t.after(() => db.close());
    assert.deepEqual(query(db, 'PRAGMA integrity_check'), [{ integrity_check: 'ok' }]);
    assert.equal(query(db, 'SELECT count(*) AS c FROM tokens')[0].c, 1);
  });
}

test('a closed log pipe: SIGTERM still ends the process at once, with no uncaught EPIPE recorded', async (t) => {
  const dataDir = tempDir(t);
  const server = await spawnServer(t, { env: { HASYNC_DATA_DIR: dataDir } });
  // Whoever read the log went away: the next line written gets EPIPE.
  server.child.stdout.destroy();
  const sent = Date.now();
  server.child.kill('SIGTERM');
  assert.deepEqual(await server.exit, { code: 0, signal: null });
  // Not by the 5 s bound: a failed log write must not turn into a loop of fatal records.
  assert.ok(Date.now() - sent < 4000, `exited after ${Date.now() - sent} ms`);
  const db = openDb(path.join(dataDir, 'hasync.db'), { readonly: true });
  t.after(() => db.close());
  assert.deepEqual(query(db, 'SELECT coalesce(sum(fatal), 0) AS fatal FROM error_windows'), [{ fatal: 0 }]);
});

test('rotate-token: prints the new token; the running server rejects the old one within 5 s', async (t) => {
  const dataDir = tempDir(t);
  const server = await spawnServer(t, { env: { HASYNC_DATA_DIR: dataDir } });
  const oldToken = server.token;
  assert.equal((await request(server.base, '/api/v1/status', { token: oldToken })).status, 200);

  const rotate = spawnCli(['rotate-token'], { env: { HASYNC_DATA_DIR: dataDir } });
  assert.deepEqual(await rotate.exit, { code: 0, signal: null });
  const newToken = tokenFrom(rotate.stdout());
  assert.ok(newToken && newToken !== oldToken);
  const rotatedAt = Date.now();

  // Poll gently: every rejected attempt counts towards the 10-failures rate limit.
  await waitFor(async () => (await request(server.base, '/api/v1/status', { token: newToken })).status === 200, {
    timeoutMs: 5000,
    intervalMs: 400,
    what: 'the new token to be accepted',
  });
  assert.equal((await request(server.base, '/api/v1/status', { token: oldToken })).status, 401);
  assert.ok(Date.now() - rotatedAt <= 5000);
  assert.ok(!server.stdout().includes(newToken), 'the server never prints the rotated token');
});

test('rotate-token under Supervisor re-announces the new token', async (t) => {
  const sup = await fakeSupervisor(t);
  const dataDir = tempDir(t);
  const env = { HASYNC_DATA_DIR: dataDir, HASYNC_PORT: '18123', SUPERVISOR_TOKEN: 'sup', HASYNC_SUPERVISOR_URL: sup.url, HASYNC_ADVERTISE_HOST: 'local-hasync' };
  const first = spawnCli(['rotate-token'], { env });
  assert.equal((await first.exit).code, 0);
  const second = spawnCli(['rotate-token'], { env });
  assert.equal((await second.exit).code, 0);
  assert.equal(sup.calls.length, 2);
  assert.deepEqual(sup.calls[1].body, { service: 'hasync', config: { host: 'local-hasync', port: 18123, token: tokenFrom(second.stdout()) } });
  assert.notEqual(sup.calls[0].body.config.token, sup.calls[1].body.config.token);
  assert.match(second.stdout(), /new token announced to Home Assistant/);
});
