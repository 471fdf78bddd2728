// The status document's `effective` section (the figures clients judge) and the promise that the server
// sends every member the schema lists, although clients must take a nullable member left out.
import assert from 'node:assert/strict';
import path from 'node:path';
import test from 'node:test';
import { effectiveFigures } from '../src/status.js';
import { FIXTURES, request, startApp } from '../test-support/harness.js';
import { assertConforms, spec } from '../test-support/openapi.js';

const cgroup = (name) => ({
  root: path.join(FIXTURES, 'cgroup', name, 'root'),
  procCgroup: path.join(FIXTURES, 'cgroup', name, 'proc-self-cgroup'),
  cpuCount: 2,
});

test('effective figures: the container figure where measured, else the process figure, each with its source', () => {
  const process = { rss_bytes: 50, cpu_percent: 1.5 };
  assert.deepEqual(effectiveFigures(process, { memory_used_bytes: 80, cpu_percent: 0.5 }), {
    memory_bytes: 80,
    memory_source: 'container',
    cpu_percent: 0.5,
    cpu_source: 'container',
  });
  // Each figure on its own: a cgroup without CPU accounting still gives its memory.
  assert.deepEqual(effectiveFigures(process, { memory_used_bytes: 80, cpu_percent: null }), {
    memory_bytes: 80,
    memory_source: 'container',
    cpu_percent: 1.5,
    cpu_source: 'process',
  });
  assert.deepEqual(effectiveFigures({ rss_bytes: null, cpu_percent: null }, { memory_used_bytes: null, cpu_percent: null }), {
    memory_bytes: null,
    memory_source: 'process',
    cpu_percent: null,
    cpu_source: 'process',
  });
});

test('the status document carries the effective figures: container figures under a cgroup, process figures without', async (t) => {
  const v2 = await startApp(t, { options: { cgroup: cgroup('v2') } });
  const measured = await request(v2.base, '/api/v1/status', { token: v2.token });
  assertConforms('/api/v1/status', 'GET', measured);
  assert.equal(measured.json.effective.memory_bytes, measured.json.container.memory_used_bytes);
  assert.equal(measured.json.effective.memory_source, 'container');

  const none = await startApp(t, { options: { cgroup: cgroup('none') } });
  const unmeasured = await request(none.base, '/api/v1/status', { token: none.token });
  assertConforms('/api/v1/status', 'GET', unmeasured);
  const { effective, process } = unmeasured.json;
  assert.equal(effective.memory_source, 'process');
  assert.equal(effective.cpu_source, 'process');
  // One snapshot gives both sections, so the figures are the same numbers.
  assert.equal(effective.memory_bytes, process.rss_bytes);
  assert.equal(effective.cpu_percent, process.cpu_percent);
});

test('the status document has every member the schema lists, null where not measured, never left out', async (t) => {
  const { base, token } = await startApp(t, { options: { cgroup: cgroup('none') } });
  const doc = (await request(base, '/api/v1/status', { token })).json;
  const resolve = (node) => (node.$ref ? spec.components.schemas[node.$ref.split('/').pop()] : node);
  const missing = [];
  const walk = (schema, value, where) => {
    schema = resolve(schema);
    if (schema.type === 'array') return value.forEach((item, i) => walk(schema.items, item, `${where}[${i}]`));
    for (const [name, member] of Object.entries(schema.properties ?? {})) {
      if (!(name in value)) missing.push(`${where}.${name}`);
      else if (value[name] !== null) walk(member, value[name], `${where}.${name}`);
    }
  };
  walk(spec.components.schemas.StatusDocument, doc, 'document');
  assert.deepEqual(missing, []);
});
