// Seeds 25 h of samples into a new data dir with the server's own database module, so the real
// server then serves a full 24 h history and a 7 d availability, which it shows from 24 h of samples on
// (it stores one sample every 10 s; waiting for that is not an option).

import { createRequire } from 'node:module';
import { join } from 'node:path';
import { loadConfig, SERVER_DIR } from '../../server/src/config.js';
import { openDatabase } from '../../server/src/db.js';

const STEP_MS = 10_000;
export const HOURS = 25;
const MIB = 1024 * 1024;

/**
 * One sample every 10 s over the last 25 h, like a running server: memory creeping up slowly, some
 * CPU load in the evening (UTC), a 15-minute outage (no samples) 9 h ago and 5 minutes in error 3 h ago,
 * and three logged errors 2 h ago (one more 30 h ago, outside the 24 h).
 * Values are deterministic. Returns the number of samples written.
 */
export function seedHistory(dataDir, now = Date.now()) {
  const Database = createRequire(join(SERVER_DIR, 'package.json'))('better-sqlite3');
  // The server's own config loader says where its database lives in that data dir.
  const db = openDatabase(Database, loadConfig({ HASYNC_DATA_DIR: dataDir }).dbPath);
  const hour = 3_600_000;
  let written = 0;
  try {
    db.raw.transaction(() => {
      for (let ts = now - HOURS * hour + STEP_MS; ts < now; ts += STEP_MS) {
        const age = (now - ts) / hour;
        if (age > 9 && age < 9.25) continue;
        const h = ts / hour;
        const wobble = Math.sin(h * 1.7) + 0.5 * Math.sin(h * 11.3);
        const load = Math.max(0, Math.sin(((h - 14) / 24) * 2 * Math.PI)) * 3 + 0.5 + 0.2 * Math.sin(h * 5);
        db.insertSample(
          {
            ts,
            memory_bytes: Math.round((44 + (24 - age) * 0.05 + wobble) * MIB),
            rss_bytes: Math.round((54 + (24 - age) * 0.04 + 0.6 * wobble) * MIB),
            process_cpu_percent: Math.round(load * 80) / 100,
            container_cpu_percent: Math.round(load * 100) / 100,
            status: age > 3 && age < 3 + 5 / 60 ? 'error' : 'ok',
          },
          STEP_MS,
        );
        written += 1;
      }
      // Two error windows: 3 errors and a 5xx answer 2 h ago, and an older error beyond the 24 h.
      db.insertErrorWindows([
        { ts: now - 30 * hour, errors: 1, fatal: 0, http_5xx: 0, last_at: now - 30 * hour, last_message: 'an error of yesterday' },
        {
          ts: now - 2 * hour,
          errors: 3,
          fatal: 0,
          http_5xx: 1,
          last_at: now - 2 * hour - 4000,
          last_message: 'sample not stored: database or disk is full',
        },
      ]);
    })();
  } finally {
    db.close();
  }
  return written;
}
