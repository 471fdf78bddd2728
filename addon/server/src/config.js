// Configuration from environment variables. Parsing is pure (env in, config out) so tests can build a
// config without touching process.env; the CLI turns a ConfigError into exit code 2.
import { randomBytes } from 'node:crypto';
import { fs, net } from './builtins.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The addon/server directory (this file lives in addon/server/src). */
export const SERVER_DIR = fileURLToPath(new URL('..', import.meta.url));

const DB_FILE_NAME = 'hasync.db';

// bashio log levels include trace, notice and fatal; map them onto the four levels the logger writes.
const LOG_LEVEL_ALIASES = {
  trace: 'debug',
  debug: 'debug',
  info: 'info',
  notice: 'info',
  warning: 'warning',
  warn: 'warning',
  error: 'error',
  fatal: 'error',
};

export class ConfigError extends Error {
  /** @param {string} variable @param {string} message */
  constructor(variable, message) {
    super(`${variable} ${message}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/**
 * @typedef {object} SupervisorConfig
 * @property {string} token         SUPERVISOR_TOKEN, used only for the discovery POST
 * @property {string} url           base URL of the Supervisor API
 * @property {string|null} advertiseHost  host announced through discovery (null: os.hostname())
 * @property {string} ingressProxy  address whose GET requests are trusted without a token
 *
 * @typedef {object} Config
 * @property {string} host
 * @property {number} port          0 picks a free port (tests)
 * @property {string} dataDir
 * @property {string} dbPath
 * @property {'debug'|'info'|'warning'|'error'} logLevel
 * @property {number} retentionDays
 * @property {number} sampleIntervalS  seconds between two stored samples (HASYNC_SAMPLE_INTERVAL_S)
 * @property {boolean} containerMetrics  HASYNC_CONTAINER_METRICS: report cgroup figures (off outside a container)
 * @property {string|null} token    HASYNC_TOKEN: when set, the only accepted token
 * @property {string} frontendDir
 * @property {SupervisorConfig|null} supervisor  null when running standalone
 */

/**
 * @param {Record<string, string|undefined>} env
 * @returns {Config}
 */
export function loadConfig(env = process.env) {
  const get = (name) => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };

  const dataDir = path.resolve(get('HASYNC_DATA_DIR') ?? '/data');
  const supervisorToken = get('SUPERVISOR_TOKEN');
  return {
    host: parseHost(get('HASYNC_HOST') ?? '0.0.0.0'),
    port: parseInteger('HASYNC_PORT', get('HASYNC_PORT'), 8099, 0, 65535),
    dataDir,
    dbPath: path.join(dataDir, DB_FILE_NAME),
    logLevel: parseLogLevel(get('HASYNC_LOG_LEVEL') ?? 'info'),
    retentionDays: parseInteger('HASYNC_RETENTION_DAYS', get('HASYNC_RETENTION_DAYS'), 7, 1, 365),
    sampleIntervalS: parseInteger('HASYNC_SAMPLE_INTERVAL_S', get('HASYNC_SAMPLE_INTERVAL_S'), 10, 1, 3600),
    containerMetrics: parseSwitch('HASYNC_CONTAINER_METRICS', get('HASYNC_CONTAINER_METRICS') ?? 'on'),
    token: parseToken(get('HASYNC_TOKEN')),
    frontendDir: path.resolve(get('HASYNC_FRONTEND_DIR') ?? path.resolve(SERVER_DIR, '../frontend/dist')),
    supervisor: supervisorToken
      ? {
          token: supervisorToken,
          url: parseUrl('HASYNC_SUPERVISOR_URL', get('HASYNC_SUPERVISOR_URL') ?? 'http://supervisor'),
          advertiseHost: get('HASYNC_ADVERTISE_HOST') ?? null,
          ingressProxy: parseAddress('HASYNC_INGRESS_PROXY', get('HASYNC_INGRESS_PROXY') ?? '172.30.32.2'),
        }
      : null,
  };
}

/**
 * Create the data directory if needed and prove it is writable by writing a file: access(W_OK) says
 * yes to root even on read-only mounts. A full disk (ENOSPC, EDQUOT) is not a configuration error:
 * the server starts anyway, serves /health and reports the database problem, and recovers by itself
 * once space is freed; the returned warning says so.
 * @param {string} dir
 * @returns {string|null} a warning to log, or null
 */
export function ensureDataDir(dir) {
  // Random, not the pid: two containers on one volume can have equal pids.
  const probe = path.join(dir, `.hasync-write-test-${randomBytes(6).toString('hex')}`);
  try {
    makeDir(dir);
    fs.writeFileSync(probe, 'ok');
    fs.unlinkSync(probe);
    return null;
  } catch (err) {
    if (err.code === 'ENOSPC' || err.code === 'EDQUOT') {
      fs.rmSync(probe, { force: true });
      return `HASYNC_DATA_DIR (${dir}) has no space left (${err.code}); starting anyway, the database check reports it`;
    }
    throw new ConfigError('HASYNC_DATA_DIR', `(${dir}) is not a writable directory: ${err.message}`);
  }
}

// mkdirSync({recursive: true}) never returns for a path below /proc (Node retries ENOENT forever).
function makeDir(dir) {
  try {
    fs.mkdirSync(dir);
  } catch (err) {
    if (err.code === 'EEXIST') return;
    const parent = path.dirname(dir);
    if (err.code !== 'ENOENT' || parent === dir) throw err;
    makeDir(parent);
    fs.mkdirSync(dir);
  }
}

/** @param {string} value */
function parseLogLevel(value) {
  const level = LOG_LEVEL_ALIASES[value.toLowerCase()];
  if (!level) {
    throw new ConfigError(
      'HASYNC_LOG_LEVEL',
      `must be one of ${Object.keys(LOG_LEVEL_ALIASES).join(', ')} (got ${JSON.stringify(value)})`,
    );
  }
  return /** @type {'debug'|'info'|'warning'|'error'} */ (level);
}

function parseInteger(name, raw, fallback, min, max) {
  if (raw === undefined) return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  }
  return value;
}

function parseSwitch(name, raw) {
  const value = { on: true, true: true, 1: true, off: false, false: false, 0: false }[raw.toLowerCase()];
  if (value === undefined) throw new ConfigError(name, `must be on or off (got ${JSON.stringify(raw)})`);
  return value;
}

function parseHost(raw) {
  if (!/^[A-Za-z0-9.:_-]+$/.test(raw)) {
    throw new ConfigError('HASYNC_HOST', `must be an IP address or host name (got ${JSON.stringify(raw)})`);
  }
  return raw;
}

function parseAddress(name, raw) {
  if (!net.isIP(raw)) throw new ConfigError(name, `must be an IP address (got ${JSON.stringify(raw)})`);
  return raw;
}

function parseUrl(name, raw) {
  let url;
  try {
    url = new URL(raw);
  } catch {
    url = null;
  }
  if (!url || url.protocol !== 'http:') {
    throw new ConfigError(name, `must be an http:// URL (got ${JSON.stringify(raw)})`);
  }
  return raw.replace(/\/+$/, '');
}

// The value is never echoed: it is a secret.
function parseToken(raw) {
  if (raw === undefined) return null;
  if (!/^[\x21-\x7e]+$/.test(raw)) {
    throw new ConfigError('HASYNC_TOKEN', 'must be printable ASCII without spaces (it is sent as a Bearer token)');
  }
  return raw;
}
