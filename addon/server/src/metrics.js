// Process and container measurements. CPU percentages are deltas over a window (the sampler's
// 10 s), as a share of the CPU capacity available to the container, capped at 100.
import { monitorEventLoopDelay } from 'node:perf_hooks';

const ELD_RESOLUTION_MS = 10;
// Reading cgroup files costs a few syscalls; the status route may be hit thousands of times a second.
const CONTAINER_CACHE_MS = 1000;

/**
 * @param {{cgroup: ReturnType<typeof import('./cgroup.js').createCgroupReader>, now?: () => number,
 *          resources?: ReturnType<typeof import('./resources.js').createResourceMonitor>}} options
 */
export function createMetrics({ cgroup, now = () => performance.now(), resources }) {
  const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  eld.enable();

  // Node reads the RSS from /proc: without a free descriptor it throws EMFILE. The last reading
  // stands in until descriptors are back.
  let lastMemory = process.memoryUsage();
  const memoryUsage = () => {
    try {
      lastMemory = process.memoryUsage();
    } catch (err) {
      if (!resources?.outOfFiles(err, 'reading the process memory')) throw err;
    }
    return lastMemory;
  };

  const mark = () => ({ t: now(), cpu: process.cpuUsage(), cg: cgroup.read() });
  let start = mark();
  /** @type {{process_cpu_percent: number|null, container_cpu_percent: number|null, eld_p99_ms: number|null} | null} */
  let last = null;

  const over = (from, to) => {
    const wallUs = (to.t - from.t) * 1000;
    if (wallUs < 100_000) return { process_cpu_percent: null, container_cpu_percent: null };
    const cap = to.cg.cpuCapacity;
    const procUs = to.cpu.user - from.cpu.user + (to.cpu.system - from.cpu.system);
    const cgUs =
      to.cg.cpuUsageUsec !== null && from.cg.cpuUsageUsec !== null ? to.cg.cpuUsageUsec - from.cg.cpuUsageUsec : null;
    return {
      process_cpu_percent: percent(procUs, wallUs * cap),
      container_cpu_percent: cgUs === null ? null : percent(cgUs, wallUs * cap),
    };
  };

  // Container reading and partial-window CPU, refreshed at most once a second.
  let cache = { at: -Infinity, cg: /** @type {import('./cgroup.js').CgroupReading|null} */ (null), partial: over(start, start) };
  const fresh = () => {
    const t = now();
    if (t - cache.at >= CONTAINER_CACHE_MS) {
      const m = { t, cpu: process.cpuUsage(), cg: cgroup.read() };
      cache = { at: t, cg: m.cg, partial: over(start, m) };
    }
    return cache;
  };

  // The histogram counts the timer's own resolution; report only the delay beyond it.
  const eldP99 = () => (eld.count > 0 ? round(Math.max(0, eld.percentile(99) / 1e6 - ELD_RESOLUTION_MS), 2) : null);

  return {
    /** Close the current window (called by the sampler) and return its figures. */
    closeWindow() {
      const end = mark();
      last = { ...over(start, end), eld_p99_ms: eldP99() };
      eld.reset();
      start = end;
      return { ...last, memory_bytes: end.cg.memoryUsedBytes, rss_bytes: memoryUsage().rss };
    },

    /** The status document's `process` and `container` sections. */
    snapshot() {
      const mem = memoryUsage();
      const { cg, partial } = fresh();
      // Before the first window closes, measure over the partial one.
      const cpu = last ?? partial;
      return {
        process: {
          rss_bytes: mem.rss,
          heap_used_bytes: mem.heapUsed,
          heap_total_bytes: mem.heapTotal,
          cpu_percent: cpu.process_cpu_percent,
          event_loop_delay_p99_ms: last ? last.eld_p99_ms : eldP99(),
        },
        container: {
          cgroup: cgroup.version,
          memory_used_bytes: cg.memoryUsedBytes,
          memory_limit_bytes: cg.memoryLimitBytes,
          memory_percent:
            cg.memoryUsedBytes !== null && cg.memoryLimitBytes ? round((cg.memoryUsedBytes / cg.memoryLimitBytes) * 100, 2) : null,
          cpu_percent: cpu.container_cpu_percent,
        },
      };
    },

    stop() {
      eld.disable();
    },
  };
}

function percent(part, whole) {
  return round(Math.min(100, Math.max(0, (part / whole) * 100)), 2);
}

export function round(x, digits) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
