import type { TlsFacts } from '../ipc/protocol.js';
import type { Serializer } from '../serializers/index.js';
import type { WebSocket } from '../uws.js';
import type { WorkerHandle } from '../workers.js';
import type { PingState } from './keepalive.js';
import type { WsService } from './ws-service.js';

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
 * (an ~830-byte property table per connection: `npm run bench -- --scenario idle`). One property
 * keeps it small; the Conn itself is an ordinary object.
 */
export interface ConnRef {
  readonly c: Conn;
}

/** Per-connection state, reached from uWS user data (ConnRef) so the hot path does no lookup per frame. */
export interface Conn {
  id: number;
  /** Closes the connection if no session starts in time (crosswire.hello_timeout). */
  helloTimer: NodeJS.Timeout | null;
  ws: WebSocket<ConnRef> | null;
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
  /** The WebSocket service (transport, or web path) the connection came through. */
  service: WsService;
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
