import type { BridgePath } from '../config/bridge.js';
import type { TransportConfig, WsServiceConfig } from '../config/load.js';
import type { ComponentGate } from '../container/gate.js';
import { MAX_MESSAGE_CEILING } from '../config/schema.js';
import type { TransportInfo } from '../shared/ipc/protocol.js';
import type { Logger } from '../shared/log.js';
import type { RefuseReason } from '../shared/labels.js';
import { BATCHED, SERIALIZERS, SERIALIZER_LIST, type Serializer } from '../shared/serializers/index.js';
import { allMethods, type HttpRequest, type HttpResponse, type TemplatedApp, type us_socket_context_t } from '../uws.js';
import { type Conn, type ConnRef, newConn } from './connection.js';
import { CookieTracker, openCookieStore } from './cookies.js';
import type { FrontHandoff } from './front.js';
import { hostPort, reply, statusPage, VERSION } from './http.js';
import { KeepAlive } from './keepalive.js';
import { OriginPolicy, ProxyPolicy } from './origin.js';
import { UWS_BACKPRESSURE_FACTOR } from './send.js';
import { SocketThrottle } from './throttle.js';

/** What a WebSocket service needs from the router. */
export interface ConnHandler {
  accepting(): boolean;
  opened(c: Conn): void;
  frame(c: Conn, data: ArrayBuffer, isBinary: boolean): void;
  closed(c: Conn, code: number): void;
  /** An upgrade was refused (logged and counted there, once). */
  refused(reason: RefuseReason, peer: string, detail: Record<string, unknown>): void;
  /** A framing violation below WAMP (RawSocket) the transport logged and closes the connection for: counted. */
  violation(c: Conn): void;
  /** A connection the transport closes because its send buffer would pass max_backpressure (RawSocket PONGs): counted. */
  slowConsumer(c: Conn): void;
  /** Registers HTTP routes (operations endpoints) before the catch-all routes. */
  mountHttp?(app: TemplatedApp): void;
  /** A web transport's `metrics`/`health`/`ready` path service at `path`. */
  mountOpsAt?(app: TemplatedApp, kind: 'metrics' | 'health' | 'ready', path: string): void;
  /** A web transport's HTTP bridge path service (`publisher`, `caller`, `webhook`: src/http/bridge.ts). */
  mountBridgeAt?(app: TemplatedApp, p: BridgePath, transport: TransportConfig, peerOf: (res: HttpResponse) => string): void;
}

/** A Sec-WebSocket-Key: 16 random bytes in base64 (RFC 6455 §4.1). */
const WS_KEY = /^[A-Za-z0-9+/]{22}==$/;

/**
 * One WAMP-over-WebSocket service on a uWS app: a `websocket` transport (on every path) or a
 * `websocket` path of a `web` transport. It owns the HTTP side of the handshake with Crossbar's
 * checks in autobahn's order and the WebSocket options uWS applies per socket.
 */
export class WsService {
  readonly info: Omit<TransportInfo, 'serIndex' | 'serializer' | 'peer' | 'cookieAnonAuthid' | 'cookieAuth' | 'secure' | 'tls' | 'component'>;
  /** WebSocket connections open on this service (for max_connections). */
  connections = 0;
  /** Whether permessage-deflate is on (uWS compresses only when asked per send). */
  readonly compress: boolean;
  readonly keepAlive: KeepAlive | null;
  readonly server: string;
  /** The router components' private socket only: the gate that turns a one-time token into their identity (src/container/gate.ts). */
  componentGate: ComponentGate | null = null;
  /** Cookie tracking (`cookie`), opened by open(). */
  cookies: CookieTracker | null = null;
  /** Stops reading a socket (flow control); from the first upgrade response, null until then or if unavailable. */
  throttle: SocketThrottle | null = null;
  #throttleTried = false;
  /** Set when the transport's connections come through a front (src/transport/front.ts): their address and TLS facts are there. */
  front: FrontHandoff | null = null;
  /** Whether the transport's endpoint is TLS (set by its Listener). */
  secure = false;
  readonly #offered: Map<string, Serializer>;
  readonly #origins: OriginPolicy;
  readonly #proxies: ProxyPolicy;
  readonly #versions: string;

  constructor(
    readonly config: WsServiceConfig,
    /** The transport's id, as sessions report it. */
    transportId: string,
    /** Whether the endpoint is a unix socket (no peer address). */
    readonly unix: boolean,
    readonly handler: ConnHandler,
    readonly log: Logger,
    /** Which auth config the realm workers apply (config/load.ts wsAuthKey). */
    authKey: string = transportId,
  ) {
    const o = config.ws;
    this.info = { type: 'websocket', transportId, authKey };
    // Each configured name offers its plain and its batched variant (as Crossbar.io does).
    this.#offered = new Map(config.serializers.flatMap((n) => [SERIALIZERS[n], BATCHED[n]]).map((s) => [s.subprotocol, s]));
    this.#origins = new OriginPolicy(o.allowedOrigins, o.allowNullOrigin);
    this.#proxies = new ProxyPolicy(o.trustedProxies);
    this.#versions = [o.enableRfc6455 ? '13' : '', o.enableHybi10 ? '8' : ''].filter((v) => v !== '').join(', ');
    this.compress = o.compression !== 0;
    this.keepAlive = o.autoPingInterval > 0 ? new KeepAlive(o) : null;
    this.server = o.showServerVersion ? `Crosswire/${VERSION}` : 'Crosswire';
    this.#explain();
  }

  /** Mounts the service on `app` at `pattern` (a WebSocket route plus the status page for plain requests). */
  mount(app: TemplatedApp, pattern: string): void {
    const o = this.config.ws;
    const ka = this.keepAlive;
    const handler = this.handler;
    app.ws<ConnRef>(pattern, {
      // uWS drops a connection whose message passes maxPayloadLength without any close frame.
      // So uWS gets twice the configured limit as a hard ceiling, and the router closes
      // messages between the two with 1009 "message too big" (Router.frame).
      maxPayloadLength: Math.min(2 * this.config.maxMessageSize, 2 * MAX_MESSAGE_CEILING),
      idleTimeout: 0, // auto_ping_* is KeepAlive's job
      maxBackpressure: UWS_BACKPRESSURE_FACTOR * o.maxBackpressure, // max_backpressure itself: sendAll()
      closeOnBackpressureLimit: false, // the router closes slow consumers itself, with a reason
      compression: o.compression,
      sendPingsAutomatically: false,
      upgrade: (res, req, ctx) => this.#upgrade(res, req, ctx),
      open: (ws) => {
        const c = ws.getUserData().c;
        c.ws = ws;
        this.connections++;
        ka?.start(c);
        handler.opened(c);
      },
      message: (ws, data, isBinary) => {
        const c = ws.getUserData().c;
        if (c.ka !== null && ka!.restartOnTraffic) ka!.traffic(c);
        handler.frame(c, data, isBinary);
      },
      ping: ka === null ? undefined : (ws) => ka.traffic(ws.getUserData().c),
      pong: ka === null ? undefined : (ws, data) => ka.pong(ws.getUserData().c, data),
      close: (ws, code) => {
        const c = ws.getUserData().c;
        c.ws = null;
        this.connections--;
        ka?.stop(c);
        handler.closed(c, code);
      },
    });
    allMethods(app, pattern, (res, req) => this.#http(res, req));
  }

  /** Opens what the service needs before accepting (the cookie store). */
  async open(): Promise<void> {
    if (this.config.cookie !== null && this.cookies === null) {
      this.cookies = new CookieTracker(this.config.cookie, await openCookieStore(this.config.cookie.store, this.log));
    }
  }

  async close(): Promise<void> {
    const c = this.cookies;
    this.cookies = null;
    await c?.close();
  }

  /** Options that uWS applies differently from Crossbar: said once at startup, never silently. */
  #explain(): void {
    const o = this.config.ws;
    // this.log already carries the transport id (one key per line).
    const say = (key: string, msg: string) => this.log.warn({ option: key }, msg);
    if (o.openHandshakeTimeout > 0) {
      say('open_handshake_timeout', `uWebSockets.js gives every connection a fixed ~10 s to send its complete upgrade request (not configurable); ${o.openHandshakeTimeout} ms is not applied exactly`);
    }
    if (o.closeHandshakeTimeout > 0) {
      say('close_handshake_timeout', `uWebSockets.js drops a connection whose close reply has not come within a fixed ~4 s (not configurable); ${o.closeHandshakeTimeout} ms is not applied exactly`);
    }
    if (!o.validateUtf8) say('validate_utf8', 'uWebSockets.js always validates UTF-8 of text messages (in C++; the cost Crossbar users avoid with false is negligible here)');
    if (o.maxFrameSize > 0 && this.config.maxMessageSize === o.maxFrameSize) {
      say('max_frame_size', `uWebSockets.js reassembles fragments before Crosswire sees them: max_frame_size ${o.maxFrameSize} limits whole messages`);
    }
  }

  /** A request without a WebSocket upgrade. */
  #http(res: HttpResponse, req: HttpRequest): void {
    const o = this.config.ws;
    if (!this.#hostOk(res, req)) return;
    if (!o.enableWebstatus) {
      // autobahn: "HTTP Upgrade header missing" with 426 when the status page is off.
      reply(res, this.server, '426 Upgrade Required', 'HTTP Upgrade header missing\n', { 'Sec-WebSocket-Version': this.#versions });
      return;
    }
    reply(res, this.server, '200 OK', statusPage(this.config.url, req.getQuery('redirect') ?? '', req.getQuery('after') ?? ''), {
      'Content-Type': 'text/html; charset=utf-8',
    });
  }

  /** external_port: a Host header with an explicit port must name it (autobahn processHandshake). */
  #hostOk(res: HttpResponse, req: HttpRequest): boolean {
    const want = this.config.ws.externalPort;
    if (want === null) return true;
    const port = hostPort(req.getHeader('host'));
    if (port === null || port === want) return true;
    reply(res, this.server, '400 Bad Request', `port ${port} in HTTP Host header does not match server listening port ${want}\n`);
    return false;
  }

  #refuse(res: HttpResponse, reason: RefuseReason, status: string, body: string, why: Record<string, unknown>, headers: Record<string, string> = {}): void {
    this.handler.refused(reason, this.unix ? 'unix' : `tcp:${this.#socketAddr(res)}`, { transport: this.config.id, status, ...why });
    reply(res, this.server, status, body, headers);
  }

  /** The client's address: from the front when there is one, else from the socket. */
  #socketAddr(res: HttpResponse): string {
    if (this.front !== null) return this.front.peek(res)?.address ?? 'unknown';
    return Buffer.from(res.getRemoteAddressAsText()).toString();
  }

  #upgrade(res: HttpResponse, req: HttpRequest, ctx: us_socket_context_t): void {
    const o = this.config.ws;
    // Through a front, the facts it registered for this connection must exist (they always do for a
    // connection it handed over; one that reached the private socket otherwise has none).
    const fronted = this.front === null ? null : this.front.peek(res);
    if (fronted === undefined) {
      return this.#refuse(res, 'other', '403 Forbidden', 'this transport accepts connections through its TLS listener only\n', { front: 'no facts' });
    }
    if (!this.handler.accepting()) return this.#refuse(res, 'draining', '503 Service Unavailable', 'the router is shutting down\n', {});
    if (o.maxConnections > 0 && this.connections >= o.maxConnections) {
      return this.#refuse(res, 'max_connections', '503 Service Unavailable', 'maximum number of connections reached\n', { max_connections: o.maxConnections });
    }
    if (!this.#hostOk(res, req)) return;
    const version = req.getHeader('sec-websocket-version');
    if (!((version === '13' && o.enableRfc6455) || (version === '8' && o.enableHybi10))) {
      // RFC 6455 §4.4: name the versions we speak.
      return this.#refuse(res, 'other', '426 Upgrade Required', `WebSocket version ${version || '(none)'} not supported\n`, { version }, { 'Sec-WebSocket-Version': this.#versions });
    }
    const key = req.getHeader('sec-websocket-key');
    if (!WS_KEY.test(key)) return this.#refuse(res, 'other', '400 Bad Request', 'missing or malformed Sec-WebSocket-Key\n', {});
    // Hybi-10 browsers sent the origin as Sec-WebSocket-Origin.
    const origin = req.getHeader('origin') || (version === '8' ? req.getHeader('sec-websocket-origin') : '');
    if (!this.#origins.allows(origin)) return this.#refuse(res, 'origin', '403 Forbidden', `origin '${origin}' is not allowed\n`, { origin });
    const offered = req.getHeader('sec-websocket-protocol');
    // WAMP spec, "WebSocket Transport": take the first subprotocol in the client's order that we speak.
    let ser: Serializer | undefined;
    for (const p of offered.split(',')) {
      ser = this.#offered.get(p.trim());
      if (ser !== undefined) break;
    }
    let subprotocol = ser?.subprotocol ?? '';
    if (ser === undefined) {
      if (o.requireWebsocketSubprotocol || !this.config.serializers.includes('json')) {
        return this.#refuse(
          res,
          'subprotocol',
          '400 Bad Request',
          `This is a WAMP router: offer one of the WebSocket subprotocols ${[...this.#offered.keys()].join(', ')}\n`,
          { offered },
        );
      }
      // require_websocket_subprotocol: false: no WAMP subprotocol means JSON, and none is echoed.
      ser = SERIALIZERS.json;
      subprotocol = '';
    }
    const socketAddr = fronted !== null ? fronted.address : this.unix ? '' : Buffer.from(res.getRemoteAddressAsText()).toString();
    const conn = newConn(ser, SERIALIZER_LIST.indexOf(ser), this.#peer(socketAddr, req.getHeader('x-forwarded-for')), this);
    conn.tls = fronted?.tls ?? null;
    if (!this.#throttleTried) {
      this.#throttleTried = true;
      this.throttle = SocketThrottle.from(res);
    }
    let setCookie: string | null = null;
    if (this.cookies !== null) ({ id: conn.cbtid, setCookie } = this.cookies.track(req.getHeader('cookie')));
    if (fronted !== null) this.front!.take(res); // one upgrade per connection
    res.cork(() => {
      res.writeStatus('101 Switching Protocols').writeHeader('Server', this.server);
      if (setCookie !== null) res.writeHeader('Set-Cookie', setCookie);
      res.upgrade<ConnRef>({ c: conn }, key, subprotocol, req.getHeader('sec-websocket-extensions'), ctx);
    });
  }

  /** The peer string sessions report: `tcp:<client address>` (behind trusted proxies: the real client), or `unix`. */
  #peer(socketAddr: string, xff: string): string {
    if (this.unix) return 'unix';
    return `tcp:${this.#proxies.clientAddress(socketAddr, xff)}`;
  }

  /**
   * Fails a connection Crosswire gives up on (message too big, slow consumer): a close
   * handshake with code and reason, or with `fail_by_drop` a plain TCP drop.
   */
  fail(c: Conn, code: number, reason: string): void {
    const ws = c.ws;
    if (ws === null) return;
    if (this.config.ws.failByDrop) ws.close();
    else ws.end(code, reason);
  }
}
