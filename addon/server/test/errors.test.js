// The server's own errors: error and fatal log records and 5xx answers, counted per sample window,
// stored with the samples (no write per request), reported as the status document's `errors`.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { createErrorCounter, MAX_MESSAGE_CHARS, publicMessage } from '../src/errors.js';
import { requireLoader } from '../src/native.js';
import { FRONTEND_FIXTURE, request, spawnCli, startApp, tempDir, waitFor } from '../test-support/harness.js';
import { assertConforms } from '../test-support/openapi.js';

const FAST = { cheapMs: 25, selfTestMs: 40, sampleMs: 25 };
const HOUR = 3600_000;
const rows = (app) => app.db.raw.prepare('SELECT count(*) FROM error_windows').pluck().get();

test('a message is shown redacted, on one line, valid Unicode, at most 200 characters', () => {
  assert.equal(publicMessage('read failed\n\tat line 3\u0000\u001b[31m'), 'read failed at line 3 [31m');
  assert.equal(publicMessage('got Authorization: Bearer abc.def-ghi back'), 'got Authorization: Bearer [redacted] back');
  assert.equal(publicMessage('HASYNC_API_TOKEN=s3cr3t printed'), 'HASYNC_API_TOKEN=[redacted] printed');
  assert.equal(publicMessage('half a pair \ud83d here'), 'half a pair \ufffd here');
  const long = publicMessage('é🙂'.repeat(300));
  assert.equal(Array.from(long).length, MAX_MESSAGE_CHARS);
  assert.ok(long.endsWith('…'));
  assert.equal(publicMessage('x'.repeat(MAX_MESSAGE_CHARS)), 'x'.repeat(MAX_MESSAGE_CHARS));
});

test('the counter: records and 5xx answers per window, the last message, 24 h of unstored windows', () => {
  let t = Date.parse('2026-12-01T00:00:00Z');
  const counter = createErrorCounter({ now: () => t });
  assert.deepEqual(counter.summary(), { count_24h: 0, fatal_24h: 0, http_5xx_24h: 0, last_at: null, last_message: null });
  assert.deepEqual(counter.closeWindow(), [], 'a window that saw nothing is not kept');

  counter.record('error', 'first');
  counter.record('fatal', 'second');
  counter.http5xx();
  const open = counter.summary();
  assert.deepEqual(open, { count_24h: 2, fatal_24h: 1, http_5xx_24h: 1, last_at: new Date(t).toISOString(), last_message: 'second' });
  assert.equal(counter.summary(), open, 'the same object until something changes');

  t += 10_000;
  const [window] = counter.closeWindow();
  assert.deepEqual(window, { ts: t, errors: 2, fatal: 1, http_5xx: 1, last_at: t - 10_000, last_message: 'second' });
  assert.equal(counter.summary().count_24h, 2, 'an unstored window still counts');

  // Stored: the database's totals replace the window.
  counter.stored([window]);
  counter.load({ errors: 2, fatal: 1, http_5xx: 1 }, { last_at: window.last_at, last_message: 'second' });
  assert.equal(counter.summary().count_24h, 2);
  assert.equal(counter.summary().last_message, 'second');

  // An unstored window leaves the count after 24 h; the last message stays.
  counter.load({ errors: 0, fatal: 0, http_5xx: 0 }, { last_at: window.last_at, last_message: 'second' });
  counter.http5xx();
  counter.closeWindow();
  assert.equal(counter.summary().http_5xx_24h, 1);
  t += 24 * HOUR;
  assert.deepEqual(counter.closeWindow(), []);
  assert.deepEqual(counter.summary(), {
    count_24h: 0,
    fatal_24h: 0,
    http_5xx_24h: 0,
    last_at: new Date(window.last_at).toISOString(),
    last_message: 'second',
  });
});

test('errors and 5xx answers reach the status document; counting writes nothing per request', async (t) => {
  // better-sqlite3 loads, so the database works; bcrypt's failure is logged as an error at start.
  const loader = (name) => {
    if (name === 'bcrypt') throw new Error('invalid ELF header');
    return requireLoader(name);
  };
  const { app, base, token } = await startApp(t, { options: { loader } });
  const first = await request(base, '/api/v1/status', { token });
  assertConforms('/api/v1/status', 'GET', first);
  assert.equal(first.json.errors.count_24h, 1, 'the load failure logged at start');
  assert.match(first.json.errors.last_message, /^native module bcrypt .* failed to load: invalid ELF header$/);

  // 5xx answers: the history fails while its table is gone (the default sample interval is 10 s,
  // so no sample runs meanwhile).
  app.db.raw.exec('ALTER TABLE samples RENAME TO samples_away');
  for (let i = 0; i < 20; i++) {
    assert.equal((await request(base, '/api/v1/history', { token })).status, 503);
  }
  app.db.raw.exec('ALTER TABLE samples_away RENAME TO samples');
  assert.equal(rows(app), 0, 'nothing was written per request');
  await new Promise((r) => setTimeout(r, 1100)); // the status document is cached for a second
  const doc = (await request(base, '/api/v1/status', { token })).json;
  assert.equal(doc.errors.http_5xx_24h, 20);
  assert.equal(doc.errors.count_24h, 1, '503s are answers, not log records');
  // /health's 503 reports the failing check; it is no error of the server.
  assert.equal((await request(base, '/health')).status, 503);
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await request(base, '/api/v1/status', { token })).json.errors.http_5xx_24h, 20);
});

test('the counts are stored per sample window and survive a restart', async (t) => {
  const dataDir = tempDir(t);
  const first = await startApp(t, { dataDir, options: { intervals: FAST } });
  const written = rows(first.app);
  first.app.db.raw.exec('ALTER TABLE samples RENAME TO samples_away'); // the next sample fails
  await waitFor(() => rows(first.app) > written, { what: 'an error window stored' });
  first.app.db.raw.exec('ALTER TABLE samples_away RENAME TO samples');
  await first.app.stop();

  const { base } = await startApp(t, { dataDir, options: { intervals: FAST } });
  const doc = (await request(base, '/api/v1/status', { token: first.token })).json;
  assert.ok(doc.errors.count_24h >= 1, JSON.stringify(doc.errors));
  assert.match(doc.errors.last_message, /^sample not stored: no such table: samples$/);
});

test('a read-only database: every lost sample is an error, counted in memory, stored once writes work', async (t) => {
  const { app, base, token, log } = await startApp(t, { options: { intervals: FAST } });
  app.db.raw.pragma('query_only = 1'); // the connection refuses writes: SQLITE_READONLY
  const counted = await waitFor(
    async () => {
      const doc = (await request(base, '/api/v1/status', { token })).json;
      return doc.errors.count_24h >= 3 && doc;
    },
    { what: 'three lost samples counted' },
  );
  assert.equal(counted.database.ok, false);
  assert.match(counted.errors.last_message, /^sample not stored: attempt to write a readonly database$/);
  assert.equal(rows(app), 0, 'nothing could be stored');
  assert.ok(log.lines().filter((l) => / ERROR sample not stored: attempt to write a readonly database$/.test(l)).length >= 3);

  app.db.raw.pragma('query_only = 0');
  await waitFor(() => rows(app) > 0, { what: 'the counted windows stored' });
  const stored = app.db.raw.prepare('SELECT coalesce(sum(errors), 0) FROM error_windows').pluck().get();
  assert.ok(stored >= 3, `${stored} errors stored`);
});

test('a start that fails is a fatal record, stored before the process exits', async (t) => {
  const dataDir = tempDir(t);
  const blocker = net.createServer();
  await new Promise((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => blocker.close());
  const env = {
    HASYNC_HOST: '127.0.0.1',
    HASYNC_PORT: String(blocker.address().port),
    HASYNC_DATA_DIR: dataDir,
    HASYNC_FRONTEND_DIR: FRONTEND_FIXTURE,
  };
  const run = spawnCli([], { env });
  assert.deepEqual(await run.exit, { code: 1, signal: null });
  assert.match(run.stdout(), / FATAL cannot start: listen EADDRINUSE/);

  const { base, token } = await startApp(t, { dataDir });
  const { errors } = (await request(base, '/api/v1/status', { token })).json;
  assert.equal(errors.fatal_24h, 1);
  assert.equal(errors.count_24h, 1);
  assert.match(errors.last_message, /^cannot start: listen EADDRINUSE/);
});
