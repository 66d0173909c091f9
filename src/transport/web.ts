import { constants } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { extname, join, normalize, relative, sep } from 'node:path';
import mime from 'mime-types';
import type { TransportConfig, WebPathConfig, WsServiceConfig } from '../config/load.js';
import type { Logger } from '../shared/log.js';
import { allMethods, type HttpRequest, type HttpResponse, type TemplatedApp } from '../uws.js';
import type { BridgePath } from '../config/bridge.js';
import { mountReverseProxy } from '../http/reverse-proxy.js';
import { VERSION } from './http.js';
import type { WsService } from './ws-service.js';

const STARTED = new Date();
const escape = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

type Send = (res: HttpResponse, status: string, body: string | Buffer, headers?: Record<string, string>) => void;

/**
 * Mounts the path services of a `web` transport (Crossbar.io docs, "Web Services") on its uWS app and returns
 * its WebSocket services. Paths are the root `/`, single segments (`/ws`, `/info`) or, from nested
 * `path` services, several (`/api/v1/push`); a `static` service serves its directory below its path.
 */
export function mountWebPaths(
  app: TemplatedApp,
  config: TransportConfig,
  makeService: (c: WsServiceConfig, path: string) => WsService,
  log: Logger,
  mountOpsAt?: (app: TemplatedApp, kind: 'metrics' | 'health' | 'ready', path: string) => void,
  /** The client's address (behind a front, src/transport/front.ts, the socket's is not). */
  peerOf: (res: HttpResponse) => string = (res) => Buffer.from(res.getRemoteAddressAsText()).toString(),
  mountBridgeAt?: (app: TemplatedApp, p: BridgePath, transport: TransportConfig, peerOf: (res: HttpResponse) => string) => void,
): WsService[] {
  const web = config.web!;
  const services: WsService[] = [];
  const extra: Record<string, string> = web.hsts ? { 'Strict-Transport-Security': `max-age=${web.hstsMaxAge}` } : {};
  const send: Send = (res, status, body, headers = {}) => {
    res.cork(() => {
      res.writeStatus(status).writeHeader('Server', 'Crosswire');
      for (const [k, v] of Object.entries({ ...extra, ...headers })) res.writeHeader(k, v);
      res.end(body);
    });
  };
  const logged = (handler: (res: HttpResponse, req: HttpRequest) => void) =>
    web.accessLog
      ? (res: HttpResponse, req: HttpRequest) => {
          log.info({ method: req.getMethod(), url: req.getUrl(), peer: peerOf(res) }, 'http request');
          handler(res, req);
        }
      : handler;
  for (const p of config.paths!) {
    switch (p.type) {
      case 'websocket': {
        const s = makeService(p.service, p.path);
        s.mount(app, p.path);
        services.push(s);
        break;
      }
      case 'static': {
        const handler = logged(staticHandler(p, send));
        if (p.path === '/') app.get('/*', handler);
        else {
          app.get(p.path, logged((res) => send(res, '301 Moved Permanently', '', { Location: `${p.path}/` })));
          app.get(`${p.path}/*`, handler);
        }
        break;
      }
      case 'redirect':
        // Crossbar's redirect service is twisted.web.util.Redirect: 302 Found.
        allMethods(app, p.path, logged((res) => send(res, '302 Found', '', { Location: p.url })));
        break;
      case 'json': {
        const body = JSON.stringify(p.value, null, p.prettify ? 2 : undefined);
        const headers: Record<string, string> = { 'Content-Type': 'application/json; charset=utf-8' };
        if (p.allowCrossOrigin) Object.assign(headers, { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Credentials': 'true' });
        if (p.discourageCaching) headers['Cache-Control'] = 'no-store, no-cache, must-revalidate, max-age=0';
        app.get(p.path, logged((res) => send(res, '200 OK', body, headers)));
        break;
      }
      case 'nodeinfo':
        app.get(p.path, logged((res) => send(res, '200 OK', nodeInfo(), { 'Content-Type': 'text/html; charset=utf-8' })));
        break;
      case 'metrics':
      case 'health':
      case 'ready':
        if (mountOpsAt === undefined) throw new Error(`transport ${config.id}: '${p.type}' path services need a router`);
        mountOpsAt(app, p.type, p.path);
        break;
      case 'publisher':
      case 'caller':
      case 'webhook':
        if (mountBridgeAt === undefined) throw new Error(`transport ${config.id}: '${p.type}' path services need a router`);
        mountBridgeAt(app, p, config, peerOf);
        break;
      case 'subscriber':
        break; // runs in the realm worker (workers/bridge.ts); nothing is served on its path
      case 'reverseproxy':
        mountReverseProxy(app, p, log);
        break;
      case 'path':
        break; // below, after every service
    }
  }
  // A `path` service's URL and the URLs below it that none of its entries serves are 404 (as in
  // Crossbar, whose nested paths are a resource of their own), not the root static's files. uWS
  // prefers a static segment to a wildcard, so '/api/info' still beats '/api/*'; and newer uWS
  // (20.57) prefers a route of the request's method to an `any` one, so the 404 is registered for
  // every method, as the root static's GET '/*' is.
  const notFound = logged((res) => send(res, '404 Not Found', 'Not Found\n', { 'Content-Type': 'text/plain; charset=utf-8' }));
  for (const p of config.paths!) {
    if (p.type !== 'path') continue;
    if (!p.own) allMethods(app, p.path, notFound);
    if (!p.below) allMethods(app, `${p.path}/*`, notFound);
  }
  // Everything else, "/" included when no path service has it (Crossbar: a root is optional), is 404.
  app.any('/*', notFound);
  return services;
}

/** Crossbar's `nodeinfo` service: what runs here (not meant for public exposure). */
function nodeInfo(): string {
  const rows: [string, string][] = [
    ['Router', `Crosswire ${VERSION}`],
    ['Node.js', process.version],
    ['Started', STARTED.toISOString()],
    ['PID', String(process.pid)],
    ['Platform', `${process.platform}-${process.arch}`],
  ];
  return `<!doctype html><html><head><meta charset="utf-8"><title>Crosswire node info</title></head><body><h1>Crosswire node info</h1><table>${rows
    .map(([k, v]) => `<tr><th>${escape(k)}</th><td>${escape(v)}</td></tr>`)
    .join('')}</table></body></html>\n`;
}

/**
 * `static`: files below `directory`. A directory serves its index.html, or a listing when
 * `enable_directory_listing` is on; a path that does not exist serves `default_file` when set
 * (single-page apps), else 404. Like Crossbar it sends a cross-origin header, and
 * `cache_timeout` becomes Cache-Control max-age. Files are read asynchronously.
 *
 * Nothing outside the directory is served: a request path is resolved to its real path
 * (every symlink on the way followed) and must still lie below the real path of the directory;
 * a symlink whose target is inside works, one that leads out is 404. A trailing-slash redirect
 * is built from the normalized path, never from the request, so `//host/..` cannot become an
 * off-site `Location`.
 */
function staticHandler(p: Extract<WebPathConfig, { type: 'static' }>, send: Send) {
  const root = normalize(p.directory);
  const prefix = p.path === '/' ? '' : p.path;
  const common: Record<string, string> = { 'Access-Control-Allow-Origin': '*' };
  if (p.cacheTimeout !== null) common['Cache-Control'] = `max-age=${p.cacheTimeout}`;
  const typeOf = (file: string) => {
    const ext = extname(file).toLowerCase();
    return p.mimeTypes[ext] ?? (mime.contentType(ext) || 'application/octet-stream');
  };
  return (res: HttpResponse, req: HttpRequest): void => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const url = req.getUrl();
    const done = (status: string, body: string | Buffer, headers: Record<string, string> = {}) => {
      if (!aborted) send(res, status, body, { ...common, ...headers });
    };
    void (async () => {
      let rel: string;
      try {
        rel = decodeURIComponent(url.slice(prefix.length));
      } catch {
        return done('400 Bad Request', 'Bad Request\n');
      }
      const file = normalize(join(root, rel));
      if (!inside(root, file)) return done('404 Not Found', 'Not Found\n');
      // The real root is taken per request: the directory itself may be a symlink that changes.
      const realRoot = await realpath(root).catch(() => null);
      if (realRoot === null) return done('404 Not Found', 'Not Found\n');
      const serve = async (f: string) => {
        const body = await readInside(realRoot, f);
        if (body === null) return false;
        done('200 OK', body, { 'Content-Type': typeOf(f) });
        return true;
      };
      const real = await realpath(file).catch(() => null);
      if (real !== null && !inside(realRoot, real)) return done('404 Not Found', 'Not Found\n');
      const st = real === null ? null : await stat(real).catch(() => null);
      if (st?.isFile() && (await serve(real!))) return;
      if (st?.isDirectory()) {
        if (!url.endsWith('/')) {
          // Rebuilt from the normalized path below the mount, each segment percent-encoded: it
          // starts with exactly one '/', never '//' or '/\' (which browsers read as another host).
          const below = relative(root, file).split(sep).filter((s) => s !== '').map(encodeURIComponent);
          return done('301 Moved Permanently', '', { Location: `${prefix}/${below.map((s) => `${s}/`).join('')}` });
        }
        if (await serve(join(real!, 'index.html'))) return;
        if (p.directoryListing) return done('200 OK', await listing(real!, url), { 'Content-Type': 'text/html; charset=utf-8' });
        return done('404 Not Found', 'Not Found\n');
      }
      if (p.defaultFile !== null && (await serve(join(root, p.defaultFile)))) return;
      return done('404 Not Found', 'Not Found\n');
    })().catch(() => done('500 Internal Server Error', 'Internal Server Error\n'));
  };
}

const inside = (dir: string, path: string) => path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/**
 * The contents of regular file `path` if its real path lies below `realRoot`, else null. The file
 * is opened with O_NOFOLLOW at its resolved path and read through that handle, so stat and read
 * see the same file; on Linux the path of the opened file is checked once more (a directory on
 * the way swapped for a symlink between the check and the open is caught).
 */
async function readInside(realRoot: string, path: string): Promise<Buffer | null> {
  const real = await realpath(path).catch(() => null);
  if (real === null || !inside(realRoot, real)) return null;
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as no regular file).
  const fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => null);
  if (fh === null) return null;
  try {
    if (process.platform === 'linux' && !inside(realRoot, await realpath(`/proc/self/fd/${fh.fd}`).catch(() => ''))) return null;
    if (!(await fh.stat()).isFile()) return null;
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

async function listing(dir: string, url: string): Promise<string> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  const items = entries.map((e) => {
    const name = e.isDirectory() ? `${e.name}/` : e.name;
    return `<li><a href="${escape(encodeURIComponent(e.name))}${e.isDirectory() ? '/' : ''}">${escape(name)}</a></li>`;
  });
  return `<!doctype html><html><head><meta charset="utf-8"><title>Index of ${escape(url)}</title></head><body><h1>Index of ${escape(url)}</h1><ul>${items.join('')}</ul></body></html>\n`;
}
