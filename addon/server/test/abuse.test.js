// Auth abuse and hostile clients: the route table against the OpenAPI document, 401s generated from
// the document, concurrent wrong-token bursts, what the verification cache holds, constant-time
// comparison, slow clients and malformed requests.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import { mock, test } from 'node:test';
import { requireLoader } from '../src/native.js';
import { DEFAULT_HTTP_TIMEOUTS } from '../src/server.js';
import { assertConforms, spec } from '../test-support/openapi.js';
import { openEvents, request, startApp } from '../test-support/harness.js';

/** Every operation of the document, with whether it is secured by the bearer scheme. */
const operations = Object.entries(spec.paths).flatMap(([p, ops]) =>
  Object.entries(ops).map(([method, op]) => ({
    path: p,
    method,
    secured: (op.security ?? spec.security).some((s) => 'bearer' in s),
  })),
);

/** A concrete request path for a path template. */
const concrete = (p) => p.replace('{file}', 'index-3b9c1f.js');

/**
 * Send raw bytes, half-close, and collect the answer until the server closes (or timeoutMs).
 * @returns {Promise<{text: string, status: number|null, ms: number}>}
 */
function raw(port, bytes, { timeoutMs = 3000, end = true } = {}) {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => (end ? socket.end(bytes) : socket.write(bytes)));
    const chunks = [];
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', (err) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? null : reject(err)));
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1];
      resolve({ text, status: status ? Number(status) : null, ms: Date.now() - started });
    });
  });
}

test('the route table and the OpenAPI document list the same routes, secured alike', async (t) => {
  const { app } = await startApp(t);
  const routes = app.router.routes;
  assert.deepEqual(routes.map((r) => r.path).sort(), Object.keys(spec.paths).sort());
  for (const op of operations) {
    const route = routes.find((r) => r.path === op.path);
    assert.ok(route.methods.includes(op.method.toUpperCase()), `${op.method} ${op.path} is routed`);
    assert.equal(route.secured, op.secured, `${op.path}: the document and the route table agree on the bearer check`);
  }
  for (const route of routes) {
    for (const method of route.methods.filter((m) => m !== 'HEAD')) {
      assert.ok(spec.paths[route.path][method.toLowerCase()], `${method} ${route.path} is documented`);
    }
  }
  assert.deepEqual(operations.filter((o) => o.secured).map((o) => o.path).sort(), ['/api/v1/events', '/api/v1/history', '/api/v1/status']);
});

test('every secured operation, generated from the document: 401 without, with a wrong and with a malformed token', async (t) => {
  const { base, token } = await startApp(t);
  const secured = operations.filter((o) => o.secured);
  const attempts = [
    ['no Authorization header', {}, 'missing bearer token'],
    ['another scheme', { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` }, 'missing bearer token'],
    ['Bearer without a token', { authorization: 'Bearer' }, 'missing bearer token'],
    ['two tokens', { authorization: `Bearer ${token} ${token}` }, 'missing bearer token'],
    ['a wrong token', { authorization: 'Bearer wrong-token-0123456789' }, 'invalid token'],
    ['the token with one more character', { authorization: `Bearer ${token}x` }, 'invalid token'],
  ];
  let wrong = 0;
  for (const op of secured) {
    for (const method of ['GET', 'HEAD']) {
      for (const [what, headers, reason] of attempts) {
        if (reason === 'invalid token' && ++wrong >= 10) continue; // stay below the rate limit
        const res = await request(base, concrete(op.path), { method, headers });
        assert.equal(res.status, 401, `${method} ${op.path} with ${what}`);
        assert.equal(res.headers['content-type'], 'application/json');
        if (method === 'GET') {
          assert.deepEqual(res.json, { error: 'unauthorized', reason }, `${op.path} with ${what}`);
          assertConforms(op.path, op.method, res);
          assert.ok(!res.body.includes(token), 'an error body never echoes a token');
        }
      }
    }
    assert.equal((await request(base, concrete(op.path), { token, method: 'HEAD' })).status, 200, `${op.path} with the token`);
  }
  for (const op of operations.filter((o) => !o.secured)) {
    const res = await request(base, concrete(op.path));
    assert.notEqual(res.status, 401, `${op.path} is public`);
  }
});

test('a concurrent burst of distinct wrong tokens starts at most 10 bcrypt runs; the rest get 429; /health stays 200', async (t) => {
  const real = requireLoader('bcrypt');
  const calls = { stored: 0, hash: null };
  const bcrypt = {
    hash: real.hash,
    compare: async (secret, hash) => {
      if (hash === calls.hash) calls.stored++;
      return real.compare(secret, hash);
    },
  };
  const loader = (name) => (name === 'bcrypt' ? bcrypt : requireLoader(name));
  const { app, base, token } = await startApp(t, { options: { loader } });
  calls.hash = app.db.readToken().hash;

  const burst = await Promise.all(
    Array.from({ length: 100 }, (_, i) => request(base, '/api/v1/status', { token: `burst-${i}-${'x'.repeat(30)}` })),
  );
  const statuses = burst.map((r) => r.status);
  assert.ok(statuses.every((s) => s === 401 || s === 429), `only 401 and 429: ${[...new Set(statuses)]}`);
  assert.equal(statuses.filter((s) => s === 401).length, 10, 'exactly the limit is verified and refused');
  assert.ok(calls.stored <= 10, `bcrypt ran ${calls.stored} times for 100 wrong tokens`);
  for (const res of burst.filter((r) => r.status === 429)) {
    assertConforms('/api/v1/status', 'GET', res);
    assert.equal(res.headers['retry-after'], String(res.json.retry_after_s));
  }
  // Now blocked for 60 s, even with the right token; /health and the document are never limited.
  const blocked = await request(base, '/api/v1/status', { token });
  assert.equal(blocked.status, 429);
  assert.ok(blocked.json.retry_after_s >= 59);
  const health = await Promise.all(Array.from({ length: 50 }, () => request(base, '/health')));
  assert.ok(health.every((r) => r.status === 200));
  assert.equal((await request(base, '/api/v1/openapi.json')).status, 200);
});

test('concurrent requests with one valid token are not limited (they share one verification)', async (t) => {
  const { base, token } = await startApp(t);
  const burst = await Promise.all(Array.from({ length: 60 }, () => request(base, '/api/v1/status', { token })));
  assert.deepEqual([...new Set(burst.map((r) => r.status))], [200]);
});

test('the verification cache is keyed by SHA-256 digests and never holds a presented token', async (t) => {
  const { app, base, token } = await startApp(t);
  const wrong = 'a-wrong-token-that-must-not-be-kept';
  assert.equal((await request(base, '/api/v1/status', { token })).status, 200);
  assert.equal((await request(base, '/api/v1/status', { token: wrong })).status, 401);
  const keys = app.auth.cachedKeys();
  const digest = (s) => crypto.createHash('sha256').update(s).digest('base64');
  assert.deepEqual(keys.sort(), [digest(token), digest(wrong)].sort());
  for (const key of keys) {
    assert.equal(Buffer.from(key, 'base64').length, 32);
    assert.ok(!key.includes(token) && !key.includes(wrong));
  }
});

test('HASYNC_TOKEN is compared with crypto.timingSafeEqual on equal-length SHA-256 digests', async (t) => {
  const fixed = 'fixed-token-for-the-timing-test-0123456789';
  const spy = mock.method(crypto, 'timingSafeEqual');
  syncBuiltinESMExports();
  t.after(() => {
    spy.mock.restore();
    syncBuiltinESMExports();
  });
  const { base } = await startApp(t, { env: { HASYNC_TOKEN: fixed } });
  const cases = [
    [fixed, 200],
    ['x', 401],
    [`${fixed}-and-much-longer-than-the-real-one-${'y'.repeat(500)}`, 401],
    [fixed.slice(0, -1) + 'X', 401],
  ];
  for (const [presented, expected] of cases) {
    const before = spy.mock.callCount();
    assert.equal((await request(base, '/api/v1/status', { token: presented })).status, expected);
    assert.equal(spy.mock.callCount(), before + 1, 'one constant-time comparison per request');
    const [a, b] = spy.mock.calls.at(-1).arguments;
    assert.equal(a.length, 32);
    assert.equal(b.length, 32);
  }
});

test('slow-client limits: sensible defaults; a slowloris head and an idle connection get 408 and are closed', async (t) => {
  const { app: plain } = await startApp(t);
  assert.deepEqual(
    {
      headersTimeout: plain.server.headersTimeout,
      requestTimeout: plain.server.requestTimeout,
      keepAliveTimeout: plain.server.keepAliveTimeout,
    },
    { headersTimeout: 10_000, requestTimeout: 15_000, keepAliveTimeout: 5000 },
  );
  assert.equal(DEFAULT_HTTP_TIMEOUTS.connectionsCheckingInterval, 1000);
  assert.ok(plain.server.maxHeaderSize === undefined || plain.server.maxHeaderSize === 16 * 1024);

  const http = { headersTimeout: 300, requestTimeout: 600, connectionsCheckingInterval: 50 };
  const { app, base, token } = await startApp(t, { options: { http, sse: { heartbeatMs: 100 } } });

  // One header line every 100 ms, never finishing the head.
  const slow = new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(app.port, '127.0.0.1', () => socket.write('GET /health HTTP/1.1\r\nHost: x\r\n'));
    const drip = setInterval(() => socket.writable && socket.write('X-Drip: 1\r\n'), 100);
    let text = '';
    socket.on('data', (c) => (text += c));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(drip);
      resolve({ text, ms: Date.now() - started });
    });
  });
  const idle = raw(app.port, '', { end: false });
  const [dripped, silent] = await Promise.all([slow, idle]);
  for (const [what, r] of [['dripping head', dripped], ['idle connection', silent]]) {
    assert.match(r.text, /^HTTP\/1\.1 408 /, what);
    assert.match(r.text, /"error":"request_timeout"/, what);
    assert.ok(r.ms < 2000, `${what} closed after ${r.ms} ms`);
  }

  // An event stream outlives the request timeout: it is a response, not a slow request.
  const stream = await openEvents(base, { token });
  t.after(() => stream.close());
  await stream.next();
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await stream.next(1000)).event, 'status', 'still receiving after 1 s with a 600 ms request timeout');
});

test('malformed request lines, unknown methods and protocol junk: 4xx, never 5xx, and the server keeps serving', async (t) => {
  const { app, base, log } = await startApp(t);
  const cases = [
    ['unknown method', 'FOO /health HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['WebDAV method', 'PROPFIND /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 405],
    ['TRACE', 'TRACE /api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 405],
    ['CONNECT', 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n', 405],
    ['unknown HTTP version', 'GET /health HTTP/9.9\r\nHost: x\r\n\r\n', 400],
    ['HTTP/1.1 without Host', 'GET /health HTTP/1.1\r\n\r\n', 400],
    ['NUL in the target', 'GET /he\0alth HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['header without a colon', 'GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n', 400],
    ['Content-Length and chunked', 'GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['negative Content-Length', 'GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400],
    ['two Content-Lengths', 'GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 400],
    ['broken chunk size', 'GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 400],
    ['TLS client hello', '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03', 400],
    ['binary garbage', '\xff\xfe\x00\x01\x02\r\n\r\n', 400],
    ['asterisk target', 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 404],
    ['absolute-form target', 'GET http://evil.example/api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 404],
    ['traversal', 'GET /assets/../../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 404],
    ['bad percent-encoding', 'GET /assets/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 404],
    ['overlong target', `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431],
    ['many headers', `GET /health HTTP/1.1\r\nHost: x\r\n${'X-Abc: bbbbbbbbbbbb\r\n'.repeat(1500)}\r\n`, 431],
    ['HTTP/1.0 without Host', 'GET /health HTTP/1.0\r\n\r\n', 200],
    ['websocket upgrade', 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n', 200],
    ['bad window', 'GET /api/v1/history?window=%ZZ&window=1h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 401],
  ];
  for (const [what, bytes, expected] of cases) {
    const res = await raw(app.port, Buffer.from(bytes, 'latin1'));
    assert.equal(res.status, expected, `${what}: ${res.text.slice(0, 120)}`);
    if (expected >= 400) assert.match(res.text, /\r\n\r\n\{"error":"[a-z_]+","reason":"[^"]+"\}$/, `${what}: a JSON error body`);
  }
  assert.equal((await request(base, '/health')).status, 200);
  assert.doesNotMatch(log.text(), /request failed|uncaught|ERROR/);
});
