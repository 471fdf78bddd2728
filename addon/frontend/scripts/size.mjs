// Prints raw and gzipped sizes of the built JS and CSS (goal: JS < 50 kB gzipped).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const dir = new URL('../dist/assets/', import.meta.url).pathname;
const kB = (n) => (n / 1000).toFixed(1) + ' kB';
const totals = {};
for (const name of readdirSync(dir).sort()) {
  const ext = name.split('.').pop();
  if (ext !== 'js' && ext !== 'css') continue;
  const buf = readFileSync(join(dir, name));
  const gz = gzipSync(buf, { level: 9 }).length;
  totals[ext] = { raw: (totals[ext]?.raw ?? 0) + buf.length, gz: (totals[ext]?.gz ?? 0) + gz };
  console.log(`${name.padEnd(32)} ${kB(buf.length).padStart(9)} raw ${kB(gz).padStart(9)} gzip`);
}
for (const [ext, t] of Object.entries(totals)) {
  console.log(`total ${ext.padEnd(26)} ${kB(t.raw).padStart(9)} raw ${kB(t.gz).padStart(9)} gzip`);
}
const js = totals.js?.gz ?? 0;
if (js >= 50_000) {
  console.error(`JS bundle is ${kB(js)} gzipped, over the 50 kB goal`);
  process.exitCode = 1;
}
