import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createCgroupReader } from '../src/cgroup.js';
import { createChecks } from '../src/checks.js';
import { createErrorCounter } from '../src/errors.js';
import { openDatabase } from '../src/db.js';
import { createHistory } from '../src/history.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { loadNativeModules, requireLoader } from '../src/native.js';
import { statusDocumentBuilder } from '../src/status.js';
import { capture, frontendCopy, tempDir, waitFor } from '../test-support/harness.js';
import { assertSchema } from '../test-support/openapi.js';

const STARTED = new Date('2026-11-25T12:00:00.000Z');

/** Checks and history that count how often the builder reads their sections. */
function countingSources() {
  const reads = { checks: 0, database: 0, history: 0 };
  let revision = 1;
  let summary = { availability_24h_percent: 99.5, availability_7d_percent: null, memory_growth_mib_per_hour: null, growth_window_hours: null, samples: 3 };
  let message = 'hash+verify ok (cost 4)';
  const checks = {
    revision: () => revision,
    status: () => 'ok',
    checks: () => (reads.checks++, [{ name: 'bcrypt', ok: true, critical: true, message }]),
    node: () => ({ version: '24.0.0', major: 24, min_major: 20, supported: true }),
    nativeModules: () => ({}),
    database: () => (reads.database++, { ok: true, size_bytes: 4096 }),
    frontend: () => ({ present: true, build_id: 'b', built_at: null }),
  };
  let rss = 1000;
  const metrics = { snapshot: () => ({ process: { rss_bytes: rss++ }, container: { cgroup: null } }) };
  const history = { summary: () => (reads.history++, summary) };
  return {
    reads,
    checks,
    metrics,
    history,
    change(text) {
      message = text;
      revision++;
    },
    refreshHistory(next) {
      summary = next;
    },
  };
}

test('a poll when nothing changed re-measures only the live figures; a change rebuilds the sections it touches', () => {
  const src = countingSources();
  const build = statusDocumentBuilder({ version: '1.2.3', instanceId: 'abc', startedAt: STARTED, checks: src.checks, metrics: src.metrics, history: src.history, errors: createErrorCounter() });
  const first = JSON.parse(build());
  const second = JSON.parse(build());
  assert.equal(src.reads.checks, 1, 'the check sections were serialized once');
  assert.equal(src.reads.database, 1);
  assert.equal(second.process.rss_bytes, first.process.rss_bytes + 1, 'process figures are measured per call');
  assert.ok(second.server.uptime_s >= first.server.uptime_s);
  assert.deepEqual(Object.keys(first), ['schema_version', 'server', 'status', 'checks', 'node', 'native_modules', 'process', 'container', 'effective', 'database', 'frontend', 'history', 'errors']);
  assert.deepEqual(Object.keys(first.server), ['version', 'instance_id', 'started_at', 'uptime_s']);
  assert.equal(first.server.started_at, STARTED.toISOString());

  src.change('self-test failed');
  const third = JSON.parse(build());
  assert.equal(third.checks[0].message, 'self-test failed');
  assert.equal(src.reads.checks, 2);

  src.refreshHistory({ ...first.history, samples: 4 });
  const fourth = JSON.parse(build());
  assert.equal(fourth.history.samples, 4, 'a refreshed history summary is picked up');
  assert.equal(src.reads.checks, 3);
  build();
  assert.equal(src.reads.checks, 3);
});

test('without a database: the empty history section', () => {
  const src = countingSources();
  const build = statusDocumentBuilder({ version: '1.2.3', instanceId: null, startedAt: STARTED, checks: src.checks, metrics: src.metrics, history: null, errors: createErrorCounter() });
  const doc = JSON.parse(build());
  assert.equal(doc.server.instance_id, null);
  assert.deepEqual(doc.history, {
    availability_24h_percent: null,
    availability_7d_percent: null,
    memory_growth_mib_per_hour: null,
    growth_window_hours: null,
    samples: 0,
    availability_24h_covered_hours: 0,
    availability_7d_covered_hours: 0,
  });
});

/** The server's real checks, metrics and history on a fresh database, and a builder over them. */
async function realBuilder(t, intervals) {
  const dir = tempDir(t);
  const frontendDir = frontendCopy(t);
  const native = loadNativeModules(requireLoader);
  const dbPath = path.join(dir, 'hasync.db');
  const db = openDatabase(native['better-sqlite3'].module, dbPath);
  t.after(() => db.close());
  const checks = createChecks({ native, db, dbPath, dbError: null, frontendDir, logger: createLogger({ stream: capture() }), intervals });
  await checks.start();
  t.after(() => checks.stop());
  const metrics = createMetrics({ cgroup: createCgroupReader({ enabled: false }) });
  t.after(() => metrics.stop());
  const history = createHistory({ db, sampleIntervalMs: 10_000 });
  history.refresh();
  const build = statusDocumentBuilder({ version: '1.2.3', instanceId: db.instanceId(), startedAt: STARTED, checks, metrics, history, errors: createErrorCounter() });
  return { db, checks, history, frontendDir, doc: () => JSON.parse(build()) };
}

test('with the real checks: the document conforms, equals a fresh build and follows check changes', async (t) => {
  const { db, checks, history, frontendDir, doc } = await realBuilder(t, { cheapMs: 20 });
  const first = doc();
  assertSchema('StatusDocument', first);
  const fresh = {
    status: checks.status(),
    checks: checks.checks(),
    node: checks.node(),
    native_modules: checks.nativeModules(),
    database: checks.database(),
    frontend: checks.frontend(),
    history: history.summary(),
  };
  for (const [key, value] of Object.entries(fresh)) assert.deepEqual(first[key], value, key);

  // A check change on a timer (the builder needs no event): the next build shows it.
  const manifest = path.join(frontendDir, 'hasync-build.json');
  fs.renameSync(manifest, `${manifest}.moved`);
  const broken = await waitFor(() => (doc().frontend.present === false ? doc() : null));
  assert.equal(broken.status, 'degraded');
  assert.match(broken.checks.find((c) => c.name === 'frontend').message, /hasync-build\.json is missing/);
  fs.renameSync(`${manifest}.moved`, manifest);
  await waitFor(() => doc().status === 'ok');

  // A failed write reported by the sampler, and its recovery.
  checks.reportWrite(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
  assert.match(doc().database.error, /disk is full/);
  checks.reportWrite(null);
  assert.equal(doc().database.error, null);

  // The database size changes without changing any check.
  const before = doc().database.size_bytes;
  db.raw.transaction(() => {
    for (let i = 0; i < 2000; i++) {
      db.insertSample({ ts: Date.now() - i * 10_000, rss_bytes: 1, memory_bytes: null, process_cpu_percent: 1, container_cpu_percent: null, status: 'ok' }, 10_000);
    }
  })();
  db.raw.exec('PRAGMA wal_checkpoint(TRUNCATE)'); // the size is the main file's
  await waitFor(() => doc().database.size_bytes > before);
});

test('with the real checks: each self-test run shows its time, though no check changed', async (t) => {
  const { doc } = await realBuilder(t, { cheapMs: 60_000, selfTestMs: 50 });
  const first = doc();
  await waitFor(() => doc().native_modules.bcrypt.checked_at !== first.native_modules.bcrypt.checked_at);
  assert.deepEqual(doc().checks, first.checks);
});

test('with the real checks: each integrity check shows its time', async (t) => {
  const { doc } = await realBuilder(t, { cheapMs: 60_000, integrityMs: 50 });
  const first = doc();
  await waitFor(() => doc().database.integrity_checked_at !== first.database.integrity_checked_at);
  assert.equal(doc().database.integrity, 'ok');
});
