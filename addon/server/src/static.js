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
 * Send a file that lies inside root once symbolic links are resolved: a link in the build folder that
 * leads outside it (say to /etc/passwd) is answered like a missing file. The file is opened once
 * (O_NOFOLLOW, so the checked path cannot be swapped for a link afterwards) and sent from that
 * descriptor. `If-Modified-Since` no older than the file's mtime gets 304 without a body.
 * @param {import('node:http').IncomingMessage} req
 * @param {import('node:http').ServerResponse} res
 * @param {string} root  the static root (HASYNC_FRONTEND_DIR)
 * @param {string} file  inside root by its path (resolveAsset or a fixed name)
 * @param {string} cacheControl
 * @param {(err: Error) => boolean} outOfFiles  reports EMFILE/ENFILE (resources.js); true if it was one
 * @returns {Promise<'sent'|'missing'|'busy'>} missing: the caller answers 404; busy: out of file
 *   descriptors, the caller answers 503
 */
export async function sendFile(req, res, root, file, cacheControl, outOfFiles) {
  let handle;
  try {
    const [realRoot, real] = await Promise.all([fs.promises.realpath(root), fs.promises.realpath(file)]);
    if (!real.startsWith(realRoot + path.sep)) return 'missing';
    handle = await fs.promises.open(real, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    return outOfFiles(err) ? 'busy' : 'missing';
  }
  let st;
  try {
    st = await handle.stat();
  } catch (err) {
    await handle.close();
    return outOfFiles(err) ? 'busy' : 'missing';
  }
  if (!st.isFile()) {
    await handle.close();
    return 'missing';
  }
  const headers = {
    'cache-control': cacheControl,
    'last-modified': st.mtime.toUTCString(),
    'x-content-type-options': 'nosniff',
  };
  // HTTP dates have whole seconds: compare the mtime rounded down.
  const since = Date.parse(req.headers['if-modified-since'] ?? '');
  if (!Number.isNaN(since) && Math.floor(st.mtimeMs / 1000) * 1000 <= since) {
    await handle.close();
    res.writeHead(304, headers);
    res.end();
    return 'sent';
  }
  res.writeHead(200, {
    'content-type': CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
    'content-length': st.size,
    ...headers,
  });
  if (req.method === 'HEAD') {
    await handle.close();
    res.end();
    return 'sent';
  }
  await new Promise((resolve) => {
    const stream = handle.createReadStream();
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
  return 'sent';
}

export const CACHE_IMMUTABLE = 'public, max-age=31536000, immutable';
export const CACHE_REVALIDATE = 'no-cache';
