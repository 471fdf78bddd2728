import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAuthenticator } from '../src/auth.js';
import { createLogger } from '../src/logger.js';
import { createRateLimiter } from '../src/ratelimit.js';
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

test('stored hash: bcrypt runs once per token within the cache TTL, for valid and invalid tokens', async () => {
  let now = 0;
  const hasher = countingHasher();
  const auth = createAuthenticator({ envToken: null, store: store('cba'), unavailableReason: null, hasher, logger, now: () => now });
  assert.equal(await auth.verify('abc'), 'valid');
  assert.equal(await auth.verify('abc'), 'valid');
  assert.equal(await auth.verify('nope'), 'invalid');
  assert.equal(await auth.verify('nope'), 'invalid');
  assert.equal(hasher.calls, 2);
  now = 5001;
  assert.equal(await auth.verify('nope'), 'invalid');
  assert.equal(hasher.calls, 3, 'a wrong token is verified again once its verdict expired');
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

test('knownValid: only a settled, current-generation verification of a valid token', async () => {
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
  now = 30_000;
  assert.equal(auth.knownValid(key), 1, 'a valid verdict does not expire with time');
  s.record = { hash: 'wen', generation: 2 };
  now = 32_000;
  assert.equal(auth.knownValid(key), null, 'rotated');
});
