import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, ensureDataDir, loadConfig, SERVER_DIR } from '../src/config.js';
import { tempDir } from '../test-support/harness.js';

test('defaults', () => {
  const c = loadConfig({});
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.port, 8099);
  assert.equal(c.dataDir, '/data');
  assert.equal(c.dbPath, '/data/hasync.db');
  assert.equal(c.logLevel, 'info');
  assert.equal(c.retentionDays, 7);
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
