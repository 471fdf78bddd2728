import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { assertEventConforms, assertSchema } from '../test-support/openapi.js';
import { openDatabase } from '../src/db.js';
import { createHasher } from '../src/hasher.js';
import { requireLoader } from '../src/native.js';
import { rotateToken } from '../src/tokens.js';
import {
  Database,
  frontendCopy,
  openEvents,
  request,
  spawnCli,
  spawnServer,
  startApp,
  tempDir,
  tokenFrom,
  waitFor,
} from '../test-support/harness.js';

const supervisorEnv = (proxy) => ({ SUPERVISOR_TOKEN: 'sup', HASYNC_SUPERVISOR_URL: 'http://127.0.0.1:9', HASYNC_INGRESS_PROXY: proxy });

const SLOW_HEARTBEAT = { heartbeatMs: 60_000 };

test('the stream starts with retry, an id and the status document', async (t) => {
  const { base, token } = await startApp(t, { options: { sse: SLOW_HEARTBEAT } });
  const stream = await openEvents(base, { token });
  t.after(() => stream.close());
  assert.equal(stream.status, 200);
  assert.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8');
  assert.equal(stream.headers['x-accel-buffering'], 'no');
  const first = await stream.next();
  assert.equal(first.retry, '5000');
  assert.match(first.id, /^\d+$/);
  assert.equal(first.event, 'status');
  assertEventConforms(first);
  const doc = JSON.parse(first.data);
  assertSchema('StatusDocument', doc);
  assert.equal(doc.status, 'ok');
});

test('a change is pushed right away; ids keep increasing', async (t) => {
  const dir = frontendCopy(t);
  const { base, token } = await startApp(t, {
    env: { HASYNC_FRONTEND_DIR: dir },
    options: { sse: SLOW_HEARTBEAT, intervals: { cheapMs: 25 } },
  });
  const stream = await openEvents(base, { token });
  t.after(() => stream.close());
  const first = await stream.next();

  const started = Date.now();
  fs.rmSync(path.join(dir, 'index.html'));
  const pushed = await stream.next(2000);
  assert.ok(Date.now() - started < 1000, 'pushed within a second');
  const doc = JSON.parse(pushed.data);
  assertSchema('StatusDocument', doc);
  assert.equal(doc.status, 'degraded');
  assert.equal(doc.checks.find((c) => c.name === 'frontend').ok, false);
  assert.ok(Number(pushed.id) > Number(first.id));
  assert.equal(pushed.retry, undefined, 'retry is sent once');

  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html>');
  const back = await stream.next(2000);
  assert.equal(JSON.parse(back.data).status, 'ok');
  assert.ok(Number(back.id) > Number(pushed.id));
});

test('nothing changes: the heartbeat still sends the document', async (t) => {
  const { base, token } = await startApp(t, { options: { sse: { heartbeatMs: 60 } } });
  const stream = await openEvents(base, { token });
  t.after(() => stream.close());
  const events = [await stream.next(), await stream.next(1000), await stream.next(1000)];
  const ids = events.map((e) => Number(e.id));
  assert.ok(ids[0] < ids[1] && ids[1] < ids[2]);
  for (const e of events.slice(1)) {
    assert.equal(e.event, 'status');
    assertEventConforms(e);
    assertSchema('StatusDocument', JSON.parse(e.data));
  }
});

test('every client gets the push', async (t) => {
  const dir = frontendCopy(t);
  const { base, token } = await startApp(t, { env: { HASYNC_FRONTEND_DIR: dir }, options: { sse: SLOW_HEARTBEAT, intervals: { cheapMs: 25 } } });
  const streams = await Promise.all([1, 2, 3].map(() => openEvents(base, { token })));
  t.after(() => streams.forEach((s) => s.close()));
  await Promise.all(streams.map((s) => s.next()));
  fs.rmSync(path.join(dir, 'hasync-build.json'));
  const pushed = await Promise.all(streams.map((s) => s.next(2000)));
  assert.ok(pushed.every((e) => JSON.parse(e.data).status === 'degraded'));
});

test('stopping the server ends every stream', async (t) => {
  const { base, token, app } = await startApp(t, { options: { sse: SLOW_HEARTBEAT } });
  const stream = await openEvents(base, { token });
  await stream.next();
  const started = Date.now();
  await app.stop();
  assert.equal(await stream.next(2000), null);
  assert.ok(Date.now() - started < 1000, 'stop does not wait for SSE clients');
});

test('HEAD answers the headers only; without a token 401', async (t) => {
  const { base, token } = await startApp(t);
  const head = await request(base, '/api/v1/events', { method: 'HEAD', token });
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal((await request(base, '/api/v1/events')).status, 401);
});

test('rotate-token by another connection: streams opened with the old token end, others stay open', async (t) => {
  const { app, base, token, config } = await startApp(t, {
    env: supervisorEnv('127.0.0.2'),
    options: { sse: { heartbeatMs: 100 }, auth: { generationCheckMs: 50 } },
  });
  const old = await openEvents(base, { token });
  const ingress = await openEvents(base, { localAddress: '127.0.0.2' });
  t.after(() => [old, ingress].forEach((s) => s.close()));
  await Promise.all([old.next(), ingress.next()]);
  assert.equal(app.auth.cachedKeys().length, 1);

  // rotate-token runs in another process; a second connection to the same file behaves the same.
  const other = openDatabase(Database, config.dbPath);
  t.after(() => other.close());
  const rotatedAt = Date.now();
  const fresh = await rotateToken(other, createHasher(() => requireLoader('bcrypt')), 4);

  const ended = await waitFor(async () => (await old.next(2000)) === null || null, { timeoutMs: 3000, what: 'the old stream to end' });
  assert.ok(ended);
  assert.ok(Date.now() - rotatedAt < 1000, `ended ${Date.now() - rotatedAt} ms after the rotation`);
  assert.equal(app.auth.cachedKeys().length <= 1, true, 'the old verification was dropped');
  assert.equal((await request(base, '/api/v1/status', { token })).status, 401);

  const renewed = await openEvents(base, { token: fresh });
  t.after(() => renewed.close());
  await renewed.next();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await renewed.next(1000)).event, 'status', 'a stream with the new token stays open');
  assert.equal((await ingress.next(1000)).event, 'status', 'the ingress stream (no token) stays open');
});

test('a real rotate-token ends a real server\'s streams within about a second', async (t) => {
  const dataDir = tempDir(t);
  const server = await spawnServer(t, { env: { HASYNC_DATA_DIR: dataDir, HASYNC_LOG_LEVEL: 'debug' } });
  const stream = await openEvents(server.base, { token: server.token });
  t.after(() => stream.close());
  await stream.next();
  const rotate = spawnCli(['rotate-token'], { env: { HASYNC_DATA_DIR: dataDir } });
  assert.equal((await rotate.exit).code, 0);
  const rotatedAt = Date.now();
  assert.equal(await stream.next(5000), null);
  assert.ok(Date.now() - rotatedAt < 2500, `ended ${Date.now() - rotatedAt} ms after rotate-token exited`);
  await waitFor(() => /closed 1 event stream opened with the previous token/.test(server.stdout()), { what: 'the log line' });
  assert.ok(!server.stdout().includes(tokenFrom(rotate.stdout())));
});
