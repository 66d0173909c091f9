import type { WsServiceConfig } from '../config/load.js';
import type { TlsFacts, TransportInfo } from '../shared/ipc/protocol.js';
import type { Serializer } from '../shared/serializers/index.js';
import type { WorkerHandle } from '../realm-threads.js';
import type { CookieTracker } from './cookies.js';
import type { ComponentGate } from '../container/gate.js';

export const ConnState = {
  /** No session: the next message must be HELLO. */
  IDLE: 0,
  /** A session (or its opening) lives in a realm worker; frames go there. */
  ATTACHED: 1,
  /** The peer sent GOODBYE; frames wait here until the worker confirms the session ended. */
  DETACHING: 2,
} as const;
export type ConnState = (typeof ConnState)[keyof typeof ConnState];

/**
 * What uWS keeps as a WebSocket's user data: uWS copies the user data's properties onto its
 * WebSocket object, and with the ~17 properties of a Conn that object ended in dictionary mode
 * (a property table per connection: `npm run bench -- --scenario idle` shows the memory). One property
 * keeps it small; the Conn itself is an ordinary object.
 */
export interface ConnRef {
  readonly c: Conn;
}

/**
 * The socket of a connection as the router drives it: the methods of uWS's WebSocket that
 * router.ts, delivery.ts, send.ts and flow.ts call. A uWS WebSocket is one as it is; a RawSocket
 * connection (src/transport/rawsocket.ts) implements the same contract on a Node socket, so both
 * go through one routing path. Like uWS, end() and close() call the service's close handler
 * before they return (Router.closed sets Conn.ws to null), and send() answers 1 (written or
 * queued within the limits), 0 (queued behind unsent data) or 2 (dropped).
 */
export interface ConnSocket {
  send(message: string | Uint8Array, isBinary?: boolean, compress?: boolean): number;
  sendFirstFragment(message: Uint8Array, isBinary?: boolean, compress?: boolean): unknown;
  sendFragment(message: Uint8Array, compress?: boolean): unknown;
  sendLastFragment(message: Uint8Array, compress?: boolean): unknown;
  ping(message: Uint8Array): number;
  /** Sends what was sent inside `cb` as one write. */
  cork(cb: () => void): unknown;
  /** Unsent bytes queued for this socket. */
  getBufferedAmount(): number;
  /** Graceful close (WebSocket: a close frame with code and reason). */
  end(code?: number, reason?: string): void;
  /** Drops the connection at once. */
  close(): void;
}

/** Stops and restarts reading a connection's socket (flow control, src/flow.ts). */
export interface ReadThrottle {
  /** Stops reading; false when it could not. */
  pause(s: ConnSocket): boolean;
  resume(s: ConnSocket): void;
  readonly failed: boolean;
}

/**
 * What a connection's service (a WebSocket service, or a RawSocket transport) gives the router:
 * its config (limits, debug), how it throttles and fails its connections, its transport info.
 */
export interface ConnService {
  readonly config: Pick<WsServiceConfig, 'id' | 'maxMessageSize' | 'debug'> & {
    readonly ws: Pick<WsServiceConfig['ws'], 'maxBackpressure' | 'autoFragmentSize' | 'failByDrop'>;
  };
  readonly info: Omit<TransportInfo, 'serIndex' | 'serializer' | 'peer' | 'cookieAnonAuthid' | 'cookieAuth' | 'secure' | 'tls' | 'component'>;
  /** The router components' private socket only (src/container/gate.ts); null on every other service. */
  readonly componentGate: ComponentGate | null;
  /** Whether the transport's endpoint is TLS. */
  readonly secure: boolean;
  /** Whether sends ask for compression (permessage-deflate). */
  readonly compress: boolean;
  readonly cookies: CookieTracker | null;
  readonly throttle: ReadThrottle | null;
  /** Fails a connection Crosswire gives up on (slow consumer, message too big). */
  fail(c: Conn, code: number, reason: string): void;
}

/** Per-connection auto-ping state (Conn.ka; src/transport/keepalive.ts). */
export interface PingState {
  timer: NodeJS.Timeout;
  /** The payload of the ping whose pong is awaited, or null. */
  pending: Buffer | null;
  sentAt: number;
  /** Last incoming traffic (performance.now()), for auto_ping_restart_on_any_traffic. */
  lastRx: number;
}

/** Per-connection state, reached from uWS user data (ConnRef) so the hot path does no lookup per frame. */
export interface Conn {
  id: number;
  /** Closes the connection if no session starts in time (crosswire.hello_timeout). */
  helloTimer: NodeJS.Timeout | null;
  ws: ConnSocket | null;
  ser: Serializer;
  serIndex: number;
  state: ConnState;
  worker: WorkerHandle | null;
  /** Frames that arrived while DETACHING, replayed once the connection is IDLE again. */
  held: unknown[][] | null;
  /** The peer's GOODBYE said it is done (router.ts LEAVING): close with 1000 once the session ended. */
  leaving: boolean;
  /** Encoded messages to send at the end of the current worker batch (one cork per batch). */
  out: (string | Uint8Array)[] | null;
  /** The realm sent WELCOME: the session is established (until DETACH or close). */
  joined: boolean;
  /** Request ids of this session's CALLs not yet answered, so a realm worker's crash can answer them. */
  calls: Set<number> | null;
  /** `tcp:<address>` (the real client behind trusted proxies) or `unix`. */
  peer: string;
  /** The WebSocket service (transport, or web path) or RawSocket transport the connection came through. */
  service: ConnService;
  /** auto_ping_* state, or null when off. */
  ka: PingState | null;
  /** What its TLS handshake established, when Node.js terminated it (src/transport/front.ts), else null. */
  tls: TlsFacts | null;
  /** Tracking cookie id when the transport tracks cookies, else null. */
  cbtid: string | null;
  /** Its send buffer was non-empty at the last send: check it against max_backpressure. */
  pressured: boolean;
  /** Its send buffer as last seen (after a flush or a drain), for crosswire.flow.send_budget (src/delivery.ts). */
  sendBuffered: number;
  /**
   * Flow control (src/flow.ts). `flowHeld`: null while the connection flows; while it is paused,
   * the messages that arrived since, in order, waiting on the main thread (`flowHeldBytes`).
   */
  flowHeld: ArrayBuffer[] | null;
  flowHeldBytes: number;
  /** Upper bound of its bytes posted to its worker and not yet acknowledged. */
  flowBound: number;
  /** Its worker's cumulative byte count (Outbox.mark) after its last message. */
  flowMark: number;
  /** The worker whose acknowledgements release it while paused. */
  flowWorker: WorkerHandle | null;
  /** Its socket is not being read (SocketThrottle.pause succeeded). */
  flowStopped: boolean;
  /** Held bytes at which to try stopping the socket again (it may have started reading again). */
  flowRetryAt: number;
}

/** A fresh connection without a session, before the router's opened() numbers it. */
export function newConn(ser: Serializer, serIndex: number, peer: string, service: ConnService): Conn {
  return {
    id: 0,
    helloTimer: null,
    ws: null,
    ser,
    serIndex,
    state: ConnState.IDLE,
    worker: null,
    held: null,
    leaving: false,
    out: null,
    joined: false,
    calls: null,
    peer,
    service,
    ka: null,
    tls: null,
    pressured: false,
    sendBuffered: 0,
    cbtid: null,
    flowHeld: null,
    flowHeldBytes: 0,
    flowBound: 0,
    flowMark: 0,
    flowWorker: null,
    flowStopped: false,
    flowRetryAt: 0,
  };
}
