import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'vite';

// Writes dist/hasync-build.json; build_id is a short hash over every emitted file, so it changes
// exactly when the served page changes. The server's `frontend` check reports it.
/** @returns {import('vite').Plugin} */
function buildManifest() {
  return {
    name: 'hasync-build-manifest',
    apply: 'build',
    writeBundle(options, bundle) {
      const hash = createHash('sha256');
      for (const name of Object.keys(bundle).sort()) {
        const out = bundle[name];
        hash.update(name).update('\0').update(out.type === 'chunk' ? out.code : out.source).update('\0');
      }
      const manifest = { build_id: hash.digest('hex').slice(0, 12), built_at: new Date().toISOString() };
      writeFileSync(join(options.dir ?? 'dist', 'hasync-build.json'), JSON.stringify(manifest) + '\n');
    },
  };
}

export default defineConfig({
  base: './', // HA serves ingress under /api/hassio_ingress/<session>/, so every URL is relative
  plugins: [buildManifest()],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', assetsInlineLimit: 0 },
});
