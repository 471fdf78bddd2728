// Supervisor discovery: tells Home Assistant where the server is and which token to use. Supervisor
// keeps the message and hands it to the integration's async_step_hassio.
import os from 'node:os';
import { http } from './builtins.js';

// node:http rather than fetch(): fetch loads undici, +13 MB RSS for one POST.
const DISCOVERY_SERVICE = 'hasync';
const TIMEOUT_MS = 5000;

/**
 * @param {import('./config.js').SupervisorConfig} supervisor
 * @param {{port: number, token: string}} service
 * @returns {Promise<void>} rejects with a message that never contains the token
 */
export function announce(supervisor, { port, token }) {
  const url = new URL(`${supervisor.url}/discovery`);
  const body = JSON.stringify({
    service: DISCOVERY_SERVICE,
    config: { host: supervisor.advertiseHost ?? os.hostname(), port, token },
  });
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${supervisor.token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
        timeout: TIMEOUT_MS,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.length < 16 && chunks.push(c));
        res.on('error', () => reject(new Error(`Supervisor discovery at ${supervisor.url}: response aborted`)));
        res.on('end', () => {
          if (res.statusCode >= 200 && res.statusCode < 300) return resolve();
          reject(new Error(`Supervisor discovery answered HTTP ${res.statusCode}${supervisorMessage(chunks)}`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
    req.on('error', (err) => {
      reject(new Error(`Supervisor discovery unreachable at ${supervisor.url}: ${err.code ?? err.message}`));
    });
    req.end(body);
  });
}

/** Supervisor errors look like {"result":"error","message":"..."}; anything else is not worth logging. */
function supervisorMessage(chunks) {
  try {
    const json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return typeof json?.message === 'string' ? `: ${json.message.slice(0, 200)}` : '';
  } catch {
    return '';
  }
}
