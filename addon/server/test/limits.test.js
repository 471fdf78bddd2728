// The global bounds against floods from many addresses (issue 18): bcrypt verifications, connections
// and event streams, each with a client holding the valid token and /health answering meanwhile.
// Source addresses come from 127.0.0.0/8 (and ::1 where the machine has IPv6). The latency figures
// under the same floods against a real process are in bench/abuse.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { CONNECTION_LIMITS, createConnectionGuard } from '../src/connections.js';
import { createLogger } from '../src/logger.js';
import { createResourceMonitor } from '../src/resources.js';
import { createHasher } from '../src/hasher.js';
import { requireLoader } from '../src/native.js';
import { STREAM_LIMITS } from '../src/sse.js';
import { rotateToken } from '../src/tokens.js';
import { assertConforms } from '../test-support/openapi.js';
import { capture, openEvents, request, startApp, waitFor } from '../test-support/harness.js';

/** Whether this machine can listen on ::1. */
async function haveIpv6() {
  const probe = net.createServer();
  try {
    await new Promise((resolve, reject) => probe.once('error', reject).listen(0, '::1', resolve));
    return true;
  } catch {
    return false;
  } finally {
    probe.close();
  }
}

/** The request's answer and how long it took; a refused or reset connection is status 0. */
async function timed(base, p, options) {
  const started = performance.now();
  const res = await request(base, p, options).catch((err) => ({ status: 0, error: err.code }));
  return { ...res, ms: performance.now() - started };
}

const p99 = (values) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * 0.99))];

/**
 * Probe /health, the status document (valid token) and a file of the ingress page (read through
 * libuv's thread pool, which bcrypt shares) every 50 ms until stop(); one connection each.
 */
function probe(base, token) {
  const results = { health: [], status: [], page: [] };
  let running = true;
  const loop = (async () => {
    while (running) {
      const [health, status, page] = await Promise.all([
        timed(base, '/health'),
        timed(base, '/api/v1/status', { token }),
        timed(base, '/assets/index-3b9c1f.js'),
      ]);
      results.health.push(health);
      results.status.push(status);
      results.page.push(page);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    results,
    async stop() {
      running = false;
      await loop;
      return results;
    },
  };
}

function assertAnsweredWithinASecond(results, what) {
  for (const [route, list] of Object.entries(results)) {
    assert.ok(list.length >= 5, `${what}: ${route} probed ${list.length} times`);
    const failed = list.filter((r) => r.status !== 200);
    assert.deepEqual(failed.map((r) => r.status ?? r.error), [], `${what}: every ${route} probe answered 200`);
    const worst = p99(list.map((r) => r.ms));
    assert.ok(worst < 1000, `${what}: ${route} p99 ${worst.toFixed(0)} ms`);
  }
}

/** A bcrypt module that counts compares and the most that ever ran at once. */
function countingBcrypt() {
  const real = requireLoader('bcrypt');
  const stats = { compares: 0, running: 0, peak: 0 };
  const bcrypt = {
    hash: real.hash,
    compare: async (secret, hash) => {
      stats.compares++;
      stats.peak = Math.max(stats.peak, ++stats.running);
      try {
        return await real.compare(secret, hash);
      } finally {
        stats.running--;
      }
    },
  };
  return { stats, loader: (name) => (name === 'bcrypt' ? bcrypt : requireLoader(name)) };
}

test('a bcrypt flood from 1,000 addresses: one verification at a time; the valid token and /health answer within 1 s', async (t) => {
  const ipv6 = await haveIpv6();
  const { stats, loader } = countingBcrypt();
  // Cost 10, as in production: about 50 ms per compare on a desktop x86.
  const { app, base, token } = await startApp(t, { env: { HASYNC_HOST: ipv6 ? '::' : '127.0.0.1' }, options: { loader, tokenCost: 10 } });
  assert.equal((await request(base, '/api/v1/status', { token })).status, 200, 'verified once before the flood');

  const sources = Array.from({ length: 1000 }, (_, i) => ({ local: `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`, target: base }));
  if (ipv6) sources.push(...Array.from({ length: 20 }, () => ({ local: '::1', target: `http://[::1]:${app.port}` })));
  const answers = {};
  let next = 0;
  let flooding = true;
  const worker = async () => {
    while (flooding) {
      const { local, target } = sources[next++ % sources.length];
      const res = await timed(target, '/api/v1/status', { token: `wrong-${next}-${'x'.repeat(32)}`, localAddress: local });
      answers[res.status] = (answers[res.status] ?? 0) + 1;
      if (local === '::1') answers.ipv6 = [...(answers.ipv6 ?? []), res.status];
    }
  };
  const started = performance.now();
  const workers = Array.from({ length: 200 }, worker);
  await new Promise((r) => setTimeout(r, 500));
  const probes = probe(base, token);
  await new Promise((r) => setTimeout(r, 2000));
  const results = await probes.stop();

  // A rotation drops every verification: Home Assistant's address (it presented the valid token) is
  // verified first with the new token, not behind the flood.
  const fresh = await rotateToken(app.db, createHasher(() => requireLoader('bcrypt')), 10);
  const rotated = performance.now();
  await waitFor(async () => (await timed(base, '/api/v1/status', { token: fresh })).status === 200, {
    timeoutMs: 3000,
    intervalMs: 20,
    what: 'the new token to be accepted during the flood',
  });
  const coldMs = performance.now() - rotated;
  flooding = false;
  await Promise.all(workers);
  const seconds = (performance.now() - started) / 1000;

  t.diagnostic(`answers: ${JSON.stringify({ ...answers, ipv6: undefined })}; compares ${stats.compares} in ${seconds.toFixed(1)} s`);
  t.diagnostic(`p99 /health ${p99(results.health.map((r) => r.ms)).toFixed(0)} ms, status ${p99(results.status.map((r) => r.ms)).toFixed(0)} ms; new token accepted after ${coldMs.toFixed(0)} ms`);
  assert.equal(stats.peak, 1, 'never two bcrypt runs at once, across all addresses');
  // One core at most: bcrypt cannot have run for longer than the flood lasted.
  assert.ok(stats.compares * 40 < seconds * 1000 * 1.5, `${stats.compares} compares in ${seconds.toFixed(1)} s`);
  assert.ok(answers[401] > 0, 'wrong tokens were verified and refused');
  assert.ok(answers[429] > 0, 'the rest were told to retry at once');
  assert.ok(coldMs < 1000 + 1000 / 50, `the new token was accepted ${coldMs.toFixed(0)} ms after the rotation`);
  assertAnsweredWithinASecond(results, 'bcrypt flood');
  if (ipv6) {
    assert.ok(answers.ipv6.length > 0 && answers.ipv6.every((s) => s === 401 || s === 429), `IPv6 answers ${[...new Set(answers.ipv6)]}`);
    // The IPv6 loopback's /64 is limited like any address: 10 failures block it, even for the valid token.
    const v6 = `http://[::1]:${app.port}`;
    for (let i = 0; i < 10; i++) await request(v6, '/api/v1/status', { token: `wrong-v6-${i}-${'z'.repeat(30)}`, localAddress: '::1' });
    const blocked = await request(v6, '/api/v1/status', { token: fresh, localAddress: '::1' });
    assert.equal(blocked.status, 429);
    assert.equal(blocked.json.reason, 'too many failed authentication attempts');
    assert.equal((await request(base, '/api/v1/status', { token: fresh })).status, 200, 'IPv4 clients are not affected');
  } else {
    t.diagnostic('no IPv6 loopback on this machine: flooded from 127.0.0.0/8 only');
  }
});

test('a busy verification queue answers 429 with a reason; the per-address limit still counts only verified tokens', async (t) => {
  const { base } = await startApp(t, { options: { tokenCost: 10, limits: { verify: { maxWaitMs: 1 } } } });
  const burst = await Promise.all(
    Array.from({ length: 20 }, (_, i) => request(base, '/api/v1/status', { token: `w-${i}-${'y'.repeat(30)}`, localAddress: `127.4.0.${i + 1}` })),
  );
  const busy = burst.filter((r) => r.status === 429);
  assert.ok(busy.length > 0 && burst.some((r) => r.status === 401), `${burst.map((r) => r.status)}`);
  for (const res of busy) {
    assert.deepEqual(res.json, { error: 'too_many_requests', reason: 'the server is busy verifying other tokens; retry in a moment', retry_after_s: 1 });
    assert.equal(res.headers['retry-after'], '1');
    assertConforms('/api/v1/status', 'GET', res);
  }
});

/** Open idle TCP connections (nothing sent) from `local`; resolves once each is connected or refused. */
async function idleConnections(port, local, count) {
  const sockets = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise((resolve) => {
          const socket = net.connect({ port, host: '127.0.0.1', localAddress: local });
          socket.on('error', () => resolve(socket));
          socket.on('connect', () => resolve(socket));
        }),
    ),
  );
  return sockets;
}

test('a connection flood above the cap: idle connections are bounded, /health, the token holder and its open connection are served', async (t) => {
  const { app, base, token } = await startApp(t);
  const { maxConnections, perAddress } = CONNECTION_LIMITS;
  // Home Assistant's keep-alive connection, authenticated before the flood: never closed for it.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const keptAlive = () =>
    new Promise((resolve, reject) => {
      http
        .get(`${base}/api/v1/status`, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        })
        .on('error', reject);
    });
  assert.equal(await keptAlive(), 200);
  const [haSocket] = Object.values(agent.freeSockets).flat();

  const probes = probe(base, token);
  const flood = [];
  t.after(() => flood.forEach((s) => s.destroy()));
  // 2,000 idle connections from 100 addresses, then 200 more from one address, while probing.
  for (let a = 0; a < 100; a++) flood.push(...(await idleConnections(app.port, `127.2.0.${a + 1}`, 20)));
  flood.push(...(await idleConnections(app.port, '127.3.0.1', 200)));
  await new Promise((r) => setTimeout(r, 1500));
  const during = app.connections.stats();
  const results = await probes.stop();

  t.diagnostic(`during the flood: ${JSON.stringify(during)}`);
  assert.ok(during.open <= maxConnections, `${during.open} connections open (cap ${maxConnections})`);
  assert.ok(during.refused + during.evicted >= 2200 - maxConnections, 'the rest were refused or made room');
  assertAnsweredWithinASecond(results, 'connection flood');
  assert.equal(await keptAlive(), 200, 'the authenticated keep-alive connection is still served');
  assert.equal(Object.values(agent.freeSockets).flat()[0], haSocket, 'on the same socket: it was never closed');
  assert.ok(during.busiest <= perAddress, `at most ${during.busiest} connections from one address (limit ${perAddress})`);

  for (const s of flood) s.destroy();
  await waitFor(() => app.connections.stats().open <= 2, { what: 'the flood connections to close' });
  assert.equal((await request(base, '/health')).status, 200);
});

test('at the bounds: a connection is closed at once before Node builds a socket for it, unless it may take an idle one\'s place', async (t) => {
  const { app, base } = await startApp(t, { options: { limits: { connections: { maxConnections: 4, perAddress: 2, graceMs: 60_000 } } } });
  const closedAtOnce = (localAddress) =>
    new Promise((resolve) => {
      const socket = net.connect({ port: app.port, host: '127.0.0.1', localAddress });
      let received = '';
      socket.on('data', (c) => (received += c));
      socket.on('error', () => {});
      socket.on('close', () => resolve(received));
    });
  const held = await idleConnections(app.port, '127.5.0.1', 2);
  assert.equal(await closedAtOnce('127.5.0.1'), '', 'over its address share (2): closed without a word');
  assert.equal(app.connections.stats().refused, 1);
  held.push(...(await idleConnections(app.port, '127.5.0.2', 1)), ...(await idleConnections(app.port, '127.5.0.3', 1)));
  assert.equal(app.connections.stats().open, 4);
  // At the cap, nothing idle for long: an address with no connection (the health check) still gets in,
  // in the place of an idle connection of the address that holds two.
  held.push(...(await idleConnections(app.port, '127.5.0.4', 1)));
  const { open, evicted, refused } = app.connections.stats();
  assert.deepEqual({ open, evicted, refused }, { open: 4, evicted: 1, refused: 1 });
  // Now every address holds one: a newcomer has no one to replace, and is closed at once.
  const other = await request(base, '/health', { localAddress: '127.5.0.5' }).catch((err) => err.code);
  assert.equal(typeof other, 'string', `refused at the cap, not answered: ${JSON.stringify(other)}`);
  assert.equal(app.connections.stats().refused, 2);
  for (const s of held) s.destroy();
  await waitFor(() => app.connections.stats().open === 0, { what: 'the held connections to close' });
  assert.equal((await request(base, '/health', { localAddress: '127.5.0.5' })).status, 200, 'room again');
});

test('the connection cap follows the descriptor limit: half of what is left after a reserve of 64', () => {
  const resources = createResourceMonitor({ logger: createLogger({ stream: capture() }) });
  for (const [limit, cap] of [[1024, 128], [200, 68], [80, 16], [null, 128]]) {
    const guard = createConnectionGuard({ server: http.createServer(), resources, trusted: () => false, exempt: () => false, descriptorLimit: () => limit });
    assert.equal(guard.stats().cap, cap, `descriptor limit ${limit}`);
    guard.stop();
  }
});

test('a stream flood: 50 streams per token and 64 in all; the rest get 429; the API keeps answering', async (t) => {
  const { base, token } = await startApp(t, {
    env: { SUPERVISOR_TOKEN: 'sup', HASYNC_SUPERVISOR_URL: 'http://127.0.0.1:9', HASYNC_INGRESS_PROXY: '127.0.0.2' },
    options: { sse: { heartbeatMs: 60_000 } },
  });
  const open = [];
  t.after(() => open.forEach((s) => s.close?.()));
  const attempt = async (options) => {
    const s = await openEvents(base, options);
    open.push(s);
    return s;
  };
  // From many addresses, so it is the stream limit that answers, not the per-address connection share.
  const withToken = await Promise.all(Array.from({ length: 200 }, (_, i) => attempt({ token, localAddress: `127.0.1.${i + 1}` })));
  const ok = withToken.filter((s) => s.status === 200);
  assert.equal(ok.length, STREAM_LIMITS.perToken);
  const refused = withToken.find((s) => s.status === 429);
  const body = JSON.parse(await refused.body());
  assert.deepEqual(body, { error: 'too_many_requests', reason: `too many event streams open with this token (${STREAM_LIMITS.perToken})`, retry_after_s: 5 });
  assert.equal(refused.headers['retry-after'], '5');
  assertConforms('/api/v1/events', 'GET', { status: 429, headers: refused.headers, json: body, body: JSON.stringify(body) });
  // The ingress page counts on its own, up to the total.
  const ingress = await Promise.all(Array.from({ length: 20 }, () => attempt({ localAddress: '127.0.0.2' })));
  assert.equal(ingress.filter((s) => s.status === 200).length, STREAM_LIMITS.total - STREAM_LIMITS.perToken);
  for (const s of ok) assert.equal((await s.next()).event, 'status', 'the admitted streams work');
  // Home Assistant, on another address than the client flooding streams, is still answered.
  assert.equal((await timed(base, '/api/v1/status', { token, localAddress: '127.0.0.3' })).status, 200);
  assert.equal((await timed(base, '/health', { localAddress: '127.0.0.3' })).status, 200);
  // A closed stream frees its place.
  ok[0].close();
  await waitFor(async () => {
    const again = await attempt({ token });
    return again.status === 200;
  }, { what: 'a stream place to free up' });
});

test('the total stream limit is reached before the per-token one with a small total', async (t) => {
  const { base, token } = await startApp(t, { options: { limits: { streams: { total: 3 } } } });
  const streams = await Promise.all(Array.from({ length: 4 }, () => openEvents(base, { token })));
  t.after(() => streams.forEach((s) => s.close()));
  assert.deepEqual(streams.map((s) => s.status).sort(), [200, 200, 200, 429]);
  const refused = streams.find((s) => s.status === 429);
  assert.equal(JSON.parse(await refused.body()).reason, 'too many event streams open on this server (3)');
});

test('a request pipelined behind an event stream is answered: the stream ends first', async (t) => {
  const { app, token } = await startApp(t, { options: { sse: { heartbeatMs: 60_000 } } });
  // First while the token is still being verified (the /health arrives before the stream opens), then
  // with the token known (the stream opens before the /health is read).
  for (const when of ['token being verified', 'token known']) {
    const text = await new Promise((resolve) => {
      const socket = net.connect(app.port, '127.0.0.1', () =>
        socket.write(
          `GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n` +
            'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        ),
      );
      let received = '';
      const timer = setTimeout(() => socket.destroy(), 3000);
      socket.on('data', (c) => (received += c));
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(received);
      });
    });
    const [stream, health] = text.split(/\r\n0\r\n\r\n/);
    assert.match(stream, /^HTTP\/1\.1 200 OK\r\n.*content-type: text\/event-stream/is, when);
    assert.match(stream, /event: status\ndata: \{/, when);
    assert.match(health ?? '', /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\{"status":"ok"\}$/, `${when}: the pipelined /health was answered`);
  }
});
