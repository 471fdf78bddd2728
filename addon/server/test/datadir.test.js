// The data directory (issue 18): one server per directory, first-time initialisation under a race, an
// existing database file is never re-initialised, public error bodies name no path, and a database
// that cannot be written still reports its instance id.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../src/config.js';
import { LOCK_FILE, lockDataDir } from '../src/datalock.js';
import { createLogger } from '../src/logger.js';
import { requireLoader } from '../src/native.js';
import { createApp } from '../src/server.js';
import {
  capture,
  Database,
  FRONTEND_FIXTURE,
  openDb,
  query,
  request,
  SERVER_DIR,
  spawnCli,
  spawnServer,
  startApp,
  tempDir,
  tokenFrom,
  waitFor,
} from '../test-support/harness.js';

const LISTENING = /listening on http:\/\/[^:]+:(\d+)/;

/** The server's output lines without the token banner. */
const lines = (text) => text.split('\n').filter((l) => l && !/^(=+|HAsync API token|HASYNC_API_TOKEN=|Enter it|To replace it)/.test(l));

test('a simultaneous double start on an empty data dir, 20 times: the second fails with one line, the first is unharmed', async (t) => {
  for (let round = 1; round <= 20; round++) {
    const dataDir = tempDir(t);
    const env = { HASYNC_HOST: '127.0.0.1', HASYNC_PORT: '0', HASYNC_DATA_DIR: dataDir, HASYNC_FRONTEND_DIR: FRONTEND_FIXTURE };
    const runs = [spawnCli([], { env }), spawnCli([], { env })];
    t.after(() => runs.forEach((r) => r.child.exitCode === null && r.child.kill('SIGKILL')));
    const first = await Promise.race(runs.map((r) => waitFor(() => LISTENING.test(r.stdout()) && r, { timeoutMs: 20_000, what: 'a server to listen' })));
    const second = runs.find((r) => r !== first);
    const exit = await second.exit;
    const what = `round ${round}`;
    assert.equal(exit.code, 1, `${what}: the second exits 1`);
    const said = [...lines(second.stdout()), ...lines(second.stderr())];
    assert.equal(said.length, 1, `${what}: one line, got ${JSON.stringify(said)}`);
    assert.match(
      said[0],
      new RegExp(`FATAL cannot start: another HAsync server is already running on the data directory ${dataDir}; stop it before starting this one$`),
    );
    assert.ok(!tokenFrom(second.stdout()), `${what}: the second printed no token`);

    // The first: its token works, its database is whole, exactly one token and one instance id.
    await waitFor(() => tokenFrom(first.stdout()), { what: 'the token banner' });
    const base = `http://127.0.0.1:${LISTENING.exec(first.stdout())[1]}`;
    assert.equal((await request(base, '/health')).status, 200, what);
    const status = await request(base, '/api/v1/status', { token: tokenFrom(first.stdout()) });
    assert.equal(status.status, 200, what);
    assert.equal(status.json.status, 'ok', what);
    first.child.kill('SIGTERM');
    assert.deepEqual(await first.exit, { code: 0, signal: null }, what);
    assert.equal(first.stderr(), '');
    assert.deepEqual(fs.readdirSync(dataDir).sort(), ['hasync.db', 'hasync.lock'], `${what}: no temporary file left`);
    const db = openDb(path.join(dataDir, 'hasync.db'), { readonly: true });
    try {
      assert.deepEqual(query(db, 'PRAGMA integrity_check'), [{ integrity_check: 'ok' }], what);
      assert.equal(query(db, 'SELECT count(*) AS c FROM tokens')[0].c, 1, what);
      assert.deepEqual(query(db, "SELECT value FROM meta WHERE key = 'instance_id'").map((r) => r.value), [status.json.server.instance_id], what);
    } finally {
      db.close();
    }
  }
});

test("another process's brief read of the lock file does not stop a start (both starts of a race once failed)", async (t) => {
  // What a racing start does while it opens the lock file: a shared lock, held for a moment. The
  // start waits it out instead of taking it for a running server.
  const dir = tempDir(t);
  const reader = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import Database from 'better-sqlite3';
       const db = new Database(${JSON.stringify(path.join(dir, LOCK_FILE))});
       db.exec('BEGIN');
       db.prepare('SELECT count(*) FROM sqlite_master').get();
       console.log('held');
       setTimeout(() => { db.exec('COMMIT'); process.exit(0); }, 150);`,
    ],
    { cwd: SERVER_DIR, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => reader.exitCode === null && reader.kill('SIGKILL'));
  await once(reader.stdout, 'data');
  const lock = lockDataDir(Database, dir);
  lock.release();
  assert.deepEqual(await once(reader, 'exit'), [0, null]);
});

test('the lock is released when the server stops (or is killed): the next start on the same dir works', async (t) => {
  const dataDir = tempDir(t);
  const env = { HASYNC_DATA_DIR: dataDir };
  const killed = await spawnServer(t, { env });
  killed.child.kill('SIGKILL');
  await killed.exit;
  const next = await spawnServer(t, { env });
  assert.equal((await request(next.base, '/api/v1/status', { token: killed.token })).status, 200, 'the same database');
  // In-process too: a second app on a running app's dir does not start and leaves it serving.
  const appDir = tempDir(t);
  const { base, token } = await startApp(t, { dataDir: appDir });
  const second = createApp(loadConfig({ HASYNC_DATA_DIR: appDir, HASYNC_HOST: '127.0.0.1', HASYNC_PORT: '0' }), {
    logger: createLogger({ stream: capture() }),
  });
  await assert.rejects(second.start(), { code: 'HASYNC_DATA_DIR_LOCKED' });
  await second.stop();
  assert.equal((await request(base, '/api/v1/status', { token })).status, 200);
});

test('an empty database file is never initialised: the database check fails with the reason, the file is left, no token', async (t) => {
  const dataDir = tempDir(t);
  const file = path.join(dataDir, 'hasync.db');
  fs.writeFileSync(file, '');
  const mtime = fs.statSync(file).mtimeMs;
  const fixed = 'fixed-token-for-the-empty-database-test';
  const { base, out, log } = await startApp(t, { dataDir, env: { HASYNC_TOKEN: fixed } });
  assert.equal(out.text(), '', 'no new token');
  assert.deepEqual((await request(base, '/health')).json, { status: 'error', failing: ['database'] });
  const doc = (await request(base, '/api/v1/status', { token: fixed })).json;
  const reason = `cannot open ${file}: database file ${file} is empty; it was left as it is: restore a backup, or delete it to start over (see the app documentation)`;
  assert.equal(doc.database.error, reason, 'the authenticated document says why');
  assert.equal(doc.server.instance_id, null, 'no new instance id either');
  assert.match(log.text(), new RegExp(`WARNING check database failing: ${reason.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.equal(fs.statSync(file).size, 0);
  assert.equal(fs.statSync(file).mtimeMs, mtime);
  assert.deepEqual(fs.readdirSync(dataDir).sort(), ['hasync.db', 'hasync.lock'], 'no WAL, no journal, no new file');
});

test('a real server on an empty database file: /health 503, public 503 bodies name no path or library error; deleting the file starts over', async (t) => {
  const dataDir = tempDir(t);
  const file = path.join(dataDir, 'hasync.db');
  fs.writeFileSync(file, '');
  const server = await spawnServer(t, { env: { HASYNC_DATA_DIR: dataDir, HASYNC_FRONTEND_DIR: FRONTEND_FIXTURE } });
  assert.equal(server.token, null, 'no token printed');
  assert.equal((await request(server.base, '/health')).status, 503);
  for (const p of ['/api/v1/status', '/api/v1/history', '/api/v1/events']) {
    const res = await request(server.base, p, { token: 'anything' });
    assert.equal(res.status, 503, p);
    assert.deepEqual(res.json, { error: 'service_unavailable', reason: 'token store unavailable: the database cannot be used (the app log says why)' });
    for (const leak of [dataDir, 'hasync.db', 'SQLITE', 'sqlite', 'better-sqlite3']) assert.ok(!res.body.includes(leak), `${p} names ${leak}`);
  }
  assert.match(server.stdout(), /check database failing: cannot open .*hasync\.db: database file .*hasync\.db is empty; it was left as it is/);
  server.child.kill('SIGTERM');
  assert.equal((await server.exit).code, 0);
  assert.equal(fs.statSync(file).size, 0, 'still empty after a clean stop');

  // Starting over on purpose, as DOCS.md says: delete the file.
  fs.rmSync(file);
  const fresh = await spawnServer(t, { env: { HASYNC_DATA_DIR: dataDir, HASYNC_FRONTEND_DIR: FRONTEND_FIXTURE } });
  assert.ok(fresh.token, 'a new token');
  assert.equal((await request(fresh.base, '/api/v1/status', { token: fresh.token })).json.status, 'ok');
});

test('better-sqlite3 missing: the public 503 names no library error (the log and /health do)', async (t) => {
  const loader = (name) => {
    if (name === 'better-sqlite3') throw new Error('Error loading shared library /opt/x/better_sqlite3.node: No such file');
    return requireLoader(name);
  };
  const { base, log } = await startApp(t, { options: { loader } });
  const res = await request(base, '/api/v1/status', { token: 'x' });
  assert.equal(res.status, 503);
  assert.ok(!res.body.includes('shared library') && !res.body.includes('/opt/x'), res.body);
  assert.match(log.text(), /better_sqlite3\.node: No such file/);
});

test('a database file that cannot be written at start still reports its instance id', async (t) => {
  // As root, permissions do not stop writes: run the server as nobody.
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const dataDir = tempDir(t);
  fs.chmodSync(dataDir, 0o777);
  const env = { HASYNC_DATA_DIR: dataDir, HASYNC_FRONTEND_DIR: FRONTEND_FIXTURE, HASYNC_SAMPLE_INTERVAL_S: '1' };
  const first = await spawnServer(t, { env, ...asNobody });
  const { instance_id: id } = (await request(first.base, '/api/v1/status', { token: first.token })).json.server;
  assert.match(id, /^[0-9a-f-]{36}$/);
  first.child.kill('SIGTERM');
  assert.equal((await first.exit).code, 0);

  fs.chmodSync(path.join(dataDir, 'hasync.db'), 0o444);
  const again = await spawnServer(t, { env, ...asNobody });
  const doc = (await request(again.base, '/api/v1/status', { token: first.token })).json;
  assert.equal(doc.server.instance_id, id);
  await waitFor(async () => (await request(again.base, '/health')).json.failing?.includes('database'), { what: 'the database check to fail' });
  const failing = (await request(again.base, '/api/v1/status', { token: first.token })).json.database.error;
  assert.match(failing, /readonly database/);
});
