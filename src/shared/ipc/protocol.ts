import type { TransportAuth } from '../config/auth.js';
import type { BridgeSpec } from '../config/bridge-spec.js';
import type { Limit } from '../labels.js';
/**
 * The wire between the main thread and a realm worker: one MessageChannel per worker, one
 * postMessage per direction per event-loop turn, or per MAX_BATCH_OPS operands when more come
 * (src/shared/ipc/outbox.ts). A batch is a flat array of operations, each an
 * opcode followed by its fixed operands, so the receiver walks it without allocating per entry
 * and the order of a session's messages is the order of the array. Encoded messages travel as
 * bytes in one transferred ArrayBuffer per batch (BYTES, always the first operation).
 *
 * both ways
 *   BYTES,  area | null                               the batch's byte area (src/shared/ipc/outbox.ts); each
 *                                                     operation below with a `len` takes its bytes from it, in order
 *   RUN,    count                                     `count` message records in the area (Outbox.pushRecord:
 *                                                     connId, type, doneCall, bytes): main → worker a WAMP message
 *                                                     of that connection as received (the worker decodes it; the
 *                                                     common case); worker → main bytes to send to that connection,
 *                                                     doneCall the request id of the CALL it ends, or -1
 * main → worker
 *   OPEN,   connId, realm, helloDetails, transport   a HELLO on a connection without a session
 *   FRAME,  connId, msg, bytes                        the same, decoded on the main thread (batched
 *                                                     serializers, GOODBYE, heads that are not plain, debug);
 *                                                     bytes: its frame's size (0 for a batch's later messages)
 *   CLOSED, connId                                    the WebSocket went away
 *   SHUTDOWN, drainMs                                 drain: no new calls; GOODBYE (system_shutdown) to each
 *                                                     session once its in-flight calls are done, to all
 *                                                     after drainMs (waiting callers: wamp.error.canceled)
 *   STAMP,  time                                      performance.now() on the main thread when this batch
 *                                                     began (routing latency; one per batch, not per message)
 *   COLLECT                                           report STATS now (a /metrics scrape)
 *   MARK,   bytes                                     flow control (src/flow.ts): the bytes of client messages
 *                                                     posted to this worker so far, cumulative, at the end of a
 *                                                     batch that carried some
 *   BRIDGE, reqId, key, body, headers                 an HTTP bridge request (src/http/bridge.ts) that passed the
 *                                                     main thread's checks: the service's key, the body bytes,
 *                                                     the request headers for a webhook (else null)
 *   DEBUG_FAIL, mode                                  tests only: make the worker fail (see DebugFailMode);
 *                                                     ignored unless the worker was started with debugHooks
 * worker → main
 *   FANOUT_BYTES, connIds, lens                       send an EVENT to many: lens[k] bytes encoded for
 *                                                     SERIALIZER_LIST[k] (0: none), in k order in the area
 *   SEND,   connId, msg                               send msg to one connection, encoded here (WELCOME and
 *                                                     ABORT, which the main thread reads too)
 *   DETACH, connId                                    the session ended; the connection may HELLO again
 *   CLOSE,  connId, code, reason                      close the WebSocket (after an ABORT, say)
 *   ROUTED, time                                      the STAMP of the main-thread batch this reply answers
 *   STATS,  WorkerStats                               counters since the last report, current gauges
 *                                                     (every ~1 s and on COLLECT; never per message)
 *   BRIDGE_REPLY, reqId, status, body                 the HTTP answer to that request (workers/bridge.ts)
 *   ACK,    mark                                      the last MARK whose batch the worker has consumed (routed):
 *                                                     with that batch's own output, or once per event-loop turn
 *                                                     when there was none
 */
export const Op = {
  OPEN: 1,
  FRAME: 2,
  CLOSED: 3,
  SHUTDOWN: 4,
  STAMP: 5,
  COLLECT: 6,
  BYTES: 7,
  RUN: 8,
  DEBUG_FAIL: 9,
  SEND: 11,
  DETACH: 13,
  CLOSE: 14,
  ROUTED: 15,
  STATS: 16,
  FANOUT_BYTES: 18,
  MARK: 24,
  ACK: 25,
  BRIDGE: 40,
  BRIDGE_REPLY: 41,
} as const;

/**
 * The table above as types: the operands of each operation, in wire order, per direction. The
 * Outbox of a direction accepts only these (src/shared/ipc/outbox.ts), and the reader of a
 * direction hands them on typed (src/shared/ipc/reader.ts); nowhere else is a batch taken apart.
 */
export type ToWorkerOps = {
  [Op.BYTES]: [area: ArrayBuffer | null];
  [Op.RUN]: [count: number];
  [Op.OPEN]: [connId: number, realm: string, helloDetails: unknown, transport: TransportInfo];
  [Op.FRAME]: [connId: number, msg: unknown[], bytes: number];
  [Op.CLOSED]: [connId: number];
  [Op.SHUTDOWN]: [drainMs: number];
  [Op.STAMP]: [time: number];
  [Op.COLLECT]: [];
  [Op.MARK]: [bytes: number];
  [Op.BRIDGE]: [reqId: number, key: string, body: Uint8Array, headers: Record<string, string[]> | null];
  [Op.DEBUG_FAIL]: [mode: DebugFailMode];
};

export type ToMainOps = {
  [Op.BYTES]: [area: ArrayBuffer | null];
  [Op.RUN]: [count: number];
  [Op.FANOUT_BYTES]: [connIds: number[], lens: number[]];
  [Op.SEND]: [connId: number, msg: unknown[]];
  [Op.DETACH]: [connId: number];
  [Op.CLOSE]: [connId: number, code: number, reason: string];
  [Op.ROUTED]: [time: number];
  [Op.STATS]: [stats: WorkerStats];
  [Op.BRIDGE_REPLY]: [reqId: number, status: number, body: string];
  [Op.ACK]: [mark: number];
};

/** Either table (operands by opcode). */
export type OpTable = Record<number, unknown[]>;

/** The operations of `T` with `N` operands that a sender pushes itself (BYTES and RUN belong to the Outbox). */
export type OpsWithArity<T extends OpTable, N extends number> = Exclude<
  { [K in keyof T]: T[K] extends { length: N } ? K : never }[keyof T],
  typeof Op.BYTES | typeof Op.RUN
> &
  number;

/** The name of opcode `K` in Op ('OPEN' for 1). */
export type OpName<K> = { [N in keyof typeof Op]: (typeof Op)[N] extends K ? N : never }[keyof typeof Op];

/**
 * What the receiver of a direction does with each operation, one method per operation named as in
 * Op, with that operation's operands (BYTES is the reader's own); `corrupt` for an opcode that is
 * not in the table.
 */
export type OpHandlers<T extends OpTable> = {
  [K in Exclude<keyof T, typeof Op.BYTES> as OpName<K>]: T[K] extends unknown[] ? (...operands: T[K]) => void : never;
} & { corrupt(op: unknown): never };

/** What a tracking cookie says of who it authenticated (the cookie store's fields; src/transport/cookies.ts). */
export interface CookieAuth {
  authid: string | null;
  authrole: string | null;
  authmethod: string | null;
  authrealm: string | null;
  authextra: Record<string, unknown> | null;
}

/** How a DEBUG_FAIL makes a worker die: an uncaught exception, process.exit, or running out of heap. */
export type DebugFailMode = 'throw' | 'exit' | 'oom';

/**
 * What a realm worker reports with STATS. Counters are deltas since the previous report (the
 * main thread adds them up), gauges are current values.
 */
export interface WorkerStats {
  /** Batches received from the main thread since the worker started (cumulative: queue depth). */
  batchesIn: number;
  /** Deltas: batches and entries posted to the main thread, and the largest batch. */
  batchesOut: number;
  entriesOut: number;
  maxBatchOut: number;
  /** Deltas: authentication results, indexed AUTH_METHODS index * AUTH_RESULTS.length + AUTH_RESULTS index. */
  auth: number[];
  /** Gauges: joined sessions per realm of this worker. */
  sessions: Record<string, number>;
  /** Deltas: requests refused (or events not kept) because of a limit, indexed like LIMITS. */
  limits: number[];
  /** Deltas: events the HTTP bridge's subscriber services dropped, by service key (`transport/path`), indexed like BRIDGE_DROP_REASONS. */
  bridgeDrops: Record<string, number[]>;
  /** Gauges: retained events and their bytes per realm of this worker. */
  retained: Record<string, [events: number, bytes: number]>;
  /** Gauges: calls waiting in call queues (store.call-queue) and their bytes per realm of this worker. */
  queued?: Record<string, [calls: number, bytes: number]>;
  heapUsed: number;
  heapTotal: number;
  heapLimit: number;
  /** Gauges, seconds, over the interval since the previous report. */
  loopLagMean: number;
  loopLagP99: number;
  loopLagMax: number;
  /** Gauge: whether the worker's NATS connection is up (docs/cluster.md); null: not a cluster node. */
  clusterConnected: boolean | null;
  /** The worker's cluster link (docs/cluster.md), or null: not a cluster node. */
  cluster: ClusterStats | null;
}

/** What a realm worker reports of its NATS connection (workers/cluster.ts); counters are deltas. */
export interface ClusterStats {
  /** Why the link is not usable now (connecting, disconnected, closed), or null: connected. */
  down: string | null;
  /** Deltas: NATS messages and their payload bytes received and sent on the worker's connection. */
  msgsIn: number;
  msgsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Delta: reconnections to NATS. */
  reconnects: number;
  /** Delta: publications not handed to NATS (not connected, bigger than max_payload, …): lost to the other nodes. */
  publicationsDropped: number;
  /** Gauge: other nodes (distinct node ids) heard from within the last PEER_TTL_MS. */
  peers: number;
  /** Gauges (workers/cluster/rpc.ts): calls of this worker's sessions waiting for a callee on another node, and calls from other nodes waiting for a callee here. */
  remoteCallsOut: number;
  remoteCallsIn: number;
}

/** What a realm worker learns about the transport a session arrived on. */
export interface TransportInfo {
  /** WAMP over WebSocket or RawSocket (src/transport/rawsocket.ts); 'http': a router-internal session of the HTTP bridge (workers/bridge.ts). */
  type: 'websocket' | 'rawsocket' | 'http';
  /** The serializer's index in SERIALIZER_LIST (src/shared/serializers/index.ts), -1 for router-internal sessions. */
  serIndex: number;
  /** The transport's id, as sessions and authenticators see it. */
  transportId: string;
  /**
   * Key into WorkerStartup.auth (authentication configs are sent once, at startup): the
   * transport id, or `<transport id>/<path>` for a websocket path of a web transport, which
   * has its own auth (config/load.ts wsAuthKey).
   */
  authKey: string;
  serializer: string;
  peer: string;
  /**
   * With cookie tracking: the authid an anonymous session on this connection gets, derived from
   * its tracking cookie by a keyed hash (never the cookie itself: authids are disclosed to other
   * sessions, and a cookie that authenticated admits whoever presents it). Else null.
   */
  cookieAnonAuthid: string | null;
  /**
   * The authentication stored against that cookie (read from the cookie store on the main thread
   * at HELLO), or null: no cookie, or none authenticated with it (yet, or since its logout).
   */
  cookieAuth: CookieAuth | null;
  /**
   * A router component (docs/python-components.md): the identity the main thread assigned after
   * its one-time token was used up on the private component socket; else null. Only the main
   * thread sets it: no client message can.
   */
  component: { authid: string; role: string } | null;
  /** Whether the connection came over TLS (uWS's or Node's). */
  secure: boolean;
  /** What the TLS handshake established, for transports whose TLS Node.js terminates (src/transport/front.ts); else null. */
  tls: TlsFacts | null;
}

/** A verified TLS client certificate, in Autobahn|Python's `peer_cert` vocabulary. */
export interface PeerCert {
  /** SHA-1 / SHA-256 of the DER certificate: upper-case hex pairs joined by ':' (Crossbar's `certificate-sha1`). */
  sha1: string;
  sha256: string;
  subject: Record<string, string | string[]>;
  issuer: Record<string, string | string[]>;
  serial: string;
  not_before: string;
  not_after: string;
}

/** What a TLS handshake established (src/transport/front.ts tlsFacts). */
export interface TlsFacts {
  /** The client certificate (verified against the transport's ca_certificates), or null: none. */
  peerCert: PeerCert | null;
  /** e.g. TLSv1.3. */
  protocol: string;
  /** The accepted `tls-unique` channel ids (32 bytes, hex): see tlsFacts for why more than one. */
  tlsUnique: string[];
}

export type { TransportAuth } from '../config/auth.js';

/** Crosswire's authentication knobs (crosswire.auth_* in the config). */
export interface AuthOptions {
  timeout: number;
  threads: number;
  failDelay: number;
  maxFailures: number;
  failureWindow: number;
}

export interface WorkerStartup {
  workerIndex: number;
  realms: RealmConfig[];
  logLevel: string;
  /** Authentication config per WebSocket service (TransportInfo.authKey). */
  auth: Record<string, TransportAuth>;
  authOptions: AuthOptions;
  /** `pretty` when the main thread logs to a TTY (or log_format says so). */
  logFormat: LogFormat;
  /** Milliseconds between STATS reports. */
  statsIntervalMs: number;
  /** Honour DEBUG_FAIL (tests only: never set from config or environment). */
  debugHooks: boolean;
  /** The worker's old-generation heap limit in MB (0: V8's default). */
  maxHeapMb: number;
  /** The NATS link of a cluster node (docs/cluster.md), or null: a single node. */
  cluster: ClusterConfig | null;
  /** The HTTP bridge services on this worker's realms (docs/http-bridge.md). */
  bridges: BridgeSpec[];
}

/** crosswire.cluster, resolved (secrets read from the environment). */
export interface ClusterConfig {
  servers: string[];
  nodeId: string;
  user: string | null;
  password: string | null;
  token: string | null;
  /** An NKey user's seed, given inline ("${VAR}") or as a file read at connect. */
  nkey: NatsSecret | null;
  /** A user credentials file's content (JWT and seed), inline or as a file. */
  creds: NatsSecret | null;
  /** null: TLS only if the server requires it (with the system's CAs). */
  tls: NatsTls | null;
}

/** A secret from the environment (`value`) or a file to read (`file`, absolute). */
export type NatsSecret = { value: string } | { file: string };

/** TLS to NATS: absolute PEM file paths. */
export interface NatsTls {
  ca: string | null;
  cert: string | null;
  key: string | null;
  handshakeFirst: boolean;
}

export type LogFormat = 'json' | 'pretty';

export interface RealmConfig {
  name: string;
  roles: RoleConfig[];
  options: { uri_check: 'strict' | 'loose'; enable_meta_api: boolean };
  /** Event history (Crossbar's realm `store`, memory only). */
  history: { uri: string; match: 'exact' | 'prefix' | 'wildcard'; limit: number }[];
  /** Call queues (Crossbar's realm `store.call-queue`): how many calls may wait for a callee with room, per called procedure pattern. */
  callQueue: { uri: string; match: 'exact' | 'prefix' | 'wildcard'; limit: number }[];
  /** What clients may make the realm hold (realm options max_*, docs/limits.md); 0 = no limit. */
  limits: Record<Limit, number>;
  /** Crossbar's realm `stats`: per-session serializer statistics (wamp.session.on_stats); null or absent: off. */
  stats?: SessionStatsConfig | null;
}

/** Crossbar's realm `stats` (docs/configuration.md); durations in milliseconds here (nanoseconds in the file, as Crossbar). */
export interface SessionStatsConfig {
  ratedMessageSize: number;
  /** 0: no rated-messages trigger. */
  afterRatedMessages: number;
  /** 0: no duration trigger (milliseconds, not necessarily whole). */
  afterDurationMs: number;
  onJoin: boolean;
  onLeave: boolean;
}

export interface RoleConfig {
  name: string;
  'allow-by-default'?: boolean;
  permissions?: PermissionConfig[];
  /** Dynamic role: the authorizer procedure on the same realm, and Crosswire's decision cache. */
  authorizer?: string;
  'authorizer-cache-size'?: number;
  'authorizer-cache-ttl'?: number;
}

export interface PermissionConfig {
  uri: string;
  match?: 'exact' | 'prefix' | 'wildcard';
  allow?: { call?: boolean; register?: boolean; publish?: boolean; subscribe?: boolean };
  disclose?: { caller?: boolean; publisher?: boolean };
  cache?: boolean;
}
