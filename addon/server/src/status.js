// The status document (schema_version 1), assembled from the cached check results and live metrics.
import { EMPTY_HISTORY } from './history.js';
import { round } from './metrics.js';

const STATUS_SCHEMA_VERSION = 1;

/** The members of an object's JSON without its braces, to splice into a larger object. */
const members = (obj) => JSON.stringify(obj).slice(1, -1);

/**
 * Returns the document's JSON text. Only the uptime and the process and container figures are
 * measured per call; the check and history sections are serialized again only after checks.revision()
 * or the history summary changed, so a poll when nothing changed does not rebuild them.
 * @param {object} deps
 * @param {string} deps.version
 * @param {string|null} deps.instanceId
 * @param {Date} deps.startedAt
 * @param {ReturnType<typeof import('./checks.js').createChecks>} deps.checks
 * @param {ReturnType<typeof import('./metrics.js').createMetrics>} deps.metrics
 * @param {ReturnType<typeof import('./history.js').createHistory>|null} deps.history
 * @param {ReturnType<typeof import('./errors.js').createErrorCounter>} deps.errors
 * @returns {() => string}
 */
export function statusDocumentBuilder({ version, instanceId, startedAt, checks, metrics, history, errors }) {
  const serverHead = members({ version, instance_id: instanceId, started_at: startedAt.toISOString() });
  // Uptime from the monotonic clock: a wall-clock jump must not make it negative or leap.
  const startedMono = performance.now();
  /** @type {{revision: number, history: object, checks: string, rest: string}|null} */
  let sections = null;
  /** @type {{summary: object, json: string}|null} the errors section, serialized again when it changes */
  let errorSection = null;
  const errorsJson = () => {
    const summary = errors.summary();
    if (errorSection?.summary !== summary) errorSection = { summary, json: JSON.stringify(summary) };
    return errorSection.json;
  };
  const stableSections = () => {
    const revision = checks.revision();
    const summary = history ? history.summary() : EMPTY_HISTORY;
    if (sections?.revision !== revision || sections.history !== summary) {
      sections = {
        revision,
        history: summary,
        checks: members({
          status: checks.status(),
          checks: checks.checks(),
          node: checks.node(),
          native_modules: checks.nativeModules(),
        }),
        rest: members({ database: checks.database(), frontend: checks.frontend(), history: summary }),
      };
    }
    return sections;
  };
  return () => {
    const { process, container } = metrics.snapshot();
    const uptime = round((performance.now() - startedMono) / 1000, 1);
    const stable = stableSections();
    // The member order of the schema: schema_version, server, status … effective, database … history, errors.
    return (
      `{"schema_version":${STATUS_SCHEMA_VERSION},"server":{${serverHead},"uptime_s":${uptime}},${stable.checks},` +
      `"process":${JSON.stringify(process)},"container":${JSON.stringify(container)},` +
      `"effective":${JSON.stringify(effectiveFigures(process, container))},${stable.rest},"errors":${errorsJson()}}`
    );
  };
}

/**
 * The figures a client judges memory and CPU by: the container's where they are measured, else the
 * process's, with the source named (clients take them as they are instead of choosing again).
 * @param {{rss_bytes: number|null, cpu_percent: number|null}} process
 * @param {{memory_used_bytes: number|null, cpu_percent: number|null}} container
 */
export function effectiveFigures(process, container) {
  const memory = container.memory_used_bytes !== null;
  const cpu = container.cpu_percent !== null;
  return {
    memory_bytes: memory ? container.memory_used_bytes : process.rss_bytes,
    memory_source: memory ? 'container' : 'process',
    cpu_percent: cpu ? container.cpu_percent : process.cpu_percent,
    cpu_source: cpu ? 'container' : 'process',
  };
}

/**
 * The status route serves a serialization at most maxAgeMs old, rebuilt at once after invalidate()
 * (a check changed). Measuring the live figures reads /proc and cgroup files: too costly per request
 * under load, and a monitoring client gains nothing from sub-second freshness.
 *
 * The serialization stays a string, never a Buffer: a Buffer this small is cut from Node's shared
 * 8 KiB pool, and a pool slab that outlives two scavenges lands in V8's old space as garbage whose
 * 8 KiB of malloc'd memory only a full GC frees. V8 starts one for external memory only after
 * 64 MiB of it, so one rebuild a second grew the process by about 6 MiB/h (issue 19). A string is
 * on the V8 heap, where its garbage counts towards V8's own collection limits.
 * @param {() => string} build  the document's JSON text
 * @returns {{body(): string, invalidate(): void}}
 */
export function cachedJson(build, maxAgeMs = 1000) {
  let cached = null;
  return {
    body() {
      const now = performance.now();
      if (!cached || now - cached.at >= maxAgeMs) cached = { at: now, body: build() };
      return cached.body;
    },
    invalidate() {
      cached = null;
    },
  };
}
