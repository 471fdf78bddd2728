// Fills a data dir's database with `days` of samples every 10 s, folded and trimmed as the server's
// maintenance does, so the bench can start HAsync on the history an installed add-on has.
//   node bench/server/seed-history.js <data dir> [days]
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const SERVER_DIR = fileURLToPath(new URL('../../addon/server/', import.meta.url));
const Database = createRequire(path.join(SERVER_DIR, 'package.json'))('better-sqlite3');
const { openDatabase } = await import(new URL('src/db.js', `file://${SERVER_DIR}`).href);

const [dir, days = '7'] = process.argv.slice(2);
const STEP_MS = 10_000;
const DAY_MS = 86_400_000;
const end = Date.now();
const db = openDatabase(Database, path.join(dir, 'hasync.db'));
for (let day = end - Number(days) * DAY_MS; day < end; day += DAY_MS) {
  db.raw.transaction(() => {
    for (let ts = day; ts < Math.min(end, day + DAY_MS); ts += STEP_MS) {
      const wobble = Math.round(Math.sin(ts / 3_600_000) * 2e6);
      db.insertSample(
        { ts, rss_bytes: 60e6 + wobble, memory_bytes: 70e6 + wobble, process_cpu_percent: 0.5, container_cpu_percent: 0.7, status: 'ok' },
        STEP_MS,
      );
    }
  })();
  db.maintain(Math.min(end, day + DAY_MS), Number(days));
}
db.close();
