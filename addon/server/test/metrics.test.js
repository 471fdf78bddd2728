import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMetrics } from '../src/metrics.js';

const MiB = 1024 * 1024;

/** A cgroup reader whose figures the test moves, and a clock the test controls (ms). */
function fakes({ limit = 512 * MiB, capacity = 2 } = {}) {
  const state = { now: 1000, usedBytes: 128 * MiB, cpuUsec: 0, reads: 0 };
  const cgroup = {
    version: 'v2',
    read: () => {
      state.reads++;
      return { memoryUsedBytes: state.usedBytes, memoryLimitBytes: limit, cpuUsageUsec: state.cpuUsec, cpuCapacity: capacity };
    },
  };
  const metrics = createMetrics({ cgroup, now: () => state.now });
  return { state, metrics };
}

test('container CPU % is usage over the window as a share of the CPU capacity', (t) => {
  const { state, metrics } = fakes();
  t.after(() => metrics.stop());
  state.now += 10_000;
  state.cpuUsec += 5_000_000; // 5 s of CPU in 10 s on 2 CPUs
  const w = metrics.closeWindow();
  assert.equal(w.container_cpu_percent, 25);
  assert.ok(w.process_cpu_percent >= 0 && w.process_cpu_percent <= 100);
  assert.equal(w.memory_bytes, 128 * MiB);
  assert.ok(w.rss_bytes > 0);
  assert.equal(metrics.snapshot().container.cpu_percent, 25, 'the status document shows the last window');

  state.now += 10_000;
  state.cpuUsec += 60_000_000; // more than the capacity: capped
  assert.equal(metrics.closeWindow().container_cpu_percent, 100);
});

test('memory percent against the limit; null without a limit', (t) => {
  const limited = fakes();
  t.after(() => limited.metrics.stop());
  assert.deepEqual(
    { ...limited.metrics.snapshot().container, cpu_percent: 'x' },
    { cgroup: 'v2', memory_used_bytes: 128 * MiB, memory_limit_bytes: 512 * MiB, memory_percent: 25, cpu_percent: 'x' },
  );
  const unlimited = fakes({ limit: null });
  t.after(() => unlimited.metrics.stop());
  assert.equal(unlimited.metrics.snapshot().container.memory_percent, null);
});

test('windows shorter than 100 ms give null CPU figures rather than noise', (t) => {
  const { state, metrics } = fakes();
  t.after(() => metrics.stop());
  state.now += 50;
  state.cpuUsec += 40_000;
  const w = metrics.closeWindow();
  assert.equal(w.container_cpu_percent, null);
  assert.equal(w.process_cpu_percent, null);
});

test('before the first window closes, the snapshot measures the partial window', (t) => {
  const { state, metrics } = fakes();
  t.after(() => metrics.stop());
  state.now += 4000;
  state.cpuUsec += 800_000;
  assert.equal(metrics.snapshot().container.cpu_percent, 10);
});

test('the cgroup is read at most once a second for snapshots', (t) => {
  const { state, metrics } = fakes();
  t.after(() => metrics.stop());
  const before = state.reads;
  for (let i = 0; i < 100; i++) metrics.snapshot();
  assert.equal(state.reads - before, 1);
  state.now += 1000;
  metrics.snapshot();
  assert.equal(state.reads - before, 2);
});

test('process figures come from the running process', (t) => {
  const { metrics } = fakes();
  t.after(() => metrics.stop());
  const p = metrics.snapshot().process;
  assert.ok(p.rss_bytes > 10 * MiB);
  assert.ok(p.heap_used_bytes > 0 && p.heap_used_bytes <= p.heap_total_bytes);
});
