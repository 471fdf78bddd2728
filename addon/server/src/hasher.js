// bcrypt for tokens, with bcryptjs (pure JS, same $2b$ format) as the fallback. When native bcrypt
// fails to load or self-test, the server must still authenticate the API so that it can report that
// very failure to Home Assistant. bcryptjs is imported only when needed (it costs ~5 MB RSS).

let bcryptjs = null;
const fallback = async () => (bcryptjs ??= (await import('bcryptjs')).default);

/**
 * @param {() => any} nativeBcrypt returns the native module while it is healthy, else null
 */
export function createHasher(nativeBcrypt) {
  const impl = async () => nativeBcrypt() ?? (await fallback());
  return {
    /** @param {string} secret @param {number} cost @returns {Promise<string>} */
    hash: async (secret, cost) => (await impl()).hash(secret, cost),
    /** @param {string} secret @param {string} hash @returns {Promise<boolean>} */
    compare: async (secret, hash) => (await impl()).compare(secret, hash),
  };
}
