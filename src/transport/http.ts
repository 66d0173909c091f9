import { readFileSync } from 'node:fs';
import type { HttpResponse } from '../uws.js';

export const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Writes a complete small HTTP response (status, Server header, extra headers, body). */
export function reply(res: HttpResponse, server: string, status: string, body: string, headers: Record<string, string> = {}): void {
  res.cork(() => {
    res.writeStatus(status).writeHeader('Server', server);
    for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
    res.end(body);
  });
}

const escape = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/**
 * Crossbar's WebSocket status page (`enable_webstatus`): a plain GET gets a small HTML page;
 * `?redirect=<url>&after=<seconds>` makes it redirect (autobahn `sendServerStatus`).
 */
export function statusPage(url: string | null, redirect: string, after: string): string {
  const secs = /^\d{1,5}$/.test(after) ? after : '0';
  const refresh = redirect !== '' ? `<meta http-equiv="refresh" content="${secs};URL='${escape(redirect)}'">` : '';
  return (
    `<!doctype html><html><head><meta charset="utf-8">${refresh}<title>Crosswire</title></head><body>` +
    `<p>This is a Crosswire WAMP router. Connect with a WAMP client over WebSocket${url ? ` at ${escape(url)}` : ''}.</p>` +
    '</body></html>\n'
  );
}

/** The explicit port of a Host header value, or null (`host`, `host:port`, `[v6]`, `[v6]:port`). */
export function hostPort(host: string): number | null {
  const m = /^(?:\[[^\]]*\]|[^:[\]]*)(?::(\d+))?$/.exec(host.trim());
  return m?.[1] !== undefined ? Number(m[1]) : null;
}
