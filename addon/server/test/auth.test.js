import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAuthenticator } from '../src/auth.js';
import { createLogger } from '../src/logger.js';
import { addressKey, createRateLimiter } from '../src/ratelimit.js';
import { createVerifyQueue } from '../src/verifyqueue.js';
import { capture } from '../test-support/harness.js';

/** A hasher whose "hash" is the secret reversed, counting compare() calls. */
function countingHasher() {
  const h = {
    calls: 0,
    compare: async (secret, hash) => {
      h.calls++;
      return [...secret].reverse().join('') === hash;
    },
  };
  return h;
}

function store(hash, generation = 1) {
  const s = { record: { hash, generation }, reads: 0, readToken: () => (s.reads++, s.record) };
  return s;
}

const logger = createLogger({ stream: capture() });

test('HASYNC_TOKEN: exact match only, no store needed', async () => {
  const auth = createAuthenticator({ envToken: 'fixed-token', store: null, unavailableReason: null, hasher: null, logger });
  assert.equal(auth.unavailableReason, null);
  assert.equal(await auth.verify('fixed-token'), 'valid');
  assert.equal(await auth.verify('fixed-toke'), 'invalid');
  assert.equal(await auth.verify('fixed-token2'), 'invalid');
  assert.equal(await auth.verify(''), 'invalid');
});

test('stored hash: the valid token is verified once until the stored token changes; an invalid one once per TTL', async () => {
  let now = 0;
  const hasher = countingHasher();
  const auth = createAuthenticator({ envToken: null, store: store('cba'), unavailableReason: null, hasher, logger, now: () => now });
  assert.equal(await auth.verify('abc'), 'valid');
  assert.equal(await auth.verify('abc'), 'valid');
  assert.equal(await auth.verify('nope'), 'invalid');
  assert.equal(await auth.verify('nope'), 'invalid');
  assert.equal(hasher.calls, 2);
  now = 3_600_000;
  assert.equal(await auth.verify('abc'), 'valid');
  assert.equal(hasher.calls, 2, 'the valid token is not queued behind wrong ones again');
  assert.equal(await auth.verify('nope'), 'invalid');
  assert.equal(hasher.calls, 3, 'an expired invalid entry is verified again');
});

test('a valid token polled every 30 s costs one bcrypt run, until the stored token changes', async () => {
  let now = 0;
  const s = store('cba');
  const hasher = countingHasher();
  const auth = createAuthenticator({ envToken: null, store: s, unavailableReason: null, hasher, logger, now: () => now });
  for (let poll = 0; poll < 10; poll++, now += 30_000) {
    assert.deepEqual(await auth.check('abc'), { verdict: 'valid', generation: 1 });
  }
  assert.equal(hasher.calls, 1, 'verified once in 5 minutes of polls');
  assert.equal(await auth.verify('abd'), 'invalid', 'a wrong token still meets bcrypt');
  assert.equal(hasher.calls, 2);
  s.record = { hash: 'wen', generation: 2 };
  now += 1000;
  assert.equal(await auth.verify('abc'), 'invalid', 'the rotated token is refused');
  assert.equal(await auth.verify('new'), 'valid');
  // The same hash rewritten under the same generation (a restore) is checked again too.
  s.record = { hash: 'cba', generation: 2 };
  now += 1000;
  assert.equal(await auth.verify('new'), 'invalid');
  assert.equal(await auth.verify('abc'), 'valid');
});

test('concurrent requests with the same new token share one bcrypt run', async () => {
  const hasher = countingHasher();
  const auth = createAuthenticator({ envToken: null, store: store('cba'), unavailableReason: null, hasher, logger });
  const verdicts = await Promise.all(Array.from({ length: 20 }, () => auth.verify('abc')));
  assert.ok(verdicts.every((v) => v === 'valid'));
  assert.equal(hasher.calls, 1);
});

test('a rotation by another process is picked up within the generation check interval', async () => {
  let now = 0;
  const s = store('dlo');
  const auth = createAuthenticator({ envToken: null, store: s, unavailableReason: null, hasher: countingHasher(), logger, now: () => now });
  assert.equal(await auth.verify('old'), 'valid');
  s.record = { hash: 'wen', generation: 2 };
  now = 500;
  assert.equal(await auth.verify('old'), 'valid', 'still cached: the store is re-read at most once a second');
  now = 1000;
  assert.equal(await auth.verify('old'), 'invalid');
  assert.equal(await auth.verify('new'), 'valid');
  assert.ok(s.reads <= 3, `store read ${s.reads} times`);
});

test('no store: unavailable with the reason', async () => {
  const auth = createAuthenticator({ envToken: null, store: null, unavailableReason: 'better-sqlite3 failed to load: x', hasher: null, logger });
  assert.equal(auth.unavailableReason, 'better-sqlite3 failed to load: x');
  assert.equal(await auth.verify('anything'), 'unavailable');
});

test('a failing store read keeps the last known hash', async () => {
  let now = 0;
  const s = store('cba');
  const auth = createAuthenticator({ envToken: null, store: s, unavailableReason: null, hasher: countingHasher(), logger, now: () => now });
  assert.equal(await auth.verify('abc'), 'valid');
  s.readToken = () => {
    throw new Error('SQLITE_IOERR');
  };
  now = 10_000;
  assert.equal(await auth.verify('abc'), 'valid');
});

test('rate limit: the 10th failure within 60 s blocks the address for 60 s', () => {
  let now = 0;
  const rl = createRateLimiter({ now: () => now });
  for (let i = 0; i < 9; i++) {
    rl.fail('10.0.0.1');
    now += 1000;
  }
  assert.equal(rl.retryAfter('10.0.0.1'), 0);
  rl.fail('10.0.0.1');
  assert.equal(rl.retryAfter('10.0.0.1'), 60);
  assert.equal(rl.retryAfter('10.0.0.2'), 0, 'other addresses are not affected');
  now += 59_500;
  assert.equal(rl.retryAfter('10.0.0.1'), 1);
  now += 500;
  assert.equal(rl.retryAfter('10.0.0.1'), 0);
  rl.fail('10.0.0.1');
  assert.equal(rl.retryAfter('10.0.0.1'), 0, 'the count starts over after a block');
});

test('rate limit: failures spread over more than 60 s do not block', () => {
  let now = 0;
  const rl = createRateLimiter({ now: () => now });
  for (let i = 0; i < 30; i++) {
    rl.fail('a');
    now += 7000;
  }
  assert.equal(rl.retryAfter('a'), 0);
});

test('a token rotated a moment ago is accepted at once: a mismatch re-reads the store before failing', async () => {
  let now = 0;
  const s = store('dlo');
  const hasher = countingHasher();
  const auth = createAuthenticator({ envToken: null, store: s, unavailableReason: null, hasher, logger, now: () => now });
  const rotations = [];
  auth.watch((generation) => rotations.push(generation));
  auth.stop(); // keep the callback, drop the timer: this test drives the clock itself
  assert.equal(await auth.verify('old'), 'valid');
  s.record = { hash: 'wen', generation: 2 };
  now = 100;
  assert.deepEqual(await auth.check('new'), { verdict: 'valid', generation: 2 }, 'no second-long window of 401s');
  assert.deepEqual(rotations, [2], 'the watcher hears of it (streams with the old token end)');
  assert.equal(await auth.verify('old'), 'invalid');
  const reads = s.reads;
  assert.equal(await auth.verify('wrong'), 'invalid');
  assert.equal(s.reads, reads + 1, 'one store read per mismatch (rate-limited by the caller)');
});

test('knownValid: only a settled verification of a valid token against the current generation', async () => {
  let now = 0;
  const s = store('cba');
  const auth = createAuthenticator({ envToken: null, store: s, unavailableReason: null, hasher: countingHasher(), logger, now: () => now });
  const key = auth.keyOf('abc');
  assert.equal(auth.knownValid(key), null, 'never checked');
  const pending = auth.verify('abc');
  assert.equal(auth.knownValid(key), null, 'still being checked');
  assert.equal(await pending, 'valid');
  assert.equal(auth.knownValid(key), 1);
  assert.equal(await auth.verify('nope'), 'invalid');
  assert.equal(auth.knownValid(auth.keyOf('nope')), null, 'a known invalid token is not "known valid"');
  now = 86_400_000;
  assert.equal(auth.knownValid(key), 1, 'no expiry while the stored token stays');
  s.record = { hash: 'wen', generation: 2 };
  now += 1000;
  assert.equal(auth.knownValid(key), null, 'rotated');
  assert.equal(await auth.verify('abc'), 'invalid');
});

test('the verification queue: one at a time; beyond the wait budget refused at once (busy); trusted first', async () => {
  const started = [];
  const gates = [];
  const hasher = {
    compare: (secret, hash) => {
      started.push(secret);
      return new Promise((resolve) => gates.push(() => resolve([...secret].reverse().join('') === hash)));
    },
  };
  let now = 0;
  const queue = createVerifyQueue({ limits: { concurrency: 1, maxWaitMs: 250, maxQueued: 16 }, now: () => now });
  const auth = createAuthenticator({ envToken: null, store: store('cba'), unavailableReason: null, hasher, logger, queue, now: () => now });
  const flood = Array.from({ length: 6 }, (_, i) => auth.check(`wrong-${i}`));
  await Promise.resolve();
  // Until measured, a compare is estimated at 100 ms: one runs, two wait (300 ms > 250 ms for a third).
  const verdicts = await Promise.all(flood.slice(3));
  assert.deepEqual(verdicts.map((v) => v.verdict), ['busy', 'busy', 'busy']);
  const valid = auth.check('abc', undefined, { first: true });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, ['wrong-0']);
  assert.deepEqual(queue.stats(), { running: 1, waiting: 3, peak: 1, estimateMs: 100 });
  now += 50;
  gates.shift()();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, ['wrong-0', 'abc'], 'the trusted address jumps the queue');
  gates.shift()();
  assert.deepEqual(await valid, { verdict: 'valid', generation: 1 });
  while (gates.length || started.length < 4) {
    await new Promise((r) => setImmediate(r));
    gates.shift()?.();
  }
  assert.deepEqual((await Promise.all(flood.slice(0, 3))).map((v) => v.verdict), ['invalid', 'invalid', 'invalid']);
  assert.equal(queue.stats().peak, 1, 'never two at once');
  assert.ok(auth.cachedKeys().length === 4, 'refused tokens are not remembered: a retry is verified');
});

test('limits count IPv4 addresses one by one and IPv6 addresses by /64', () => {
  assert.equal(addressKey('192.168.1.20'), '192.168.1.20');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:DB8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:db8::'), '2001:db8:0:0::/64');
  assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  const rl = createRateLimiter();
  for (let i = 0; i < 10; i++) rl.fail(addressKey(`2001:db8:1:2::${i + 1}`));
  assert.ok(rl.retryAfter(addressKey('2001:db8:1:2:dead:beef::7')) > 0, 'the whole /64 is blocked');
  assert.equal(rl.retryAfter(addressKey('2001:db8:1:3::1')), 0, 'the next /64 is not');
});
