import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { MIGRATIONS, openDatabase, SCHEMA_VERSION } from '../src/db.js';
import { Database, openDb, query, tempDir } from '../test-support/harness.js';

const versions = (db) => query(db, 'SELECT version FROM schema_migrations ORDER BY version').map((r) => r.version);
const columns = (db, table) => query(db, `SELECT name FROM pragma_table_info('${table}')`).map((r) => r.name);

test('a new database is created at the current schema version, in WAL mode', (t) => {
  const file = path.join(tempDir(t), 'hasync.db');
  const db = openDatabase(Database, file);
  t.after(() => db.close());
  assert.equal(db.journalMode, 'wal');
  assert.deepEqual(versions(db.raw), MIGRATIONS.map((m) => m.version));
  assert.equal(Math.max(...versions(db.raw)), SCHEMA_VERSION);
  assert.ok(columns(db.raw, 'samples').includes('n_available'));
  assert.equal(db.integrityCheck(false), 'ok');
  assert.equal(db.integrityCheck(true), 'ok');
});

test('a version-1 database is migrated, and its samples keep their meaning', (t) => {
  const file = path.join(tempDir(t), 'hasync.db');
  // Build the old schema exactly as version 1 of the server did.
  const old = openDb(file);
  old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
  old.exec(MIGRATIONS[0].sql);
  old.exec("INSERT INTO schema_migrations VALUES (1, '2026-01-01T00:00:00Z')");
  old.exec(`INSERT INTO samples (ts, rss_bytes, memory_bytes, process_cpu_percent, container_cpu_percent, status)
            VALUES (1000, 1, 2, 0.5, 0.6, 'ok'), (11000, 1, 2, 0.5, 0.6, 'error'), (21000, 1, 2, 0.5, 0.6, 'degraded')`);
  old.exec("INSERT INTO meta VALUES ('instance_id', 'kept-id')");
  old.close();

  const db = openDatabase(Database, file);
  t.after(() => db.close());
  assert.deepEqual(versions(db.raw), MIGRATIONS.map((m) => m.version));
  assert.deepEqual(
    query(db.raw, 'SELECT ts, status, n, n_available, step_s FROM samples ORDER BY ts'),
    [
      { ts: 1000, status: 'ok', n: 1, n_available: 1, step_s: 10 },
      { ts: 11000, status: 'error', n: 1, n_available: 0, step_s: 10 },
      { ts: 21000, status: 'degraded', n: 1, n_available: 1, step_s: 10 },
    ],
  );
  assert.equal(db.instanceId(), 'kept-id');
  assert.ok(query(db.raw, "SELECT name FROM sqlite_master WHERE name = 'samples_ts'").length === 1);
});

test('an existing file without the HAsync schema is refused and left as it is, never initialised', (t) => {
  const dir = tempDir(t);
  const foreign = path.join(dir, 'foreign.db');
  const other = openDb(foreign);
  other.exec('CREATE TABLE unrelated (x)');
  other.close();
  const empty = path.join(dir, 'empty.db');
  fs.writeFileSync(empty, '');
  const before = (file) => ({ bytes: fs.readFileSync(file), mtimeMs: fs.statSync(file).mtimeMs });
  for (const [file, why] of [[foreign, /is not an HAsync database \(no schema_migrations table\)/], [empty, /is empty/]]) {
    const was = before(file);
    assert.throws(() => openDatabase(Database, file), why);
    assert.throws(() => openDatabase(Database, file), /left as it is: restore a backup, or delete it to start over/);
    assert.deepEqual(before(file), was, `${path.basename(file)} untouched`);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith(path.basename(file))), [path.basename(file)], 'no WAL or journal beside it');
  }
});

test('a new database is built under a temporary name and renamed into place, with its instance id', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'hasync.db');
  // What a start killed half-way leaves: a partial temporary file. It is replaced, never used.
  fs.writeFileSync(`${file}.new`, 'partial');
  // A write-ahead log without its database would be replayed into the new one: set aside.
  fs.writeFileSync(`${file}-wal`, 'stale wal of a deleted database');
  const db = openDatabase(Database, file);
  t.after(() => db.close());
  assert.deepEqual(versions(db.raw), MIGRATIONS.map((m) => m.version));
  assert.match(db.instanceId(), /^[0-9a-f-]{36}$/);
  assert.ok(!fs.existsSync(`${file}.new`));
  assert.equal(fs.readFileSync(`${file}-wal.orphaned`, 'utf8'), 'stale wal of a deleted database');
  assert.equal(db.integrityCheck(false), 'ok');
  assert.throws(() => openDatabase(Database, path.join(dir, 'other.db'), { create: false }), /database file .*other\.db does not exist/);
  assert.ok(!fs.existsSync(path.join(dir, 'other.db')));
});

test('a database from a newer server is refused with a clear message', (t) => {
  const file = path.join(tempDir(t), 'hasync.db');
  openDatabase(Database, file).close();
  const raw = openDb(file);
  raw.exec(`INSERT INTO schema_migrations VALUES (${SCHEMA_VERSION + 1}, 'later')`);
  raw.close();
  assert.throws(
    () => openDatabase(Database, file),
    new RegExp(`schema version ${SCHEMA_VERSION + 1} is newer than this server supports \\(${SCHEMA_VERSION}\\)`),
  );
});

test('instance id is a UUID created once', (t) => {
  const file = path.join(tempDir(t), 'hasync.db');
  const a = openDatabase(Database, file);
  const id = a.instanceId();
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(a.instanceId(), id);
  a.close();
  const b = openDatabase(Database, file);
  t.after(() => b.close());
  assert.equal(b.instanceId(), id);
});

test('token hash: generation starts at 1 and goes up on every write', (t) => {
  const db = openDatabase(Database, path.join(tempDir(t), 'hasync.db'));
  t.after(() => db.close());
  assert.equal(db.readToken(), null);
  assert.equal(db.writeTokenHash('h1'), 1);
  assert.equal(db.writeTokenHash('h2'), 2);
  assert.deepEqual(db.readToken(), { hash: 'h2', generation: 2 });
});

test('an undelivered token is marked in the same transaction; delivery or a rotation clears the mark', (t) => {
  const db = openDatabase(Database, path.join(tempDir(t), 'hasync.db'));
  t.after(() => db.close());
  assert.equal(db.tokenUndelivered(), false);
  db.writeTokenHash('h1', { undelivered: true });
  assert.equal(db.tokenUndelivered(), true);
  db.markTokenDelivered();
  assert.equal(db.tokenUndelivered(), false);
  db.writeTokenHash('h2', { undelivered: true });
  db.writeTokenHash('h3');
  assert.equal(db.tokenUndelivered(), false, 'rotate-token prints its token itself');
});

test('probe: passes on the opened file, fails when it is deleted or replaced', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'hasync.db');
  const db = openDatabase(Database, file);
  t.after(() => db.close());
  assert.ok(db.probe() > 0);
  assert.equal(query(db.raw, 'SELECT count(*) AS c FROM probe')[0].c, 0, 'the probe row is rolled back');

  fs.renameSync(file, `${file}.moved`);
  assert.throws(() => db.probe(), /is gone .*restart the add-on/);
  fs.writeFileSync(file, 'not the same file');
  assert.throws(() => db.probe(), /was replaced while open/);
});

test('close() checkpoints the WAL into the main file', (t) => {
  const file = path.join(tempDir(t), 'hasync.db');
  const db = openDatabase(Database, file);
  db.insertSample({ ts: 1, rss_bytes: 1, memory_bytes: null, process_cpu_percent: null, container_cpu_percent: null, status: 'ok' }, 10_000);
  db.close();
  assert.ok(!fs.existsSync(`${file}-wal`) || fs.statSync(`${file}-wal`).size === 0);
  const raw = openDb(file, { readonly: true });
  t.after(() => raw.close());
  assert.equal(query(raw, 'SELECT count(*) AS c FROM samples')[0].c, 1);
});
