import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createCgroupReader, parseProcCgroup } from '../src/cgroup.js';
import { FIXTURES, tempDir } from '../test-support/harness.js';

const MiB = 1024 * 1024;
const fixture = (name, cpuCount = 4) =>
  createCgroupReader({
    root: path.join(FIXTURES, 'cgroup', name, 'root'),
    procCgroup: path.join(FIXTURES, 'cgroup', name, 'proc-self-cgroup'),
    cpuCount,
  });

test('cgroup v2: usage minus inactive_file, "max" limit is null, usage_usec, no quota means all CPUs', () => {
  const cg = fixture('v2');
  assert.equal(cg.version, 'v2');
  assert.deepEqual(cg.read(), {
    memoryUsedBytes: 100 * MiB - 20 * MiB,
    memoryLimitBytes: null,
    cpuUsageUsec: 5_000_000,
    cpuCapacity: 4,
  });
});

test('cgroup v2 without a cgroup namespace: files are read from the own cgroup below the mount', (t) => {
  const root = path.join(tempDir(t), 'cg');
  const own = path.join(root, 'docker', 'abc');
  fs.mkdirSync(own, { recursive: true });
  fs.writeFileSync(path.join(root, 'cgroup.controllers'), 'cpu memory\n');
  fs.writeFileSync(path.join(own, 'memory.current'), '268435456\n');
  fs.writeFileSync(path.join(own, 'memory.max'), '536870912\n');
  fs.writeFileSync(path.join(own, 'memory.stat'), 'inactive_file 0\n');
  fs.writeFileSync(path.join(own, 'cpu.stat'), 'usage_usec 42\n');
  fs.writeFileSync(path.join(own, 'cpu.max'), '50000 100000\n');
  const proc = path.join(root, '..', 'proc-self-cgroup');
  fs.writeFileSync(proc, '0::/docker/abc\n');
  const r = createCgroupReader({ root, procCgroup: proc, cpuCount: 8 }).read();
  assert.deepEqual(r, { memoryUsedBytes: 256 * MiB, memoryLimitBytes: 512 * MiB, cpuUsageUsec: 42, cpuCapacity: 0.5 });
});

test('cgroup v1: usage minus total_inactive_file, huge limit is null, cpuacct ns to usec, CFS quota', () => {
  const cg = fixture('v1', 8);
  assert.equal(cg.version, 'v1');
  // The listed /docker/3f2a path does not exist below the mounts (cgroup namespace): the mounts are used.
  assert.deepEqual(cg.read(), {
    memoryUsedBytes: 200 * MiB - 50 * MiB,
    memoryLimitBytes: null,
    cpuUsageUsec: 7_000_000,
    cpuCapacity: 2,
  });
});

test('cgroup v1 with a real memory limit and a quota above the CPU count', (t) => {
  const root = path.join(tempDir(t), 'root');
  fs.cpSync(path.join(FIXTURES, 'cgroup', 'v1', 'root'), root, { recursive: true });
  fs.writeFileSync(path.join(root, 'memory', 'memory.limit_in_bytes'), `${300 * MiB}\n`);
  fs.writeFileSync(path.join(root, 'cpu', 'cpu.cfs_quota_us'), '800000\n');
  const r = createCgroupReader({ root, procCgroup: path.join(FIXTURES, 'cgroup', 'v1', 'proc-self-cgroup'), cpuCount: 2 }).read();
  assert.equal(r.memoryLimitBytes, 300 * MiB);
  assert.equal(r.cpuCapacity, 2);
});

test('disabled (HASYNC_CONTAINER_METRICS=off): version none even where a cgroup v2 exists', () => {
  const cg = createCgroupReader({
    root: path.join(FIXTURES, 'cgroup', 'v2', 'root'),
    procCgroup: path.join(FIXTURES, 'cgroup', 'v2', 'proc-self-cgroup'),
    cpuCount: 2,
    enabled: false,
  });
  assert.equal(cg.version, 'none');
  assert.deepEqual(cg.read(), { memoryUsedBytes: null, memoryLimitBytes: null, cpuUsageUsec: null, cpuCapacity: 2 });
});

test('no cgroup: version none and every figure null', () => {
  const cg = fixture('none', 3);
  assert.equal(cg.version, 'none');
  assert.deepEqual(cg.read(), { memoryUsedBytes: null, memoryLimitBytes: null, cpuUsageUsec: null, cpuCapacity: 3 });
});

test('missing files give nulls, not zeros or exceptions', (t) => {
  const root = tempDir(t);
  fs.writeFileSync(path.join(root, 'cgroup.controllers'), '');
  const r = createCgroupReader({ root, procCgroup: path.join(root, 'nope'), cpuCount: 1 }).read();
  assert.deepEqual(r, { memoryUsedBytes: null, memoryLimitBytes: null, cpuUsageUsec: null, cpuCapacity: 1 });
});

test('/proc/self/cgroup parsing maps every controller of a line', () => {
  const m = parseProcCgroup('5:cpu,cpuacct:/a\n4:memory:/b\n0::/c\ngarbage\n');
  assert.equal(m.get('cpu'), '/a');
  assert.equal(m.get('cpuacct'), '/a');
  assert.equal(m.get('memory'), '/b');
  assert.equal(m.get(''), '/c');
  assert.equal(m.size, 4);
});
