// Stopping the app: the server's own shutdown bound, what the image grants it, and a real SIGTERM
// under load with 50 event streams open.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import test from 'node:test';
import { SHUTDOWN_BOUND_MS } from '../src/server.js';
import {
  Database,
  FRONTEND_FIXTURE,
  openEvents,
  request,
  SERVER_DIR,
  spawnServer,
  tempDir,
  waitFor,
} from '../test-support/harness.js';

const ADDON_DIR = path.join(SERVER_DIR, '..');
const STREAMS = 50;
const WORKERS = 16;

/** The ENV the app image sets (continuation lines joined). */
function imageEnv() {
  const text = fs.readFileSync(path.join(ADDON_DIR, 'Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  const env = {};
  for (const [, body] of text.matchAll(/^ENV\s+(.+)$/gm)) {
    for (const [, key, value] of body.matchAll(/(\w+)=(\S+)/g)) env[key] = value;
  }
  return env;
}

/** Supervisor's stop timeout for the app: config.yaml `timeout` in seconds, 10 when absent. */
function stopTimeoutMs() {
  const config = fs.readFileSync(path.join(ADDON_DIR, 'config.yaml'), 'utf8');
  return Number(/^timeout:\s*(\d+)/m.exec(config)?.[1] ?? 10) * 1000;
}

test('the shutdown bound fits inside what s6 and Supervisor grant', () => {
  const env = imageEnv();
  // TERM reaches the server at once, not after the rest of s6's shutdown.
  assert.equal(env.S6_CMD_RECEIVE_SIGNALS, '1');
  const killGrace = Number(env.S6_KILL_GRACETIME ?? 3000);
  assert.ok(SHUTDOWN_BOUND_MS < killGrace, `server bound ${SHUTDOWN_BOUND_MS} ms >= S6_KILL_GRACETIME ${killGrace} ms`);
  assert.ok(killGrace < stopTimeoutMs(), `S6_KILL_GRACETIME ${killGrace} ms >= stop timeout ${stopTimeoutMs()} ms`);
});

/** One keep-alive GET; resolves with the status. */
function get(agent, base, pathname, token) {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}${pathname}`, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Read a stream until it ends; false if it is still open after timeoutMs. */
async function ended(stream, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await stream.next(Math.max(1, deadline - Date.now())).catch(() => undefined)) === null) return true;
  }
  return false;
}

test('SIGTERM under load with 50 event streams exits 0 within the bound', async (t) => {
  const dataDir = tempDir(t);
  const server = await spawnServer(t, {
    env: { HASYNC_DATA_DIR: dataDir, HASYNC_FRONTEND_DIR: FRONTEND_FIXTURE, HASYNC_LOG_LEVEL: 'info' },
  });
  // One verified request first, so the streams below meet a verified token, not 50 bcrypt runs.
  assert.equal((await request(server.base, '/api/v1/status', { token: server.token })).status, 200);

  const streams = [];
  // One address each, as separate clients would be (the server shares connections out per address).
  for (let i = 0; i < STREAMS; i++) {
    streams.push(await openEvents(server.base, { token: server.token, localAddress: `127.0.2.${i + 1}` }));
  }
  assert.deepEqual(new Set(streams.map((s) => s.status)), new Set([200]));
  await Promise.all(streams.map((s) => s.next(5000)));

  const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS });
  let stopping = false;
  let answered = 0;
  const unexpected = [];
  const worker = async (i) => {
    while (!stopping) {
      try {
        const status = await get(agent, server.base, i % 2 ? '/health' : '/api/v1/status', server.token);
        if (status !== 200) unexpected.push(status);
        answered++;
      } catch (err) {
        // Once the server is going away, refused or reset connections are what a client sees.
        if (!stopping) unexpected.push(err.code ?? err.message);
        return;
      }
    }
  };
  const workers = Array.from({ length: WORKERS }, (_, i) => worker(i));
  await waitFor(() => answered >= 500, { timeoutMs: 20_000, what: '500 answers under load' });

  const start = performance.now();
  stopping = true;
  server.child.kill('SIGTERM');
  const { code, signal } = await server.exit;
  const elapsed = performance.now() - start;
  await Promise.allSettled(workers);
  agent.destroy();

  assert.deepEqual(unexpected, []);
  assert.equal(signal, null);
  assert.equal(code, 0, server.stdout() + server.stderr());
  assert.ok(elapsed < SHUTDOWN_BOUND_MS, `exited after ${elapsed.toFixed(0)} ms (bound ${SHUTDOWN_BOUND_MS} ms)`);
  const log = server.stdout() + server.stderr();
  assert.match(log, /SIGTERM received; shutting down/);
  assert.match(log, /\bstopped\b/);
  assert.doesNotMatch(log, /exiting now/); // its own shutdown finished, not the forced exit
  for (const stream of streams) assert.ok(await ended(stream, 1000), 'an event stream outlived the server');

  const db = new Database(path.join(dataDir, 'hasync.db'), { readonly: true });
  t.after(() => db.close());
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  t.diagnostic(`${answered} answers, ${STREAMS} streams; SIGTERM to exit ${elapsed.toFixed(0)} ms`);
});

test('connections that never sent a request, or sent half of one, do not hold the shutdown up', async (t) => {
  const server = await spawnServer(t, { env: { HASYNC_DATA_DIR: tempDir(t) } });
  const { port } = new URL(server.base);
  const sockets = await Promise.all(
    ['', '', 'GET /health HTTP/1.1\r\nHost: x\r\n'].map(
      (head) =>
        new Promise((resolve, reject) => {
          const socket = net.connect(Number(port), '127.0.0.1', () => {
            if (head) socket.write(head);
            resolve(socket);
          });
          socket.on('error', reject);
        }),
    ),
  );
  t.after(() => sockets.forEach((s) => s.destroy()));
  await new Promise((r) => setTimeout(r, 100));

  const start = performance.now();
  server.child.kill('SIGTERM');
  assert.deepEqual(await server.exit, { code: 0, signal: null });
  const elapsed = performance.now() - start;
  // Node's closeIdleConnections() leaves such connections open: the shutdown then waited out its grace.
  assert.doesNotMatch(server.stdout(), /still open after the grace period/);
  assert.ok(elapsed < SHUTDOWN_BOUND_MS - 1000, `exited after ${elapsed.toFixed(0)} ms`);
});
