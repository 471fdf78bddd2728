// The server version: package.json is the single source (the add-on's config.yaml is kept equal by a test).
import { fs } from './builtins.js';

export const VERSION = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
