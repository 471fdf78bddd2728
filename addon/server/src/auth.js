// Bearer token verification. Two sources: HASYNC_TOKEN (compared as SHA-256 digests in constant
// time) or the bcrypt hash stored in SQLite. bcrypt results are cached per SHA-256 of the presented
// token, so the cache never holds a token: a wrong token's verdict for a few seconds, a valid one's
// until the stored token changes. A client that polls every 30 s thus pays bcrypt (~55 ms at cost 10)
// once, not on every poll; remembering the digest of a verified 256-bit random token is no weaker
// than the HASYNC_TOKEN path, which keeps one for the whole run. The stored token (one row by primary
// key: microseconds) is re-read at most once a second, on requests and on a timer: when rotate-token
// has replaced it, the cache is dropped and the watcher is told, so the old token is refused and event
// streams opened with it end within about a second, and their clients re-authenticate.
import { createHash, timingSafeEqual } from 'node:crypto';
import { errorText } from './logger.js';

/** cacheTtlMs: how long a wrong token's verdict (or a verification under way) is reused. */
export const DEFAULT_AUTH_TIMING = { cacheTtlMs: 5000, generationCheckMs: 1000 };
const MAX_CACHED = 1000;

const sha256 = (s) => createHash('sha256').update(s).digest();
/** The cache key of a presented token: its SHA-256, base64. */
const keyOf = (presented) => sha256(presented).toString('base64');

/**
 * @typedef {'valid'|'invalid'|'unavailable'} Verdict
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
 * @param {() => number} [deps.now]
 */
export function createAuthenticator({ envToken, store, unavailableReason, hasher, logger, timing = {}, now = Date.now }) {
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
  /** settled: the compare's result once known (so a cached valid token needs no promise). */
  /** @type {Map<string, {ok: Promise<boolean>, settled: boolean|null, expires: number, generation: number}>} */
  const cache = new Map();
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

  /** @returns {Promise<Grant>} */
  async function check(presented, key = keyOf(presented)) {
    if (!store) return { verdict: 'unavailable', generation: null };
    // A rotation noticed while bcrypt ran makes the answer stale: check against the new record.
    // A token that does not match is checked once more against a freshly read record, so a token
    // rotated a moment ago is accepted at once instead of failing (and counting) for up to a second.
    let reread = false;
    for (;;) {
      const rec = current();
      if (!rec) return { verdict: 'invalid', generation: null };
      let hit = cache.get(key);
      if (!hit || hit.expires <= now() || hit.generation !== rec.generation) {
        // Concurrent requests with the same token share one bcrypt run.
        const entry = { ok: null, settled: null, expires: now() + cacheTtlMs, generation: rec.generation };
        entry.ok = Promise.resolve(hasher.compare(presented, rec.hash)).then(
          (ok) => {
            // A valid token stays verified for this generation: the rotation check drops it.
            if (ok === true) entry.expires = Infinity;
            return (entry.settled = ok === true);
          },
          (err) => {
            logger.warning(`token verification failed: ${errorText(err)}`);
            return (entry.settled = false);
          },
        );
        hit = entry;
        cache.delete(key);
        cache.set(key, hit);
        if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value);
      }
      const ok = await hit.ok;
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
     * The generation a token (by key) is known valid for, without waiting: a cached, settled, unexpired
     * verification against the current record. Null when it would have to be checked (check()).
     * @param {string} key
     * @returns {number|null}
     */
    knownValid(key) {
      if (!store) return null;
      const rec = current();
      const hit = cache.get(key);
      return rec && hit && hit.settled === true && hit.generation === rec.generation && hit.expires > now()
        ? rec.generation
        : null;
    },
    /** Generation of the stored token as last read (null: none stored, or no store). */
    generation: () => record?.generation ?? null,
    /** The cache keys (SHA-256 digests, base64): for tests that prove no token is held. */
    cachedKeys: () => [...cache.keys()],
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
