import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '../src/db.js';
import { AVAILABILITY_WINDOWS, availabilityPercent, coveredMs, createHistory, EMPTY_HISTORY, growthSlope } from '../src/history.js';
import { Database, query, tempDir } from '../test-support/harness.js';

const MiB = 1024 * 1024;
const HOUR = 3600_000;
const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);

function freshDb(t) {
  const db = openDatabase(Database, path.join(tempDir(t), 'hasync.db'));
  t.after(() => db.close());
  return db;
}

/** Insert one sample every 10 s in [from, to), with fields computed per timestamp. */
function fill(db, from, to, fields) {
  db.raw.transaction(() => {
    for (let ts = from; ts < to; ts += 10_000) {
      db.insertSample(
        { ts, rss_bytes: 50 * MiB, memory_bytes: null, process_cpu_percent: 1, container_cpu_percent: null, status: 'ok', ...fields(ts) },
        10_000,
      );
    }
  })();
}

/** The growth slope over stored samples with these RSS values (no container memory), from SQLite's sums. */
function slopeOf(t, points) {
  const db = freshDb(t);
  db.raw.transaction(() => {
    for (const p of points) {
      db.insertSample({ ts: p.ts, rss_bytes: p.bytes, memory_bytes: null, process_cpu_percent: 1, container_cpu_percent: null, status: 'ok' }, 10_000);
    }
  })();
  // The points lie within 12 h after NOW: read them as the clock shows 12 h later.
  return growthSlope(db.growthSince(NOW - 24 * HOUR, NOW + 12 * HOUR));
}

test('growth slope: exact for a straight line, negative when shrinking, window in hours', (t) => {
  const points = [];
  for (let i = 0; i <= 36; i++) points.push({ ts: NOW + i * 600_000, bytes: 100 * MiB + (i / 6) * 2 * MiB });
  assert.deepEqual(slopeOf(t, points), { mibPerHour: 2, spanHours: 6 });
  const shrinking = points.map((p, i) => ({ ts: p.ts, bytes: 200 * MiB - i * MiB }));
  assert.equal(slopeOf(t, shrinking).mibPerHour, -6);
});

test('growth slope: noise around a line averages out', (t) => {
  const points = [];
  for (let i = 0; i < 360; i++) points.push({ ts: NOW + i * 60_000, bytes: (80 + i / 60 + (i % 2 ? 3 : -3)) * MiB });
  assert.ok(Math.abs(slopeOf(t, points).mibPerHour - 1) < 0.01);
});

test('growth slope: null with fewer than 2 samples or under 10 minutes', (t) => {
  assert.deepEqual(slopeOf(t, []), { mibPerHour: null, spanHours: null });
  assert.deepEqual(slopeOf(t, [{ ts: NOW, bytes: 1 }]), { mibPerHour: null, spanHours: null });
  assert.deepEqual(slopeOf(t, [{ ts: NOW, bytes: 1 }, { ts: NOW + 599_999, bytes: 9 }]), { mibPerHour: null, spanHours: null });
  assert.notEqual(slopeOf(t, [{ ts: NOW, bytes: 1 }, { ts: NOW + 600_000, bytes: 9 }]).mibPerHour, null);
});

test('growth slope: samples without the chosen series are skipped, older ones are outside the window', (t) => {
  const db = freshDb(t);
  fill(db, NOW - 26 * HOUR, NOW - 24 * HOUR - 10_000, () => ({ rss_bytes: 900 * MiB }));
  fill(db, NOW - 2 * HOUR, NOW, (ts) => ({ rss_bytes: ts % 60_000 === 0 ? null : Math.round(50 * MiB + ((ts - NOW) / HOUR) * 4 * MiB) }));
  const sums = db.growthSince(NOW - 24 * HOUR, NOW);
  assert.equal(sums.n, 600);
  assert.ok(Math.abs(growthSlope(sums).mibPerHour - 4) < 0.001);
});

test('availability: share of the expected samples, from the first sample or the window start', () => {
  const base = { now: NOW, intervalMs: 10_000 };
  assert.equal(availabilityPercent({ ...base, rows: 0, available: 0, windowStart: NOW - 24 * HOUR, firstSampleTs: null }), null);
  // Server up for 1 h of a 24 h window: only that hour is expected.
  assert.equal(availabilityPercent({ ...base, rows: 360, available: 360, windowStart: NOW - 24 * HOUR, firstSampleTs: NOW - HOUR }), 100);
  assert.equal(availabilityPercent({ ...base, rows: 360, available: 270, windowStart: NOW - 24 * HOUR, firstSampleTs: NOW - HOUR }), 75);
  // Older history: the whole window is expected.
  assert.equal(availabilityPercent({ ...base, rows: 4320, available: 4320, windowStart: NOW - 24 * HOUR, firstSampleTs: NOW - 48 * HOUR }), 50);
  // One more sample than intervals elapsed is capped at 100.
  assert.equal(availabilityPercent({ ...base, rows: 2, available: 2, windowStart: NOW - HOUR, firstSampleTs: NOW - 15_000 }), 100);
});

test('history summary from stored samples: gaps and errors lower availability; container memory drives growth', (t) => {
  const db = freshDb(t);
  // 2 h of samples, a 30 min gap in the middle, 10 min in error; container memory grows 3 MiB/h.
  fill(db, NOW - 2 * HOUR, NOW - HOUR, (ts) => ({ memory_bytes: Math.round(100 * MiB + ((ts - (NOW - 2 * HOUR)) / HOUR) * 3 * MiB) }));
  fill(db, NOW - HOUR / 2, NOW, (ts) => ({
    memory_bytes: Math.round(100 * MiB + ((ts - (NOW - 2 * HOUR)) / HOUR) * 3 * MiB),
    status: ts < NOW - HOUR / 2 + 600_000 ? 'error' : 'ok',
  }));
  const h = createHistory({ db, sampleIntervalMs: 10_000, now: () => NOW }).refresh();
  // Expected 720 samples over 2 h; stored 540, of which 60 in error: 480 / 720.
  assert.equal(h.availability_24h_percent, 66.67);
  assert.equal(h.availability_24h_covered_hours, 2);
  // Two hours are not enough for a 7 d figure.
  assert.equal(h.availability_7d_percent, null);
  assert.equal(h.availability_7d_covered_hours, 2);
  assert.ok(Math.abs(h.memory_growth_mib_per_hour - 3) < 0.001, `slope ${h.memory_growth_mib_per_hour}`);
  assert.ok(Math.abs(h.growth_window_hours - 2) < 0.01);
  assert.equal(h.samples, 540);
});

test('history summary falls back to RSS when container memory is missing', (t) => {
  const db = freshDb(t);
  fill(db, NOW - HOUR, NOW, (ts) => ({ rss_bytes: Math.round(40 * MiB - ((ts - (NOW - HOUR)) / HOUR) * MiB) }));
  const h = createHistory({ db, sampleIntervalMs: 10_000, now: () => NOW }).refresh();
  assert.ok(Math.abs(h.memory_growth_mib_per_hour + 1) < 0.001);
  assert.equal(h.availability_24h_percent, 100);
});

test('no samples: figures are null, not zero, and nothing is covered', (t) => {
  const h = createHistory({ db: freshDb(t), sampleIntervalMs: 10_000, now: () => NOW }).refresh();
  assert.deepEqual(h, {
    availability_24h_percent: null,
    availability_7d_percent: null,
    memory_growth_mib_per_hour: null,
    growth_window_hours: null,
    samples: 0,
    availability_24h_covered_hours: 0,
    availability_7d_covered_hours: 0,
  });
  assert.deepEqual(h, EMPTY_HISTORY);
});

test('covered: from the window start or the first sample, never below zero', () => {
  const windowStart = NOW - 24 * HOUR;
  assert.equal(coveredMs({ windowStart, firstSampleTs: null, now: NOW }), 0);
  assert.equal(coveredMs({ windowStart, firstSampleTs: NOW - HOUR, now: NOW }), HOUR);
  assert.equal(coveredMs({ windowStart, firstSampleTs: NOW - 48 * HOUR, now: NOW }), 24 * HOUR);
  assert.equal(coveredMs({ windowStart, firstSampleTs: NOW + 60_000, now: NOW }), 0);
});

test('availability waits for its window to be covered: 1 h of the 24 h window, 24 h of the 7 d one', (t) => {
  const db = freshDb(t);
  let clock = NOW;
  const history = createHistory({ db, sampleIntervalMs: 10_000, now: () => clock });
  // A server that started with an outage: 6 minutes down out of its first 20 (63 % if shown).
  fill(db, NOW, NOW + 14 * 60_000, () => ({}));
  clock = NOW + 20 * 60_000;
  let h = history.refresh();
  assert.equal(h.availability_24h_percent, null, 'a 20-minute figure would look final');
  assert.equal(h.availability_7d_percent, null);
  assert.equal(h.availability_24h_covered_hours, 0.333);
  assert.equal(h.availability_7d_covered_hours, 0.333);

  // One second before and at the hour.
  fill(db, NOW + 20 * 60_000, NOW + HOUR, () => ({}));
  clock = NOW + HOUR - 1000;
  assert.equal(history.refresh().availability_24h_percent, null);
  clock = NOW + HOUR;
  h = history.refresh();
  assert.equal(h.availability_24h_covered_hours, 1);
  assert.equal(h.availability_24h_percent, 90, '6 of 60 minutes without samples');
  assert.equal(h.availability_7d_percent, null);

  // A day later the 7 d figure appears; the 24 h window is full and stays at 24 h.
  fill(db, NOW + HOUR, NOW + 25 * HOUR, () => ({}));
  clock = NOW + 24 * HOUR - 1000;
  assert.equal(history.refresh().availability_7d_percent, null);
  clock = NOW + 25 * HOUR;
  h = history.refresh();
  assert.equal(h.availability_7d_covered_hours, 25);
  assert.equal(h.availability_24h_covered_hours, 24);
  assert.equal(h.availability_7d_percent, 99.6, '6 of 1500 minutes without samples');
  assert.equal(h.availability_24h_percent, 100);

  // Eight days on the 7 d window is full too.
  fill(db, NOW + 25 * HOUR, NOW + 8 * 24 * HOUR, () => ({}));
  clock = NOW + 8 * 24 * HOUR;
  h = history.refresh();
  assert.equal(h.availability_7d_covered_hours, 168);
  assert.equal(h.availability_7d_percent, 100);
  assert.deepEqual(
    Object.fromEntries(Object.entries(AVAILABILITY_WINDOWS).map(([k, w]) => [k, w.minCoveredMs / HOUR])),
    { '24h': 1, '7d': 24 },
  );
});

test('chart points: buckets of the window step, oldest first, worst status per bucket', (t) => {
  const db = freshDb(t);
  const start = NOW - 10 * 60_000;
  fill(db, start, NOW, (ts) => ({
    rss_bytes: ts < start + 60_000 ? 10 * MiB : 20 * MiB,
    container_cpu_percent: 4,
    status: ts === start + 70_000 ? 'degraded' : 'ok',
  }));
  const { window, step_s, points } = createHistory({ db, sampleIntervalMs: 10_000, now: () => NOW }).points('1h');
  assert.equal(window, '1h');
  assert.equal(step_s, 60);
  assert.equal(points.length, 10);
  assert.equal(points[0].ts, new Date(start).toISOString());
  assert.deepEqual(points.slice(0, 2), [
    { ts: new Date(start).toISOString(), memory_bytes: null, rss_bytes: 10 * MiB, cpu_percent: 4, status: 'ok' },
    { ts: new Date(start + 60_000).toISOString(), memory_bytes: null, rss_bytes: 20 * MiB, cpu_percent: 4, status: 'degraded' },
  ]);
  assert.ok(points.every((p, i) => i === 0 || p.ts > points[i - 1].ts));
  assert.equal(points[2].cpu_percent, 4);
});

test('maintenance folds samples older than 24 h into 5-minute rows and applies the retention', (t) => {
  const db = freshDb(t);
  // 30 min of raw samples 30 h ago, 10 of them in error; one sample 8 days ago (folded, then deleted);
  // 1 h of recent samples.
  const old = Math.floor((NOW - 30 * HOUR) / 300_000) * 300_000;
  let i = 0;
  fill(db, old, old + 30 * 60_000, () => ({ status: i++ < 10 ? 'error' : 'ok', rss_bytes: 30 * MiB }));
  fill(db, NOW - 8 * 24 * HOUR, NOW - 8 * 24 * HOUR + 10_000, () => ({}));
  fill(db, NOW - HOUR, NOW, () => ({}));
  const before = createHistory({ db, sampleIntervalMs: 10_000, now: () => NOW }).refresh();

  const { folded, deleted } = db.maintain(NOW, 7);
  assert.equal(folded, 181);
  assert.equal(deleted, 1);
  const rows = query(db.raw, 'SELECT ts, n, n_available, step_s, status, rss_bytes FROM samples WHERE ts < ? ORDER BY ts', NOW - 24 * HOUR);
  assert.equal(rows.length, 6);
  assert.deepEqual(rows[0], { ts: old, n: 30, n_available: 20, step_s: 300, status: 'error', rss_bytes: 30 * MiB });
  assert.ok(rows.slice(1).every((r) => r.n === 30 && r.n_available === 30 && r.status === 'ok'));
  assert.equal(query(db.raw, 'SELECT count(*) AS c FROM samples WHERE ts >= ?', NOW - HOUR)[0].c, 360);

  // Folding keeps the counts: 20 + 150 available old samples and 360 recent ones. Before, the 8-day-old
  // sample made the whole 7 days expected (60480 samples); after, expectations start 30 h ago (10800).
  const after = createHistory({ db, sampleIntervalMs: 10_000, now: () => NOW }).refresh();
  assert.equal(before.availability_7d_percent, 0.88);
  assert.equal(after.availability_7d_percent, 4.91);
  assert.equal(after.availability_24h_percent, before.availability_24h_percent);
  // A second run finds nothing new to fold.
  assert.deepEqual(db.maintain(NOW, 7), { folded: 0, deleted: 0, future: 0, ahead: 0 });
});
