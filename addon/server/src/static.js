// The ingress page: index.html and the Vite build's hashed assets, from HASYNC_FRONTEND_DIR.
import { fs } from './builtins.js';
import path from 'node:path';

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

/**
 * Map a request path under /assets/ to a file inside <root>/assets, or null when it would escape it
 * (`..`, encoded slashes or backslashes, NUL bytes) or is malformed.
 * @param {string} root
 * @param {string} urlPath  the raw path, e.g. "/assets/index-1a2b.js"
 * @returns {string|null}
 */
export function resolveAsset(root, urlPath) {
  let rel;
  try {
    rel = decodeURIComponent(urlPath.slice('/assets/'.length));
  } catch {
    return null;
  }
  if (rel === '' || rel.includes('\0') || rel.includes('\\')) return null;
  const base = path.join(root, 'assets');
  const file = path.resolve(base, rel);
  return file.startsWith(base + path.sep) ? file : null;
}

/**
 * @param {import('node:http').IncomingMessage} req
 * @param {import('node:http').ServerResponse} res
 * @param {string} file
 * @param {string} cacheControl
 * @returns {Promise<boolean>} false when the file does not exist (the caller answers 404)
 */
export async function sendFile(req, res, file, cacheControl) {
  let st;
  try {
    st = await fs.promises.stat(file);
  } catch {
    return false;
  }
  if (!st.isFile()) return false;
  res.writeHead(200, {
    'content-type': CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
    'content-length': st.size,
    'cache-control': cacheControl,
    'last-modified': st.mtime.toUTCString(),
    'x-content-type-options': 'nosniff',
  });
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  await new Promise((resolve) => {
    const stream = fs.createReadStream(file);
    stream.on('error', () => {
      res.destroy();
      resolve();
    });
    stream.on('end', resolve);
    res.on('close', () => {
      stream.destroy();
      resolve();
    });
    stream.pipe(res);
  });
  return true;
}

export const CACHE_IMMUTABLE = 'public, max-age=31536000, immutable';
export const CACHE_REVALIDATE = 'no-cache';
