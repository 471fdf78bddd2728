// Every 10 s: close the metrics window and store one sample (memory, CPU, status). Every 10 min:
// downsample and apply the retention. A failed write marks the database check failed; it never throws.
import { errorText } from './logger.js';

export const DEFAULT_SAMPLER_INTERVALS = { sampleMs: 10_000, maintenanceMs: 600_000 };

/**
 * @param {object} deps
 * @param {import('./db.js').HasyncDb|null} deps.db
 * @param {ReturnType<typeof import('./metrics.js').createMetrics>} deps.metrics
 * @param {ReturnType<typeof import('./checks.js').createChecks>} deps.checks
 * @param {ReturnType<typeof import('./history.js').createHistory>|null} deps.history
 * @param {import('./logger.js').Logger} deps.logger
 * @param {number} deps.retentionDays
 * @param {Partial<typeof DEFAULT_SAMPLER_INTERVALS>} [deps.intervals]
 * @param {() => number} [deps.now]
 */
export function createSampler({ db, metrics, checks, history, logger, retentionDays, intervals = {}, now = Date.now }) {
  const every = { ...DEFAULT_SAMPLER_INTERVALS, ...intervals };
  const timers = [];

  let clockBehind = false;

  function sample() {
    let w;
    try {
      w = metrics.closeWindow();
    } catch (err) {
      logger.warning(`sample: ${errorText(err)}`);
      return;
    }
    if (!db) return;
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
      checks.reportWrite(null);
    } catch (err) {
      checks.reportWrite(err);
    }
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
    }
  }

  return {
    sample,
    maintain,
    start() {
      maintain();
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
