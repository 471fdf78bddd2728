// Figures derived from the stored samples: availability, memory growth, and chart points. Every window
// ends at the clock's now (plus db.js's small tolerance): samples stamped by a clock that was ahead and
// has been set back count in none of them.
import { round } from './metrics.js';

const HOUR_MS = 3600_000;
const MIB = 1024 * 1024;

/** Chart windows and their bucket sizes (the API's `window` values). */
export const HISTORY_WINDOWS = {
  '1h': { spanMs: HOUR_MS, stepMs: 60_000 },
  '24h': { spanMs: 24 * HOUR_MS, stepMs: 300_000 },
  '7d': { spanMs: 7 * 24 * HOUR_MS, stepMs: 1800_000 },
};

/** The history section before any sample (and of a server without a database). */
export const EMPTY_HISTORY = Object.freeze({
  availability_24h_percent: null,
  availability_7d_percent: null,
  memory_growth_mib_per_hour: null,
  growth_window_hours: null,
  samples: 0,
  availability_24h_covered_hours: 0,
  availability_7d_covered_hours: 0,
});

const GROWTH_SPAN_MS = 24 * HOUR_MS;
const GROWTH_MIN_SPAN_MS = 10 * 60_000;
const SEVERITY = ['ok', 'degraded', 'error'];

/**
 * Least-squares slope of memory over time, from the sums db.growthSince() returns.
 * @param {ReturnType<import('./db.js').HasyncDb['growthSince']>} sums
 * @returns {{mibPerHour: number|null, spanHours: number|null}} null when < 2 samples or < 10 min apart
 */
export function growthSlope({ n, t0, t1, sxy, sxx }) {
  if (n < 2 || t1 - t0 < GROWTH_MIN_SPAN_MS) return { mibPerHour: null, spanHours: null };
  return { mibPerHour: round(((sxy / sxx) * HOUR_MS) / MIB, 4), spanHours: round((t1 - t0) / HOUR_MS, 3) };
}

/**
 * The availability windows. A window's figure is shown once the samples cover `minCoveredMs` of it
 * (null before): one minute of samples would read 100 %, or 63 % after a short outage, and look final.
 */
export const AVAILABILITY_WINDOWS = {
  '24h': { spanMs: 24 * HOUR_MS, minCoveredMs: HOUR_MS },
  '7d': { spanMs: 7 * 24 * HOUR_MS, minCoveredMs: 24 * HOUR_MS },
};

/**
 * How much of a window the history covers: from the window start, or the first sample ever if later.
 * @returns {number} ms, 0 without samples
 */
export function coveredMs({ windowStart, firstSampleTs, now }) {
  if (firstSampleTs === null) return 0;
  return Math.max(0, now - Math.max(windowStart, firstSampleTs));
}

/**
 * Share of the expected samples (one per interval since the window start, or since the first sample
 * ever if later) that were stored and not in error. Gaps (server down, writes failing) count as missing.
 * @returns {number|null} percent, capped at 100; null without samples
 */
export function availabilityPercent({ available, rows, windowStart, firstSampleTs, now, intervalMs }) {
  if (!rows || firstSampleTs === null) return null;
  const from = Math.max(windowStart, firstSampleTs);
  const expected = Math.max(1, (now - from) / intervalMs);
  return round(Math.min(100, (available / expected) * 100), 2);
}

/**
 * @param {{db: import('./db.js').HasyncDb, sampleIntervalMs: number, now?: () => number}} options
 */
export function createHistory({ db, sampleIntervalMs, now = Date.now }) {
  let cached = EMPTY_HISTORY;

  /** A window's figure (null until its minimum coverage) and the hours its samples cover. */
  const availability = (t, first, { spanMs, minCoveredMs }) => {
    const windowStart = t - spanMs;
    const covered = coveredMs({ windowStart, firstSampleTs: first, now: t });
    let percent = null;
    if (covered >= minCoveredMs) {
      const { rows, available } = db.availableSince(windowStart, t);
      percent = availabilityPercent({ available, rows, windowStart, firstSampleTs: first, now: t, intervalMs: sampleIntervalMs });
    }
    return { percent, hours: round(covered / HOUR_MS, 3) };
  };

  return {
    /** The status document's `history` section, as of the last refresh(). */
    summary: () => cached,

    /** Recompute the summary; the sampler calls this after each stored sample. */
    refresh() {
      const t = now();
      const first = db.firstSampleTs(t);
      const sums = db.growthSince(t - GROWTH_SPAN_MS, t);
      const growth = growthSlope(sums);
      const day = availability(t, first, AVAILABILITY_WINDOWS['24h']);
      const week = availability(t, first, AVAILABILITY_WINDOWS['7d']);
      cached = {
        availability_24h_percent: day.percent,
        availability_7d_percent: week.percent,
        memory_growth_mib_per_hour: growth.mibPerHour,
        growth_window_hours: growth.spanHours,
        samples: sums.n,
        availability_24h_covered_hours: day.hours,
        availability_7d_covered_hours: week.hours,
      };
      return cached;
    },

    /** @param {keyof typeof HISTORY_WINDOWS} window */
    points(window) {
      const { spanMs, stepMs } = HISTORY_WINDOWS[window];
      const t = now();
      const rows = db.historyPoints(t - spanMs, stepMs, t);
      return {
        window,
        step_s: stepMs / 1000,
        points: rows.map((r) => ({
          ts: new Date(r.bucket).toISOString(),
          memory_bytes: r.memory_bytes,
          rss_bytes: r.rss_bytes,
          cpu_percent: r.cpu_percent === null ? null : round(r.cpu_percent, 2),
          status: SEVERITY[r.severity],
        })),
      };
    },
  };
}
