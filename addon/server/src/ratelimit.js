// Failed-auth limiter per client address: the 10th invalid token within 60 s blocks the address
// for 60 s (429 with Retry-After). The block is not extended by further attempts, so a misconfigured
// client recovers by itself once it stops. Tokens still being checked count too: an address may have
// at most (10 - recent failures) distinct tokens in verification at once, so a burst of concurrent
// wrong tokens starts no more bcrypt runs than sequential ones would. Addresses that presented the
// valid token are remembered as trusted: their verifications go first in the global queue (see
// verifyqueue.js) and their connections may take a slot at the connection cap (connections.js).
// Times are monotonic, so a wall-clock jump neither lifts nor stretches a block.

const DEFAULT_RATE_LIMIT = { maxFailures: 10, windowMs: 60_000 };
// Bound memory under a spray of source addresses: beyond this, forget the stalest entries.
const MAX_TRACKED = 10_000;
// Home Assistant, a second instance, a laptop, the health check: a handful of trusted addresses.
const MAX_TRUSTED = 64;

/**
 * The unit limits count by: an IPv4 address as it is, an IPv6 address by its /64 prefix (one host
 * usually has a whole /64, so counting single IPv6 addresses would multiply every limit by 2^64).
 * @param {string} addr  without the IPv4-mapped prefix
 */
export function addressKey(addr) {
  if (!addr.includes(':')) return addr;
  const [head, tail] = addr.replace(/%.*$/, '').toLowerCase().split('::');
  const groups = (part) => (part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${all.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(':')}::/64`;
}

/**
 * @param {{maxFailures?: number, windowMs?: number, now?: () => number}} [options]
 */
export function createRateLimiter({
  maxFailures = DEFAULT_RATE_LIMIT.maxFailures,
  windowMs = DEFAULT_RATE_LIMIT.windowMs,
  now = () => performance.now(),
} = {}) {
  /** @type {Map<string, {failures: number[], blockedUntil: number}>} */
  const byAddress = new Map();
  /** Distinct token keys being verified per address, with the number of requests waiting on each. */
  /** @type {Map<string, Map<string, number>>} */
  const pending = new Map();
  /** Addresses that presented the valid token, least recently used first. */
  /** @type {Set<string>} */
  const trusted = new Set();

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

    /**
     * A request with this token (key: its digest) starts verification. False when the address already
     * has as many distinct tokens in verification as it has failures left: answer 429, do not verify.
     */
    begin(addr, key) {
      const keys = pending.get(addr);
      const waiting = keys?.get(key);
      if (waiting !== undefined) {
        keys.set(key, waiting + 1);
        return true;
      }
      const e = entry(addr);
      const failures = e ? e.failures.filter((ts) => ts > now() - windowMs).length : 0;
      if (failures + (keys?.size ?? 0) >= maxFailures) return false;
      if (keys) keys.set(key, 1);
      else pending.set(addr, new Map([[key, 1]]));
      return true;
    },

    /** Verification of a begin() ended; failed: the token was invalid. */
    end(addr, key, failed) {
      const keys = pending.get(addr);
      const waiting = keys?.get(key);
      if (waiting !== undefined) {
        if (waiting > 1) keys.set(key, waiting - 1);
        else if (keys.size > 1) keys.delete(key);
        else pending.delete(addr);
      }
      if (failed) this.fail(addr);
    },

    /** The address presented the valid token. */
    succeeded(addr) {
      trusted.delete(addr);
      trusted.add(addr);
      if (trusted.size > MAX_TRUSTED) trusted.delete(trusted.values().next().value);
    },

    /** Whether the address presented the valid token since the server started. */
    trusted: (addr) => trusted.has(addr),

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
