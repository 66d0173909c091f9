/**
 * Crossbar's HTTP bridge callee, `crossbar.bridge.rest.RESTCallee` (crossbar/bridge/rest/callee.py
 * of https://github.com/crossbario/crossbar): a component that registers `extra.procedure` and
 * turns each call into an HTTP request below `extra.baseurl`. Crosswire runs it as a built-in
 * JavaScript component of a container (src/container/rest-callee.ts); this is its `extra`, checked.
 */
import { isValidUri } from '../shared/wamp/uris.js';
import { ConfigError } from './section.js';

/** The classnames Crossbar has used for it (crossbar.adapter.rest before the bridge rename). */
export const REST_CALLEE = /^crossbar\.(bridge|adapter)\.rest\.RESTCallee$/;

export interface RestCalleeOptions {
  procedure: string;
  /** The base URL, normalised (WHATWG URL serialisation). */
  baseurl: string;
  /** Seconds an HTTP request may take, from connecting to the last byte of the answer. */
  timeout: number;
  /** Largest response body, bytes. */
  content_limit: number;
  /** Calls in HTTP flight at once (also REGISTER.Options.concurrency). */
  concurrency: number;
}

export const REST_CALLEE_DEFAULTS = { timeout: 10, content_limit: 1024 * 1024, concurrency: 16 };
const KEYS = ['procedure', 'baseurl', 'timeout', 'content_limit', 'concurrency'];

/** `extra` of a RESTCallee component at `path` (…components[i]), checked with defaults filled in. */
export function restCalleeOptions(extra: unknown, path: string): RestCalleeOptions {
  const at = `${path}.extra`;
  if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) {
    throw new ConfigError(`${at}: must be an object with "procedure" (the WAMP URI to register) and "baseurl" (an http:// or https:// URL)`);
  }
  const e = extra as Record<string, unknown>;
  for (const k of Object.keys(e)) {
    // Crossbar ignores keys it does not read; a misspelt limit would silently be the default here.
    if (!KEYS.includes(k)) throw new ConfigError(`${at}.${k}: unknown key (the RESTCallee reads ${KEYS.join(', ')})`);
  }
  if (!isValidUri(e.procedure, 'loose')) throw new ConfigError(`${at}.procedure: is required: the WAMP URI of the procedure to register (e.g. "com.myapp.rest")`);
  if (typeof e.baseurl !== 'string' || e.baseurl === '') throw new ConfigError(`${at}.baseurl: is required: the http:// or https:// URL the calls' urls are joined to`);
  let base: URL;
  try {
    base = new URL(e.baseurl);
  } catch {
    throw new ConfigError(`${at}.baseurl: '${e.baseurl}' is not a URL`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new ConfigError(`${at}.baseurl: must be an http:// or https:// URL, not ${base.protocol}`);
  if (base.hash !== '') throw new ConfigError(`${at}.baseurl: must not have a #fragment`);
  const num = (k: 'timeout' | 'content_limit' | 'concurrency', ok: (n: number) => boolean, what: string): number => {
    const v = e[k] ?? REST_CALLEE_DEFAULTS[k];
    if (typeof v !== 'number' || !ok(v)) throw new ConfigError(`${at}.${k}: must be ${what}`);
    return v;
  };
  return {
    procedure: e.procedure,
    baseurl: base.href,
    timeout: num('timeout', (n) => n > 0 && n <= 600, 'seconds, 0 < timeout <= 600 (default 10)'),
    content_limit: num('content_limit', (n) => Number.isInteger(n) && n >= 1 && n <= 16 * 1024 * 1024, 'bytes, an integer 1…16777216 (default 1048576)'),
    concurrency: num('concurrency', (n) => Number.isInteger(n) && n >= 1 && n <= 1000, 'an integer 1…1000 (default 16)'),
  };
}
