import { lstatSync, unlinkSync } from 'node:fs';
import { serviceAuths, type TransportConfig, type WsServiceConfig, wsAuthKey } from '../config/load.js';
import type { Logger } from '../shared/log.js';
import type * as UWS from 'uWebSockets.js';
import { LISTEN_EXCLUSIVE_PORT, LISTEN_SHARED, type TemplatedApp, type us_listen_socket, type WebSocket } from '../uws.js';
import { frontNeeded } from '../config/transport.js';
import { FrontHandoff, TlsFront } from './front.js';
import { sslApp } from './tls.js';
import { UniversalFront } from './universal.js';
import { mountWebPaths } from './web.js';
import { type ConnHandler, WsService } from './ws-service.js';

export type { ConnHandler } from './ws-service.js';

/**
 * One listening transport on its own uWS app and endpoint (tcp, tls, unix): a `websocket`
 * transport is one WsService on every path; a `web` transport mounts its `paths`. A TLS transport
 * that needs what uWS's TLS cannot do (frontNeeded, src/config/transport.ts) listens with Node's TLS (TlsFront),
 * which hands each connection to the same routes on a private plaintext uWS app.
 */
export class Listener {
  readonly app: TemplatedApp;
  /** The WebSocket services of this transport (one for `websocket`; the websocket paths of `web`). */
  readonly services: WsService[] = [];
  port = -1;
  #socket: us_listen_socket | null = null;
  /** Node accepts this transport's connections: it terminates TLS, or it is universal (null: uWS listens itself). */
  readonly front: TlsFront | UniversalFront | null = null;

  constructor(
    readonly uws: typeof UWS,
    readonly config: TransportConfig,
    readonly handler: ConnHandler,
    readonly log: Logger,
  ) {
    const ep = config.endpoint;
    const universal = config.universal !== undefined;
    const fronted = universal || frontNeeded(config, serviceAuths(config).map(([, a]) => a));
    this.app = ep.type === 'tcp' && ep.tls !== null && !fronted ? sslApp(uws, ep.tls, config.id) : uws.App();
    let handoff: FrontHandoff | null = null;
    if (universal) {
      // Every connection is accepted by Node, which keeps RawSocket and hands HTTP to this app (universal.ts).
      handoff = new FrontHandoff(uws, this.app, log);
      try {
        this.front = new UniversalFront(config, handoff, handler, log);
      } catch (e) {
        handoff.stop();
        throw e;
      }
    } else if (fronted && ep.type === 'tcp' && ep.tls !== null) {
      handoff = new FrontHandoff(uws, this.app, log);
      try {
        this.front = new TlsFront(ep.tls, handoff, config.id, log);
      } catch (e) {
        handoff.stop();
        throw e;
      }
    }
    const unix = ep.type === 'unix';
    const secure = ep.type === 'tcp' && ep.tls !== null;
    // Operations endpoints (/metrics, /health, /ready) go before every catch-all route.
    handler.mountHttp?.(this.app);
    if (config.paths === null) {
      const s = new WsService(config, config.id, unix, handler, log);
      s.front = handoff;
      s.secure = secure;
      s.mount(this.app, '/*');
      this.services.push(s);
    } else {
      const made = mountWebPaths(
        this.app,
        config,
        (svc: WsServiceConfig, path: string) => {
          const s = new WsService(svc, config.id, unix, handler, log, wsAuthKey(config.id, path));
          s.front = handoff;
          s.secure = secure;
          return s;
        },
        log,
        handler.mountOpsAt?.bind(handler),
        (res) => (handoff !== null ? (handoff.peek(res)?.address ?? 'unknown') : Buffer.from(res.getRemoteAddressAsText()).toString()),
        handler.mountBridgeAt?.bind(handler),
      );
      this.services.push(...made);
    }
  }

  async listen(): Promise<number> {
    for (const s of this.services) await s.open();
    const ep = this.config.endpoint;
    if (ep.type === 'unix') return this.#listenUnix(ep.path);
    const ports: number[] = [];
    if (ep.portRange !== null) for (let p = ep.portRange[0]; p <= ep.portRange[1]; p++) ports.push(p);
    else ports.push(this.config.port);
    if (this.front !== null) {
      await this.front.handoff.listen();
      this.port = await this.front.listen(this.config.host, ports, { shared: ep.shared, backlog: ep.backlog });
      return this.port;
    }
    return this.#listenTcp(ports);
  }

  #listenTcp(ports: number[]): Promise<number> {
    const host = this.config.host;
    // uSockets sets SO_REUSEPORT unless told the port is exclusive (endpoint.shared: false).
    const ep = this.config.endpoint;
    const options = ep.type === 'tcp' && ep.shared ? LISTEN_SHARED : LISTEN_EXCLUSIVE_PORT;
    return new Promise((resolve, reject) => {
      const next = (i: number) => {
        if (i >= ports.length) {
          const what = ports.length > 1 ? `any port of ${ports[0]}..${ports[ports.length - 1]}` : String(ports[0]);
          reject(new Error(`transport ${this.config.id}: cannot listen on ${host}:${what} (address in use or not available)`));
          return;
        }
        this.app.listen(host, ports[i]!, options, (ls) => {
          if (ls === false) return next(i + 1);
          this.#socket = ls;
          this.port = this.uws.us_socket_local_port(ls as unknown as UWS.us_socket);
          resolve(this.port);
        });
      };
      next(0);
    });
  }

  #listenUnix(path: string): Promise<number> {
    // Crossbar removes a stale socket file first. uSockets would unlink whatever is there, so a
    // path that holds anything but a socket is refused instead of deleted.
    let stat: import('node:fs').Stats | null;
    try {
      stat = lstatSync(path);
    } catch {
      stat = null; // does not exist
    }
    if (stat !== null && !stat.isSocket()) {
      return Promise.reject(new Error(`transport ${this.config.id}: endpoint.path: ${path} exists and is not a socket; not replacing it`));
    }
    if (stat !== null) unlinkSync(path);
    return new Promise((resolve, reject) => {
      this.app.listen_unix((ls) => {
        if (!ls) {
          reject(new Error(`transport ${this.config.id}: cannot listen on unix socket ${path}`));
          return;
        }
        this.#socket = ls;
        resolve(-1);
      }, path);
    });
  }

  /** Releases what listen() opened beyond the socket (cookie stores). */
  async close(): Promise<void> {
    await Promise.all(this.services.map((s) => s.close()));
  }

  /** Stops accepting connections (open ones are untouched). */
  stopListening(): void {
    if (this.front !== null) {
      this.front.stop();
      this.front.handoff.stop();
    }
    if (this.#socket !== null) {
      this.uws.us_listen_socket_close(this.#socket);
      this.#socket = null;
      if (this.config.endpoint.type === 'unix') {
        try {
          unlinkSync(this.config.endpoint.path);
        } catch {
          // already gone
        }
      }
    }
  }
}

export type { WebSocket };
