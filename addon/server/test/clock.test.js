// Time that jumps (issue 18): samples stamped by a clock that was ahead and has been set back, and a
// clock that is behind the stored history. The history and the maintenance job read an injected clock.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { FUTURE_TOLERANCE_MS, openDatabase } from '../src/db.js';
import { createHistory } from '../src/history.js';
import { Database, query, request, startApp, tempDir, waitFor } from '../test-support/harness.js';

const MiB = 1024 * 1024;
const HOUR = 3600_000;
const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);

function freshDb(t) {
  const db = openDatabase(Database, path.join(tempDir(t), 'hasync.db'));
  t.after(() => db.close());
  return db;
}

/** One sample every 10 s in [from, to); RSS grows 1 MiB per hour from 50 MiB at `from`. */
function fill(db, from, to) {
  db.raw.transaction(() => {
    for (let ts = from; ts < to; ts += 10_000) {
      const rss = Math.round(50 * MiB + ((ts - from) / HOUR) * MiB);
      db.insertSample({ ts, rss_bytes: rss, memory_bytes: null, process_cpu_percent: 1, container_cpu_percent: null, status: 'ok' }, 10_000);
    }
  })();
}

const count = (db) => query(db.raw, 'SELECT count(*) AS c FROM samples')[0].c;

test('samples from a clock that was a year ahead count in no window and are deleted by maintenance', (t) => {
  const db = freshDb(t);
  fill(db, NOW - 6 * HOUR, NOW);
  // Written while the clock showed a year later, before NTP set it back: 1 h of samples.
  fill(db, NOW + 365 * 24 * HOUR, NOW + 366 * 24 * HOUR - 23 * HOUR);
  const history = createHistory({ db, sampleIntervalMs: 10_000, now: () => NOW });
  const h = history.refresh();
  assert.ok(Math.abs(h.growth_window_hours - 6) < 0.01, `growth window ${h.growth_window_hours} h (was 8,808 h)`);
  assert.ok(Math.abs(h.memory_growth_mib_per_hour - 1) < 0.01);
  assert.equal(h.samples, 6 * 360);
  assert.equal(h.availability_24h_percent, 100);
  for (const window of ['1h', '24h', '7d']) {
    const { points } = history.points(window);
    assert.ok(points.length > 0 && points.every((p) => Date.parse(p.ts) <= NOW), `${window}: no point after now`);
  }

  const result = db.maintain(NOW, 7);
  assert.deepEqual({ future: result.future, ahead: result.ahead }, { future: 360, ahead: 0 });
  assert.equal(count(db), 6 * 360, 'only the future samples are gone');
  assert.deepEqual(history.refresh(), h, 'the figures are the same without them');
  assert.equal(db.maintain(NOW, 7).future, 0);
});

test('within the tolerance a sample is not from the future; beyond it, it is', (t) => {
  const db = freshDb(t);
  fill(db, NOW - HOUR, NOW);
  fill(db, NOW + FUTURE_TOLERANCE_MS, NOW + FUTURE_TOLERANCE_MS + 1);
  fill(db, NOW + FUTURE_TOLERANCE_MS + 1, NOW + FUTURE_TOLERANCE_MS + 2);
  assert.equal(createHistory({ db, sampleIntervalMs: 10_000, now: () => NOW }).refresh().samples, 361);
  assert.equal(db.maintain(NOW, 7).future, 1);
});

test('a clock set back an hour: growth and availability stay sensible', (t) => {
  const db = freshDb(t);
  fill(db, NOW - 12 * HOUR, NOW);
  const back = NOW - HOUR;
  const h = createHistory({ db, sampleIntervalMs: 10_000, now: () => back }).refresh();
  assert.ok(h.growth_window_hours > 10.9 && h.growth_window_hours <= 11.02, `${h.growth_window_hours} h`);
  assert.ok(Math.abs(h.memory_growth_mib_per_hour - 1) < 0.01);
  assert.ok(h.availability_24h_percent <= 100 && h.availability_24h_percent > 99, `${h.availability_24h_percent} %`);
  // 11 h of samples: the 7 d figure waits for 24 h of them; the hours covered are the real 11.
  assert.equal(h.availability_7d_percent, null);
  assert.ok(h.availability_7d_covered_hours > 10.9 && h.availability_7d_covered_hours <= 11.02, `${h.availability_7d_covered_hours} h`);
  // Back before the first sample ever: nothing to report, not a negative or infinite figure.
  const before = createHistory({ db, sampleIntervalMs: 10_000, now: () => NOW - 24 * HOUR }).refresh();
  assert.deepEqual(before, {
    availability_24h_percent: null,
    availability_7d_percent: null,
    memory_growth_mib_per_hour: null,
    growth_window_hours: null,
    samples: 0,
    availability_24h_covered_hours: 0,
    availability_7d_covered_hours: 0,
  });
});

test('a clock that is behind most of the history (no real-time clock before NTP): maintenance keeps it', (t) => {
  const db = freshDb(t);
  fill(db, NOW - 6 * HOUR, NOW);
  const result = db.maintain(NOW - 365 * 24 * HOUR, 7);
  assert.deepEqual({ future: result.future, ahead: result.ahead, deleted: result.deleted }, { future: 0, ahead: 6 * 360, deleted: 0 });
  assert.equal(count(db), 6 * 360, 'nothing deleted');
});

test('the server with an injected clock: future samples are left out of the status document and the chart, then deleted', async (t) => {
  let clock = Date.now();
  const { app, base, token, log } = await startApp(t, {
    options: { now: () => clock, intervals: { sampleMs: 100, maintenanceMs: 300 } },
  });
  fill(app.db, clock - 2 * HOUR, clock - 60_000);
  fill(app.db, clock + 365 * 24 * HOUR, clock + 365 * 24 * HOUR + HOUR / 2);
  const history = async () => (await request(base, '/api/v1/status', { token })).json.history;
  const h = await waitFor(async () => {
    const doc = await history();
    return doc.samples > 700 && doc;
  }, { what: 'the history to be refreshed' });
  assert.ok(h.growth_window_hours <= 2.01, `growth window ${h.growth_window_hours} h`);
  assert.ok(h.availability_24h_percent <= 100);
  const chart = (await request(base, '/api/v1/history?window=7d', { token })).json;
  assert.ok(chart.points.every((p) => Date.parse(p.ts) <= clock + FUTURE_TOLERANCE_MS));
  await waitFor(() => query(app.db.raw, 'SELECT count(*) AS c FROM samples WHERE ts > ?', clock + HOUR)[0].c === 0, {
    what: 'maintenance to delete the future samples',
  });
  assert.match(log.text(), /INFO maintenance: deleted 180 samples dated after now \(the clock was ahead and has been set back\)/);

  // The clock now jumps back by a day: every stored sample is ahead of it. Then the clock is the likelier
  // one to be wrong, so they are kept (one warning), and the figures say nothing rather than nonsense.
  const stored = query(app.db.raw, 'SELECT count(*) AS c FROM samples')[0].c;
  clock -= 24 * HOUR;
  await waitFor(() => /the clock seems to be behind/.test(log.text()), { what: 'the clock-behind warning' });
  // Several maintenance runs, and past the status document's one-second cache.
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(log.text().match(/the clock seems to be behind/g).length, 1, 'logged once, not at every maintenance');
  assert.ok(query(app.db.raw, 'SELECT count(*) AS c FROM samples')[0].c >= stored, 'nothing deleted');
  const behind = await history();
  assert.ok(behind.growth_window_hours === null || behind.growth_window_hours < 1, JSON.stringify(behind));
  assert.ok(behind.availability_24h_percent === null || behind.availability_24h_percent <= 100);
  clock += 24 * HOUR;
  await waitFor(async () => (await history()).growth_window_hours > 1.9, { what: 'the figures to come back with the clock' });
});
