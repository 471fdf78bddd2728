// Bearer token verification. Two sources: HASYNC_TOKEN (compared as SHA-256 digests in constant
// time) or the bcrypt hash stored in SQLite. bcrypt runs through the global verification queue
// (verifyqueue.js) and its results are kept per SHA-256 of the presented token, so the cache never
// holds a token: an invalid one for a few seconds, the valid one until the stored token changes, so a
// client that was verified once is never again queued behind a flood of wrong tokens. The stored
// token (one row by primary key: microseconds) is re-read at most once a second, on requests and on
// a timer: when rotate-token has replaced it, the cache is dropped and the watcher is told, so event
// streams opened with the old token end within about a second and their clients re-authenticate.
import { createHash, timingSafeEqual } from 'node:crypto';
import { errorText } from './logger.js';
import { createVerifyQueue, VerifyQueueFull } from './verifyqueue.js';

export const DEFAULT_AUTH_TIMING = { cacheTtlMs: 5000, generationCheckMs: 1000 };
const MAX_CACHED = 1000;

const sha256 = (s) => createHash('sha256').update(s).digest();
/** The cache key of a presented token: its SHA-256, base64. */
const keyOf = (presented) => sha256(presented).toString('base64');

/**
 * @typedef {'valid'|'invalid'|'unavailable'|'busy'} Verdict  busy: not verified, the queue is full
 * @typedef {{verdict: Verdict, generation: number|null}} Grant  generation: of the stored token that
 *   was checked (null for HASYNC_TOKEN, which cannot change while the server runs)
 * @typedef {{readToken(): {hash: string, generation: number}|null}} TokenStore
 *
 * @param {object} deps
 * @param {string|null} deps.envToken
 * @param {TokenStore|null} deps.store  null: no token store
 * @param {string|null} deps.unavailableReason  why there is no token store
 * @param {ReturnType<typeof import('./hasher.js').createHasher>} deps.hasher
 * @param {import('./logger.js').Logger} deps.logger
 * @param {Partial<typeof DEFAULT_AUTH_TIMING>} [deps.timing]
 * @param {ReturnType<typeof createVerifyQueue>} [deps.queue]  the global verification queue
 * @param {() => number} [deps.now]  monotonic ms
 */
export function createAuthenticator({
  envToken,
  store,
  unavailableReason,
  hasher,
  logger,
  timing = {},
  queue = createVerifyQueue(),
  now = () => performance.now(),
}) {
  const { cacheTtlMs, generationCheckMs } = { ...DEFAULT_AUTH_TIMING, ...timing };

  if (envToken !== null) {
    const expected = sha256(envToken);
    /** @returns {Promise<Grant>} */
    const check = async (presented) => ({
      // Equal-length digests: the comparison time depends on neither the token's length nor its content.
      verdict: timingSafeEqual(sha256(presented), expected) ? 'valid' : 'invalid',
      generation: null,
    });
    return {
      unavailableReason: null,
      keyOf,
      check,
      /** @returns {Promise<Verdict>} */
      verify: async (presented) => (await check(presented)).verdict,
      generation: () => null,
      knownValid: () => null,
      cachedKeys: () => [],
      watch() {},
      stop() {},
    };
  }

  /** @type {{hash: string, generation: number}|null} */
  let record = null;
  let readAt = -Infinity;
  /** Verifications by key, shared by concurrent requests; ok is null when the queue was full. */
  /** @type {Map<string, {ok: Promise<boolean|null>, expires: number, generation: number}>} */
  const cache = new Map();
  /** The key verified valid for the stored token of this generation: kept until it changes. */
  /** @type {{key: string, generation: number}|null} */
  let valid = null;
  /** @type {((generation: number|null) => void)|null} */
  let onRotation = null;
  let timer = null;

  /** The stored token record, re-read when older than generationCheckMs (or when forced). */
  const current = (force = false) => {
    if (!force && now() - readAt < generationCheckMs) return record;
    const firstRead = readAt === -Infinity;
    readAt = now();
    try {
      const next = store.readToken();
      if (next?.generation !== record?.generation || next?.hash !== record?.hash) {
        cache.clear();
        valid = null;
        record = next;
        if (!firstRead) {
          logger.info(`API token replaced (generation ${next?.generation ?? 'none'}); the previous one is no longer accepted`);
          onRotation?.(record?.generation ?? null);
        }
      }
    } catch (err) {
      // Keep verifying against the last hash read; the database check reports the failure.
      logger.debug(`token store read failed: ${errorText(err)}`);
    }
    return record;
  };

  /**
   * @param {string} presented
   * @param {string} [key]  keyOf(presented)
   * @param {{first?: boolean}} [options]  first: the client's address is trusted, it jumps the queue
   * @returns {Promise<Grant>}
   */
  async function check(presented, key = keyOf(presented), { first = false } = {}) {
    if (!store) return { verdict: 'unavailable', generation: null };
    // A rotation noticed while bcrypt ran makes the answer stale: check against the new record.
    // A token that does not match is checked once more against a freshly read record, so a token
    // rotated a moment ago is accepted at once instead of failing (and counting) for up to a second.
    let reread = false;
    for (;;) {
      const rec = current();
      if (!rec) return { verdict: 'invalid', generation: null };
      if (valid?.key === key && valid.generation === rec.generation) return { verdict: 'valid', generation: rec.generation };
      let hit = cache.get(key);
      if (!hit || hit.expires <= now() || hit.generation !== rec.generation) {
        // Concurrent requests with the same token share one bcrypt run.
        const entry = { ok: null, expires: now() + cacheTtlMs, generation: rec.generation };
        entry.ok = queue.run(() => hasher.compare(presented, rec.hash), { first }).then(
          (ok) => {
            if (ok === true && record?.generation === entry.generation) valid = { key, generation: entry.generation };
            return ok === true;
          },
          (err) => {
            if (err instanceof VerifyQueueFull) {
              if (cache.get(key) === entry) cache.delete(key);
              return null;
            }
            logger.warning(`token verification failed: ${errorText(err)}`);
            return false;
          },
        );
        hit = entry;
        cache.delete(key);
        cache.set(key, hit);
        if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value);
      }
      const ok = await hit.ok;
      if (ok === null) return { verdict: 'busy', generation: null };
      if (record?.generation !== hit.generation) continue;
      if (!ok && !reread) {
        reread = true;
        if (current(true)?.generation !== hit.generation) continue;
      }
      return { verdict: ok ? 'valid' : 'invalid', generation: hit.generation };
    }
  }

  return {
    unavailableReason: store ? null : unavailableReason,
    keyOf,
    check,
    /** @returns {Promise<Verdict>} */
    verify: async (presented) => (await check(presented)).verdict,
    /**
     * The generation a token (by key) is known valid for, without waiting: it was verified against the
     * current record. Null when it would have to be checked (check()).
     * @param {string} key
     * @returns {number|null}
     */
    knownValid(key) {
      if (!store) return null;
      const rec = current();
      return rec && valid?.key === key && valid.generation === rec.generation ? rec.generation : null;
    },
    /** Generation of the stored token as last read (null: none stored, or no store). */
    generation: () => record?.generation ?? null,
    /** The keys held (SHA-256 digests, base64): for tests that prove no token is held. */
    cachedKeys: () => [...new Set([...cache.keys(), ...(valid ? [valid.key] : [])])],
    /**
     * Re-read the stored token every generationCheckMs even without requests, and call back with the
     * new generation when it was replaced.
     * @param {(generation: number|null) => void} callback
     */
    watch(callback) {
      onRotation = callback;
      if (!store || timer) return;
      current(true);
      timer = setInterval(() => current(), generationCheckMs);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = null;
    },
  };
}
