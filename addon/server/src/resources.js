// Running out of file descriptors (EMFILE: the process's limit, ENFILE: the system's) is a passing
// condition of the whole process, not a fault of the file or socket that hit it: the frontend build is
// still there, the client did nothing wrong. Whoever meets it reports it here instead of failing a
// check or throwing: one warning per episode, then the listeners shed load (connections.js closes
// idle connections) and the work is retried later. The episode ends once descriptors have been
// available for a while, with one info line.

const OUT_OF_FILES = new Set(['EMFILE', 'ENFILE']);
// An episode ends this long after the last failure.
const QUIET_MS = 10_000;

/** @param {any} err */
export function isOutOfFiles(err) {
  return OUT_OF_FILES.has(err?.code) || /^E[MN]FILE\b/.test(err?.message ?? '');
}

/**
 * @param {{logger: import('./logger.js').Logger, now?: () => number}} deps
 */
export function createResourceMonitor({ logger, now = () => performance.now() }) {
  /** @type {number|null} when descriptors last ran out, while an episode lasts */
  let lastFailure = null;
  /** @type {(() => void)[]} */
  const listeners = [];

  return {
    /**
     * Report an error. True when it was running out of descriptors: the caller treats the work as
     * "try again later" (keep the last result, answer 503), never as a failure of what it checked.
     * @param {any} err
     * @param {string} what  what was being done, for the log
     */
    outOfFiles(err, what) {
      if (!isOutOfFiles(err)) return false;
      if (lastFailure === null) {
        logger.warning(
          `out of file descriptors (${err.code ?? 'EMFILE'}) while ${what}: closing idle connections and ` +
            'accepting no new ones until descriptors are free again; checks keep their last result',
        );
      }
      lastFailure = now();
      for (const shed of listeners) shed();
      return true;
    },
    /** Descriptors were available just now (called about once a second): may end the episode. */
    available() {
      if (lastFailure !== null && now() - lastFailure >= QUIET_MS) {
        lastFailure = null;
        logger.info('file descriptors available again');
      }
    },
    /** @param {() => void} shed  called on every report while descriptors are short */
    onShortage(shed) {
      listeners.push(shed);
    },
    /** Whether descriptors ran out within the last QUIET_MS. */
    short: () => lastFailure !== null,
  };
}
