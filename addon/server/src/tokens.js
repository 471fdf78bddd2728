// The API token: 32 random bytes, base64url. Only its bcrypt hash is stored; the plain token exists
// in memory just long enough to be announced through discovery or printed once.
import { randomBytes } from 'node:crypto';

export const TOKEN_BCRYPT_COST = 10;

function generateToken() {
  return randomBytes(32).toString('base64url');
}

/**
 * Replace the stored token with a new one.
 * @param {import('./db.js').HasyncDb} db
 * @param {{hash(secret: string, cost: number): Promise<string>}} hasher
 * @param {number} [cost]
 * @param {{undelivered?: boolean}} [options]  undelivered: see ensureToken
 * @returns {Promise<string>} the new plain token
 */
export async function rotateToken(db, hasher, cost = TOKEN_BCRYPT_COST, { undelivered = false } = {}) {
  const token = generateToken();
  db.writeTokenHash(await hasher.hash(token, cost), { undelivered });
  return token;
}

/**
 * Create a token on first start. It is stored marked undelivered until the caller has announced or
 * printed it (db.markTokenDelivered()): a start killed in between (power loss, a watchdog) would
 * otherwise leave a token nobody has ever seen, so the next start replaces such a token.
 * @returns {Promise<string|null>} the new plain token, or null when a delivered one is stored
 */
export async function ensureToken(db, hasher, cost = TOKEN_BCRYPT_COST) {
  if (db.readToken() && !db.tokenUndelivered()) return null;
  return rotateToken(db, hasher, cost, { undelivered: true });
}

/**
 * The one place a token is ever printed. Other tools parse the `HASYNC_API_TOKEN=` line.
 * @param {string} token
 */
export function tokenBanner(token) {
  const rule = '='.repeat(72);
  return [
    rule,
    'HAsync API token (shown once; only its bcrypt hash is stored):',
    '',
    `HASYNC_API_TOKEN=${token}`,
    '',
    'Enter it in the HAsync integration in Home Assistant.',
    'To replace it: node bin/hasync.js rotate-token (the old token stops working within 5 s).',
    rule,
    '',
  ].join('\n');
}
