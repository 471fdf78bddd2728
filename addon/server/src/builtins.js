// Node builtins that cost memory when imported as ES modules: an ES import evaluates every lazy
// export of the builtin (node:http then loads undici and compiles its WASM parser, +13 MB RSS on
// Node 24; node:fs loads fs/promises and the stream classes, +2.5 MB). require() keeps them lazy.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** @type {typeof import('node:fs')} */
export const fs = require('node:fs');
/** @type {typeof import('node:net')} */
export const net = require('node:net');
/** @type {typeof import('node:http')} */
export const http = require('node:http');
