// A stand-in for the Supervisor API's POST /discovery, on 127.0.0.1.
import http from 'node:http';

/**
 * @param {import('node:test').TestContext} t
 * @param {{status?: number, body?: object}} [answer]
 */
export async function fakeSupervisor(t, answer = {}) {
  const calls = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      calls.push({ method: req.method, url: req.url, headers: req.headers, body: JSON.parse(body || 'null') });
      res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.body ?? { result: 'ok', data: { uuid: 'c0ffee' } }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${server.address().port}`, calls };
}
