// JSON responses. Every error body is {"error": <machine code>, "reason": <human text>}.

/**
 * @param {import('node:http').ServerResponse} res
 * @param {number} status
 * @param {object|string|Buffer} body  an object, or pre-serialized JSON
 * @param {Record<string, string|number>} [headers]
 */
export function sendJson(res, status, body, headers) {
  const data = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(data),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(data);
}

/**
 * @param {import('node:http').ServerResponse} res
 * @param {number} status
 * @param {string} error
 * @param {string} reason
 * @param {Record<string, string|number>} [headers]
 */
export function sendError(res, status, error, reason, headers) {
  sendJson(res, status, { error, reason }, headers);
}
