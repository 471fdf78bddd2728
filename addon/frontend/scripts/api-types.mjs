// The page's types of the server API, generated from the server's OpenAPI document: the one source of
// the status document's schema. `npm run types` writes src/openapi.d.ts (committed, so building needs
// no generator); test/api-types.test.mjs fails while it is stale.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import openapiTS from 'openapi-typescript';

export const SCHEMA = new URL('../../server/src/openapi.json', import.meta.url);
export const TYPES = new URL('../src/openapi.d.ts', import.meta.url);

/** The text of src/openapi.d.ts for a document (the server's, unless another is given). */
export async function generate(schema) {
  return openapiTS(schema ?? JSON.parse(await readFile(SCHEMA, 'utf8')));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await writeFile(TYPES, await generate());
  console.log(`wrote ${fileURLToPath(TYPES)}`);
}
