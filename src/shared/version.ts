import { readFileSync } from 'node:fs';

/** Crosswire's version, from package.json (dist/src/shared/version.js → ../../../package.json). */
export const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
