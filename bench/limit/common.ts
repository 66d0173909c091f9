/**
 * What the two physical-limit servers share: uWebSockets.js loaded by src/uws.ts (the router's
 * build, native binary required), the upgrade that picks the client's first subprotocol, and
 * the ready line the harness reads (the same shape as the router's "crosswire ready" line).
 */
import type * as UWS from 'uWebSockets.js';
import { loadUws } from '../../src/uws.js';

export function loadNativeUws(): typeof UWS {
  try {
    return loadUws(false).uws;
  } catch (e) {
    process.stderr.write(`limit server: ${(e as Error).message}\nA limit measured on the fallback means nothing.\n`);
    process.exit(1);
  }
}

/** Per-socket user data: which role the path asked for (`/sub` subscribes to the topic). */
export interface LimitConn {
  sub: boolean;
}

export function upgrade(res: UWS.HttpResponse, req: UWS.HttpRequest, ctx: UWS.us_socket_context_t): void {
  const protocol = req.getHeader('sec-websocket-protocol').split(',')[0]!.trim();
  const conn: LimitConn = { sub: req.getUrl() === '/sub' };
  res.upgrade(conn, req.getHeader('sec-websocket-key'), protocol, req.getHeader('sec-websocket-extensions'), ctx);
}

/** The same limits the router's transport uses, so the limit differs only in what is routed. */
export const WS_OPTIONS = {
  maxPayloadLength: 32 * 1024 * 1024,
  idleTimeout: 0,
  maxBackpressure: 64 * 1024 * 1024,
  sendPingsAutomatically: false,
} as const;

export function listen(uws: typeof UWS, app: UWS.TemplatedApp, name: string): void {
  app.listen('127.0.0.1', 0, (ls) => {
    if (ls === false) {
      process.stderr.write(`${name}: cannot listen\n`);
      process.exit(1);
    }
    const port = uws.us_socket_local_port(ls as unknown as UWS.us_socket);
    process.stdout.write(`${JSON.stringify({ msg: `${name} ready`, ports: [port], pid: process.pid })}\n`);
    const stop = (): void => {
      uws.us_listen_socket_close(ls);
      process.exit(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
