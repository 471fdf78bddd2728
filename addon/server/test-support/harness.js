// Test helpers (outside test/ so `node --test` does not run this file as a suite).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createApp } from '../src/server.js';
import { openHeld, prepareHeld } from '../src/sqlite-handles.js';

export const SERVER_DIR = fileURLToPath(new URL('..', import.meta.url));
export const FIXTURES = path.join(SERVER_DIR, 'test', 'fixtures');
// Not under test/: node --test would run its .js asset as a test file.
export const FRONTEND_FIXTURE = path.join(SERVER_DIR, 'test-support', 'frontend');
export const BIN = path.join(SERVER_DIR, 'bin', 'hasync.js');
export const Database = createRequire(import.meta.url)('better-sqlite3');

/** A temp dir removed when the test ends. */
export function tempDir(t, prefix = 'hasync-test-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A copy of the frontend fixture that a test may change. */
export function frontendCopy(t) {
  const dir = path.join(tempDir(t, 'hasync-frontend-'), 'dist');
  fs.cpSync(FRONTEND_FIXTURE, dir, { recursive: true });
  return dir;
}

/** Collects written text; `lines()` splits it. */
export function capture() {
  const chunks = [];
  return {
    write: (s, callback) => {
      chunks.push(String(s));
      if (typeof callback === 'function') queueMicrotask(callback);
      return true;
    },
    text: () => chunks.join(''),
    lines: () => chunks.join('').split('\n').filter(Boolean),
  };
}

export function tokenFrom(text) {
  return /^HASYNC_API_TOKEN=(\S+)$/m.exec(text)?.[1] ?? null;
}

/**
 * Start the app in-process on 127.0.0.1:0 and stop it when the test ends.
 * @param {import('node:test').TestContext} t
 * @param {{env?: Record<string, string>, options?: object, dataDir?: string}} [opts]
 */
export async function startApp(t, { env = {}, options = {}, dataDir } = {}) {
  const config = loadConfig({
    HASYNC_HOST: '127.0.0.1',
    HASYNC_PORT: '0',
    HASYNC_DATA_DIR: dataDir ?? tempDir(t),
    HASYNC_FRONTEND_DIR: FRONTEND_FIXTURE,
    HASYNC_LOG_LEVEL: 'debug',
    ...env,
  });
  const log = capture();
  const out = capture();
  const app = createApp(config, {
    logger: createLogger({ level: config.logLevel, stream: log }),
    stdout: out,
    tokenCost: 4,
    ...options,
  });
  t.after(() => app.stop());
  await app.start();
  const base = `http://127.0.0.1:${app.port}`;
  return { app, config, base, log, out, token: tokenFrom(out.text()) };
}

/** The host of a URL as node:http wants it: an IPv6 address without its brackets. */
const hostOf = (url) => url.hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * A raw HTTP request (node:http keeps the path exactly as given, unlike fetch).
 * @returns {Promise<{status: number, headers: http.IncomingHttpHeaders, body: string, json: any}>}
 */
export function request(base, pathname, { method = 'GET', headers = {}, body, token, localAddress } = {}) {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: hostOf(url),
        port: url.port,
        method,
        path: pathname,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        agent: false,
        localAddress,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, body: text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Poll until fn() returns a truthy value (or throw after timeoutMs). */
export async function waitFor(fn, { timeoutMs = 5000, intervalMs = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Open an SSE stream; events() yields parsed {id, event, data, retry} blocks as they arrive.
 */
export function openEvents(base, { token, path: p = '/api/v1/events', localAddress } = {}) {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: hostOf(url), port: url.port, path: p, headers: token ? { authorization: `Bearer ${token}` } : {}, agent: false, localAddress },
      (res) => {
        res.setEncoding('utf8');
        const queue = [];
        const waiters = [];
        let buffer = '';
        let all = '';
        let ended = false;
        const end = new Promise((resolveEnd) => res.on('end', () => resolveEnd(all)));
        res.on('data', (chunk) => {
          all += chunk;
          buffer += chunk;
          let idx;
          while ((idx = buffer.indexOf('\n\n')) !== -1) {
            const block = buffer.slice(0, idx);
            buffer = buffer.slice(idx + 2);
            const ev = {};
            for (const line of block.split('\n')) {
              const colon = line.indexOf(':');
              const field = line.slice(0, colon);
              const value = line.slice(colon + 1).replace(/^ /, '');
              ev[field] = field in ev ? `${ev[field]}\n${value}` : value;
            }
            if (waiters.length) waiters.shift().resolve(ev);
            else queue.push(ev);
          }
        });
        res.on('end', () => {
          ended = true;
          while (waiters.length) waiters.shift().resolve(null);
        });
        resolve({
          res,
          status: res.statusCode,
          headers: res.headers,
          /** Next event, or null when the stream ended; rejects after timeoutMs. */
          next(timeoutMs = 5000) {
            if (queue.length) return Promise.resolve(queue.shift());
            if (ended) return Promise.resolve(null);
            return new Promise((resolveNext, rejectNext) => {
              const timer = setTimeout(() => rejectNext(new Error('no SSE event in time')), timeoutMs);
              waiters.push({
                resolve: (ev) => {
                  clearTimeout(timer);
                  resolveNext(ev);
                },
              });
            });
          },
          close: () => req.destroy(),
          /** The whole body, once the response ended (for error answers). */
          body: () => end,
        });
      },
    );
    req.on('error', reject);
  });
}

/**
 * Run bin/hasync.js as a child process (as another user with uid/gid, when this one is root).
 * @returns {{child: import('node:child_process').ChildProcess, stdout: () => string, stderr: () => string,
 *            exit: Promise<{code: number|null, signal: string|null}>}}
 */
export function spawnCli(args, { env = {}, cwd = SERVER_DIR, bin = BIN, uid, gid } = {}) {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    uid,
    gid,
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c) => (err += c));
  const exit = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  return { child, stdout: () => out, stderr: () => err, exit };
}

/** Start `serve` as a child process on a free port; resolves once it listens. */
export async function spawnServer(t, { env = {}, bin, uid, gid } = {}) {
  const run = spawnCli([], { env: { HASYNC_HOST: '127.0.0.1', HASYNC_PORT: '0', ...env }, bin, uid, gid });
  t.after(() => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  });
  const port = await waitFor(
    () => {
      if (run.child.exitCode !== null) throw new Error(`server exited early: ${run.stdout()}${run.stderr()}`);
      return /listening on http:\/\/[^:]+:(\d+)/.exec(run.stdout())?.[1];
    },
    { timeoutMs: 10_000, what: 'the server to listen' },
  );
  // The banner follows the listening line.
  await new Promise((r) => setTimeout(r, 50));
  return { ...run, base: `http://127.0.0.1:${port}`, token: tokenFrom(run.stdout()) };
}

/** Open a database file with the handles held (see src/sqlite-handles.js). */
export function openDb(file, options) {
  return openHeld(Database, file, options);
}

/** Run a query with a held statement. */
export function query(db, sql, ...params) {
  return prepareHeld(db, sql).all(...params);
}
