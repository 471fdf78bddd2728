// backup_pre hook (config.yaml): fold the SQLite write-ahead log into hasync.db before Supervisor
// copies /data during a hot backup. After a TRUNCATE checkpoint the database file is complete and the
// running server appends only to an empty WAL, which SQLite replays up to its last valid commit on
// restore, so the copy is consistent without stopping the app.
// Supervisor runs this with `docker exec` (no shell, no with-contenv), so it relies on defaults;
// HASYNC_SERVER_DIR and HASYNC_DATA_DIR exist for tests.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const serverDir = path.resolve(process.env.HASYNC_SERVER_DIR || '/opt/hasync/server');
const dbPath = path.join(path.resolve(process.env.HASYNC_DATA_DIR || '/data'), 'hasync.db');

if (!existsSync(dbPath)) {
  console.log(`checkpoint: ${dbPath} does not exist yet, nothing to do`);
  process.exit(0);
}

const Database = createRequire(path.join(serverDir, 'package.json'))('better-sqlite3');
const db = new Database(dbPath, { fileMustExist: true, timeout: 5000 });
try {
  const [result] = db.pragma('wal_checkpoint(TRUNCATE)');
  if (result.log === -1) {
    console.log('checkpoint: the database is not in WAL mode, nothing to fold');
  } else if (result.busy) {
    // A reader held the WAL past the 5 s busy timeout: the copy then relies on SQLite's WAL
    // recovery alone, as any hot copy would. Not worth failing the whole backup over.
    console.log(`checkpoint: busy, ${result.checkpointed} of ${result.log} WAL frames copied`);
  } else {
    console.log(`checkpoint: ok, WAL folded into ${dbPath} and truncated`);
  }
} finally {
  db.close();
}
