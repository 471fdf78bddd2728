// One server per data directory. Two at once (a double start, or a `docker run` next to the app on the
// same volume) would both create the database on an empty directory, both print tokens, and both
// sample into one history. The server holds an exclusive SQLite lock on <data dir>/hasync.lock for as
// long as it runs: SQLite's locks are POSIX record locks, which the kernel keeps per process across
// containers that share the directory and drops when the process ends, however it ends, so a stale
// lock file never blocks a start. The file itself stays empty.
import path from 'node:path';
import { openHeld } from './sqlite-handles.js';

export const LOCK_FILE = 'hasync.lock';
const LOCK_WAIT_MS = 1000;

export class DataDirLocked extends Error {
  /** @param {string} dir */
  constructor(dir) {
    super(`another HAsync server is already running on the data directory ${dir}; stop it before starting this one`);
    this.code = 'HASYNC_DATA_DIR_LOCKED';
  }
}

/**
 * Take the data directory's lock, or throw DataDirLocked when another process holds it.
 * @param {typeof import('better-sqlite3')} Database
 * @param {string} dir
 * @returns {{release(): void}}
 */
export function lockDataDir(Database, dir) {
  // Two starts at the same moment each take a brief shared lock while opening; without a wait, each
  // can find the other's and both give up. The wait is SQLite's busy handler, which retries from no
  // lock at all, so it cannot deadlock; a running server holds its lock for good and still stops a
  // start, LOCK_WAIT_MS later.
  const raw = openHeld(Database, path.join(dir, LOCK_FILE), { timeout: LOCK_WAIT_MS });
  try {
    // An exclusive transaction that is never committed: the lock, without writing a byte (and with
    // the journal in memory, without a -journal file beside it).
    raw.exec('PRAGMA journal_mode = MEMORY');
    raw.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    raw.close();
    if (err.code === 'SQLITE_BUSY') throw new DataDirLocked(dir);
    throw err;
  }
  return {
    release() {
      if (raw.open) raw.close();
    },
  };
}
