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
 * @returns {Promise<string>} the new plain token
 */
export async function rotateToken(db, hasher, cost = TOKEN_BCRYPT_COST) {
  const token = generateToken();
  db.writeTokenHash(await hasher.hash(token, cost));
  return token;
}

/**
 * Create a token on first start.
 * @returns {Promise<string|null>} the new plain token, or null when one was already stored
 */
export async function ensureToken(db, hasher, cost = TOKEN_BCRYPT_COST) {
  if (db.readToken()) return null;
  return rotateToken(db, hasher, cost);
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
