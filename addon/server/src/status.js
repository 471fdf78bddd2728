// The status document (schema_version 1), assembled from the cached check results and live metrics.
import { round } from './metrics.js';

const STATUS_SCHEMA_VERSION = 1;

const EMPTY_HISTORY = Object.freeze({
  availability_24h_percent: null,
  availability_7d_percent: null,
  memory_growth_mib_per_hour: null,
  growth_window_hours: null,
  samples: 0,
});

/**
 * @param {object} deps
 * @param {string} deps.version
 * @param {string|null} deps.instanceId
 * @param {Date} deps.startedAt
 * @param {ReturnType<typeof import('./checks.js').createChecks>} deps.checks
 * @param {ReturnType<typeof import('./metrics.js').createMetrics>} deps.metrics
 * @param {ReturnType<typeof import('./history.js').createHistory>|null} deps.history
 * @returns {() => object}
 */
export function statusDocumentBuilder({ version, instanceId, startedAt, checks, metrics, history }) {
  const startedIso = startedAt.toISOString();
  // Uptime from the monotonic clock: a wall-clock jump must not make it negative or leap.
  const startedMono = performance.now();
  return () => {
    const { process, container } = metrics.snapshot();
    return {
      schema_version: STATUS_SCHEMA_VERSION,
      server: {
        version,
        instance_id: instanceId,
        started_at: startedIso,
        uptime_s: round((performance.now() - startedMono) / 1000, 1),
      },
      status: checks.status(),
      checks: checks.checks(),
      node: checks.node(),
      native_modules: checks.nativeModules(),
      process,
      container,
      database: checks.database(),
      frontend: checks.frontend(),
      history: history ? history.summary() : EMPTY_HISTORY,
    };
  };
}

/**
 * The status route serves a serialization at most maxAgeMs old, rebuilt at once after invalidate()
 * (a check changed). Building the document reads /proc and cgroup files: too costly per request
 * under load, and a monitoring client gains nothing from sub-second freshness.
 * @param {() => object} build
 */
export function cachedJson(build, maxAgeMs = 1000) {
  let cached = null;
  return {
    body() {
      const now = performance.now();
      if (!cached || now - cached.at >= maxAgeMs) cached = { at: now, body: Buffer.from(JSON.stringify(build())) };
      return cached.body;
    },
    invalidate() {
      cached = null;
    },
  };
}
