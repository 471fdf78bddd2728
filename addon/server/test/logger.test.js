import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { createLogger, errorText } from '../src/logger.js';
import { capture } from '../test-support/harness.js';

test('lines are `YYYY-MM-DD HH:MM:SS LEVEL message` in local time', () => {
  const out = capture();
  const log = createLogger({ level: 'debug', stream: out, clock: () => new Date(2026, 0, 2, 3, 4, 5) });
  log.debug('d');
  log.info('i');
  log.warning('w');
  log.error('e');
  assert.deepEqual(out.lines(), [
    '2026-01-02 03:04:05 DEBUG d',
    '2026-01-02 03:04:05 INFO i',
    '2026-01-02 03:04:05 WARNING w',
    '2026-01-02 03:04:05 ERROR e',
  ]);
});

test('messages below the level are dropped; enabled() agrees', () => {
  const out = capture();
  const log = createLogger({ level: 'warning', stream: out });
  log.debug('no');
  log.info('no');
  log.warning('yes');
  log.error('yes');
  assert.equal(out.lines().length, 2);
  assert.equal(log.enabled('info'), false);
  assert.equal(log.enabled('error'), true);
});

test('one line per message, even with newlines in it', () => {
  const out = capture();
  createLogger({ stream: out }).info('a\nb\r\nc');
  assert.equal(out.lines().length, 1);
  assert.match(out.text(), /INFO a \| b \| c\n$/);
});

test('redacted secrets never reach the stream', () => {
  const out = capture();
  const log = createLogger({ level: 'debug', stream: out });
  log.redact('s3cr3t-token');
  log.error('failed with s3cr3t-token and again s3cr3t-token');
  assert.ok(!out.text().includes('s3cr3t-token'));
  assert.match(out.text(), /failed with \[redacted\] and again \[redacted\]/);
});

test('errorText keeps the message on one line', () => {
  assert.equal(errorText(new Error('a\n  b')), 'a b');
  assert.equal(errorText('plain'), 'plain');
});

test('fatal is always written; error and fatal records reach the observer, redacted', () => {
  const out = capture();
  const log = createLogger({ level: 'error', stream: out, clock: () => new Date(2026, 0, 2, 3, 4, 5) });
  const seen = [];
  log.observe((level, msg) => seen.push([level, msg]));
  log.redact('s3cr3t-token');
  log.warning('not written, not observed');
  log.error('lost a sample\nwith s3cr3t-token');
  log.fatal('uncaught exception: boom');
  assert.deepEqual(out.lines(), [
    '2026-01-02 03:04:05 ERROR lost a sample | with [redacted]',
    '2026-01-02 03:04:05 FATAL uncaught exception: boom',
  ]);
  assert.deepEqual(seen, [
    ['error', 'lost a sample | with [redacted]'],
    ['fatal', 'uncaught exception: boom'],
  ]);
});

test('a stream that failed (EPIPE) gets no more lines; records still reach the observer', () => {
  const stream = new EventEmitter();
  const written = [];
  stream.write = (line) => written.push(line);
  const log = createLogger({ stream });
  const seen = [];
  log.observe((level) => seen.push(level));
  log.info('before');
  stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  log.info('after');
  log.fatal('uncaught exception: write EPIPE');
  assert.equal(written.length, 1);
  assert.match(written[0], /INFO before/);
  assert.deepEqual(seen, ['fatal']);
});
