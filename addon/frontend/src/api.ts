// Typed access to the server's API (addon/server/API.md). Every URL is relative so the page works
// under HA's ingress prefix; the token, when one is needed, travels only in the Authorization header.

export type Status = 'ok' | 'degraded' | 'error';

export interface Check {
  name: string;
  ok: boolean;
  critical: boolean;
  message: string;
}

export interface NativeModule {
  loaded: boolean;
  version: string | null;
  self_test_ok: boolean;
  error: string | null;
  checked_at: string | null;
}

export interface StatusDoc {
  schema_version: number;
  server: { version: string; instance_id: string; started_at: string; uptime_s: number };
  status: Status;
  checks: Check[];
  node: { version: string; major: number; min_major: number; supported: boolean };
  native_modules: Record<string, NativeModule>;
  process: {
    rss_bytes: number | null;
    heap_used_bytes: number | null;
    heap_total_bytes: number | null;
    cpu_percent: number | null;
    event_loop_delay_p99_ms: number | null;
  };
  container: {
    cgroup: string | null;
    memory_used_bytes: number | null;
    memory_limit_bytes: number | null;
    memory_percent: number | null;
    cpu_percent: number | null;
  };
  database: {
    ok: boolean;
    path: string | null;
    size_bytes: number | null;
    journal_mode: string | null;
    integrity: string | null;
    integrity_checked_at: string | null;
    error: string | null;
  };
  frontend: { present: boolean; build_id: string | null; built_at: string | null };
  history: {
    availability_24h_percent: number | null;
    availability_7d_percent: number | null;
    memory_growth_mib_per_hour: number | null;
    growth_window_hours: number | null;
    samples: number | null;
  };
}

export interface HistoryPoint {
  ts: string;
  memory_bytes: number | null;
  rss_bytes: number | null;
  cpu_percent: number | null;
  status: Status | null;
}

export interface HistoryDoc {
  window: string;
  step_s: number;
  points: HistoryPoint[];
}

/** The server rejected our credentials (or wants some): the page must ask for a token. */
export class AuthError extends Error {}

/** Too many failed attempts from this address; wait `retryAfterS` seconds. */
export class RateLimitError extends Error {
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message);
  }
}

const TOKEN_KEY = 'hasync.token';

export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export function authHeaders(): Record<string, string> {
  const t = token.get();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

/** Throws AuthError / RateLimitError / Error for any non-2xx answer. */
export async function checkResponse(res: Response): Promise<Response> {
  if (res.ok) return res;
  const body = (await res.json().catch(() => ({}))) as { reason?: string; retry_after_s?: number };
  const reason = body.reason ?? res.statusText;
  if (res.status === 401) throw new AuthError(reason);
  if (res.status === 429) {
    const after = body.retry_after_s ?? Number(res.headers.get('Retry-After') ?? 30);
    throw new RateLimitError(reason, Number.isFinite(after) ? after : 30);
  }
  throw new Error(`HTTP ${res.status}: ${reason}`);
}

async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(url, { headers: { Accept: 'application/json', ...authHeaders() }, cache: 'no-store', signal });
  return (await checkResponse(res)).json() as Promise<T>;
}

export const fetchStatus = (signal?: AbortSignal) => getJson<StatusDoc>('./api/v1/status', signal);

export const fetchHistory = (window: '1h' | '24h' | '7d', signal?: AbortSignal) =>
  getJson<HistoryDoc>(`./api/v1/history?window=${window}`, signal);
