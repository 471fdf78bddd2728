// The bodies the server keeps between requests: the cached status serialization and the /health
// answer. Both stay strings (see cachedJson in src/status.js: pooled Buffers kept for seconds grew
// the process by about 6 MiB/h); bench/soak/run.py measures the memory itself.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createChecks } from '../src/checks.js';
import { createLogger } from '../src/logger.js';
import { loadNativeModules } from '../src/native.js';
import { cachedJson } from '../src/status.js';
import { capture, frontendCopy, waitFor } from '../test-support/harness.js';

test('the status serialization is a string, served from the cache until stale or invalidated', () => {
  let builds = 0;
  const cached = cachedJson(() => JSON.stringify({ build: ++builds }), 60_000);
  const first = cached.body();
  assert.equal(typeof first, 'string');
  assert.equal(cached.body(), first);
  assert.equal(builds, 1);
  cached.invalidate();
  assert.deepEqual(JSON.parse(cached.body()), { build: 2 });

  const stale = cachedJson(() => JSON.stringify({ build: ++builds }), 0);
  stale.body();
  stale.body();
  assert.equal(builds, 4);
});

test('the /health answer is a string, kept as it is while the checks it names do not change', async (t) => {
  const frontendDir = frontendCopy(t);
  const log = capture();
  const checks = createChecks({
    native: loadNativeModules(),
    db: null,
    dbPath: '/nonexistent/hasync.db',
    dbError: 'no database in this test',
    frontendDir,
    logger: createLogger({ stream: log }),
    intervals: { cheapMs: 5 },
  });
  t.after(() => checks.stop());
  await checks.start();
  const health = checks.health();
  assert.equal(typeof health.body, 'string');
  assert.equal(health.statusCode, 503);
  assert.deepEqual(JSON.parse(health.body), { status: 'error', failing: ['database'] });

  // A non-critical check fails: the checks are evaluated again, but /health still names only the
  // critical one, so the same answer object is served (nothing rebuilt every 2 s).
  fs.rmSync(path.join(frontendDir, 'index.html'));
  await waitFor(() => log.text().includes('check frontend failing'), { what: 'the frontend check to fail' });
  assert.equal(checks.health(), health);
});
