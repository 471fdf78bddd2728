// Plain log lines for humans reading the add-on log: `YYYY-MM-DD HH:MM:SS LEVEL message`.
// Secrets registered with redact() are replaced in every line as a last line of defence; the code
// never passes tokens to the logger in the first place.

const RANK = { debug: 10, info: 20, warning: 30, error: 40 };

/**
 * @typedef {object} Logger
 * @property {(msg: string) => void} debug
 * @property {(msg: string) => void} info
 * @property {(msg: string) => void} warning
 * @property {(msg: string) => void} error
 * @property {(level: keyof RANK) => boolean} enabled
 * @property {(secret: string) => void} redact
 */

/**
 * @param {{level?: 'debug'|'info'|'warning'|'error', stream?: {write(s: string): unknown}, clock?: () => Date}} [options]
 * @returns {Logger}
 */
export function createLogger({ level = 'info', stream = process.stdout, clock = () => new Date() } = {}) {
  const min = RANK[level];
  /** @type {Set<string>} */
  const secrets = new Set();

  const write = (lvl, msg) => {
    if (RANK[lvl] < min) return;
    let line = `${timestamp(clock())} ${lvl.toUpperCase()} ${String(msg).replace(/\r?\n/g, ' | ')}`;
    for (const secret of secrets) line = line.split(secret).join('[redacted]');
    stream.write(`${line}\n`);
  };

  return {
    debug: (msg) => write('debug', msg),
    info: (msg) => write('info', msg),
    warning: (msg) => write('warning', msg),
    error: (msg) => write('error', msg),
    enabled: (lvl) => RANK[lvl] >= min,
    redact: (secret) => {
      if (secret) secrets.add(secret);
    },
  };
}

/** Local time, as the add-on log shows it next to Supervisor's own lines. */
function timestamp(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Error text for logs and status fields: the message only, on one line. */
export function errorText(err) {
  if (err instanceof Error) return (err.message || err.name).replace(/\s*\r?\n\s*/g, ' ');
  return String(err);
}
