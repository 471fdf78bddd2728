// Bearer token verification. Two sources: HASYNC_TOKEN (compared as SHA-256 digests in constant
// time) or the bcrypt hash stored in SQLite. bcrypt results are cached per SHA-256 of the presented
// token for a few seconds, so bcrypt does not run per request under load and the cache key reveals
// nothing; the stored token's generation is re-read at most once a second so a rotation by another
// process takes effect quickly.
import { createHash, timingSafeEqual } from 'node:crypto';
import { errorText } from './logger.js';

export const DEFAULT_AUTH_TIMING = { cacheTtlMs: 5000, generationCheckMs: 1000 };
const MAX_CACHED = 1000;

const sha256 = (s) => createHash('sha256').update(s).digest();

/**
 * @typedef {'valid'|'invalid'|'unavailable'} Verdict
 *
 * @param {object} deps
 * @param {string|null} deps.envToken
 * @param {{readToken(): {hash: string, generation: number}|null}|null} deps.store  null: no token store
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
    return {
      unavailableReason: null,
      /** @returns {Promise<Verdict>} */
      verify: async (presented) => (timingSafeEqual(sha256(presented), expected) ? 'valid' : 'invalid'),
    };
  }

  /** @type {{hash: string, generation: number}|null} */
  let record = null;
  let readAt = -Infinity;
  /** @type {Map<string, {ok: Promise<boolean>, expires: number, generation: number}>} */
  const cache = new Map();

  const current = () => {
    if (now() - readAt < generationCheckMs) return record;
    readAt = now();
    try {
      const next = store.readToken();
      if (next?.generation !== record?.generation || next?.hash !== record?.hash) cache.clear();
      record = next;
    } catch (err) {
      // Keep verifying against the last hash read; the database check reports the failure.
      logger.debug(`token store read failed: ${errorText(err)}`);
    }
    return record;
  };

  return {
    unavailableReason: store ? null : unavailableReason,
    /** @returns {Promise<Verdict>} */
    async verify(presented) {
      if (!store) return 'unavailable';
      const rec = current();
      if (!rec) return 'invalid';
      const key = sha256(presented).toString('base64');
      let hit = cache.get(key);
      if (!hit || hit.expires <= now() || hit.generation !== rec.generation) {
        // Concurrent requests with the same token share one bcrypt run.
        hit = {
          ok: Promise.resolve(hasher.compare(presented, rec.hash)).then(
            (ok) => ok === true,
            (err) => {
              logger.warning(`token verification failed: ${errorText(err)}`);
              return false;
            },
          ),
          expires: now() + cacheTtlMs,
          generation: rec.generation,
        };
        cache.delete(key);
        cache.set(key, hit);
        if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value);
      }
      return (await hit.ok) ? 'valid' : 'invalid';
    },
  };
}
