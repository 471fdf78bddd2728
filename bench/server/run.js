#!/usr/bin/env node
// HAsync server benchmark, in one run, against a bare node:http JSON responder on the same Node:
// /health and /api/v1/status throughput and latency (keep-alive, c=10), RSS idle and after 100k
// requests, start-up time (spawn to the first 200 on /health), production node_modules footprint
// (npm ci --omit=dev + scripts/prune-native.sh, as the Dockerfile does).
//
// The memory goals are in MB (10^6 bytes), as issue 3 states them; the table shows MiB next to them.
// "After 100k requests" is taken 2 s after a dedicated phase of exactly 100k requests (half /health,
// half /api/v1/status) that runs before the throughput rounds; RSS after the whole bench is shown too.
// Idle is measured 5 s after start on a fresh data dir and on one seeded with a week of samples (what
// an installed add-on starts on; the history summary and the page cache depend on it), and once more
// on a server left alone for --settle seconds: by then V8 has optimised the timer code of the idle
// checks, which maps the optimising compiler's code into RSS (shown apart: "of it, node's own code").
//
//   node bench/server/run.js [--rounds 3] [--duration 5] [--warmup 1] [--connections 10] [--settle 180] [--skip-footprint]
//
// Other work on the machine skews single runs, so each figure is the median of several rounds that
// alternate between the bare responder and HAsync.
//
// Prints a table (goal, HAsync, bare, pass/fail) and writes it to bench/results/server.md, the figures to server.json.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { load } from '../lib/loadgen.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SERVER_DIR = path.join(ROOT, 'addon', 'server');
const HASYNC = path.join(SERVER_DIR, 'bin', 'hasync.js');
const BARE = fileURLToPath(new URL('./bare.cjs', import.meta.url));
const SEED = fileURLToPath(new URL('./seed-history.js', import.meta.url));
const RESULTS = path.join(ROOT, 'bench', 'results', 'server.md');

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '10' },
    settle: { type: 'string', default: '180' },
    'skip-footprint': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(opt.rounds);
const DURATION_MS = Number(opt.duration) * 1000;
const WARMUP_MS = Number(opt.warmup) * 1000;
const CONNECTIONS = Number(opt.connections);
const SETTLE_MS = Number(opt.settle) * 1000;
const TARGET_REQUESTS = 100_000;
const CHUNK = 10_000;
const MB = 1e6;
const MIB = 1024 * 1024;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasync-bench-'));
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

function log(msg) {
  process.stderr.write(`[bench] ${msg}\n`);
}

/** Spawn a server; resolves with its pid, port, stdout and the time from spawn to "listening". */
function start(args, env = {}) {
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HASYNC_HOST: '127.0.0.1', HASYNC_PORT: '0', HASYNC_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let out = '';
  child.stdout.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}: ${out}`)));
    child.stdout.on('data', (c) => {
      out += c;
      const port = /listening on http:\/\/[^:]+:(\d+)/i.exec(out)?.[1];
      if (port && !child.port) {
        child.port = Number(port);
        resolve({ child, port: child.port, spawnedAt, stdout: () => out });
      }
    });
  });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}

function get(port, p, headers = {}) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
  });
}

/** Spawn to the first 200 on /health, polling every 5 ms (the port comes from the log line). */
async function startupMs(args, env) {
  const run = await start(args, env);
  while ((await get(run.port, '/health')) !== 200) await sleep(5);
  const ms = performance.now() - run.spawnedAt;
  await stop(run.child);
  return ms;
}

/** VmRSS in bytes (/proc's "kB" are KiB). */
function rssBytes(pid) {
  const kib = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  return kib * 1024;
}

const NODE_BINARY = fs.realpathSync(process.execPath);

/** VmRSS and, of it, the pages of the node executable (its code: V8's compilers, OpenSSL, ICU). */
function rssParts(pid) {
  let nodeCode = 0;
  let mapping = '';
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) mapping = head[1];
    else if (mapping === NODE_BINARY && line.startsWith('Rss:')) nodeCode += Number(line.split(/\s+/)[1]) * 1024;
  }
  return { rss: rssBytes(pid), nodeCode };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : 'n/a');
const pass = (ok) => (ok ? 'PASS' : 'FAIL');
const mem = (bytes) => `${fmt(bytes / MB)} MB (${fmt(bytes / MIB)} MiB)`;

// --- start-up ----------------------------------------------------------------------------------
log(`Node ${process.version}; start-up (3 fresh data dirs each)`);
const hasyncStarts = [];
const bareStarts = [];
for (let i = 0; i < 3; i++) {
  hasyncStarts.push(await startupMs([HASYNC], { HASYNC_DATA_DIR: fs.mkdtempSync(path.join(tmp, 'start-')) }));
  bareStarts.push(await startupMs([BARE]));
}

// --- the servers under test -----------------------------------------------------------------------
// Left alone until the report, for the settled idle figure.
const settling = { hasync: await start([HASYNC], { HASYNC_DATA_DIR: fs.mkdtempSync(path.join(tmp, 'settle-')) }), bare: await start([BARE]) };
const historyDir = fs.mkdtempSync(path.join(tmp, 'history-'));
execFileSync(process.execPath, [SEED, historyDir, '7']);
const bare = await start([BARE]);
const hasync = await start([HASYNC], { HASYNC_DATA_DIR: fs.mkdtempSync(path.join(tmp, 'data-')) });
const withHistory = await start([HASYNC], { HASYNC_DATA_DIR: historyDir });
await sleep(300);
const token = /^HASYNC_API_TOKEN=(\S+)$/m.exec(hasync.stdout())?.[1];
if (!token) throw new Error('no token in the server output');
const auth = { authorization: `Bearer ${token}` };
log('idle for 5 s (a fresh data dir and one with a week of samples)');
await sleep(5000);
const idle = { hasync: rssBytes(hasync.child.pid), bare: rssBytes(bare.child.pid), withHistory: rssBytes(withHistory.child.pid) };
await stop(withHistory.child);

let phaseFailures = 0;
/** Exactly `total` requests, alternating 10k chunks of /health and /api/v1/status (c=10). */
async function serve(port, total, statusHeaders) {
  let served = 0;
  for (let i = 0; served < total; i++) {
    const [p, headers] = i % 2 === 0 ? ['/health', {}] : ['/api/v1/status', statusHeaders];
    const r = await load({ port, path: p, headers, connections: CONNECTIONS, requests: Math.min(CHUNK, total - served) });
    if (r.errors || Object.keys(r.statuses).some((s) => s !== '200')) {
      phaseFailures++;
      log(`${p} on port ${port}: ${r.errors} socket errors, statuses ${JSON.stringify(r.statuses)}`);
    }
    served += r.requests;
    if (r.requests === 0) throw new Error(`no answers from port ${port}`);
  }
  return served;
}

log(`${TARGET_REQUESTS} requests to each server (half /health, half /api/v1/status), then RSS 2 s later`);
let hasyncRequests = await serve(hasync.port, TARGET_REQUESTS, auth);
await sleep(2000);
const after100k = { hasync: rssBytes(hasync.child.pid), requests: hasyncRequests };
await serve(bare.port, TARGET_REQUESTS, {});
await sleep(2000);
after100k.bare = rssBytes(bare.child.pid);

async function measure(port, p, headers, counted) {
  const warm = await load({ port, path: p, headers, connections: CONNECTIONS, durationMs: WARMUP_MS });
  const r = await load({ port, path: p, headers, connections: CONNECTIONS, durationMs: DURATION_MS });
  if (counted) hasyncRequests += warm.requests + r.requests;
  const non200 = Object.entries(r.statuses).filter(([s]) => s !== '200');
  if (r.errors || non200.length) log(`${p} on port ${port}: ${r.errors} socket errors, statuses ${JSON.stringify(r.statuses)}`);
  return r;
}

/** Median of each figure over the rounds. */
function medianOf(runs) {
  const m = (k) => median(runs.map((r) => r[k]));
  return { rps: m('rps'), p50_ms: m('p50_ms'), p99_ms: m('p99_ms'), errors: runs.reduce((a, r) => a + r.errors, 0), statuses: runs.map((r) => r.statuses) };
}

const results = {};
for (const [name, p, headers] of [['health', '/health', {}], ['status', '/api/v1/status', auth]]) {
  log(`${p}: ${ROUNDS} rounds of ${WARMUP_MS / 1000} s warm-up + ${DURATION_MS / 1000} s, c=${CONNECTIONS}, bare and HAsync alternating`);
  const runs = { bare: [], hasync: [] };
  for (let round = 0; round < ROUNDS; round++) {
    runs.bare.push(await measure(bare.port, p, {}, false));
    runs.hasync.push(await measure(hasync.port, p, headers, true));
  }
  results[name] = { bare: medianOf(runs.bare), hasync: medianOf(runs.hasync) };
}

await sleep(2000);
const after = { hasync: rssBytes(hasync.child.pid), bare: rssBytes(bare.child.pid) };
await Promise.all([stop(hasync.child), stop(bare.child)]);

const settleLeft = SETTLE_MS - (performance.now() - settling.hasync.spawnedAt);
if (settleLeft > 0) {
  log(`waiting ${fmt(settleLeft / 1000, 0)} s more for the settled idle figure (--settle ${SETTLE_MS / 1000})`);
  await sleep(settleLeft);
}
const settled = { hasync: rssParts(settling.hasync.child.pid), bare: rssParts(settling.bare.child.pid), afterS: (performance.now() - settling.hasync.spawnedAt) / 1000 };
await Promise.all([stop(settling.hasync.child), stop(settling.bare.child)]);

// --- production node_modules footprint -----------------------------------------------------------
let footprint = null;
if (!opt['skip-footprint']) {
  log('footprint: npm ci --omit=dev --build-from-source in a temp copy, then scripts/prune-native.sh (compiles; ~2 min)');
  const dir = path.join(tmp, 'prod');
  fs.mkdirSync(dir);
  for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(SERVER_DIR, f), path.join(dir, f));
  for (const d of ['bin', 'src', 'scripts']) fs.cpSync(path.join(SERVER_DIR, d), path.join(dir, d), { recursive: true });
  const nodeHome = path.resolve(path.dirname(fs.realpathSync(process.execPath)), '..');
  const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` };
  // node-gyp needs this Node's headers; offline it cannot download them.
  if (fs.existsSync(path.join(nodeHome, 'include', 'node', 'node.h'))) env.npm_config_nodedir = nodeHome;
  execFileSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error', '--build-from-source'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'inherit'] });
  const du = () => Number(execFileSync('du', ['-sb', path.join(dir, 'node_modules')], { encoding: 'utf8' }).split('\t')[0]) / 1048576;
  const before = du();
  execFileSync('bash', [path.join(dir, 'scripts', 'prune-native.sh'), path.join(dir, 'node_modules')], { env, stdio: 'inherit' });
  const verify = execFileSync(process.execPath, [path.join(dir, 'bin', 'hasync.js'), 'verify-native'], { encoding: 'utf8' });
  footprint = { before, after: du(), verify: verify.trim().split('\n') };
}

// --- report --------------------------------------------------------------------------------------
const { health, status } = results;
const ratio = (a, b) => a.rps / b.rps;
const rows = [
  ['`/health` req/s (keep-alive, c=10)', '≥ 60% of bare', `${fmt(health.hasync.rps, 0)} (${fmt(100 * ratio(health.hasync, health.bare), 0)}%)`, fmt(health.bare.rps, 0), pass(ratio(health.hasync, health.bare) >= 0.6)],
  ['`/health` latency p50 / p99', 'p99 ≤ 5 ms', `${fmt(health.hasync.p50_ms, 2)} / ${fmt(health.hasync.p99_ms, 2)} ms`, `${fmt(health.bare.p50_ms, 2)} / ${fmt(health.bare.p99_ms, 2)} ms`, pass(health.hasync.p99_ms <= 5)],
  ['`/api/v1/status` req/s (with token)', '≥ 30% of bare', `${fmt(status.hasync.rps, 0)} (${fmt(100 * ratio(status.hasync, status.bare), 0)}%)`, fmt(status.bare.rps, 0), pass(ratio(status.hasync, status.bare) >= 0.3)],
  ['`/api/v1/status` latency p50 / p99', '(no goal)', `${fmt(status.hasync.p50_ms, 2)} / ${fmt(status.hasync.p99_ms, 2)} ms`, `${fmt(status.bare.p50_ms, 2)} / ${fmt(status.bare.p99_ms, 2)} ms`, 'info'],
  ['RSS idle (5 s after start)', '≤ 60 MB', mem(idle.hasync), mem(idle.bare), pass(idle.hasync <= 60 * MB)],
  ['RSS idle, a week of samples in the database (5 s after start)', '≤ 60 MB', mem(idle.withHistory), '—', pass(idle.withHistory <= 60 * MB)],
  [
    `RSS idle, settled (${fmt(settled.afterS, 0)} s after start, no requests); of it, node's own code`,
    '≤ 60 MB',
    `${mem(settled.hasync.rss)}; ${fmt(settled.hasync.nodeCode / MB)} MB`,
    `${mem(settled.bare.rss)}; ${fmt(settled.bare.nodeCode / MB)} MB`,
    pass(settled.hasync.rss <= 60 * MB),
  ],
  [
    `RSS after ${fmt(after100k.requests, 0)} requests (half \`/health\`, half \`/api/v1/status\`; 2 s later)`,
    '≤ 90 MB',
    mem(after100k.hasync),
    mem(after100k.bare),
    pass(after100k.requests >= TARGET_REQUESTS && after100k.hasync <= 90 * MB),
  ],
  [`RSS after the whole bench (${fmt(hasyncRequests, 0)} requests)`, '(no goal)', mem(after.hasync), mem(after.bare), 'info'],
  ['Start-up: spawn → first 200 on `/health` (median of 3, fresh data dir)', '≤ 1.5 s', `${fmt(median(hasyncStarts), 0)} ms (max ${fmt(Math.max(...hasyncStarts), 0)})`, `${fmt(median(bareStarts), 0)} ms`, pass(median(hasyncStarts) <= 1500)],
  [
    'Production `node_modules` (npm ci --omit=dev + prune)',
    '≤ 15 MiB',
    footprint ? `${fmt(footprint.after)} MiB (${fmt(footprint.before)} before pruning)` : 'skipped',
    '—',
    footprint ? pass(footprint.after <= 15) : 'n/a',
  ],
];
const errorsSeen = phaseFailures > 0 || Object.values(results)
  .flatMap((r) => [r.bare, r.hasync])
  .some((r) => r.errors || r.statuses.some((st) => Object.keys(st).some((code) => code !== '200')));
const lines = [
  `# HAsync server bench`,
  '',
  `${new Date().toISOString()} · Node ${process.version} · ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}) · load generator: bench/lib/loadgen.js in the bench process`,
  `Throughput and latency: median of ${ROUNDS} rounds of ${DURATION_MS / 1000} s (after ${WARMUP_MS / 1000} s warm-up each), ${CONNECTIONS} keep-alive connections, bare and HAsync alternating; the bare responder answers \`{"status":"ok"}\` on every path.`,
  `Memory: VmRSS from /proc; goals in MB (10^6 bytes) as issue 3 states them, MiB in brackets. The 100k requests (${CONNECTIONS} keep-alive connections, alternating 10k chunks) run before the throughput rounds; bare gets the same requests.`,
  '',
  '| Metric | Goal (issue 3) | HAsync | Bare node:http | Result |',
  '|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.join(' | ')} |`),
  '',
  errorsSeen ? '**Some requests failed or were not 200; see the bench log.**' : 'Every request answered 200.',
  ...(footprint ? ['', 'verify-native in the pruned copy:', '', ...footprint.verify.map((l) => `    ${l}`)] : []),
  '',
];
const report = lines.join('\n');
fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
fs.writeFileSync(RESULTS, report);
const figures = { node: process.version, idle, settled, after100k, after, throughput: results, startup_ms: { hasync: hasyncStarts, bare: bareStarts }, footprint_mib: footprint && { before: footprint.before, after: footprint.after }, goals: Object.fromEntries(rows.map((r) => [r[0], r[4]])) };
fs.writeFileSync(RESULTS.replace(/\.md$/, '.json'), `${JSON.stringify(figures, null, 2)}\n`);
process.stdout.write(report);
log(`written to ${path.relative(ROOT, RESULTS)}`);
