// The server's own errors: log records at error and fatal level (the logger's observer) and 5xx
// answers (the router), counted in memory per sample window. The sampler closes a window with every
// sample and stores the windows that saw anything in SQLite, so counting adds no write per request
// and the counts survive a restart. Windows that cannot be stored yet (the database is read-only or
// full) stay in memory and still count; they are lost if the server stops before they are stored.

const DAY_MS = 24 * 3600_000;
export const MAX_MESSAGE_CHARS = 200;
/** Unstored windows kept at most: a day of 10 s windows. */
const MAX_PENDING = 8640;

/**
 * @typedef {{errors: number, fatal: number, http_5xx: number}} Counts
 * @typedef {Counts & {ts: number, last_at: number|null, last_message: string|null}} ErrorWindow
 * @typedef {{count_24h: number, fatal_24h: number, http_5xx_24h: number, last_at: string|null,
 *            last_message: string|null}} ErrorSummary  the status document's `errors` section
 */

/**
 * A log message as the status document may show it: credentials masked, control characters replaced
 * by spaces, valid Unicode, at most MAX_MESSAGE_CHARS characters (code points, as JSON Schema counts).
 * @param {string} message  already redacted by the logger (registered secrets)
 */
export function publicMessage(message) {
  const cleaned = String(message)
    .replace(/\b(Bearer)\s+\S+/gi, '$1 [redacted]')
    .replace(/\b([A-Z][A-Z0-9_]*TOKEN)=\S+/g, '$1=[redacted]')
    .replace(/\p{Cc}+/gu, ' ')
    .trim()
    .toWellFormed();
  const chars = Array.from(cleaned);
  return chars.length <= MAX_MESSAGE_CHARS ? cleaned : `${chars.slice(0, MAX_MESSAGE_CHARS - 1).join('')}…`;
}

/**
 * @param {{now?: () => number}} [options]
 */
export function createErrorCounter({ now = Date.now } = {}) {
  /** @type {Counts} */
  let current = { errors: 0, fatal: 0, http_5xx: 0 };
  /** @type {{at: number, message: string}|null} the last record of the open window */
  let currentLast = null;
  /** @type {ErrorWindow[]} closed windows not stored yet */
  let pending = [];
  /** What the database holds for the last 24 h, as of the last load(). */
  let stored = { errors: 0, fatal: 0, http_5xx: 0, last_at: /** @type {number|null} */ (null), last_message: /** @type {string|null} */ (null) };
  /** @type {ErrorSummary|null} */
  let summary = null;

  const isEmpty = (c) => c.errors === 0 && c.http_5xx === 0;

  return {
    /** The logger's observer: one error or fatal record. */
    record(level, message) {
      current.errors++;
      if (level === 'fatal') current.fatal++;
      currentLast = { at: now(), message: publicMessage(message) };
      summary = null;
    },

    /** The router answered 5xx. */
    http5xx() {
      current.http_5xx++;
      summary = null;
    },

    /** Close the open window (the sampler, once per sample); returns the closed windows to store. */
    closeWindow() {
      const t = now();
      if (!isEmpty(current)) {
        pending.push({ ts: t, ...current, last_at: currentLast?.at ?? null, last_message: currentLast?.message ?? null });
        current = { errors: 0, fatal: 0, http_5xx: 0 };
        currentLast = null;
      }
      pending = pending.filter((w) => w.ts > t - DAY_MS).slice(-MAX_PENDING);
      summary = null; // windows may have left the 24 h
      return pending;
    },

    /** The windows returned by closeWindow() are in the database now. */
    stored(windows) {
      pending = pending.filter((w) => !windows.includes(w));
      summary = null;
    },

    /**
     * What the database holds for the last 24 h (db.errorTotalsSince) and its last message.
     * @param {Counts} totals @param {{last_at: number, last_message: string}|undefined} last
     */
    load(totals, last) {
      stored = { ...totals, last_at: last?.last_at ?? null, last_message: last?.last_message ?? null };
      summary = null;
    },

    /** @returns {ErrorSummary} the same object until something changes */
    summary() {
      if (summary) return summary;
      const since = now() - DAY_MS;
      const windows = pending.filter((w) => w.ts > since);
      const sum = (key) => stored[key] + current[key] + windows.reduce((n, w) => n + w[key], 0);
      // The newest record: the open window's, else the newest unstored window's, else the database's.
      const lastWindow = windows.findLast((w) => w.last_at !== null);
      const last = currentLast ?? (lastWindow ? { at: lastWindow.last_at, message: lastWindow.last_message } : null);
      const lastAt = last?.at ?? stored.last_at;
      summary = {
        count_24h: sum('errors'),
        fatal_24h: sum('fatal'),
        http_5xx_24h: sum('http_5xx'),
        last_at: lastAt === null ? null : new Date(lastAt).toISOString(),
        last_message: last ? last.message : stored.last_message,
      };
      return summary;
    },
  };
}
