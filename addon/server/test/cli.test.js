import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { spawnCli, SERVER_DIR, tempDir } from '../test-support/harness.js';

const VERSION = JSON.parse(fs.readFileSync(path.join(SERVER_DIR, 'package.json'), 'utf8')).version;

test('--version prints the package.json version', async () => {
  const run = spawnCli(['--version']);
  assert.deepEqual(await run.exit, { code: 0, signal: null });
  assert.equal(run.stdout(), `${VERSION}\n`);
});

test('--help lists the commands and the environment', async () => {
  const run = spawnCli(['--help']);
  assert.equal((await run.exit).code, 0);
  for (const word of ['serve', 'verify-native', 'rotate-token', 'HASYNC_PORT', 'HASYNC_DATA_DIR', 'HASYNC_TOKEN', 'HASYNC_SAMPLE_INTERVAL_S']) {
    assert.ok(run.stdout().includes(word), word);
  }
});

test('an unknown command or extra argument exits 2 with the usage', async () => {
  for (const args of [['frobnicate'], ['serve', 'extra']]) {
    const run = spawnCli(args);
    assert.equal((await run.exit).code, 2, args.join(' '));
    assert.match(run.stderr(), /^hasync: (unknown command|unexpected argument) "(frobnicate|extra)"/);
    assert.match(run.stderr(), /Usage:/);
  }
});

const configErrors = [
  [{ HASYNC_PORT: 'http' }, 'HASYNC_PORT', /HASYNC_PORT must be an integer from 0 to 65535 \(got "http"\)/],
  [{ HASYNC_PORT: '99999' }, 'HASYNC_PORT', /HASYNC_PORT must be an integer/],
  [{ HASYNC_RETENTION_DAYS: '0' }, 'HASYNC_RETENTION_DAYS', /HASYNC_RETENTION_DAYS must be an integer from 1 to 365/],
  [{ HASYNC_RETENTION_DAYS: '400' }, 'HASYNC_RETENTION_DAYS', /HASYNC_RETENTION_DAYS must be an integer from 1 to 365/],
  [{ HASYNC_LOG_LEVEL: 'chatty' }, 'HASYNC_LOG_LEVEL', /HASYNC_LOG_LEVEL must be one of trace, debug, info/],
];
for (const [env, name, message] of configErrors) {
  test(`serve with a bad ${name} exits 2 with one line naming it`, async (t) => {
    const run = spawnCli([], { env: { HASYNC_DATA_DIR: tempDir(t), ...env } });
    assert.deepEqual(await run.exit, { code: 2, signal: null });
    assert.equal(run.stdout(), '');
    const lines = run.stderr().trim().split('\n');
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^hasync: configuration error: /);
    assert.match(lines[0], message);
  });
}

test('serve with a data dir that cannot be written exits 2 naming HASYNC_DATA_DIR', async (t) => {
  const file = path.join(tempDir(t), 'a-file');
  fs.writeFileSync(file, '');
  const run = spawnCli([], { env: { HASYNC_DATA_DIR: path.join(file, 'data') } });
  assert.equal((await run.exit).code, 2);
  assert.match(run.stderr(), /^hasync: configuration error: HASYNC_DATA_DIR \(.*\/a-file\/data\) is not a writable directory: ENOTDIR/);
});

test('rotate-token validates the environment the same way', async () => {
  const run = spawnCli(['rotate-token'], { env: { HASYNC_DATA_DIR: '/proc/hasync-nope' } });
  assert.equal((await run.exit).code, 2);
  assert.match(run.stderr(), /HASYNC_DATA_DIR/);
});

test('verify-native: one ok line per check, exit 0, no /data needed', async () => {
  const run = spawnCli(['verify-native'], { env: { HASYNC_DATA_DIR: '/nonexistent/data' } });
  assert.deepEqual(await run.exit, { code: 0, signal: null });
  const lines = run.stdout().trim().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^ok {3}node: v\d+\.\d+\.\d+ \(minimum 20\)$/);
  assert.match(lines[1], /^ok {3}bcrypt: 6\.\d+\.\d+ hash\+verify ok$/);
  assert.match(lines[2], /^ok {3}better-sqlite3: 12\.\d+\.\d+ write\/read\/rollback ok \(WAL file\)$/);
  assert.ok(!fs.existsSync('/nonexistent'));
});
