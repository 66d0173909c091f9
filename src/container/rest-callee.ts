/**
 * Crossbar's HTTP bridge callee (`crossbar.bridge.rest.RESTCallee`, crossbar/bridge/rest/callee.py
 * of https://github.com/crossbario/crossbar) as a built-in JavaScript component: the container's
 * Node process runs it like a `module` component (src/container/host-process.ts), with the extra
 * checked by src/config/rest-callee.ts.
 *
 * It registers `procedure`; a call's `method`, `url` (joined to `baseurl` as a relative URL),
 * `body`, `headers` and `params` (positional in that order, or keyword) become one HTTP request,
 * whose answer is the result `{code, content, headers}`, as Crossbar's. Unlike Crossbar's, the
 * joined URL must stay below `baseurl`, a request has a deadline and a body size bound, and at
 * most `concurrency` requests are in flight. Redirects are followed for GET and HEAD while they
 * stay below `baseurl` (others are the result, as any status).
 *
 * The request is made with node:http/node:https rather than fetch: fetch merges repeated response
 * headers into one value (Crossbar gives each as its own list entry), refuses a body on GET, and
 * hides the raw body size while it arrives.
 */
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import autobahn, { type Session } from 'autobahn';
import type { RestCalleeOptions } from '../config/rest-callee.js';
import { canonical } from '../http/header-names.js';

export const INVALID_ARGUMENT = 'wamp.error.invalid_argument';
/** Autobahn's URI for an exception in a callee: what a Crossbar caller sees when treq fails. */
export const RUNTIME_ERROR = 'wamp.error.runtime_error';
/** Crossbar's URI for a callee without room (as the dealer's REGISTER.Options.concurrency). */
export const MAX_CONCURRENCY = 'crossbar.error.max_concurrency_reached';

/** The call's arguments, in the order of Crossbar's `on_call(method, url, body, headers, params)`. */
const NAMES = ['method', 'url', 'body', 'headers', 'params'] as const;
/** RFC 9110 token (methods and header names). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Characters Node refuses in a header value (CR, LF, NUL, other controls). */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/**
 * Set by Crosswire, not by the caller: the body decides the framing (a caller's value could
 * contradict it: request smuggling on a kept-alive connection), the baseurl the Host (another
 * Host reaches another virtual host behind the same address, outside the baseurl).
 */
const RESERVED = new Map([
  ['content-length', 'is set from the body'],
  ['transfer-encoding', 'is set from the body'],
  ['host', "is the baseurl's host"],
]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

export interface RestResult {
  code: number;
  content: string;
  headers: Record<string, string[]>;
}

interface Request {
  method: string;
  url: URL;
  body: Buffer;
  headers: Record<string, string[]>;
}

const invalid = (message: string): InstanceType<typeof autobahn.Error> => new autobahn.Error(INVALID_ARGUMENT, [message]);

class Failure extends Error {
  constructor(
    readonly reason: 'timeout' | 'too_large' | 'network',
    message: string,
  ) {
    super(message);
  }
}

/** The charset of a Content-Type value (treq's text_content: charset, else UTF-8 for JSON, else ISO-8859-1). */
function decode(body: Buffer, contentType: string | undefined): string {
  const [type = '', ...params] = (contentType ?? '').split(';').map((s) => s.trim());
  let charset: string | null = null;
  for (const p of params) {
    const m = /^charset\s*=\s*["']?([^"';\s]+)["']?$/i.exec(p);
    if (m) charset = m[1]!.toLowerCase();
  }
  if (charset === null && type.toLowerCase() === 'application/json') charset = 'utf-8';
  if (charset !== null && charset !== 'iso-8859-1' && charset !== 'latin1') {
    try {
      return new TextDecoder(charset).decode(body);
    } catch {
      // a charset TextDecoder does not know: ISO-8859-1, as without one
    }
  }
  return body.toString('latin1');
}

export class RestCallee {
  readonly base: URL;
  /** The directory of baseurl's path: a joined URL's path must start with it. */
  readonly scope: string;
  inFlight = 0;

  constructor(readonly o: RestCalleeOptions) {
    this.base = new URL(o.baseurl);
    this.scope = this.base.pathname.slice(0, this.base.pathname.lastIndexOf('/') + 1);
  }

  /** Whether `u` is below baseurl: same scheme, host and port, and its path under baseurl's directory. */
  within(u: URL): boolean {
    return u.protocol === this.base.protocol && u.host === this.base.host && u.pathname.startsWith(this.scope);
  }

  /** The invocation handler: a result, or an autobahn.Error (sent as the call's ERROR). */
  async call(args: unknown[] | undefined, kwargs: Record<string, unknown> | undefined): Promise<RestResult> {
    const r = this.parse(args ?? [], kwargs ?? {});
    if (this.inFlight >= this.o.concurrency) {
      throw new autobahn.Error(MAX_CONCURRENCY, [`the RESTCallee has ${this.o.concurrency} HTTP requests in flight (extra.concurrency); try again later`]);
    }
    this.inFlight++;
    try {
      return await this.fetch(r);
    } catch (err) {
      if (!(err instanceof Failure)) throw err;
      throw new autobahn.Error(RUNTIME_ERROR, [err.message], { reason: err.reason, method: r.method, url: `${r.url.pathname}${r.url.search}` });
    } finally {
      this.inFlight--;
    }
  }

  parse(args: unknown[], kwargs: Record<string, unknown>): Request {
    if (!Array.isArray(args) || args.length > NAMES.length) throw invalid(`at most ${NAMES.length} positional arguments (${NAMES.join(', ')})`);
    const v: Record<string, unknown> = {};
    for (const [i, x] of args.entries()) v[NAMES[i]!] = x;
    for (const [k, x] of Object.entries(kwargs)) {
      if (!(NAMES as readonly string[]).includes(k)) throw invalid(`unknown keyword argument '${k}' (the RESTCallee takes ${NAMES.join(', ')})`);
      if (k in v) throw invalid(`'${k}' is given twice (positionally and as a keyword)`);
      v[k] = x;
    }
    if (typeof v.method !== 'string' || !TOKEN.test(v.method)) throw invalid("'method' is required: an HTTP method such as \"GET\" or \"POST\"");
    const method = v.method.toUpperCase(); // treq does the same
    const rel = v.url ?? '';
    if (typeof rel !== 'string') throw invalid("'url' must be a string (a URL relative to the baseurl)");
    let url: URL;
    try {
      url = new URL(rel, this.base);
    } catch {
      throw invalid(`'url' ${JSON.stringify(rel)} is not a URL relative to the baseurl`);
    }
    if (!this.within(url)) throw invalid(`'url' ${JSON.stringify(rel)} leads outside the baseurl (${this.base.origin}${this.scope})`);
    url.hash = '';
    const body = v.body ?? '';
    if (typeof body !== 'string') throw invalid("'body' must be a string");
    const headers: Record<string, string[]> = {};
    const names = new Map<string, string>();
    for (const [name, value] of Object.entries(dict(v.headers, 'headers'))) {
      if (!TOKEN.test(name)) throw invalid(`header name ${JSON.stringify(name)} is not an HTTP token`);
      const reserved = RESERVED.get(name.toLowerCase());
      if (reserved !== undefined) throw invalid(`header '${name}' ${reserved}; leave it out`);
      const values = typeof value === 'string' ? [value] : value;
      if (!Array.isArray(values) || !values.every((x) => typeof x === 'string')) throw invalid(`header '${name}' must be a string or a list of strings`);
      for (const x of values) if (BAD_VALUE.test(x)) throw invalid(`header '${name}' has a character not allowed in a header value (a control character or beyond U+00FF)`);
      // Names differing only in case are one header (as Twisted's Headers).
      const key = names.get(name.toLowerCase()) ?? name;
      names.set(name.toLowerCase(), key);
      (headers[key] ??= []).push(...values);
    }
    let query = url.search.slice(1);
    for (const [k, x] of Object.entries(dict(v.params, 'params'))) {
      if (typeof x !== 'string') throw invalid(`query parameter '${k}' must be a string`);
      query += `${query === '' ? '' : '&'}${encodeURIComponent(k)}=${encodeURIComponent(x)}`;
    }
    url.search = query;
    return { method, url, body: Buffer.from(body, 'utf8'), headers };
  }

  /** The request, following redirects for GET and HEAD while they stay below baseurl, all within one deadline. */
  async fetch(r: Request): Promise<RestResult> {
    const deadline = Date.now() + this.o.timeout * 1000;
    let url = r.url;
    for (let hops = 0; ; hops++) {
      const res = await this.once({ ...r, url }, deadline);
      const location = res.headers.Location?.[0];
      if (!REDIRECTS.has(res.code) || (r.method !== 'GET' && r.method !== 'HEAD') || location === undefined || hops === MAX_REDIRECTS) return res;
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        return res;
      }
      if (!this.within(next)) return res; // not followed: the caller sees the redirect
      next.hash = '';
      url = next;
    }
  }

  once(r: Request, deadline: number): Promise<RestResult> {
    const at = `${r.method} ${r.url.pathname}${r.url.search}`;
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (err: Failure | null, result?: RestResult) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err !== null) {
          req.destroy();
          reject(err);
        } else resolve(result!);
      };
      const send = r.url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(r.url, { method: r.method, headers: r.headers });
      const timer = setTimeout(() => finish(new Failure('timeout', `${at}: no complete answer within ${this.o.timeout} s (extra.timeout)`)), Math.max(0, deadline - Date.now()));
      const tooLarge = () => new Failure('too_large', `${at}: the answer's body is larger than ${this.o.content_limit} bytes (extra.content_limit)`);
      req.on('error', (err: NodeJS.ErrnoException) => finish(new Failure('network', `${at}: ${err.code !== undefined ? `${err.code}: ` : ''}${err.message}`)));
      req.on('response', (res: IncomingMessage) => {
        const length = Number(res.headers['content-length']);
        if (Number.isFinite(length) && length > this.o.content_limit) return finish(tooLarge());
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.o.content_limit) return finish(tooLarge());
          chunks.push(c);
        });
        res.on('error', (err) => finish(new Failure('network', `${at}: ${err.message}`)));
        res.on('aborted', () => finish(new Failure('network', `${at}: the connection closed before the answer was complete`)));
        res.on('end', () => {
          const headers: Record<string, string[]> = {};
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) (headers[canonical(res.rawHeaders[i]!.toLowerCase())] ??= []).push(res.rawHeaders[i + 1]!);
          // The last Content-Type, as treq reads it.
          finish(null, { code: res.statusCode ?? 0, content: decode(Buffer.concat(chunks), headers['Content-Type']?.at(-1)), headers });
        });
      });
      req.end(r.body.length > 0 ? r.body : undefined);
    });
  }
}

function dict(v: unknown, name: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(`'${name}' must be a dict`);
  return v as Record<string, unknown>;
}

/** The component: registers `extra.procedure` on each session it is given (after each reconnect). */
export default async function restCallee(session: Session, _details: unknown, extra: RestCalleeOptions): Promise<void> {
  const callee = new RestCallee(extra);
  // AutobahnJS prints every error an invocation handler throws (on_user_error, default
  // console.error); a refused argument is the caller's mistake, answered with the ERROR.
  const s = session as unknown as { _on_user_error?: (err: unknown, message: string) => void };
  const previous = s._on_user_error;
  s._on_user_error = (err, message) => {
    if (err instanceof autobahn.Error) return;
    if (typeof previous === 'function') previous(err, message);
    else console.error(message, err);
  };
  await session.register(extra.procedure, (args, kwargs) => callee.call(args, kwargs), { concurrency: extra.concurrency });
}
