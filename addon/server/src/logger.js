// Plain log lines for humans reading the add-on log: `YYYY-MM-DD HH:MM:SS LEVEL message`.
// Secrets registered with redact() are replaced in every line as a last line of defence; the code
// never passes tokens to the logger in the first place. Error and fatal records also go to the
// observer (src/errors.js counts them), redacted the same way. `fatal` is for what would end a
// process (an uncaught exception, a failed start); it is always written. Once the stream fails
// (EPIPE: whoever read the log went away), lines are dropped, not written: the stream's error
// would come back as an uncaught exception, whose fatal record would fail the same way, without end.

const RANK = { debug: 10, info: 20, warning: 30, error: 40, fatal: 50 };

/**
 * @typedef {object} Logger
 * @property {(msg: string) => void} debug
 * @property {(msg: string) => void} info
 * @property {(msg: string) => void} warning
 * @property {(msg: string) => void} error
 * @property {(msg: string) => void} fatal
 * @property {(level: keyof RANK) => boolean} enabled
 * @property {(secret: string) => void} redact
 * @property {(observer: (level: 'error'|'fatal', msg: string) => void) => void} observe  error and fatal records
 */

/**
 * @param {{level?: 'debug'|'info'|'warning'|'error', stream?: {write(s: string): unknown, on?: Function}, clock?: () => Date}} [options]
 * @returns {Logger}
 */
export function createLogger({ level = 'info', stream = process.stdout, clock = () => new Date() } = {}) {
  const min = RANK[level];
  /** @type {Set<string>} */
  const secrets = new Set();
  let observer = null;
  let broken = false;
  if (typeof stream.on === 'function') {
    stream.on('error', () => {
      broken = true;
    });
  }

  const write = (lvl, msg) => {
    if (RANK[lvl] < min) return;
    let text = String(msg).replace(/\r?\n/g, ' | ');
    for (const secret of secrets) text = text.split(secret).join('[redacted]');
    if (!broken) stream.write(`${timestamp(clock())} ${lvl.toUpperCase()} ${text}\n`);
    if (RANK[lvl] >= RANK.error) observer?.(lvl, text);
  };

  return {
    debug: (msg) => write('debug', msg),
    info: (msg) => write('info', msg),
    warning: (msg) => write('warning', msg),
    error: (msg) => write('error', msg),
    fatal: (msg) => write('fatal', msg),
    enabled: (lvl) => RANK[lvl] >= min,
    redact: (secret) => {
      if (secret) secrets.add(secret);
    },
    observe: (fn) => {
      observer = fn;
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
