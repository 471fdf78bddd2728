// Validate real responses against the served OpenAPI document with a JSON Schema 2020-12 validator.
import assert from 'node:assert/strict';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { openapiDocument } from '../src/server.js';

export const spec = openapiDocument();

// components/schemas become $defs of one strict-mode schema, so typos in the document fail loudly.
const rewrite = (schema) => JSON.parse(JSON.stringify(schema).replaceAll('#/components/schemas/', 'hasync#/$defs/'));
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: 'hasync', $defs: rewrite(spec.components.schemas) });

const compiled = new Map();
function validatorFor(schema) {
  const key = JSON.stringify(schema);
  if (!compiled.has(key)) compiled.set(key, ajv.compile(rewrite(schema)));
  return compiled.get(key);
}

/** The response object documented for this path template, method and status, or undefined. */
export function documentedResponse(pathTemplate, method, status) {
  return spec.paths[pathTemplate]?.[method.toLowerCase()]?.responses?.[String(status)];
}

/**
 * Assert that a response (from harness.request) is documented and its JSON body validates.
 * @param {string} pathTemplate e.g. "/api/v1/status"
 */
export function assertConforms(pathTemplate, method, res) {
  const doc = documentedResponse(pathTemplate, method, res.status);
  assert.ok(doc, `${method} ${pathTemplate} answered ${res.status}, which the OpenAPI document does not list`);
  const [mediaType, media] = Object.entries(doc.content ?? {})[0] ?? [];
  if (!mediaType) return;
  const contentType = String(res.headers['content-type'] ?? '').split(';')[0];
  if (mediaType !== '*/*') assert.equal(contentType, mediaType, `content type of ${method} ${pathTemplate} ${res.status}`);
  if (mediaType !== 'application/json') return;
  const validate = validatorFor(media.schema);
  const ok = validate(res.json);
  assert.ok(ok, `${method} ${pathTemplate} ${res.status} does not match its schema: ${ajv.errorsText(validate.errors)}\n${res.body.slice(0, 2000)}`);
}

/** Assert that a value validates against components/schemas/<name>. */
export function assertSchema(name, value) {
  const validate = validatorFor({ $ref: `#/components/schemas/${name}` });
  assert.ok(validate(value), `${name}: ${ajv.errorsText(validate.errors)}`);
}

/**
 * Assert that one SSE event (from harness.openEvents: string fields) matches the per-event schema of
 * GET /api/v1/events, and that its data is a StatusDocument.
 */
export function assertEventConforms(ev) {
  const media = documentedResponse('/api/v1/events', 'get', 200).content['text/event-stream'];
  const parsed = { ...ev, ...(ev.retry !== undefined ? { retry: Number(ev.retry) } : {}) };
  const validate = validatorFor(media.schema);
  assert.ok(validate(parsed), `event does not match its schema: ${ajv.errorsText(validate.errors)}`);
  assertSchema('StatusDocument', JSON.parse(ev.data));
}
