import type { TransportConfig } from '../config/load.js';
import { MAX_MESSAGE_CEILING } from '../config/schema.js';
import type { TransportInfo } from '../ipc/protocol.js';
import type { Logger } from '../log.js';
import { SERIALIZERS, SERIALIZER_LIST, type Serializer } from '../serializers/index.js';
import type * as UWS from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t, WebSocket } from '../uws.js';
import { type Conn, ConnState } from './connection.js';

/** What a listener needs from the router. */
export interface ConnHandler {
  accepting(): boolean;
  opened(c: Conn): void;
  frame(c: Conn, data: ArrayBuffer, isBinary: boolean): void;
  closed(c: Conn, code: number): void;
  /** An upgrade was refused (logged and counted there, once). */
  refused(reason: 'subprotocol' | 'draining', peer: string, detail: Record<string, unknown>): void;
  /** Registers HTTP routes (operations endpoints) before the catch-all status page. */
  mountHttp?(app: TemplatedApp): void;
}

/** Per-connection send buffer above which a subscriber is a slow consumer and is closed. */
export const MAX_BACKPRESSURE = 16 * 1024 * 1024;

/** One listening WebSocket transport (Crossbar `type: "websocket"`) on its own uWS app. */
export class Listener {
  readonly app: TemplatedApp;
  readonly info: Omit<TransportInfo, 'serializer' | 'peer'>;
  port = -1;
  #socket: us_listen_socket | null = null;
  #offered: Map<string, Serializer>;

  constructor(
    readonly uws: typeof UWS,
    readonly config: TransportConfig,
    readonly handler: ConnHandler,
    readonly log: Logger,
  ) {
    this.info = { type: 'websocket', transportId: config.id };
    this.#offered = new Map(config.serializers.map((n) => [SERIALIZERS[n].subprotocol, SERIALIZERS[n]]));
    this.app = uws.App();
    this.app.ws<Conn>('/*', {
      // uWS drops a connection whose message passes maxPayloadLength without any close frame.
      // So uWS gets twice the configured limit as a hard ceiling, and the router closes
      // messages between the two with 1009 "message too big" (Router.frame).
      maxPayloadLength: Math.min(2 * config.maxMessageSize, 2 * MAX_MESSAGE_CEILING),
      idleTimeout: 0,
      maxBackpressure: MAX_BACKPRESSURE,
      closeOnBackpressureLimit: 0,
      compression: uws.DISABLED,
      sendPingsAutomatically: false,
      upgrade: (res, req, ctx) => this.#upgrade(res, req, ctx),
      open: (ws) => {
        const c = ws.getUserData();
        c.ws = ws;
        handler.opened(c);
      },
      message: (ws, data, isBinary) => handler.frame(ws.getUserData(), data, isBinary),
      close: (ws, code) => {
        const c = ws.getUserData();
        c.ws = null;
        handler.closed(c, code);
      },
    });
    handler.mountHttp?.(this.app);
    this.app.any('/*', (res) => {
      // A plain HTTP request (no WebSocket upgrade): a small status page, like Crossbar's web status.
      res
        .writeStatus('200 OK')
        .writeHeader('Content-Type', 'text/html; charset=utf-8')
        .end(`<!doctype html><title>Crosswire</title><p>This is a Crosswire WAMP router. Connect with a WAMP client over WebSocket${config.url ? ` at ${config.url}` : ''}.</p>\n`);
    });
  }

  #upgrade(res: HttpResponse, req: HttpRequest, ctx: us_socket_context_t): void {
    if (!this.handler.accepting()) {
      this.handler.refused('draining', peerOf(res), {});
      res.writeStatus('503 Service Unavailable').end('the router is shutting down\n');
      return;
    }
    const offered = req.getHeader('sec-websocket-protocol');
    // WAMP spec, "WebSocket Transport": take the first subprotocol in the client's order that we speak.
    let ser: Serializer | undefined;
    for (const p of offered.split(',')) {
      ser = this.#offered.get(p.trim());
      if (ser !== undefined) break;
    }
    if (ser === undefined) {
      // Crossbar's require_websocket_subprotocol: true (its default): no WAMP subprotocol → HTTP 400.
      this.handler.refused('subprotocol', peerOf(res), { transport: this.config.id, offered });
      res
        .writeStatus('400 Bad Request')
        .end(`This is a WAMP router: offer one of the WebSocket subprotocols ${[...this.#offered.keys()].join(', ')}\n`);
      return;
    }
    const conn: Conn = {
      id: 0,
      ws: null,
      ser,
      serIndex: SERIALIZER_LIST.indexOf(ser),
      state: ConnState.IDLE,
      worker: null,
      held: null,
      out: null,
      joined: false,
      calls: null,
      peer: peerOf(res),
      listener: this,
    };
    res.upgrade(conn, req.getHeader('sec-websocket-key'), ser.subprotocol, req.getHeader('sec-websocket-extensions'), ctx);
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(this.config.host, this.config.port, (ls) => {
        if (ls === false) {
          reject(new Error(`transport ${this.config.id}: cannot listen on ${this.config.host}:${this.config.port} (address in use or not available)`));
          return;
        }
        this.#socket = ls;
        this.port = this.uws.us_socket_local_port(ls as unknown as UWS.us_socket);
        resolve(this.port);
      });
    });
  }

  /** Stops accepting connections (open ones are untouched). */
  stopListening(): void {
    if (this.#socket !== null) {
      this.uws.us_listen_socket_close(this.#socket);
      this.#socket = null;
    }
  }
}

function peerOf(res: HttpResponse): string {
  return `tcp:${Buffer.from(res.getRemoteAddressAsText()).toString()}`;
}

export type { WebSocket };
