// Failed-auth limiter per client address: the 10th invalid token within 60 s blocks the address
// for 60 s (429 with Retry-After). The block is not extended by further attempts, so a misconfigured
// client recovers by itself once it stops.

const DEFAULT_RATE_LIMIT = { maxFailures: 10, windowMs: 60_000 };
// Bound memory under a spray of source addresses: beyond this, forget the stalest entries.
const MAX_TRACKED = 10_000;

/**
 * @param {{maxFailures?: number, windowMs?: number, now?: () => number}} [options]
 */
export function createRateLimiter({
  maxFailures = DEFAULT_RATE_LIMIT.maxFailures,
  windowMs = DEFAULT_RATE_LIMIT.windowMs,
  now = Date.now,
} = {}) {
  /** @type {Map<string, {failures: number[], blockedUntil: number}>} */
  const byAddress = new Map();

  const entry = (addr) => {
    const e = byAddress.get(addr);
    if (e && e.blockedUntil && e.blockedUntil <= now()) {
      byAddress.delete(addr);
      return undefined;
    }
    return e;
  };

  return {
    /** Seconds until the address may try again; 0 when it is not blocked. */
    retryAfter(addr) {
      const e = entry(addr);
      return e?.blockedUntil ? Math.max(1, Math.ceil((e.blockedUntil - now()) / 1000)) : 0;
    },

    /** Record an invalid token. */
    fail(addr) {
      const t = now();
      let e = entry(addr);
      if (!e) {
        if (byAddress.size >= MAX_TRACKED) byAddress.delete(byAddress.keys().next().value);
        e = { failures: [], blockedUntil: 0 };
        byAddress.set(addr, e);
      }
      e.failures = e.failures.filter((ts) => ts > t - windowMs);
      e.failures.push(t);
      if (e.failures.length >= maxFailures) e.blockedUntil = t + windowMs;
    },
  };
}
