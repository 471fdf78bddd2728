// Test harness: builds the page if needed, runs the real HAsync server on a free loopback port,
// puts an HA-ingress-like reverse proxy in front of it and launches Debian's Chromium.

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const FRONTEND_DIR = fileURLToPath(new URL('..', import.meta.url));
export const DIST_DIR = join(FRONTEND_DIR, 'dist');
export const ARTIFACTS_DIR = join(FRONTEND_DIR, '..', '..', 'test-artifacts');
const SERVER_BIN = join(FRONTEND_DIR, '..', 'server', 'bin', 'hasync.js');

/** Builds dist/ unless a build is there (`npm test` always builds first). */
export function ensureBuild() {
  if (existsSync(join(DIST_DIR, 'hasync-build.json'))) return;
  execFileSync(process.execPath, [join(FRONTEND_DIR, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'], {
    cwd: FRONTEND_DIR,
    stdio: 'inherit',
  });
}

export function tempDir(name) {
  return mkdtempSync(join(tmpdir(), `hasync-frontend-${name}-`));
}

async function freePort() {
  const srv = http.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

export async function waitFor(what, fn, timeoutMs = 15_000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// Last resort when the test process ends without running its `after` hooks: no server outlives it.
const children = new Set();
const killChildren = () => children.forEach((child) => child.kill('SIGKILL'));
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killChildren();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

/**
 * Starts `node ../server/bin/hasync.js` (on a free port unless `port` is given) and resolves once
 * /health answers. With `expectToken` it first waits for the `HASYNC_API_TOKEN=` line that a server
 * prints when it creates its token (first start, standalone). Output goes to
 * test-artifacts/frontend-test-<logName>.log.
 */
export async function startServer({ frontendDir, dataDir, port, env: extraEnv = {}, expectToken = true, logName = 'server' }) {
  port ??= await freePort();
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const env = { ...process.env, HASYNC_DATA_DIR: dataDir, HASYNC_PORT: String(port), HASYNC_HOST: '127.0.0.1', HASYNC_FRONTEND_DIR: frontendDir };
  delete env.SUPERVISOR_TOKEN; // standalone unless the caller says otherwise
  Object.assign(env, extraEnv);
  const child = spawn(process.execPath, [SERVER_BIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  exited.then(() => children.delete(child));
  const log = createWriteStream(join(ARTIFACTS_DIR, `frontend-test-${logName}.log`));
  child.stderr.pipe(log);

  let stdout = '';
  let token = null;
  child.stdout.on('data', (chunk) => {
    log.write(chunk);
    stdout += chunk;
    token ??= /^HASYNC_API_TOKEN=(\S+)$/m.exec(stdout)?.[1] ?? null;
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    log.end();
  };
  /** SIGKILL, as a crash or an out-of-memory kill: no shutdown, the sockets just close. */
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    log.end();
  };
  const base = `http://127.0.0.1:${port}`;
  try {
    const died = exited.then(({ code, signal }) => {
      throw new Error(`server exited (${code ?? signal}); see ${log.path}`);
    });
    const up = waitFor(`the server on port ${port}`, async () => {
      if (expectToken && !token) return false;
      // Any answer (200, or 503 while a critical check fails) means the server is up.
      return Boolean(await fetch(`${base}/health`));
    }, 20_000);
    await Promise.race([up, died]);
    return { base, port, token, stop, kill, log: log.path };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Serves the upstream under /api/hassio_ingress/<session>/ like HA's ingress: strips the prefix,
 * adds X-Ingress-Path, and streams responses chunk by chunk (so SSE passes unbuffered).
 */
export async function startIngressProxy(upstreamPort) {
  const prefix = `/api/hassio_ingress/${randomBytes(24).toString('base64url')}`;
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url);
    if (!req.url.startsWith(`${prefix}/`)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not an ingress path');
      return;
    }
    const upstream = http.request(
      {
        host: '127.0.0.1',
        port: upstreamPort,
        method: req.method,
        path: req.url.slice(prefix.length),
        headers: { ...req.headers, host: `127.0.0.1:${upstreamPort}`, 'x-ingress-path': prefix },
      },
      (up) => {
        res.writeHead(up.statusCode, up.statusMessage, up.headers);
        res.flushHeaders();
        up.on('data', (chunk) => res.write(chunk));
        up.on('end', () => res.end());
        up.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end('bad gateway')));
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    url: `${origin}${prefix}/`,
    origin,
    prefix,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

/** Headless Chromium from Debian; playwright gives it a fresh temporary profile. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    timeout: 30_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

/** Cleanup steps run in reverse order; one that fails is logged and the rest still run. */
export function cleanupStack() {
  const steps = [];
  return {
    add: (step) => steps.push(step),
    async run() {
      while (steps.length) {
        try {
          await steps.pop()();
        } catch (err) {
          console.error('cleanup failed:', err);
        }
      }
    },
  };
}
