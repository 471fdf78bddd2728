// Typed access to the server's API (addon/server/API.md). Every URL is relative so the page works
// under HA's ingress prefix; the token, when one is needed, travels only in the Authorization header.
import type { components } from './openapi';

// The types come from the server's OpenAPI document (src/openapi.d.ts, written by `npm run types`).
type Schemas = components['schemas'];
export type StatusDoc = Schemas['StatusDocument'];
export type Status = StatusDoc['status'];
export type Check = Schemas['Check'];
export type NativeModule = Schemas['NativeModule'];
export type HistoryDoc = Schemas['History'];
export type HistoryPoint = Schemas['HistoryPoint'];

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
