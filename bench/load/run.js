#!/usr/bin/env node
// Load bench (issue 9): ten times the seed's `ab -n 1000 -c 10`, i.e. 10,000 requests at concurrency
// 50, on `/health` and on `/api/v1/status` (with the token), against a real server process on this
// Node. Goal: 0 failures (a failure is a socket error or any status but 200). Reports p50/p95/p99/max
// latency and req/s.
//
//   node bench/load/run.js [--requests 10000] [--connections 50] [--rounds 1] [--data-dir DIR] [--server-dir DIR]
//
// --server-dir runs another copy of addon/server (e.g. a worktree of an older commit, to compare).
// Two client modes per endpoint:
//   keep-alive   bench/lib/loadgen.js (the server bench's generator): 50 keep-alive connections
//   new-conn     one connection per request, like `ab` without -k: connect, send, read, close
// A warm-up of 1,000 requests precedes each measurement. Writes bench/results/load.md and load.json.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { load, summarize } from '../lib/loadgen.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RESULTS = path.join(ROOT, 'bench', 'results');

const { values: opt } = parseArgs({
  options: {
    requests: { type: 'string', default: '10000' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '1' },
    'data-dir': { type: 'string' },
    'server-dir': { type: 'string' },
  },
});
const REQUESTS = Number(opt.requests);
const CONNECTIONS = Number(opt.connections);
const ROUNDS = Number(opt.rounds);
const WARMUP = 1000;
const SERVER_DIR = path.resolve(opt['server-dir'] ?? path.join(ROOT, 'addon', 'server'));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasync-load-'));
let child = null;
process.on('exit', () => {
  child?.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
const log = (msg) => process.stderr.write(`[load] ${msg}\n`);

/** Start the server; resolves with its port and token once it listens and printed the banner. */
function startServer() {
  const dataDir = opt['data-dir'] ?? path.join(tmp, 'data');
  child = spawn(process.execPath, [path.join(SERVER_DIR, 'bin', 'hasync.js')], {
    cwd: SERVER_DIR,
    env: { PATH: process.env.PATH, HASYNC_HOST: '127.0.0.1', HASYNC_PORT: '0', HASYNC_DATA_DIR: dataDir, HASYNC_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
    child.stdout.on('data', (c) => {
      out += c;
      const port = /listening on http:\/\/[^:]+:(\d+)/.exec(out)?.[1];
      const token = /^HASYNC_API_TOKEN=(\S+)$/m.exec(out)?.[1];
      if (port && token) resolve({ port: Number(port), token, output: () => out });
    });
  });
}

/**
 * `ab` without -k: each request on a new connection (Connection: close), `connections` at a time.
 * @returns {Promise<ReturnType<typeof load> extends Promise<infer R> ? R : never>}
 */
function loadNewConnections({ port, path: p, headers = {}, connections, requests }) {
  const head = Object.entries({ host: `127.0.0.1:${port}`, connection: 'close', ...headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const request = Buffer.from(`GET ${p} HTTP/1.1\r\n${head}\r\n`);
  const latencies = [];
  const statuses = {};
  const errorCodes = {};
  let sent = 0;
  let errors = 0;
  const started = process.hrtime.bigint();
  // The server closes first (Connection: close), so its side holds TIME_WAIT; spreading the client
  // over 8 loopback source addresses keeps repeated runs clear of the ephemeral port range. The
  // client does not half-close after its request (neither does ab): Node's server aborts a request
  // whose client sent FIN before an asynchronous handler (the token check) answered.
  const one = (i) =>
    new Promise((resolve) => {
      const t0 = process.hrtime.bigint();
      const socket = net.connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${2 + (i % 8)}` }, () => socket.write(request));
      const chunks = [];
      socket.on('data', (c) => chunks.push(c));
      socket.on('error', (err) => {
        errors++;
        errorCodes[err.code ?? err.message] = (errorCodes[err.code ?? err.message] ?? 0) + 1;
        socket.destroy();
      });
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('latin1');
        const status = /^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1];
        const end = text.indexOf('\r\n\r\n');
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(text)?.[1] ?? -1);
        if (status && end !== -1 && Buffer.byteLength(text.slice(end + 4), 'latin1') === length) {
          statuses[status] = (statuses[status] ?? 0) + 1;
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        } else if (!socket.errored) {
          errors++;
          errorCodes.incomplete = (errorCodes.incomplete ?? 0) + 1;
        }
        resolve();
      });
    });
  const worker = async () => {
    while (sent < requests) {
      await one(sent++);
    }
  };
  return Promise.all(Array.from({ length: connections }, worker)).then(() =>
    summarize(latencies, started, { errors, errorCodes, statuses }),
  );
}

const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : 'n/a');
const failures = (r) => r.errors + Object.entries(r.statuses).reduce((n, [s, c]) => n + (s === '200' ? 0 : c), 0) + Math.max(0, REQUESTS - r.requests - r.errors);

const server = await startServer();
const auth = { authorization: `Bearer ${server.token}` };
log(`Node ${process.version}, server on port ${server.port}; ${REQUESTS} requests at c=${CONNECTIONS}, ${ROUNDS} round(s)`);
const loadavg = os.loadavg().map((x) => x.toFixed(2)).join(' ');

const rows = [];
for (const [name, p, headers] of [['/health', '/health', {}], ['/api/v1/status', '/api/v1/status', auth]]) {
  for (const [mode, run] of [['keep-alive', load], ['new-conn', loadNewConnections]]) {
    for (let round = 1; round <= ROUNDS; round++) {
      await run({ port: server.port, path: p, headers, connections: CONNECTIONS, requests: WARMUP });
      const r = await run({ port: server.port, path: p, headers, connections: CONNECTIONS, requests: REQUESTS });
      const failed = failures(r);
      const codes = r.errorCodes && Object.keys(r.errorCodes).length ? ` ${JSON.stringify(r.errorCodes)}` : '';
      log(`${name} ${mode} round ${round}: ${r.requests} answered, ${failed} failures${codes}, ${fmt(r.rps, 0)} req/s, p50 ${fmt(r.p50_ms)} p95 ${fmt(r.p95_ms)} p99 ${fmt(r.p99_ms)} ms`);
      rows.push({ endpoint: name, mode, round, ...r, failures: failed });
    }
  }
}
const rssMiB = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) / 1024;
child.kill('SIGTERM');
const exitCode = await new Promise((resolve) => child.once('exit', (code) => resolve(code)));
child = null;

const totalFailures = rows.reduce((n, r) => n + r.failures, 0);
const lines = [
  '# HAsync load bench',
  '',
  `${new Date().toISOString()} · Node ${process.version} · ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}) · load average at start ${loadavg}`,
  `Goal (issue 9): ${REQUESTS.toLocaleString('en-US')} requests at concurrency ${CONNECTIONS} on \`/health\` and \`/api/v1/status\` (10× the seed's \`ab -n 1000 -c 10\`), 0 failures. ` +
    `Each run follows a warm-up of ${WARMUP.toLocaleString('en-US')} requests; the load generator runs in the bench process on the same 2 cores as the server.`,
  '',
  '| Endpoint | Client | Requests | Failures | req/s | p50 | p95 | p99 | max |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| \`${r.endpoint}\` | ${r.mode}${ROUNDS > 1 ? ` #${r.round}` : ''} | ${r.requests.toLocaleString('en-US')} | ${r.failures} | ${fmt(r.rps, 0)} | ${fmt(r.p50_ms)} ms | ${fmt(r.p95_ms)} ms | ${fmt(r.p99_ms)} ms | ${fmt(r.max_ms)} ms |`,
  ),
  '',
  `Result: ${totalFailures === 0 ? 'PASS' : 'FAIL'}, ${totalFailures} failures in ${rows.length} runs. Server RSS after the runs: ${fmt(rssMiB, 1)} MiB; SIGTERM exit code ${exitCode}.`,
  '',
  'keep-alive: `bench/lib/loadgen.js`, closed loop on 50 persistent connections. new-conn: one TCP connection per request (`Connection: close`), like `ab` without `-k`.',
  '',
];
fs.mkdirSync(RESULTS, { recursive: true });
fs.writeFileSync(path.join(RESULTS, 'load.md'), lines.join('\n'));
fs.writeFileSync(path.join(RESULTS, 'load.json'), `${JSON.stringify({ node: process.version, requests: REQUESTS, connections: CONNECTIONS, rows, rss_mib: rssMiB, failures: totalFailures }, null, 2)}\n`);
process.stdout.write(lines.join('\n'));
process.exitCode = totalFailures === 0 && exitCode === 0 ? 0 : 1;
