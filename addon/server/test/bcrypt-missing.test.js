// The critical acceptance: a copy of the server whose bcrypt addon was deleted still authenticates
// (bcryptjs) and reports the failure. A real process on a real copy: no injected loader.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { assertConforms } from '../test-support/openapi.js';
import { request, SERVER_DIR, spawnCli, spawnServer, tempDir } from '../test-support/harness.js';

/** cp -r of the server dir, then delete every compiled bcrypt addon. */
function serverWithoutBcrypt(t) {
  const copy = path.join(tempDir(t, 'hasync-nobcrypt-'), 'server');
  execFileSync('cp', ['-r', SERVER_DIR, copy]);
  const bcryptDir = path.join(copy, 'node_modules', 'bcrypt');
  const prebuilds = path.join(bcryptDir, 'prebuilds', `${process.platform}-${process.arch}`);
  for (const f of fs.readdirSync(prebuilds)) if (f.endsWith('.node')) fs.rmSync(path.join(prebuilds, f));
  fs.rmSync(path.join(bcryptDir, 'build'), { recursive: true, force: true });
  return copy;
}

test('bcrypt addon deleted: the server runs, authenticates, and reports bcrypt as the failure', async (t) => {
  const copy = serverWithoutBcrypt(t);
  const server = await spawnServer(t, { bin: path.join(copy, 'bin', 'hasync.js'), env: { HASYNC_DATA_DIR: tempDir(t) } });
  assert.ok(server.token, 'a token is generated with bcryptjs');

  const health = await request(server.base, '/health');
  assert.equal(health.status, 503);
  assert.deepEqual(health.json, { status: 'error', failing: ['bcrypt'] });

  assert.equal((await request(server.base, '/api/v1/status')).status, 401);
  assert.equal((await request(server.base, '/api/v1/status', { token: `${server.token}x` })).status, 401);
  const res = await request(server.base, '/api/v1/status', { token: server.token });
  assert.equal(res.status, 200);
  assertConforms('/api/v1/status', 'GET', res);
  const doc = res.json;
  assert.equal(doc.status, 'error');
  assert.equal(doc.native_modules.bcrypt.loaded, false);
  assert.equal(doc.native_modules.bcrypt.self_test_ok, false);
  assert.match(doc.native_modules.bcrypt.error, /No native build was found/);
  const check = doc.checks.find((c) => c.name === 'bcrypt');
  assert.equal(check.ok, false);
  assert.ok(check.message.includes(doc.native_modules.bcrypt.error));
  assert.equal(doc.native_modules['better-sqlite3'].self_test_ok, true);
  assert.match(server.stdout(), /ERROR native module bcrypt 6\.\d+\.\d+ failed to load: No native build was found/);
});

test('bcrypt addon deleted: verify-native exits 1 naming bcrypt', async (t) => {
  const copy = serverWithoutBcrypt(t);
  const run = spawnCli(['verify-native'], { bin: path.join(copy, 'bin', 'hasync.js'), cwd: copy });
  assert.deepEqual(await run.exit, { code: 1, signal: null });
  assert.match(run.stdout(), /^ok {3}node: /m);
  assert.match(run.stdout(), /^FAIL bcrypt: failed to load: No native build was found/m);
  assert.match(run.stdout(), /^ok {3}better-sqlite3: /m);
  assert.equal(run.stderr(), 'verify-native: failed: bcrypt\n');
});
