// Container memory and CPU from the process's own cgroup: v2 (unified) first, v1 as the fallback,
// and all-null when neither is there. Paths are injectable so tests read fixture trees.
import { fs } from './builtins.js';
import os from 'node:os';
import path from 'node:path';

// cgroup v1 reports "no limit" as a page-rounded 2^63-1; anything this large is no limit.
const V1_UNLIMITED = 2 ** 62;

/**
 * @typedef {object} CgroupReading
 * @property {number|null} memoryUsedBytes   usage minus inactive page cache, as Docker reports it
 * @property {number|null} memoryLimitBytes  null when unlimited
 * @property {number|null} cpuUsageUsec      cumulative CPU time of the cgroup
 * @property {number} cpuCapacity            CPUs available: the quota if any, else the CPU count
 */

/**
 * `enabled: false` (HASYNC_CONTAINER_METRICS=off) reports no container figures: outside a container
 * the process's cgroup is a desktop session or a whole machine, not the app.
 * @param {{root?: string, procCgroup?: string, cpuCount?: number, enabled?: boolean}} [options]
 */
export function createCgroupReader({
  root = '/sys/fs/cgroup',
  procCgroup = '/proc/self/cgroup',
  cpuCount = os.availableParallelism(),
  enabled = true,
} = {}) {
  if (!enabled) return noCgroup(cpuCount);
  const paths = parseProcCgroup(readText(procCgroup) ?? '');
  if (fs.existsSync(path.join(root, 'cgroup.controllers'))) return v2Reader(ownDir(root, paths.get('')), cpuCount);
  if (fs.existsSync(path.join(root, 'memory')) || fs.existsSync(path.join(root, 'cpuacct'))) {
    return v1Reader(root, paths, cpuCount);
  }
  return noCgroup(cpuCount);
}

function noCgroup(cpuCount) {
  return {
    version: /** @type {const} */ ('none'),
    /** @returns {CgroupReading} */
    read: () => ({ memoryUsedBytes: null, memoryLimitBytes: null, cpuUsageUsec: null, cpuCapacity: cpuCount }),
  };
}

function v2Reader(dir, cpuCount) {
  return {
    version: /** @type {const} */ ('v2'),
    /** @returns {CgroupReading} */
    read() {
      const current = readNumber(path.join(dir, 'memory.current'));
      const max = readText(path.join(dir, 'memory.max'));
      const inactive = statField(path.join(dir, 'memory.stat'), 'inactive_file');
      const cpuMax = (readText(path.join(dir, 'cpu.max')) ?? '').split(/\s+/);
      const quota = cpuMax[0] && cpuMax[0] !== 'max' ? Number(cpuMax[0]) / Number(cpuMax[1] || 100000) : null;
      return {
        memoryUsedBytes: usedMemory(current, inactive),
        memoryLimitBytes: max === null || max === 'max' ? null : toNumber(max),
        cpuUsageUsec: statField(path.join(dir, 'cpu.stat'), 'usage_usec'),
        cpuCapacity: capacity(quota, cpuCount),
      };
    },
  };
}

function v1Reader(root, paths, cpuCount) {
  const memDir = ownDir(path.join(root, 'memory'), paths.get('memory'));
  const acctDir = ownDir(firstExisting(root, ['cpuacct', 'cpu,cpuacct']), paths.get('cpuacct'));
  const cpuDir = ownDir(firstExisting(root, ['cpu', 'cpu,cpuacct']), paths.get('cpu'));
  return {
    version: /** @type {const} */ ('v1'),
    /** @returns {CgroupReading} */
    read() {
      const usage = readNumber(path.join(memDir, 'memory.usage_in_bytes'));
      const limit = readNumber(path.join(memDir, 'memory.limit_in_bytes'));
      const inactive = statField(path.join(memDir, 'memory.stat'), 'total_inactive_file');
      const cpuNs = readNumber(path.join(acctDir, 'cpuacct.usage'));
      const quotaUs = readNumber(path.join(cpuDir, 'cpu.cfs_quota_us'));
      const periodUs = readNumber(path.join(cpuDir, 'cpu.cfs_period_us'));
      return {
        memoryUsedBytes: usedMemory(usage, inactive),
        memoryLimitBytes: limit === null || limit >= V1_UNLIMITED ? null : limit,
        cpuUsageUsec: cpuNs === null ? null : cpuNs / 1000,
        cpuCapacity: capacity(quotaUs !== null && quotaUs > 0 && periodUs ? quotaUs / periodUs : null, cpuCount),
      };
    },
  };
}

/**
 * /proc/self/cgroup lines are `id:controllers:path`; v2 has one line with empty controllers.
 * @returns {Map<string, string>} controller name ('' for v2) to cgroup path
 */
export function parseProcCgroup(text) {
  const map = new Map();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const controllers = m[1] === '' ? [''] : m[1].split(',');
    for (const c of controllers) map.set(c, m[2]);
  }
  return map;
}

// With a cgroup namespace (the Docker default) the mount already is our cgroup and the listed path
// ("/" or a host path) does not exist below it; without one, the path is relative to the mount.
function ownDir(mount, cgPath) {
  if (cgPath && cgPath !== '/') {
    const candidate = path.join(mount, cgPath);
    if (candidate.startsWith(mount) && fs.existsSync(candidate)) return candidate;
  }
  return mount;
}

function firstExisting(root, names) {
  for (const n of names) if (fs.existsSync(path.join(root, n))) return path.join(root, n);
  return path.join(root, names[0]);
}

function usedMemory(usage, inactive) {
  if (usage === null) return null;
  return Math.max(0, usage - (inactive ?? 0));
}

function capacity(quota, cpuCount) {
  return quota !== null && Number.isFinite(quota) && quota > 0 ? Math.min(quota, cpuCount) : cpuCount;
}

function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

function toNumber(text) {
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

function readNumber(file) {
  const text = readText(file);
  return text === null || text === '' ? null : toNumber(text);
}

/** A `key value` line from memory.stat or cpu.stat. */
function statField(file, key) {
  const text = readText(file);
  if (text === null) return null;
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}
