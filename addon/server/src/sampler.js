// Every 10 s: close the metrics and error windows and store one sample (memory, CPU, status) and the
// error window, if it saw any. Every 10 min: downsample and apply the retention. A failed write marks
// the database check failed and is logged as an error (a lost sample); it never throws.
import { errorText } from './logger.js';

const DAY_MS = 24 * 3600_000;

export const DEFAULT_SAMPLER_INTERVALS = { sampleMs: 10_000, maintenanceMs: 600_000 };

/**
 * @param {object} deps
 * @param {import('./db.js').HasyncDb|null} deps.db
 * @param {ReturnType<typeof import('./metrics.js').createMetrics>} deps.metrics
 * @param {ReturnType<typeof import('./checks.js').createChecks>} deps.checks
 * @param {ReturnType<typeof import('./history.js').createHistory>|null} deps.history
 * @param {ReturnType<typeof import('./errors.js').createErrorCounter>} deps.errors
 * @param {import('./logger.js').Logger} deps.logger
 * @param {number} deps.retentionDays
 * @param {Partial<typeof DEFAULT_SAMPLER_INTERVALS>} [deps.intervals]
 * @param {() => number} [deps.now]
 */
export function createSampler({ db, metrics, checks, history, errors, logger, retentionDays, intervals = {}, now = Date.now }) {
  const every = { ...DEFAULT_SAMPLER_INTERVALS, ...intervals };
  const timers = [];

  let clockBehind = false;

  /** Read the stored error counts of the last 24 h back into the counter. */
  function loadErrors() {
    try {
      errors.load(db.errorTotalsSince(now() - DAY_MS), db.lastError());
    } catch (err) {
      logger.warning(`error counts: ${errorText(err)}`);
    }
  }

  /** Store the closed error windows that saw anything; unstored ones stay counted until the next try. */
  function storeErrors(windows) {
    if (!windows.length) return;
    db.insertErrorWindows(windows);
    errors.stored(windows);
  }

  function sample() {
    let w;
    try {
      w = metrics.closeWindow();
    } catch (err) {
      logger.warning(`sample: ${errorText(err)}`);
      return;
    }
    const windows = errors.closeWindow();
    if (!db) return;
    let failure = null;
    try {
      db.insertSample(
        {
          ts: now(),
          rss_bytes: w.rss_bytes,
          memory_bytes: w.memory_bytes,
          process_cpu_percent: w.process_cpu_percent,
          container_cpu_percent: w.container_cpu_percent,
          status: checks.status(),
        },
        every.sampleMs,
      );
    } catch (err) {
      failure = err;
      logger.error(`sample not stored: ${errorText(err)}`);
    }
    try {
      storeErrors(windows);
    } catch (err) {
      // The same cause as a lost sample (a read-only or full database) is logged once.
      if (!failure) logger.error(`error counts not stored: ${errorText(err)}`);
      failure ??= err;
    }
    checks.reportWrite(failure);
    loadErrors();
    try {
      history?.refresh();
    } catch (err) {
      logger.warning(`history summary: ${errorText(err)}`);
    }
  }

  function maintain() {
    if (!db) return;
    try {
      const { folded, deleted, future, ahead } = db.maintain(now(), retentionDays);
      if (folded || deleted) logger.debug(`maintenance: downsampled ${folded} samples, deleted ${deleted} old rows`);
      if (future) logger.info(`maintenance: deleted ${future} samples dated after now (the clock was ahead and has been set back)`);
      if (ahead && !clockBehind) {
        logger.warning(`${ahead} samples are dated after now and outnumber the others: the clock seems to be behind; they are kept, and left out of the figures, until it is right`);
      }
      clockBehind = ahead > 0;
    } catch (err) {
      checks.reportWrite(err);
      logger.error(`maintenance failed: ${errorText(err)}`);
    }
  }

  return {
    sample,
    maintain,
    /** Store the error counts since the last sample (at shutdown, before the database closes). */
    flushErrors() {
      const windows = errors.closeWindow();
      if (!db) return;
      try {
        storeErrors(windows);
      } catch {
        // Stopping: the records are in the log; the counts of this run are lost with the process.
      }
    },
    start() {
      maintain();
      if (db) loadErrors();
      try {
        history?.refresh();
      } catch (err) {
        logger.warning(`history summary: ${errorText(err)}`);
      }
      for (const [fn, ms] of [[sample, every.sampleMs], [maintain, every.maintenanceMs]]) {
        const t = setInterval(fn, ms);
        t.unref();
        timers.push(t);
      }
    },
    stop() {
      for (const t of timers) clearInterval(t);
      timers.length = 0;
    },
  };
}
