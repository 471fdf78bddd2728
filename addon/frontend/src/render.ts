// Renders the status document and history into the static skeleton of index.html.

import type { Check, HistoryDoc, StatusDoc } from './api';
import { lineChart, type ChartSpec } from './charts';
import { duration, mibPerHour, ms, num, pct, size, when } from './format';
import type { LinkState } from './sse';

const MIB = 1024 * 1024;
const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

type Child = Node | string | null | undefined | false;

function h(tag: string, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) if (c) node.append(c);
  return node;
}

// ---- banner, live indicator and the last known state ---------------------------------------

/** When the figures on show were received; while the stream is down they are the last known ones. */
const received = { status: 0, history: 0 };
/** Since when the stream has been down (null: live, or nothing shown yet). */
let lostAt: number | null = null;
/** The uptime the server last reported, and when: the tile counts on from it. */
let uptimeBase: { uptimeS: number; at: number } | null = null;

/** Sets text only when it changes, so aria-live announces real changes, not heartbeats. */
function setText(node: HTMLElement, text: string) {
  if (node.textContent !== text) node.textContent = text;
}

export function renderBanner(status: string, text: string) {
  const banner = $('banner');
  banner.dataset.status = status;
  setText(banner, text);
}

/** The stream's states, plus the page's own: no server answer at all, and waiting for a token. */
export type PageState = LinkState | 'offline' | 'signin';

const LINK_TEXT: Record<PageState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  signin: 'Sign in',
};

export function renderLink(state: PageState) {
  const live = $('live');
  live.dataset.state = state;
  setText(live.querySelector('.live-text') as HTMLElement, LINK_TEXT[state]);
  if (state === 'reconnecting') showLastKnown();
}

/** The stream is down: every figure on show becomes the last known one, with its age. */
function showLastKnown() {
  if (lostAt !== null || !received.status) return;
  lostAt = Date.now();
  $('dashboard').dataset.stale = 'true';
  const at = new Date(received.status).toLocaleTimeString();
  renderBanner('unreachable', `Cannot reach the HAsync server. The figures below are the last known, from ${at}. Retrying…`);
  tick();
}

/** Once a second: the uptime while live, and the age of every last known figure while not. */
export function tick() {
  const now = lostAt ?? Date.now();
  const node = document.querySelector<HTMLElement>('[data-metric="uptime"] .value');
  if (node && uptimeBase) node.textContent = duration(uptimeBase.uptimeS + (now - uptimeBase.at) / 1000);
  if (lostAt === null) return;
  for (const age of document.querySelectorAll<HTMLElement>('#dashboard .age')) {
    const since = received[age.dataset.of === 'history' ? 'history' : 'status'];
    setText(age, since ? `Last known · ${duration((Date.now() - since) / 1000)} ago` : '');
  }
}

// ---- checks --------------------------------------------------------------------------------

const CHECK_LABELS: Record<string, string> = {
  node: 'Node.js',
  bcrypt: 'bcrypt',
  'better-sqlite3': 'better-sqlite3',
  database: 'Database',
  frontend: 'Frontend build',
};

function facts(doc: StatusDoc, name: string): [string, string | null | undefined][] {
  switch (name) {
    case 'node':
      return [
        ['Version', `v${doc.node.version}`],
        ['Minimum', `v${doc.node.min_major}`],
      ];
    case 'bcrypt':
    case 'better-sqlite3': {
      const m = doc.native_modules[name];
      if (!m) return [];
      return [
        ['Version', m.version],
        ['Loaded', m.loaded ? 'yes' : 'no'],
        ['Self-test', m.self_test_ok == null ? 'not run yet' : m.self_test_ok ? 'passed' : 'failed'],
        ['Checked', when(m.checked_at)],
      ];
    }
    case 'database':
      return [
        ['Size', size(doc.database.size_bytes)],
        ['Journal', doc.database.journal_mode],
        ['Integrity', doc.database.integrity],
        ['Path', doc.database.path],
      ];
    case 'frontend':
      return [
        ['Build', doc.frontend.build_id],
        ['Built', when(doc.frontend.built_at)],
      ];
    default:
      return [];
  }
}

/** The underlying error text, when the check's message does not already carry it. */
function errorText(doc: StatusDoc, check: Check): string | null {
  const err = check.name === 'database' ? doc.database.error : (doc.native_modules[check.name]?.error ?? null);
  return err && !check.message.includes(err) ? err : null;
}

function checkCard(doc: StatusDoc, check: Check): HTMLElement {
  const titleId = `check-${check.name}`;
  const error = check.ok ? null : errorText(doc, check);
  const rows = facts(doc, check.name).filter((r): r is [string, string] => r[1] != null);
  return h(
    'li',
    {
      class: 'card check',
      'data-check': check.name,
      'data-ok': String(check.ok),
      'data-critical': String(check.critical),
      'aria-labelledby': titleId,
    },
    h(
      'div',
      { class: 'check-head' },
      h('h3', { id: titleId }, CHECK_LABELS[check.name] ?? check.name),
      h('span', { class: `badge ${check.ok ? 'ok' : check.critical ? 'error' : 'warn'}` }, check.ok ? 'OK' : 'Failing'),
    ),
    h('p', { class: 'message' }, check.message),
    error && h('pre', { class: 'error-text' }, error),
    rows.length > 0 && h('dl', { class: 'facts' }, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    !check.critical && h('p', { class: 'note' }, 'Non-critical'),
    h('p', { class: 'age', 'data-of': 'status' }),
  );
}

// ---- overview tiles ------------------------------------------------------------------------

function tile(key: string, label: string, value: string | null, sub?: Child): HTMLElement {
  return h(
    'div',
    { class: 'card tile', 'data-metric': key },
    h('dt', {}, label),
    h('dd', { class: 'value', title: value === null ? 'not measured yet' : '' }, value ?? '—'),
    sub ? h('dd', { class: 'sub' }, sub) : null,
    h('dd', { class: 'age', 'data-of': 'status' }),
  );
}

/**
 * The server shows an availability once its samples cover `minH` of the window, and says how many
 * hours they cover (its rule: server/src/history.js AVAILABILITY_WINDOWS, stated in API.md).
 */
const AVAILABILITY = { '24h': { windowH: 24, minH: 1 }, '7d': { windowH: 168, minH: 24 } } as const;

function availabilityTile(window: keyof typeof AVAILABILITY, label: string, percent?: number | null, coveredH?: number | null) {
  const { windowH, minH } = AVAILABILITY[window];
  let sub: string | null = null;
  // A server from before the covered hours (0.1.0) sends the figure alone.
  if (coveredH != null && percent == null) sub = `shown after ${minH} h of samples (${duration(coveredH * 3600)} so far)`;
  else if (coveredH != null && coveredH < windowH) sub = `over the first ${num(coveredH)} h`;
  return tile(`availability-${window}`, label, pct(percent), sub);
}

/** What a server from before `effective` (0.1.0) leaves unknown. */
const UNKNOWN_EFFECTIVE = { memory_bytes: null, memory_source: 'container', cpu_percent: null, cpu_source: 'container' } as const;

function tiles(doc: StatusDoc): HTMLElement[] {
  const { container: c, process: p, history: hist } = doc;
  const e = doc.effective ?? UNKNOWN_EFFECTIVE;
  const limit = c.memory_limit_bytes == null ? null : `of ${size(c.memory_limit_bytes)} (${pct(c.memory_percent) ?? '—'})`;
  return [
    tile('uptime', 'Uptime', duration(doc.server.uptime_s), h('span', {}, 'since ', h('time', { datetime: doc.server.started_at }, when(doc.server.started_at)))),
    tile('version', 'Version', doc.server.version, `Node v${doc.node.version}`),
    availabilityTile('24h', 'Availability 24 h', hist.availability_24h_percent, hist.availability_24h_covered_hours),
    availabilityTile('7d', 'Availability 7 d', hist.availability_7d_percent, hist.availability_7d_covered_hours),
    tile(
      'memory-growth',
      'Memory trend',
      mibPerHour(hist.memory_growth_mib_per_hour),
      hist.growth_window_hours == null ? null : `over the last ${num(hist.growth_window_hours)} h`,
    ),
    // The figures the integration judges: the server sends the container's where it measures them
    // (as Supervisor shows them), else the process's, and says which.
    e.memory_source === 'process'
      ? tile('memory', 'Memory', size(e.memory_bytes), 'process RSS')
      : tile('memory', 'Memory', size(e.memory_bytes), limit ?? (p.rss_bytes == null ? null : `process RSS ${size(p.rss_bytes)}`)),
    e.cpu_source === 'process'
      ? tile('cpu', 'CPU', pct(e.cpu_percent), 'process')
      : tile('cpu', 'CPU', pct(e.cpu_percent), p.cpu_percent == null ? null : `process ${pct(p.cpu_percent)}`),
    tile('event-loop', 'Event loop p99', ms(p.event_loop_delay_p99_ms)),
  ];
}

// ---- errors --------------------------------------------------------------------------------

/** The server's own errors: its counts, and the last message (a server before 0.2.0 sends none). */
function errorsCard(doc: StatusDoc): HTMLElement[] {
  const e = doc.errors;
  const box = $('errors');
  box.dataset.state = !e ? 'unknown' : e.fatal_24h > 0 ? 'fatal' : e.count_24h > 0 ? 'errors' : 'none';
  const age = h('p', { class: 'age', 'data-of': 'status' });
  if (!e) return [h('p', { class: 'message' }, 'This server version does not count its errors.'), age];
  const count = (key: string, label: string, value: number) =>
    [h('dt', {}, label), h('dd', { 'data-metric': key }, value.toLocaleString('en'))] as const;
  return [
    h(
      'dl',
      { class: 'facts' },
      ...count('errors-24h', 'Errors logged', e.count_24h),
      ...count('fatal-24h', 'of them fatal', e.fatal_24h),
      ...count('http-5xx-24h', 'Requests answered 5xx', e.http_5xx_24h),
    ),
    e.last_message == null
      ? h('p', { class: 'note' }, 'No error logged.')
      : h(
          'div',
          { class: 'last-error' },
          h('p', { class: 'note' }, 'Last error', e.last_at && ' · ', e.last_at && h('time', { datetime: e.last_at }, when(e.last_at))),
          h('pre', { class: 'error-text' }, e.last_message),
        ),
    age,
  ];
}

// ---- status document -----------------------------------------------------------------------

const BANNER_TEXT = { ok: 'All checks pass', degraded: 'Degraded', error: 'Error' };

export function renderStatus(doc: StatusDoc) {
  received.status = Date.now();
  lostAt = null;
  delete $('dashboard').dataset.stale;
  const failing = doc.checks.filter((c) => !c.ok).map((c) => CHECK_LABELS[c.name] ?? c.name);
  renderBanner(doc.status, failing.length ? `${BANNER_TEXT[doc.status]}: ${failing.join(', ')} failing` : BANNER_TEXT[doc.status]);
  $('checks').replaceChildren(...doc.checks.map((c) => checkCard(doc, c)));
  uptimeBase = { uptimeS: doc.server.uptime_s, at: Date.now() };
  $('metrics').replaceChildren(...tiles(doc));
  $('errors').replaceChildren(...errorsCard(doc));
  // The instance id is null while the server's database is unavailable.
  const instance = doc.server.instance_id?.slice(0, 8) ?? 'unknown';
  setText($('footer-text'), `HAsync ${doc.server.version} · instance ${instance} · updated ${new Date().toLocaleTimeString()}`);
}

// ---- history charts ------------------------------------------------------------------------

let lastHistory: HistoryDoc | null = null;

export function renderHistory(hist: HistoryDoc | null = lastHistory) {
  if (!hist) return;
  if (hist !== lastHistory) received.history = Date.now();
  lastHistory = hist;
  const times = hist.points.map((p) => Date.parse(p.ts));
  const to = Math.max(Date.now(), times.at(-1) ?? 0);
  const from = Math.min(to - 24 * 3_600_000, times[0] ?? to);
  const base = { times, from, to, stepMs: hist.step_s * 1000, status: hist.points.map((p) => p.status) };
  const toMib = (v: number | null) => (v === null ? null : v / MIB);
  const memory: ChartSpec = {
    ...base,
    label: 'Memory over the last 24 hours',
    series: [
      { label: 'Container', cls: 's-primary', values: hist.points.map((p) => toMib(p.memory_bytes)) },
      { label: 'Process RSS', cls: 's-accent', values: hist.points.map((p) => toMib(p.rss_bytes)) },
    ].filter((s) => s.values.some((v) => v !== null)),
    minTop: 1,
    format: (v) => `${num(v, 2)} MiB`,
  };
  const cpu: ChartSpec = {
    ...base,
    label: 'CPU over the last 24 hours',
    series: [{ label: 'CPU', cls: 's-primary', values: hist.points.map((p) => p.cpu_percent) }],
    minTop: 1,
    format: (v) => `${num(v, 2)}%`,
  };
  for (const [id, spec] of [['chart-memory', memory], ['chart-cpu', cpu]] as const) {
    const box = $(id).querySelector('.plot') as HTMLElement;
    box.replaceChildren(lineChart(spec, box.clientWidth));
    const legend = spec.series.map((s) => [s.cls, s.label]);
    if (hist.points.some((p) => p.status === 'error')) legend.push(['st-error', 'Error']);
    if (hist.points.some((p) => p.status === 'degraded')) legend.push(['st-degraded', 'Degraded']);
    $(id).querySelector('.legend')!.replaceChildren(
      ...legend.map(([cls, label]) => h('li', {}, h('span', { class: `swatch ${cls}`, 'aria-hidden': 'true' }), label)),
    );
  }
}

// ---- views ---------------------------------------------------------------------------------

export function showLogin(message: string | null) {
  $('dashboard').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message ?? '';
  renderBanner('unknown', 'Sign in to see the status');
  renderLink('signin');
  $<HTMLInputElement>('token-input').focus();
}

export function showDashboard() {
  $('login').hidden = true;
  $('dashboard').hidden = false;
}
