// Out of file descriptors (issue 18): a real server process whose descriptor limit is lowered under
// it (prlimit) while connections pour in. Accepting, reading the process memory, checking the frontend
// build and opening a file of the page all meet EMFILE: one warning, no uncaught exception, no check
// flips, and everything works again once descriptors are back.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { FRONTEND_FIXTURE, request, spawnServer, tempDir, waitFor } from '../test-support/harness.js';

const hasPrlimit = (() => {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Set a process's soft open-files limit (the hard one stays); returns the previous soft limit. */
function setFileLimit(pid, soft) {
  const before = execFileSync('prlimit', ['--pid', String(pid), '--nofile', '--raw', '--noheadings', '--output=SOFT'], { encoding: 'utf8' }).trim();
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:`]);
  return before;
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

test('EMFILE on accept and on reading files: one warning, no uncaught exception, the frontend check holds, recovery', { skip: !hasPrlimit && 'prlimit (util-linux) is not installed' }, async (t) => {
  const server = await spawnServer(t, {
    env: { HASYNC_DATA_DIR: tempDir(t), HASYNC_FRONTEND_DIR: FRONTEND_FIXTURE, HASYNC_SAMPLE_INTERVAL_S: '1', HASYNC_LOG_LEVEL: 'info' },
  });
  const pid = server.child.pid;
  // Home Assistant's connection, authenticated before: it keeps being served on its socket.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const get = (p) =>
    new Promise((resolve) => {
      http
        .get(`${server.base}${p}`, { agent, headers: { authorization: `Bearer ${server.token}` } }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode, body }));
        })
        .on('error', (err) => resolve({ status: 0, body: err.code }));
    });
  assert.equal((await get('/api/v1/status')).status, 200);

  // Idle connections that can be closed to free descriptors, and a limit below what the process holds
  // even then: every new descriptor fails until the limit is restored.
  const flood = [];
  t.after(() => flood.forEach((s) => s.destroy()));
  for (let i = 0; i < 20; i++) {
    const socket = net.connect({ port: Number(new URL(server.base).port), host: '127.0.0.1', localAddress: `127.6.0.${i + 1}` });
    socket.on('error', () => {});
    flood.push(socket);
  }
  await waitFor(() => fs.readdirSync(`/proc/${pid}/fd`).length >= 20, { what: 'the connections to be accepted' });
  const restore = setFileLimit(pid, 10);
  t.after(() => server.child.exitCode === null && setFileLimit(pid, restore));
  const newConnection = await new Promise((resolve) => {
    const socket = net.connect({ port: Number(new URL(server.base).port), host: '127.0.0.1' });
    const timer = setTimeout(() => resolve('no answer') || socket.destroy(), 1000);
    socket.on('error', () => resolve('closed'));
    socket.on('close', () => resolve('closed'));
    socket.on('connect', () => socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.on('data', () => resolve('answered'));
    flood.push(socket);
  });
  t.diagnostic(`a new connection during the shortage: ${newConnection}`);
  assert.notEqual(newConnection, 'answered', 'no descriptor to accept a new connection with');
  // Through sampling ticks (1 s: the process memory), frontend checks (2 s) and page requests.
  const cpuStarted = cpuSeconds(pid);
  const wallStarted = performance.now();
  const during = [];
  for (let i = 0; i < 8; i++) {
    during.push(await get('/api/v1/status'), await get('/assets/index-3b9c1f.js'));
    await new Promise((r) => setTimeout(r, 500));
  }
  const cpuShare = (cpuSeconds(pid) - cpuStarted) / ((performance.now() - wallStarted) / 1000);
  t.diagnostic(`CPU during the shortage: ${(cpuShare * 100).toFixed(0)} % of a core`);
  assert.ok(cpuShare < 0.5, 'no busy loop retrying a connection it cannot accept');
  const statusAnswers = during.filter((_, i) => i % 2 === 0);
  assert.deepEqual([...new Set(statusAnswers.map((r) => r.status))], [200], 'the status document on the open connection');
  assert.ok(statusAnswers.every((r) => JSON.parse(r.body).process.rss_bytes > 0), 'with the last memory reading');
  assert.ok(statusAnswers.every((r) => JSON.parse(r.body).checks.every((c) => c.ok)), 'no check failed for it');
  const assetAnswers = during.filter((_, i) => i % 2 === 1);
  assert.deepEqual([...new Set(assetAnswers.map((r) => r.status))], [503], 'the page cannot open its files');
  assert.deepEqual(JSON.parse(assetAnswers[0].body), { error: 'service_unavailable', reason: 'the server is short of file descriptors; retry in a moment' });

  setFileLimit(pid, restore);
  for (const s of flood) s.destroy();
  // New connections are let in again once descriptors have been available for 10 s.
  const reopened = performance.now();
  await waitFor(async () => (await request(server.base, '/assets/index-3b9c1f.js').catch(() => ({ status: 0 }))).status === 200, {
    timeoutMs: 20_000,
    intervalMs: 200,
    what: 'new connections to be accepted and assets served again',
  });
  t.diagnostic(`accepting again ${((performance.now() - reopened) / 1000).toFixed(1)} s after the limit was restored`);
  assert.deepEqual((await request(server.base, '/health')).json, { status: 'ok' });
  assert.match(server.stdout(), /INFO file descriptors available again/);

  const log = server.stdout();
  const warnings = log.split('\n').filter((l) => / WARNING /.test(l));
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0], /WARNING out of file descriptors \(E[MN]FILE\) while /);
  assert.doesNotMatch(log, /uncaught|unhandled|ERROR|check frontend failing/);
  assert.equal(server.stderr(), '');
  assert.equal(server.child.exitCode, null, 'still running');
});
