import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { announce } from '../src/discovery.js';
import { fakeSupervisor } from '../test-support/fake-supervisor.js';
import { request, startApp, tempDir, tokenFrom } from '../test-support/harness.js';

const supervisorEnv = (url, extra = {}) => ({
  SUPERVISOR_TOKEN: 'sup-token-123',
  HASYNC_SUPERVISOR_URL: url,
  HASYNC_ADVERTISE_HOST: 'local-hasync',
  ...extra,
});

test('first start under Supervisor: the new token is announced, not printed', async (t) => {
  const sup = await fakeSupervisor(t);
  const { base, out, app, log } = await startApp(t, { env: supervisorEnv(sup.url) });
  assert.equal(sup.calls.length, 1);
  const call = sup.calls[0];
  assert.equal(call.method, 'POST');
  assert.equal(call.url, '/discovery');
  assert.equal(call.headers.authorization, 'Bearer sup-token-123');
  assert.equal(call.headers['content-type'], 'application/json');
  assert.deepEqual(Object.keys(call.body), ['service', 'config']);
  assert.equal(call.body.service, 'hasync');
  assert.deepEqual(Object.keys(call.body.config), ['host', 'port', 'token']);
  assert.equal(call.body.config.host, 'local-hasync');
  assert.equal(call.body.config.port, app.port);
  assert.equal(out.text(), '', 'no banner when discovery worked');
  assert.match(log.text(), /announced to Home Assistant through Supervisor discovery/);
  assert.ok(!log.text().includes(call.body.config.token));
  assert.equal((await request(base, '/api/v1/status', { token: call.body.config.token })).status, 200);
});

test('a restart with a stored token announces nothing (the plain token no longer exists)', async (t) => {
  const sup = await fakeSupervisor(t);
  const dataDir = tempDir(t);
  const first = await startApp(t, { dataDir, env: supervisorEnv(sup.url) });
  await first.app.stop();
  await startApp(t, { dataDir, env: supervisorEnv(sup.url) });
  assert.equal(sup.calls.length, 1);
});

test('HASYNC_TOKEN under Supervisor is announced on every start', async (t) => {
  const sup = await fakeSupervisor(t);
  const fixed = 'fixed-announced-token-0123456789abcdef';
  const { out } = await startApp(t, { env: supervisorEnv(sup.url, { HASYNC_TOKEN: fixed }) });
  assert.equal(sup.calls.length, 1);
  assert.equal(sup.calls[0].body.config.token, fixed);
  assert.equal(out.text(), '');
});

test('the advertised host defaults to the container hostname', async (t) => {
  const sup = await fakeSupervisor(t);
  await startApp(t, { env: { SUPERVISOR_TOKEN: 's', HASYNC_SUPERVISOR_URL: sup.url } });
  assert.equal(sup.calls[0].body.config.host, os.hostname());
});

test('Supervisor refuses: a warning with its message, and the banner as fallback', async (t) => {
  const sup = await fakeSupervisor(t, { status: 400, body: { result: 'error', message: 'Service hasync not in discovery list' } });
  const { out, log, base } = await startApp(t, { env: supervisorEnv(sup.url) });
  assert.match(log.text(), /WARNING Supervisor discovery answered HTTP 400: Service hasync not in discovery list; printing the token instead/);
  const token = tokenFrom(out.text());
  assert.ok(token);
  assert.equal(sup.calls[0].body.config.token, token);
  assert.equal((await request(base, '/api/v1/status', { token })).status, 200);
});

test('Supervisor unreachable: the error names the URL, never the token', async () => {
  const err = await announce(
    { token: 's', url: 'http://127.0.0.1:9', advertiseHost: 'h', ingressProxy: '172.30.32.2' },
    { port: 1, token: 'TOPSECRET' },
  ).then(() => null, (e) => e);
  assert.match(err.message, /^Supervisor discovery unreachable at http:\/\/127\.0\.0\.1:9: ECONNREFUSED$/);
  assert.ok(!err.message.includes('TOPSECRET'));
});
