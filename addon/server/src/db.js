// The SQLite store: schema migrations, the instance id, the token hash and the samples.
// better-sqlite3 is passed in (not imported) because it may have failed to load; see native.js.
// A new database is built complete under a temporary name and renamed into place, so hasync.db is
// either absent or initialised: an existing file that holds no HAsync schema (an empty file, another
// program's database) is refused and left as it is, never initialised over, which would replace the
// token and the instance id and lose the history without a word.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fs } from './builtins.js';
import { openHeld, prepareHeld } from './sqlite-handles.js';

/**
 * Each migration runs once, in its own transaction, recorded in schema_migrations.
 * Version 1 stored one row per sample. Version 2 lets one row stand for several samples (the
 * downsampled history beyond 24 h): n samples of which n_available were not in error, over step_s seconds.
 */
export const MIGRATIONS = [
  {
    version: 1,
    sql: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE tokens (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        hash TEXT NOT NULL,
        generation INTEGER NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE samples (
        ts INTEGER NOT NULL,
        rss_bytes INTEGER,
        memory_bytes INTEGER,
        process_cpu_percent REAL,
        container_cpu_percent REAL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'degraded', 'error'))
      );
      CREATE TABLE probe (v TEXT);
    `,
  },
  {
    version: 2,
    sql: `
      ALTER TABLE samples ADD COLUMN n INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE samples ADD COLUMN n_available INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE samples ADD COLUMN step_s INTEGER NOT NULL DEFAULT 10;
      UPDATE samples SET n_available = 0 WHERE status = 'error';
      CREATE INDEX samples_ts ON samples (ts);
    `,
  },
  {
    // The server's own errors per sample window (src/errors.js); only windows that saw any.
    version: 3,
    sql: `
      CREATE TABLE error_windows (
        ts INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        fatal INTEGER NOT NULL,
        http_5xx INTEGER NOT NULL,
        last_at INTEGER,
        last_message TEXT
      );
      CREATE INDEX error_windows_ts ON error_windows (ts);
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/** meta key: generation of a token that was stored but not yet announced or printed. */
const UNDELIVERED_KEY = 'token_undelivered_generation';

/** Raw samples older than this are folded into DOWNSAMPLE_STEP_MS buckets. */
const DOWNSAMPLE_AFTER_MS = 24 * 3600_000;
const DOWNSAMPLE_STEP_MS = 300_000;

/** SQLite page cache of the data file, KiB. */
const CACHE_KIB = 512;

/**
 * Samples stamped more than this ahead of the clock are from a clock that was ahead and has been set
 * back (NTP after a jump): they are left out of every window, and maintenance deletes them. A minute
 * is well beyond the steps NTP makes to a clock that is merely drifting.
 */
export const FUTURE_TOLERANCE_MS = 60_000;

/** @type {Map<object, Map<string, {insert: any, select: any, count: any}>>} */
const probeStatements = new Map();

/**
 * Insert a row in a transaction, read it back, roll back, and check it is gone. Proves the engine
 * can write, not just read.
 * @param {import('better-sqlite3').Database} db
 * @param {string} table  an existing table with one TEXT column `v`
 */
export function writeReadRollback(db, table) {
  if (!probeStatements.has(db)) probeStatements.set(db, new Map());
  const byTable = probeStatements.get(db);
  if (!byTable.has(table)) {
    byTable.set(table, {
      insert: prepareHeld(db, `INSERT INTO ${table} (v) VALUES (?)`),
      select: prepareHeld(db, `SELECT v FROM ${table} WHERE v = ?`).pluck(),
      count: prepareHeld(db, `SELECT count(*) FROM ${table} WHERE v = ?`).pluck(),
    });
  }
  const stmt = byTable.get(table);
  const marker = randomUUID();
  db.exec('BEGIN IMMEDIATE');
  try {
    stmt.insert.run(marker);
    if (stmt.select.get(marker) !== marker) throw new Error('row written in the transaction was not read back');
  } finally {
    // SQLite rolls back by itself on some errors (SQLITE_FULL, I/O errors).
    if (db.inTransaction) db.exec('ROLLBACK');
  }
  if (stmt.count.get(marker) !== 0) throw new Error('rolled-back row is still present');
}

/**
 * Open and migrate the database; with `create`, build it first if the file does not exist. Only one
 * process may create it at a time: the server does so holding the data directory's lock (datalock.js).
 * @param {typeof import('better-sqlite3')} Database
 * @param {string} file
 * @param {{create?: boolean}} [options]
 */
export function openDatabase(Database, file, { create = true } = {}) {
  if (create && !fs.existsSync(file)) createDatabaseFile(Database, file);
  let raw;
  try {
    raw = openHeld(Database, file, { timeout: 5000, fileMustExist: true });
  } catch (err) {
    throw fs.existsSync(file) ? err : new Error(`database file ${file} does not exist`);
  }
  try {
    return new HasyncDb(raw, file);
  } catch (err) {
    raw.close();
    throw err;
  }
}

/**
 * Build a new database (schema and instance id) as <file>.new, then rename it to <file>: a start that
 * is killed half-way leaves only the temporary file, which the next start replaces.
 */
function createDatabaseFile(Database, file) {
  const tmp = `${file}.new`;
  for (const stale of [tmp, `${tmp}-journal`]) fs.rmSync(stale, { force: true });
  const raw = openHeld(Database, tmp);
  try {
    migrate(raw);
    prepareHeld(raw, 'INSERT INTO meta (key, value) VALUES (?, ?)').run('instance_id', randomUUID());
  } finally {
    raw.close();
  }
  // The write-ahead log of a database deleted without it would be replayed into the new file.
  for (const suffix of ['-wal', '-shm']) {
    if (fs.existsSync(file + suffix)) fs.renameSync(file + suffix, `${file}${suffix}.orphaned`);
  }
  fs.renameSync(tmp, file);
  const dir = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}

/**
 * Refuse a file without HAsync's schema, before anything writes to it (switching to WAL would).
 * Read through SQLite, so a database whose content is still in its WAL counts as written.
 */
function requireHasyncSchema(raw, file) {
  const tables = prepareHeld(raw, "SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
  if (tables.includes('schema_migrations')) return;
  const left = 'it was left as it is: restore a backup, or delete it to start over (see the app documentation)';
  throw new Error(
    tables.length === 0
      ? `database file ${file} is empty; ${left}`
      : `database file ${file} is not an HAsync database (no schema_migrations table); ${left}`,
  );
}

/** Apply pending migrations; refuse a database written by a newer server. Returns the version. */
function migrate(raw) {
  raw.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
  const current = prepareHeld(raw, 'SELECT coalesce(max(version), 0) FROM schema_migrations').pluck().get();
  if (current > SCHEMA_VERSION) {
    throw new Error(`database schema version ${current} is newer than this server supports (${SCHEMA_VERSION})`);
  }
  const record = prepareHeld(raw, 'INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)');
  for (const m of MIGRATIONS) {
    if (m.version <= current) continue;
    raw.transaction(() => {
      raw.exec(m.sql);
      record.run(m.version, new Date().toISOString());
    })();
  }
  return SCHEMA_VERSION;
}

export class HasyncDb {
  /** @param {import('better-sqlite3').Database} raw @param {string} file */
  constructor(raw, file) {
    this.raw = raw;
    this.path = file;
    requireHasyncSchema(raw, file);
    // WAL lets rotate-token write while the server reads; FULL sync because a sample every 10 s costs nothing.
    this.journalMode = String(prepareHeld(raw, 'PRAGMA journal_mode = WAL').pluck().get()).toLowerCase();
    raw.exec('PRAGMA synchronous = FULL');
    // better-sqlite3 builds SQLite with a 16 MB page cache per connection, and the integrity check at
    // start reads every page: a year of history (a 10 MB file) stayed resident, +9 MB RSS. Pages
    // that do not fit come from the OS page cache; the 10 s history refresh takes as long with 512 KiB.
    raw.exec(`PRAGMA cache_size = -${CACHE_KIB}`);
    // Sorts and groupings in memory: no temporary files, which need descriptors and disk space.
    raw.exec('PRAGMA temp_store = MEMORY');
    migrate(raw);
    // Remember which file we opened, so a deleted or replaced file is noticed (see probe()).
    const st = fs.statSync(file);
    this.identity = { dev: st.dev, ino: st.ino };

    const prep = (sql) => prepareHeld(raw, sql);
    this.stmt = {
      integrityCheck: prep('PRAGMA integrity_check').pluck(),
      quickCheck: prep('PRAGMA quick_check').pluck(),
      metaGet: prep('SELECT value FROM meta WHERE key = ?'),
      metaInsert: prep('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)'),
      metaSet: prep('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      metaDelete: prep('DELETE FROM meta WHERE key = ?'),
      tokenGet: prep('SELECT hash, generation FROM tokens WHERE id = 1'),
      tokenSet: prep(`
        INSERT INTO tokens (id, hash, generation, created_at) VALUES (1, @hash, 1, @created_at)
        ON CONFLICT (id) DO UPDATE SET hash = @hash, generation = generation + 1, created_at = @created_at`),
      sampleInsert: prep(`
        INSERT INTO samples (ts, rss_bytes, memory_bytes, process_cpu_percent, container_cpu_percent, status,
                             n, n_available, step_s)
        VALUES (@ts, @rss_bytes, @memory_bytes, @process_cpu_percent, @container_cpu_percent, @status,
                1, @available, @step_s)`),
      firstSampleTs: prep('SELECT min(ts) FROM samples WHERE ts <= ?').pluck(),
      availableSince: prep(
        'SELECT count(*) AS rows, coalesce(sum(n_available), 0) AS available FROM samples WHERE ts >= ? AND ts <= ?',
      ),
      // Least-squares sums of memory over time, centred on the means. One series only: container
      // memory when every sample in the window has it, else the process RSS.
      growthSince: prep(`
        WITH w AS (SELECT ts, memory_bytes, rss_bytes FROM samples WHERE ts >= @since AND ts <= @until),
             pick AS (SELECT count(*) > 0 AND count(memory_bytes) = count(*) AS container FROM w),
             p AS (SELECT ts, CASE WHEN (SELECT container FROM pick) THEN memory_bytes ELSE rss_bytes END AS b FROM w),
             q AS (SELECT ts, b FROM p WHERE b IS NOT NULL),
             m AS (SELECT count(*) AS n, min(ts) AS t0, max(ts) AS t1, avg(ts) AS mt, avg(b) AS mb FROM q)
        SELECT m.n, m.t0, m.t1, sum((q.ts - m.mt) * (q.b - m.mb)) AS sxy, sum((q.ts - m.mt) * (q.ts - m.mt)) AS sxx
        FROM q, m`),
      historyPoints: prep(`
        SELECT ts - ts % @step AS bucket,
               CAST(round(sum(memory_bytes * n) * 1.0 / sum(CASE WHEN memory_bytes IS NOT NULL THEN n END)) AS INTEGER)
                 AS memory_bytes,
               CAST(round(sum(rss_bytes * n) * 1.0 / sum(CASE WHEN rss_bytes IS NOT NULL THEN n END)) AS INTEGER)
                 AS rss_bytes,
               sum(coalesce(container_cpu_percent, process_cpu_percent) * n)
                 / sum(CASE WHEN coalesce(container_cpu_percent, process_cpu_percent) IS NOT NULL THEN n END)
                 AS cpu_percent,
               max(CASE status WHEN 'error' THEN 2 WHEN 'degraded' THEN 1 ELSE 0 END) AS severity
        FROM samples WHERE ts >= @since AND ts <= @until GROUP BY bucket ORDER BY bucket`),
      downsample: prep(`
        INSERT INTO samples (ts, rss_bytes, memory_bytes, process_cpu_percent, container_cpu_percent, status,
                             n, n_available, step_s)
        SELECT ts - ts % @step AS bucket,
               CAST(round(avg(rss_bytes)) AS INTEGER), CAST(round(avg(memory_bytes)) AS INTEGER),
               avg(process_cpu_percent), avg(container_cpu_percent),
               CASE max(CASE status WHEN 'error' THEN 2 WHEN 'degraded' THEN 1 ELSE 0 END)
                 WHEN 2 THEN 'error' WHEN 1 THEN 'degraded' ELSE 'ok' END,
               sum(n), sum(n_available), @step / 1000
        FROM samples WHERE step_s * 1000 < @step AND ts < @cutoff GROUP BY bucket`),
      deleteRaw: prep('DELETE FROM samples WHERE step_s * 1000 < @step AND ts < @cutoff'),
      deleteOld: prep('DELETE FROM samples WHERE ts < ?'),
      errorWindowInsert: prep(`
        INSERT INTO error_windows (ts, errors, fatal, http_5xx, last_at, last_message)
        VALUES (@ts, @errors, @fatal, @http_5xx, @last_at, @last_message)`),
      errorTotalsSince: prep(`
        SELECT coalesce(sum(errors), 0) AS errors, coalesce(sum(fatal), 0) AS fatal,
               coalesce(sum(http_5xx), 0) AS http_5xx
        FROM error_windows WHERE ts > ?`),
      lastError: prep(
        'SELECT last_at, last_message FROM error_windows WHERE last_at IS NOT NULL ORDER BY ts DESC LIMIT 1',
      ),
      deleteOldErrors: prep('DELETE FROM error_windows WHERE ts < ?'),
      // Samples (rows weighted by the samples they stand for) after and up to a time.
      aroundTs: prep(`
        SELECT coalesce(sum(CASE WHEN ts > @until THEN n END), 0) AS ahead,
               coalesce(sum(CASE WHEN ts <= @until THEN n END), 0) AS behind
        FROM samples`),
      deleteAfter: prep('DELETE FROM samples WHERE ts > ?'),
    };
  }

  /**
   * The UUID that identifies this installation: made with the database and never changed. Read
   * first, so a file that cannot be written still reports it; only a database made by a version that
   * created it later gets one written here.
   */
  instanceId() {
    const stored = this.stmt.metaGet.get('instance_id');
    if (stored) return stored.value;
    this.stmt.metaInsert.run('instance_id', randomUUID());
    return this.stmt.metaGet.get('instance_id').value;
  }

  /** @returns {{hash: string, generation: number} | null} */
  readToken() {
    return this.stmt.tokenGet.get() ?? null;
  }

  /**
   * Store a new token hash; the generation goes up so running servers drop cached verifications.
   * undelivered: the plain token has not been shown to anyone yet (first start): until
   * markTokenDelivered(), a restart treats the stored token as lost and replaces it.
   */
  writeTokenHash(hash, { undelivered = false } = {}) {
    return this.raw.transaction(() => {
      this.stmt.tokenSet.run({ hash, created_at: new Date().toISOString() });
      const { generation } = this.readToken();
      if (undelivered) this.stmt.metaSet.run(UNDELIVERED_KEY, String(generation));
      else this.stmt.metaDelete.run(UNDELIVERED_KEY);
      return generation;
    })();
  }

  /** True when the stored token was created by a start that was killed before announcing or printing it. */
  tokenUndelivered() {
    const row = this.stmt.metaGet.get(UNDELIVERED_KEY);
    return row !== undefined && Number(row.value) === this.readToken()?.generation;
  }

  /** The plain token was announced or printed. */
  markTokenDelivered() {
    this.stmt.metaDelete.run(UNDELIVERED_KEY);
  }

  /**
   * @param {{ts: number, rss_bytes: number|null, memory_bytes: number|null, process_cpu_percent: number|null,
   *          container_cpu_percent: number|null, status: 'ok'|'degraded'|'error'}} sample
   * @param {number} stepMs the sampling interval
   */
  insertSample(sample, stepMs) {
    this.stmt.sampleInsert.run({
      ...sample,
      available: sample.status === 'error' ? 0 : 1,
      step_s: Math.max(1, Math.round(stepMs / 1000)),
    });
  }

  /** Store closed error windows (src/errors.js), all or none. */
  insertErrorWindows(windows) {
    this.raw.transaction(() => {
      for (const w of windows) this.stmt.errorWindowInsert.run(w);
    })();
  }

  /** @returns {{errors: number, fatal: number, http_5xx: number}} the stored counts of windows after `ts` */
  errorTotalsSince(ts) {
    return this.stmt.errorTotalsSince.get(ts);
  }

  /** @returns {{last_at: number, last_message: string}|undefined} the newest stored error record */
  lastError() {
    return this.stmt.lastError.get();
  }

  // Every read below takes the clock's `now` and leaves out samples dated after now + FUTURE_TOLERANCE_MS.

  firstSampleTs(now) {
    return this.stmt.firstSampleTs.get(now + FUTURE_TOLERANCE_MS);
  }

  /** @returns {{rows: number, available: number}} */
  availableSince(ts, now) {
    return this.stmt.availableSince.get(ts, now + FUTURE_TOLERANCE_MS);
  }

  /**
   * Sums for the memory growth slope over the samples since `ts`, computed in SQLite: the 24 h window
   * is 8,640 rows at the default interval, too many to turn into objects every 10 s.
   * @returns {{n: number, t0: number|null, t1: number|null, sxy: number|null, sxx: number|null}}
   *   sxy in ms·bytes and sxx in ms² around the means; n the samples of the chosen series
   */
  growthSince(ts, now) {
    const r = this.stmt.growthSince.get({ since: ts, until: now + FUTURE_TOLERANCE_MS });
    return { n: r.n ?? 0, t0: r.t0, t1: r.t1, sxy: r.sxy, sxx: r.sxx };
  }

  /** Samples averaged into buckets of stepMs, oldest first; severity 2 = error, 1 = degraded, 0 = ok. */
  historyPoints(sinceTs, stepMs, now) {
    return this.stmt.historyPoints.all({ since: sinceTs, step: stepMs, until: now + FUTURE_TOLERANCE_MS });
  }

  /**
   * Fold raw samples older than 24 h into 5-minute rows, delete rows older than the retention, and
   * delete samples dated after now + FUTURE_TOLERANCE_MS. Those are kept while they outnumber the
   * samples up to now: then the clock is the likelier one to be wrong (a board without a real-time
   * clock, before NTP has set it), and deleting them would delete the history.
   * The cutoff is aligned to a bucket boundary so a bucket is never folded twice.
   * @returns {{folded: number, deleted: number, future: number, ahead: number}} future: deleted for
   *   being dated ahead; ahead: kept although dated ahead
   */
  maintain(now, retentionDays) {
    const step = DOWNSAMPLE_STEP_MS;
    const cutoff = Math.floor((now - DOWNSAMPLE_AFTER_MS) / step) * step;
    const until = now + FUTURE_TOLERANCE_MS;
    return this.raw.transaction(() => {
      const { ahead, behind } = this.stmt.aroundTs.get({ until });
      const future = ahead > 0 && ahead <= behind ? this.stmt.deleteAfter.run(until).changes : 0;
      this.stmt.downsample.run({ step, cutoff });
      const folded = this.stmt.deleteRaw.run({ step, cutoff }).changes;
      const before = now - retentionDays * 86_400_000;
      const deleted = this.stmt.deleteOld.run(before).changes + this.stmt.deleteOldErrors.run(before).changes;
      return { folded, deleted, future, ahead: future ? 0 : ahead };
    })();
  }

  /**
   * The cheap periodic probe: the file on disk is still the one we opened, and a write works.
   * @returns {number} the file size in bytes
   */
  probe() {
    let st;
    try {
      st = fs.statSync(this.path);
    } catch (err) {
      throw new Error(`database file ${this.path} is gone (${err.code ?? err.message}); restart the add-on`);
    }
    if (st.dev !== this.identity.dev || st.ino !== this.identity.ino) {
      throw new Error(`database file ${this.path} was replaced while open; restart the add-on`);
    }
    writeReadRollback(this.raw, 'probe');
    return st.size;
  }

  sizeBytes() {
    try {
      return fs.statSync(this.path).size;
    } catch {
      return null;
    }
  }

  /** @param {boolean} quick quick_check skips the index cross-checks; fine for the periodic run */
  integrityCheck(quick) {
    const lines = (quick ? this.stmt.quickCheck : this.stmt.integrityCheck).all();
    return lines.length === 1 && lines[0] === 'ok' ? 'ok' : lines.slice(0, 3).join('; ');
  }

  /**
   * Move the WAL into the main file and close: leaves a single self-contained file behind. When the
   * checkpoint fails (a full disk), the committed data stays in the WAL file, which the next open reads.
   */
  close() {
    if (!this.raw.open) return;
    try {
      this.raw.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    } catch (err) {
      throw Object.assign(
        new Error(`checkpoint before closing failed (${err.message}); committed data stays in ${this.path}-wal`),
        { code: 'HASYNC_CHECKPOINT_FAILED' },
      );
    } finally {
      this.raw.close();
    }
  }
}
