import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { assertConforms } from '../test-support/openapi.js';
import { FRONTEND_FIXTURE, frontendCopy, openEvents, request, startApp, tempDir } from '../test-support/harness.js';

const fixture = (p) => fs.readFileSync(path.join(FRONTEND_FIXTURE, p), 'utf8');
// Under Supervisor the proxy is 127.0.0.2 here; requests from 127.0.0.1 are "anyone else".
const PROXY = '127.0.0.2';
const supervisorEnv = (proxy = PROXY) => ({
  SUPERVISOR_TOKEN: 'supervisor-token',
  HASYNC_SUPERVISOR_URL: 'http://127.0.0.1:9',
  HASYNC_INGRESS_PROXY: proxy,
});

test('index.html at / and /index.html, revalidated on every load', async (t) => {
  const { base } = await startApp(t);
  for (const p of ['/', '/index.html', '/?x=1']) {
    const res = await request(base, p);
    assert.equal(res.status, 200, p);
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.equal(res.body, fixture('index.html'));
  }
  assertConforms('/', 'GET', await request(base, '/'));
});

test('hashed assets: content types and immutable caching; HEAD has the length and no body', async (t) => {
  const { base } = await startApp(t);
  const cases = [
    ['index-3b9c1f.js', 'text/javascript; charset=utf-8'],
    ['index-77aa01.css', 'text/css; charset=utf-8'],
    ['logo-5e5e5e.svg', 'image/svg+xml'],
  ];
  for (const [file, type] of cases) {
    const res = await request(base, `/assets/${file}`);
    assert.equal(res.status, 200, file);
    assert.equal(res.headers['content-type'], type);
    assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.body, fixture(`assets/${file}`));
    assertConforms('/assets/{file}', 'GET', res);
    const head = await request(base, `/assets/${file}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(Number(head.headers['content-length']), Buffer.byteLength(fixture(`assets/${file}`)));
  }
});

test('path traversal and malformed asset paths never leave assets/', async (t) => {
  const dir = frontendCopy(t);
  fs.writeFileSync(path.join(dir, 'secret.txt'), 'SECRET-OUTSIDE-ASSETS');
  fs.mkdirSync(path.join(dir, 'assets', 'subdir'));
  const { base } = await startApp(t, { env: { HASYNC_FRONTEND_DIR: dir } });
  const attempts = [
    '/assets/../secret.txt',
    '/assets/../../secret.txt',
    '/assets/..%2fsecret.txt',
    '/assets/%2e%2e/secret.txt',
    '/assets/%2e%2e%2fsecret.txt',
    '/assets/..%5csecret.txt',
    '/assets/..\\secret.txt',
    '/assets/%00',
    '/assets/index-3b9c1f.js%00.png',
    '/assets/%E0%A4%A',
    '/assets/',
    '/assets/subdir',
    '/assets/missing.js',
    '/assets//etc/passwd',
    '/assets/%2fetc%2fpasswd',
  ];
  for (const p of attempts) {
    const res = await request(base, p);
    assert.equal(res.status, 404, p);
    assert.equal(res.json.error, 'not_found', p);
    assert.ok(!res.body.includes('SECRET') && !res.body.includes('root:'), p);
  }
  // `..` that stays inside assets/ is harmless.
  assert.equal((await request(base, '/assets/subdir/../index-3b9c1f.js')).status, 200);
});

test('symbolic links that lead out of the frontend folder are not followed; links inside it are', async (t) => {
  const dir = frontendCopy(t);
  const outside = path.join(tempDir(t), 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'SECRET-OUTSIDE-THE-ROOT');
  fs.symlinkSync('/etc/passwd', path.join(dir, 'assets', 'passwd.txt'));
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(dir, 'assets', 'secret.js'));
  fs.symlinkSync(outside, path.join(dir, 'assets', 'linked-dir'));
  fs.symlinkSync('../index.html', path.join(dir, 'assets', 'inside.html'));
  const { base } = await startApp(t, { env: { HASYNC_FRONTEND_DIR: dir } });
  for (const p of ['/assets/passwd.txt', '/assets/secret.js', '/assets/linked-dir/secret.txt']) {
    const res = await request(base, p);
    assert.equal(res.status, 404, p);
    assert.deepEqual(res.json, { error: 'not_found', reason: 'no such asset' });
    assert.ok(!res.body.includes('SECRET') && !res.body.includes('root:'), p);
  }
  assert.equal((await request(base, '/assets/inside.html')).body, fixture('index.html'), 'a link that stays inside is served');

  // index.html itself replaced by a link out of the folder.
  fs.rmSync(path.join(dir, 'index.html'));
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(dir, 'index.html'));
  const index = await request(base, '/');
  assert.equal(index.status, 404);
  assert.ok(!index.body.includes('SECRET'));
});

test('If-Modified-Since: 304 without a body when the file is not newer; 200 otherwise', async (t) => {
  const { base } = await startApp(t);
  for (const p of ['/', '/assets/index-3b9c1f.js']) {
    const first = await request(base, p);
    assert.equal(first.status, 200);
    const lastModified = first.headers['last-modified'];
    assert.ok(lastModified);
    for (const method of ['GET', 'HEAD']) {
      const again = await request(base, p, { method, headers: { 'if-modified-since': lastModified } });
      assert.equal(again.status, 304, `${method} ${p}`);
      assert.equal(again.body, '');
      assert.equal(again.headers['last-modified'], lastModified);
      assert.equal(again.headers['cache-control'], first.headers['cache-control']);
      assert.equal(again.headers['content-length'], undefined);
      assertConforms(p === '/' ? '/' : '/assets/{file}', 'GET', again);
    }
    const later = new Date(Date.parse(lastModified) + 3600_000).toUTCString();
    assert.equal((await request(base, p, { headers: { 'if-modified-since': later } })).status, 304);
    const earlier = new Date(Date.parse(lastModified) - 1000).toUTCString();
    assert.equal((await request(base, p, { headers: { 'if-modified-since': earlier } })).status, 200, 'the file is newer');
    assert.equal((await request(base, p, { headers: { 'if-modified-since': 'yesterday-ish' } })).status, 200, 'an unreadable date is ignored');
  }
});

test('no frontend build: 404 with a reason, while the API keeps working', async (t) => {
  const { base, token } = await startApp(t, { env: { HASYNC_FRONTEND_DIR: path.join(tempDir(t), 'none') } });
  const res = await request(base, '/');
  assert.equal(res.status, 404);
  assert.equal(res.json.reason, 'frontend not built (see the frontend check in /api/v1/status)', 'no path in a public answer');
  assertConforms('/', 'GET', res);
  assert.equal((await request(base, '/api/v1/status', { token })).status, 200);
});

test('under Supervisor: the ingress proxy gets the page and the API without a token', async (t) => {
  const { base } = await startApp(t, { env: supervisorEnv() });
  assert.equal((await request(base, '/', { localAddress: PROXY })).status, 200);
  assert.equal((await request(base, '/assets/index-3b9c1f.js', { localAddress: PROXY })).status, 200);
  for (const p of ['/api/v1/status', '/api/v1/history?window=1h']) {
    const res = await request(base, p, { localAddress: PROXY });
    assert.equal(res.status, 200, p);
  }
  const head = await request(base, '/api/v1/status', { localAddress: PROXY, method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal((await request(base, '/api/v1/status', { localAddress: PROXY, method: 'POST' })).status, 405);
});

test('under Supervisor: anyone else gets 403 for the page and needs the token for the API', async (t) => {
  const { base, token } = await startApp(t, { env: supervisorEnv() });
  for (const p of ['/', '/index.html', '/assets/index-3b9c1f.js']) {
    const res = await request(base, p);
    assert.equal(res.status, 403, p);
    assert.deepEqual(res.json, { error: 'forbidden', reason: 'the page is served only through Home Assistant ingress' });
    assertConforms(p.startsWith('/assets/') ? '/assets/{file}' : p, 'GET', res);
  }
  assert.equal((await request(base, '/api/v1/status')).status, 401);
  assert.equal((await request(base, '/api/v1/status', { token })).status, 200);
  assert.equal((await request(base, '/health')).status, 200);
});

test('standalone: nobody is trusted without a token, even from the default proxy address', async (t) => {
  const { base } = await startApp(t, { env: { HASYNC_INGRESS_PROXY: '127.0.0.1' } });
  assert.equal((await request(base, '/api/v1/status')).status, 401);
  assert.equal((await request(base, '/')).status, 200);
});

test('under Supervisor the ingress proxy can open the event stream without a token', async (t) => {
  const { base } = await startApp(t, { env: supervisorEnv('127.0.0.1') });
  const stream = await openEvents(base);
  t.after(() => stream.close());
  assert.equal(stream.status, 200);
  assert.equal((await stream.next()).event, 'status');
});
