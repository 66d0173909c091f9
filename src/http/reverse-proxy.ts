import { Agent, request } from 'node:http';
import type { ReverseProxyPath } from '../config/bridge.js';
import type { Logger } from '../shared/log.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from '../uws.js';
import { allMethods } from '../uws.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and the ones uWS writes itself: never passed on. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);
const NO_BODY = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE']);

/**
 * Crossbar's `reverseproxy` path service (crossbar/webservice/base.py ExtReverseProxyResource, on
 * Twisted's ReverseProxyResource): every request below the path goes to `host:port` with `path`
 * prefixed (`/app/login` on a service at `app` with path `/base` → `/base/login`), the query kept,
 * `Host` set to the backend and `X-Forwarded-Host`, `X-Forwarded-For`, `X-Real-IP`,
 * `X-Forwarded-Port` (forwarded_port, default 80) and `X-Forwarded-Proto` (forwarded_proto,
 * default http) added. Bodies stream both ways with backpressure (uWS pause/onWritable, Node's
 * drain). Like Crossbar's, it passes no WebSocket upgrade (Crossbar has `websocket-reverseproxy`
 * for that, which Crosswire does not implement).
 */
export function mountReverseProxy(app: TemplatedApp, p: ReverseProxyPath, log: Logger): void {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const hostHeader = p.port === 80 ? p.host : `${p.host}:${p.port}`;
  const handler = (res: HttpResponse, req: HttpRequest) => {
    const method = req.getMethod().toUpperCase();
    const url = req.getUrl();
    const query = req.getQuery();
    const below = p.path === '/' ? url : url.slice(p.path.length);
    const target = `${p.basePath}${below}` || '/';
    const headers: Record<string, string | string[]> = {};
    let host = '';
    req.forEach((k, v) => {
      if (HOP.has(k)) return;
      if (k === 'host') host = v;
      const cur = headers[k];
      if (cur === undefined) headers[k] = v;
      else headers[k] = Array.isArray(cur) ? [...cur, v] : [cur, v];
    });
    const client = Buffer.from(res.getRemoteAddressAsText()).toString();
    headers.host = hostHeader;
    if (host !== '') headers['x-forwarded-host'] = host;
    if (client !== '') {
      headers['x-forwarded-for'] = client;
      headers['x-real-ip'] = client;
    }
    headers['x-forwarded-port'] = String(p.forwardedPort);
    headers['x-forwarded-proto'] = p.forwardedProto;
    const cl = req.getHeader('content-length');
    const hasBody = !(NO_BODY.has(method) && cl === '' && req.getHeader('transfer-encoding') === '') && cl !== '0';
    let aborted = false;
    let answered = false;
    const fail = (status: string) => {
      if (aborted || answered) return;
      answered = true;
      res.cork(() => res.writeStatus(status).writeHeader('Content-Type', 'text/plain; charset=utf-8').end(`${status}\n`, true));
    };
    const out = request({ host: p.host, port: p.port, method, path: query ? `${target}?${query}` : target, headers, agent });
    res.onAborted(() => {
      aborted = true;
      out.destroy();
    });
    out.on('error', (err) => {
      log.warn({ backend: `${p.host}:${p.port}`, err: err.message }, 'reverseproxy: backend request failed');
      fail('502 Bad Gateway');
    });
    out.on('response', (bres) => {
      if (aborted) {
        bres.destroy();
        return;
      }
      answered = true;
      const raw = bres.rawHeaders;
      let length = -1;
      res.cork(() => {
        res.writeStatus(`${bres.statusCode} ${bres.statusMessage ?? ''}`);
        for (let i = 0; i < raw.length; i += 2) {
          const k = raw[i]!.toLowerCase();
          if (k === 'content-length') length = Number(raw[i + 1]);
          if (HOP.has(k) || k === 'content-length' || k === 'date') continue;
          res.writeHeader(raw[i]!, raw[i + 1]!);
        }
      });
      if (method === 'HEAD' || bres.statusCode === 204 || bres.statusCode === 304) {
        bres.resume();
        res.cork(() => res.endWithoutBody(length >= 0 ? length : undefined));
        return;
      }
      bres.on('data', (chunk: Buffer) => {
        if (aborted) return;
        let ok = true;
        res.cork(() => {
          ok = res.write(chunk);
        });
        if (!ok) {
          // uWS keeps what it could not send; the backend waits until the client took it.
          bres.pause();
          res.onWritable(() => {
            bres.resume();
            return true;
          });
        }
      });
      bres.on('end', () => {
        if (!aborted) res.cork(() => res.end());
      });
      // The backend's connection broke before its body was complete: so does the client's.
      bres.on('close', () => {
        if (!aborted && !bres.complete) {
          aborted = true;
          res.close();
        }
      });
      bres.on('error', () => {});
    });
    if (!hasBody) {
      out.end();
      return;
    }
    res.onData((chunk, isLast) => {
      if (aborted) return;
      const more = out.write(Buffer.from(chunk.slice(0)));
      if (isLast) out.end();
      else if (!more && typeof res.pause === 'function') {
        res.pause();
        out.once('drain', () => {
          if (!aborted) res.resume();
        });
      }
    });
  };
  if (p.path === '/') allMethods(app, '/*', handler);
  else {
    allMethods(app, p.path, handler);
    allMethods(app, `${p.path}/*`, handler);
  }
}
