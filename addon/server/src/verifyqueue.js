// The global bound on token verifications. Each one is a bcrypt compare at cost 10: about 50 ms of one
// core on a desktop x86 and several times that on a Raspberry Pi, and the per-address limiter alone let
// 1,000 source addresses keep both cores busy for half a minute. A home server has 2 cores and also
// runs Home Assistant, so one verification runs at a time: at most one core goes to bcrypt, the other
// keeps serving, and three of libuv's four pool threads stay free for file reads (the ingress page
// once waited 30 s behind a bcrypt backlog). A verification waits only if it would start within
// 0.5 s by the running average of recent compares, so whoever is admitted is answered within about a
// second even on a Pi; anyone else is told to retry (429) at once instead of piling up. Addresses that
// presented the valid token before go first and are always admitted: after a rotation, Home
// Assistant's first request with the new token does not wait behind a flood.

export const VERIFY_LIMITS = { concurrency: 1, maxWaitMs: 500, maxQueued: 16 };
// Until the first compares are measured: twice a desktop x86 at cost 10.
const INITIAL_ESTIMATE_MS = 100;

/** Thrown (as a rejection) when a verification is not admitted. */
export class VerifyQueueFull extends Error {
  constructor() {
    super('too many token verifications waiting');
    this.code = 'HASYNC_VERIFY_BUSY';
  }
}

/**
 * @param {{limits?: Partial<typeof VERIFY_LIMITS>, now?: () => number}} [options]
 */
export function createVerifyQueue({ limits = {}, now = () => performance.now() } = {}) {
  const { concurrency, maxWaitMs, maxQueued } = { ...VERIFY_LIMITS, ...limits };
  /** @type {{task: () => Promise<any>, resolve: (v: any) => void, reject: (e: any) => void, first: boolean}[]} */
  const queue = [];
  let running = 0;
  let estimateMs = INITIAL_ESTIMATE_MS;
  let peak = 0;

  const next = () => {
    while (running < concurrency && queue.length) {
      const job = queue.shift();
      running++;
      peak = Math.max(peak, running);
      const started = now();
      Promise.resolve()
        .then(job.task)
        .then(job.resolve, job.reject)
        .finally(() => {
          // A moving average that follows a slower machine or a busy CPU within a few compares.
          estimateMs = 0.8 * estimateMs + 0.2 * (now() - started);
          running--;
          next();
        });
    }
  };

  return {
    /**
     * Run a verification when a slot is free. Rejects with VerifyQueueFull, without running it, when
     * it would wait longer than maxWaitMs (or maxQueued are waiting); `first` jumps the queue.
     * @template T
     * @param {() => Promise<T>} task
     * @param {{first?: boolean}} [options]
     * @returns {Promise<T>}
     */
    run(task, { first = false } = {}) {
      const ahead = first ? queue.filter((j) => j.first).length : queue.length;
      const busy = running >= concurrency;
      if (busy && !first && (ahead >= maxQueued || ((ahead + 1) * estimateMs) / concurrency > maxWaitMs)) {
        return Promise.reject(new VerifyQueueFull());
      }
      return new Promise((resolve, reject) => {
        const job = { task, resolve, reject, first };
        if (first) queue.splice(ahead, 0, job);
        else queue.push(job);
        next();
      });
    },
    /** Figures for tests and the bench: running, waiting, the most ever run at once, the estimate. */
    stats: () => ({ running, waiting: queue.length, peak, estimateMs }),
  };
}
