// src/openapi.d.ts is generated from the server's openapi.json (`npm run types`); this fails while it is
// stale, so the page's types cannot drift from the schema the server is tested against.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import test from 'node:test';
import { generate, SCHEMA, TYPES } from '../scripts/api-types.mjs';

const committed = () => readFile(TYPES, 'utf8');
const schema = async () => JSON.parse(await readFile(SCHEMA, 'utf8'));

test("src/openapi.d.ts is what openapi-typescript makes of the server's openapi.json", async () => {
  assert.equal(await committed(), await generate(), 'src/openapi.d.ts is stale: run `npm run types` in addon/frontend');
});

test('a changed openapi.json no longer matches the committed types', async () => {
  const optional = await schema();
  const server = optional.components.schemas.StatusDocument.properties.server;
  server.required = server.required.filter((name) => name !== 'version');
  assert.notEqual(await generate(optional), await committed(), 'a member made optional');

  const added = await schema();
  added.components.schemas.StatusDocument.properties.process.properties.open_files = { type: 'integer' };
  assert.notEqual(await generate(added), await committed(), 'a member added');
});
