import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { mock, test } from 'node:test';
import * as builtins from '../src/builtins.js';
import { ConfigError, ensureDataDir, loadConfig, SERVER_DIR } from '../src/config.js';
import { query, startApp, tempDir, waitFor } from '../test-support/harness.js';

test('defaults', () => {
  const c = loadConfig({});
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.port, 8099);
  assert.equal(c.dataDir, '/data');
  assert.equal(c.dbPath, '/data/hasync.db');
  assert.equal(c.logLevel, 'info');
  assert.equal(c.retentionDays, 7);
  assert.equal(c.sampleIntervalS, 10);
  assert.equal(c.containerMetrics, true);
  assert.equal(c.token, null);
  assert.equal(c.frontendDir, path.resolve(SERVER_DIR, '..', 'frontend', 'dist'));
  assert.equal(c.supervisor, null);
});

test('values from the environment; empty values count as unset', () => {
  const c = loadConfig({
    HASYNC_HOST: '127.0.0.1',
    HASYNC_PORT: '18099',
    HASYNC_DATA_DIR: '/tmp/x/',
    HASYNC_LOG_LEVEL: 'WARNING',
    HASYNC_RETENTION_DAYS: '365',
    HASYNC_TOKEN: '',
    HASYNC_FRONTEND_DIR: 'rel/dist',
  });
  assert.deepEqual(
    [c.host, c.port, c.dataDir, c.logLevel, c.retentionDays, c.token, c.frontendDir],
    ['127.0.0.1', 18099, '/tmp/x', 'warning', 365, null, path.resolve('rel/dist')],
  );
});

test('bashio log levels map onto the four the logger writes', () => {
  const level = (v) => loadConfig({ HASYNC_LOG_LEVEL: v }).logLevel;
  assert.deepEqual(
    ['trace', 'debug', 'info', 'notice', 'warning', 'warn', 'error', 'fatal'].map(level),
    ['debug', 'debug', 'info', 'info', 'warning', 'warning', 'error', 'error'],
  );
});

test('Supervisor settings only when SUPERVISOR_TOKEN is set', () => {
  const c = loadConfig({ SUPERVISOR_TOKEN: 'sup', HASYNC_ADVERTISE_HOST: 'local-hasync' });
  assert.deepEqual(c.supervisor, { token: 'sup', url: 'http://supervisor', advertiseHost: 'local-hasync', ingressProxy: '172.30.32.2' });
  const o = loadConfig({ SUPERVISOR_TOKEN: 's', HASYNC_SUPERVISOR_URL: 'http://127.0.0.1:9/', HASYNC_INGRESS_PROXY: '10.0.0.1' });
  assert.equal(o.supervisor.url, 'http://127.0.0.1:9');
  assert.equal(o.supervisor.ingressProxy, '10.0.0.1');
  assert.equal(o.supervisor.advertiseHost, null);
});

const bad = [
  ['HASYNC_PORT', 'abc'],
  ['HASYNC_PORT', '70000'],
  ['HASYNC_PORT', '-1'],
  ['HASYNC_PORT', '80.5'],
  ['HASYNC_RETENTION_DAYS', '0'],
  ['HASYNC_RETENTION_DAYS', '366'],
  ['HASYNC_RETENTION_DAYS', 'week'],
  ['HASYNC_LOG_LEVEL', 'verbose'],
  ['HASYNC_HOST', 'bad host'],
  ['HASYNC_TOKEN', 'has space'],
  ['HASYNC_CONTAINER_METRICS', 'maybe'],
];
for (const [name, value] of bad) {
  test(`${name}=${JSON.stringify(value)} is a ConfigError naming the variable`, () => {
    assert.throws(
      () => loadConfig({ [name]: value }),
      (err) => err instanceof ConfigError && err.variable === name && err.message.startsWith(`${name} `),
    );
  });
}

test('Supervisor overrides are validated too', () => {
  assert.throws(() => loadConfig({ SUPERVISOR_TOKEN: 's', HASYNC_INGRESS_PROXY: 'proxy' }), { variable: 'HASYNC_INGRESS_PROXY' });
  assert.throws(() => loadConfig({ SUPERVISOR_TOKEN: 's', HASYNC_SUPERVISOR_URL: 'ftp://x' }), { variable: 'HASYNC_SUPERVISOR_URL' });
});

test('a ConfigError for HASYNC_TOKEN does not echo the value', () => {
  assert.throws(() => loadConfig({ HASYNC_TOKEN: 'secret value' }), (err) => !err.message.includes('secret'));
});

test('ensureDataDir creates the directory and rejects one that cannot be written', (t) => {
  const base = tempDir(t);
  const dir = path.join(base, 'a', 'b');
  ensureDataDir(dir);
  assert.ok(fs.statSync(dir).isDirectory());
  assert.deepEqual(fs.readdirSync(dir), [], 'the write probe is removed');
  const file = path.join(base, 'file');
  fs.writeFileSync(file, 'x');
  assert.throws(() => ensureDataDir(path.join(file, 'sub')), { variable: 'HASYNC_DATA_DIR' });
});

test('HASYNC_CONTAINER_METRICS: on by default, off and its spellings turn the cgroup figures off', () => {
  for (const value of ['on', 'true', '1', 'ON']) assert.equal(loadConfig({ HASYNC_CONTAINER_METRICS: value }).containerMetrics, true);
  for (const value of ['off', 'false', '0', 'Off']) assert.equal(loadConfig({ HASYNC_CONTAINER_METRICS: value }).containerMetrics, false);
});

test('HASYNC_SAMPLE_INTERVAL_S: 10 s by default, 1 to 3600, anything else names the variable', () => {
  assert.equal(loadConfig({}).sampleIntervalS, 10);
  assert.equal(loadConfig({ HASYNC_SAMPLE_INTERVAL_S: '1' }).sampleIntervalS, 1);
  assert.equal(loadConfig({ HASYNC_SAMPLE_INTERVAL_S: '3600' }).sampleIntervalS, 3600);
  for (const bad of ['0', '3601', '1.5', '-1', 'ten', '10s']) {
    assert.throws(() => loadConfig({ HASYNC_SAMPLE_INTERVAL_S: bad }), (err) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.variable, 'HASYNC_SAMPLE_INTERVAL_S');
      assert.match(err.message, /must be an integer from 1 to 3600/);
      return true;
    });
  }
});

test('the sampler stores one sample per HASYNC_SAMPLE_INTERVAL_S', async (t) => {
  const { app } = await startApp(t, { env: { HASYNC_SAMPLE_INTERVAL_S: '1' } });
  const count = () => query(app.db.raw, 'SELECT count(*) AS n, max(step_s) AS step FROM samples')[0];
  await waitFor(() => count().n >= 2, { timeoutMs: 4000, what: 'two samples' });
  assert.equal(count().step, 1);
});

test('ensureDataDir: a full disk is not a configuration error; it returns a warning and leaves no probe', (t) => {
  const dir = tempDir(t);
  const real = builtins.fs.writeFileSync;
  const write = mock.method(builtins.fs, 'writeFileSync', (file, data) => {
    real(file, '');
    throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC' });
  });
  t.after(() => write.mock.restore());
  const warning = ensureDataDir(dir);
  assert.match(warning, /^HASYNC_DATA_DIR \(.+\) has no space left \(ENOSPC\); starting anyway/);
  assert.deepEqual(fs.readdirSync(dir), []);
  write.mock.restore();
  assert.equal(ensureDataDir(dir), null);
});
