import { componentTransport, type RouterConfig } from './config/load.js';
import { ComponentGate } from './container/gate.js';
import { Delivery } from './delivery.js';
import { FlowControl } from './flow.js';
import type { BridgePath } from './config/bridge.js';
import type { TransportConfig } from './config/load.js';
import { HttpBridge } from './http/bridge.js';
import { mountOps, mountOpsEndpoint, OpsListener, type OpsTarget } from './http/ops.js';
import { type DebugFailMode, Op, type TransportInfo } from './shared/ipc/protocol.js';
import { rejectedConn } from './shared/ipc/reader.js';
import { type Logger, resolveLogFormat } from './shared/log.js';
import { clusterNotReady } from './metrics/cluster.js';
import { MainCounters } from './metrics/counters.js';
import { type RefuseReason, TYPE_SLOTS, type WorkerFailure } from './shared/labels.js';
import { RouterMetrics } from './metrics/registry.js';
import { type Conn, ConnState } from './transport/connection.js';
import { forgetSession, noteCall, orphanedCalls } from './transport/session-track.js';
import { RawSocketListener } from './transport/rawsocket.js';
import { type ConnHandler, Listener } from './transport/ws-server.js';
import { type HttpResponse, loadUws, pauseStopsWithinOneRead, READ_SIZE, tcpReceiveBufferMax, type TemplatedApp } from './uws.js';
import { VERSION } from './shared/version.js';
import { CloseCode, KNOWN_TYPES, MsgType } from './shared/wamp/codes.js';
import { peeked } from './shared/wamp/peek.js';
import { isDict, isMessage, NOT_A_MESSAGE } from './shared/wamp/messages.js';
import { Uri } from './shared/wamp/uris.js';
import { RealmWorkers, type WorkerHandle } from './realm-threads.js';

const LOGOUT = 'wamp.close.logout';
/**
 * GOODBYE reasons by which a peer says it is done, not just leaving the realm: AutobahnJS's and
 * Autobahn|Python's default (wamp.close.normal) and the spec's "the peer is shutting down".
 * After the session ends, such a peer's WebSocket is closed with 1000 (router.ts #detached);
 * after any other reason (wamp.close.close_realm: leaving the realm) it stays open for a new HELLO.
 */
const LEAVING = new Set<unknown>(['wamp.close.normal', 'wamp.close.system_shutdown']);

/**
 * Message types an established session's frame may have to go to the worker undecoded: every
 * known type but GOODBYE, which the main thread acts on (detach, cookie logout).
 */
const RAW_TYPES = new Uint8Array(128);
for (const t of KNOWN_TYPES) if (t !== MsgType.GOODBYE) RAW_TYPES[t] = 1;

/** Programmatic options (tests); nothing here can be set from a config file or the environment. */
export interface RouterOptions {
  /** Allow Router.debugFailWorker (tests that kill a realm worker). */
  debugHooks?: boolean;
  /** Milliseconds between the workers' STATS reports (default 1000). */
  statsIntervalMs?: number;
}

/**
 * The main thread: terminates WebSockets (uWS) and does socket I/O. An established session's
 * frames go to its realm worker as received (only their head is read here: src/shared/wamp/peek.ts),
 * batched per event-loop turn; the worker decodes, routes and encodes, and its bytes are written
 * to the sockets (src/delivery.ts). HELLO, GOODBYE, batched serializers and heads that are not
 * plain are decoded here.
 */
export class Router implements ConnHandler, OpsTarget {
  /** One per transport: uWS (websocket, web) or Node net/tls (rawsocket). */
  readonly listeners: (Listener | RawSocketListener)[] = [];
  /** The router components' private path (null without router components). */
  readonly componentGate: ComponentGate | null = null;
  /** Set by CrosswireNode: why configured components make the router not ready yet (null: they are all running). */
  componentsPending: (() => string | null) | null = null;
  readonly ops: OpsListener | null = null;
  readonly nativeUws: boolean;
  /** Which uWebSockets.js build runs (src/uws.ts). */
  readonly uwsBuild: string;
  readonly counters = new MainCounters();
  readonly metrics: RouterMetrics;
  readonly log: Logger;
  #workers: RealmWorkers;
  #conns = new Map<number, Conn>();
  #nextConnId = 1;
  #realmWorker = new Map<string, WorkerHandle>();
  #started = false;
  #shuttingDown = false;
  #stopped: Promise<void> | null = null;
  #allClosed: (() => void) | null = null;
  #debugHooks: boolean;
  #out: Delivery;
  readonly flow: FlowControl;
  readonly #workerWindow: number;
  readonly #connWindow: number;
  /** Bytes of the frame being decoded on the main thread, counted towards flow control where it is posted to a worker. */
  #frameBytes = 0;
  /** The same, handed to the realm worker with the frame's first message (session statistics, workers/session-stats.ts). */
  #statBytes = 0;
  /** The HTTP bridge's path services (src/http/bridge.ts). */
  readonly bridge: HttpBridge;

  private constructor(
    readonly config: RouterConfig,
    readonly rootLog: Logger,
    opts: RouterOptions,
  ) {
    this.log = rootLog.child({ component: 'router' });
    const { uws, native, build, version } = loadUws(config.allowUwsFallback);
    this.nativeUws = native;
    this.uwsBuild = build;
    if (!native) this.log.warn({ uws: build }, 'uWebSockets.js runs on its pure-JS fallback (allowed by config): expect poor performance');
    else this.log.info({ uws: build }, 'uWebSockets.js loaded');
    this.#debugHooks = opts.debugHooks === true;
    this.bridge = new HttpBridge((realm) => this.#realmWorker.get(realm), rootLog.child({ component: 'http-bridge' }));
    // Listeners first: one that cannot be built (a TLS file, say) fails before any thread starts.
    for (const t of config.transports) {
      const log = rootLog.child({ component: 'transport', transport: t.id });
      this.listeners.push(t.rawsocket !== undefined ? new RawSocketListener(t, this, log) : new Listener(uws, t, this, log));
    }
    if (config.pythonComponents.some((c) => c.kind === 'router')) {
      const gate = new ComponentGate();
      this.componentGate = gate;
      const t = componentTransport(gate.socket);
      const l = new Listener(uws, t, this, rootLog.child({ component: 'transport', transport: t.id }));
      for (const s of l.services) s.componentGate = gate;
      this.listeners.push(l);
    }
    this.#workers = new RealmWorkers(
      config,
      { logFormat: resolveLogFormat(config.logFormat), debugHooks: this.#debugHooks, statsIntervalMs: opts.statsIntervalMs ?? 1000 },
      {
        batch: (w, ops) => this.#out.batch(w, ops),
        created: (w) => this.#wire(w),
        failed: (old, _fresh, cause, detail) => this.#workerFailed(old, cause, detail),
      },
      rootLog.child({ component: 'workers' }),
    );
    this.#workerWindow = config.flow.workerWindow;
    this.#connWindow = config.flow.connectionWindow;
    this.flow = new FlowControl(
      config.flow,
      native,
      this.counters,
      { replay: (c, data) => this.#process(c, data), close: (c, reason) => this.#end(c, CloseCode.POLICY_VIOLATION, reason) },
      this.log,
    );
    if (native && config.flow.pauseReading && !pauseStopsWithinOneRead(version)) {
      const rmemMax = tcpReceiveBufferMax();
      this.log.warn(
        { uws: build, tcp_rmem_max: rmemMax, read_size: READ_SIZE },
        `uWebSockets.js ${version} keeps reading a socket while each read fills its ${READ_SIZE} byte buffer, even once flow control has paused it: ` +
          `a paused connection is read until the kernel has less than that queued for it (with a fast sender, until crosswire.flow.connection_hold closes it, 1008). ` +
          `${rmemMax === null ? 'The kernel' : `net.ipv4.tcp_rmem (maximum ${rmemMax})`} allows more per socket; ` +
          `a maximum of ${READ_SIZE} or less in the router's network namespace makes pausing stop reads within one read (docs/flow-control.md)`,
      );
    }
    this.metrics = new RouterMetrics({
      counters: this.counters,
      workers: this.#workers.handles, // the live list: a restarted worker's handle replaces the old one in place
      transportIds: config.transports.map((t) => t.id),
      version: VERSION,
      isReady: () => this.readiness() === 'ready',
      flow: this.flow,
      sendBuffered: () => this.#out.refreshSendBuffered(),
      cookies: () => this.listeners.flatMap((l) => l.services.flatMap((s) => (s.cookies === null ? [] : [{ transport: s.info.authKey, tracker: s.cookies }]))),
    });
    this.bridge.registerMetrics(this.metrics.registry);
    const workers = this.#workers;
    this.#out = new Delivery(
      this.#conns,
      this.counters,
      this.metrics.routingLatency,
      {
        detached: (c) => this.#detached(c),
        statsArrived: (w, stats) => workers.statsArrived(w, stats),
        acked: (w, mark) => this.flow.acked(w, mark),
        bridged: (id, status, body) => this.bridge.reply(id, status, body),
      },
      config.flow.sendBudget,
      this.log,
    );
    if (config.ops.port !== null) this.ops = new OpsListener(uws, config.ops.host, config.ops.port, this, rootLog.child({ component: 'ops' }));
  }

  /** Starts workers and listeners; resolves when every worker is online and every transport listens. */
  static async start(config: RouterConfig, log: Logger, opts: RouterOptions = {}): Promise<Router> {
    const r = new Router(config, log, opts);
    try {
      await r.#workers.online();
      await Promise.all([...r.listeners.map((l) => l.listen()), r.ops?.listen()]);
    } catch (e) {
      for (const l of r.listeners) l.stopListening();
      r.ops?.stopListening();
      await Promise.all(r.listeners.map((l) => l.close()));
      await r.#workers.terminate();
      r.componentGate?.close();
      throw e;
    }
    r.#started = true;
    for (const l of r.listeners) r.log.info({ transport: l.config.id, host: l.config.host, port: l.port, configured_url: l.config.url }, 'listening');
    if (r.ops !== null) r.log.info({ host: r.ops.host, port: r.ops.port }, 'operations endpoint listening (/metrics, /health, /ready)');
    return r;
  }

  get workers(): readonly WorkerHandle[] {
    return this.#workers.handles;
  }

  get connectionCount(): number {
    return this.#conns.size;
  }

  /** The peer (real client address, `tcp4:…`) of every open connection, as sessions get it. */
  peers(): string[] {
    return [...this.#conns.values()].map((c) => c.peer);
  }

  /** Slow consumers closed because their send buffer would pass max_backpressure. */
  get slowConsumerCloses(): number {
    return this.counters.slowConsumerCloses;
  }

  /** Bytes in the connections' send buffers now (crosswire.flow.send_budget bounds it). */
  get sendBuffered(): number {
    return this.#out.refreshSendBuffered();
  }

  /** Per-handle hooks, for the first start and every restart. */
  #wire(w: WorkerHandle): void {
    for (const r of w.realms) this.#realmWorker.set(r, w);
    w.outbox.onReject = (entry) => {
      // A frame that cannot cross to the worker (nested too deep to clone): only its sender pays.
      const id = rejectedConn(entry);
      const c = id === undefined ? undefined : this.#conns.get(id);
      if (c !== undefined) this.#violation(c, 'message nested too deeply');
    };
  }

  // ---- operations endpoints (http/ops.ts) ----------------------------------------------------

  readiness(): string {
    if (this.#shuttingDown) return 'draining';
    if (!this.#started) return 'starting';
    if (!this.#workers.allOnline) return 'recovering';
    // A cluster node cut off from NATS serves its own sessions only (docs/cluster.md).
    if (clusterNotReady(this.#workers.handles) !== null) return 'cluster_unavailable';
    return this.componentsPending?.() ?? 'ready';
  }

  /** Why readiness() is not `ready`, where there is more to say (the cluster link), else null. */
  readinessReason(): string | null {
    return this.readiness() === 'cluster_unavailable' ? clusterNotReady(this.#workers.handles) : null;
  }

  /** The Prometheus text, after fresh STATS from every worker (at most 1 s wait for a busy one). */
  async metricsText(): Promise<{ contentType: string; body: string }> {
    await this.#workers.collectStats(1000);
    return { contentType: this.metrics.contentType, body: await this.metrics.render() };
  }

  mountOpsAt(app: TemplatedApp, kind: 'metrics' | 'health' | 'ready', path: string): void {
    mountOpsEndpoint(app, this, kind, path, this.rootLog.child({ component: 'ops' }));
  }

  mountBridgeAt(app: TemplatedApp, p: BridgePath, transport: TransportConfig, peerOf: (res: HttpResponse) => string): void {
    this.bridge.mount(app, p, transport, peerOf);
  }

  mountHttp(app: TemplatedApp): void {
    if (this.config.ops.onTransports.length > 0) mountOps(app, this, this.config.ops.onTransports, this.rootLog.child({ component: 'ops' }));
  }

  // ---- ConnHandler (called by uWS) ----------------------------------------------------------

  accepting(): boolean {
    return !this.#shuttingDown;
  }

  opened(c: Conn): void {
    c.id = this.#nextConnId++;
    this.#conns.set(c.id, c);
    this.#awaitHello(c);
    this.counters.connectionOpened(c.service.config.id);
  }

  closed(c: Conn, _code: number): void {
    this.#conns.delete(c.id);
    if (c.helloTimer !== null) clearTimeout(c.helloTimer);
    this.counters.connectionClosed(c.service.config.id);
    if (c.worker !== null) c.worker.outbox.push2(Op.CLOSED, c.id);
    c.worker = null;
    this.flow.closed(c);
    this.#out.closed(c);
    forgetSession(c);
    if (this.#conns.size === 0) this.#allClosed?.();
  }

  refused(reason: RefuseReason, peer: string, detail: Record<string, unknown>): void {
    this.counters.refuse(reason);
    this.log.info({ peer, reason, ...detail }, 'connection refused');
  }

  violation(c: Conn): void {
    this.counters.violation(c.service.config.id);
  }

  slowConsumer(_c: Conn): void {
    this.counters.slowConsumerCloses++;
  }

  frame(c: Conn, data: ArrayBuffer, isBinary: boolean): void {
    this.counters.bytesIn[c.serIndex]! += data.byteLength;
    if (data.byteLength > c.service.config.maxMessageSize) {
      this.log.info({ conn: c.id, peer: c.peer, reason: 'message over max_message_size', size: data.byteLength }, 'message too big');
      // Counted as RawSocket counts a frame over max_message_size: one series for both transports.
      this.counters.violation(c.service.config.id);
      this.#out.flush(c);
      c.service.fail(c, CloseCode.TOO_BIG, `message too big (limit ${c.service.config.maxMessageSize} bytes)`);
      return;
    }
    if (isBinary !== c.ser.binary) {
      return this.#violation(c, `${c.ser.subprotocol} messages must be sent as ${c.ser.binary ? 'binary' : 'text'} WebSocket frames`);
    }
    // Flow control (src/flow.ts): a paused connection's frames wait in order; one whose worker's
    // window or its own is full is paused. Two comparisons per frame while both are open.
    if (c.flowHeld !== null) return this.flow.hold(c, data);
    const w = c.worker;
    if (w !== null && (w.outbox.mark - w.acked >= this.#workerWindow || c.flowBound >= this.#connWindow) && this.flow.mustWait(c, w)) {
      return this.flow.hold(c, data);
    }
    this.#process(c, new Uint8Array(data));
  }

  /** A frame that passed the checks above (now, or when flow control releases it). */
  #process(c: Conn, bytes: Uint8Array): void {
    // An established session's frame goes to its realm worker as it came (copied: uWS neuters
    // `data` when this callback returns); the worker decodes it. Only its head is read here.
    if (c.state === ConnState.ATTACHED && c.ser.peek !== undefined && !c.service.config.debug) {
      const t = c.ser.peek(bytes);
      if (t >= 0 && t < RAW_TYPES.length && RAW_TYPES[t] === 1 && (t !== MsgType.CALL || peeked.id >= 0)) {
        this.counters.msgIn[c.serIndex * TYPE_SLOTS + t]!++;
        this.counters.forwarded++;
        // Remembered so that a realm worker's crash can still answer the call (see #workerFailed).
        if (t === MsgType.CALL && c.joined) noteCall(c, peeked.id);
        const w = c.worker!;
        // Counted before the push: a push that fills the batch posts it, MARK included.
        w.outbox.mark += bytes.byteLength;
        c.flowBound += bytes.byteLength;
        w.outbox.pushRecord(c.id, bytes, t, -1);
        c.flowMark = w.outbox.mark;
        return;
      }
    }
    let msg: unknown;
    try {
      msg = c.ser.decode(bytes);
    } catch (e) {
      return this.#violation(c, `malformed ${c.ser.name} message: ${(e as Error).message}`);
    }
    this.#frameBytes = bytes.byteLength;
    this.#statBytes = bytes.byteLength;
    if (c.ser.batched) {
      // A batch (wamp.2.*.batched): its messages in order, until one ends the connection.
      for (const m of msg as unknown[]) if (!this.#accept(c, m) || c.ws === null) break;
    } else this.#accept(c, msg);
    this.#frameBytes = 0;
    this.#statBytes = 0;
  }

  /** Counts the frame being decoded (once) towards flow control, before its first message is posted to `w`. */
  #posting(c: Conn, w: WorkerHandle): void {
    const n = this.#frameBytes;
    if (n === 0) return;
    this.#frameBytes = 0;
    w.outbox.mark += n;
    c.flowBound += n;
    c.flowMark = w.outbox.mark;
  }

  /** Envelope check of one decoded message, then routing. False after a protocol violation. */
  #accept(c: Conn, msg: unknown): boolean {
    if (!isMessage(msg)) {
      this.#violation(c, NOT_A_MESSAGE);
      return false;
    }
    this.counters.msgIn[c.serIndex * TYPE_SLOTS + (msg[0] as number)]!++;
    // `msg` is pino's message key: the WAMP message goes under `wamp`.
    if (c.service.config.debug) this.log.info({ conn: c.id, dir: 'in', wamp: msg }, 'wamp message');
    this.#route(c, msg);
    return true;
  }

  #route(c: Conn, msg: unknown[]): void {
    switch (c.state) {
      case ConnState.ATTACHED:
        // Frames of one connection go through one port in order: the session sees them in order.
        if (msg[0] === MsgType.GOODBYE) {
          c.state = ConnState.DETACHING;
          c.leaving = LEAVING.has(msg[2]);
          if (c.cbtid !== null && msg[2] === LOGOUT) this.#logout(c, c.cbtid);
        }
        // Remembered so that a realm worker's crash can still answer the call (see #workerFailed).
        else if (msg[0] === MsgType.CALL && c.joined && typeof msg[1] === 'number') noteCall(c, msg[1]);
        this.#posting(c, c.worker!);
        c.worker!.outbox.push4(Op.FRAME, c.id, msg, this.#statBytes);
        this.#statBytes = 0; // a batch's frame is counted with its first message (as Autobahn's serializer stats count it)
        return;
      case ConnState.DETACHING:
        (c.held ??= []).push(msg);
        return;
      default:
        return this.#hello(c, msg);
    }
  }

  /**
   * Crossbar's cookie logout: GOODBYE with wamp.close.logout forgets the authentication stored
   * for the cookie and closes every other connection of the same service sharing it.
   */
  #logout(c: Conn, cbtid: string): void {
    c.service.cookies?.logout(cbtid);
    for (const o of this.#conns.values()) {
      if (o !== c && o.cbtid === cbtid && o.service === c.service) this.#end(o, CloseCode.NORMAL, LOGOUT);
    }
  }

  /** The first message of a session: HELLO picks the realm, hence the worker. */
  #hello(c: Conn, msg: unknown[]): void {
    if (msg[0] !== MsgType.HELLO) {
      return this.#violation(c, `the first message of a session must be HELLO, got message type ${String(msg[0])}`);
    }
    if (msg.length !== 3 || typeof msg[1] !== 'string' || !isDict(msg[2])) {
      return this.#violation(c, 'HELLO must be [1, Realm|uri, Details|dict]');
    }
    const realm = msg[1];
    if (this.#shuttingDown) {
      this.refused('draining', c.peer, { conn: c.id });
      this.#out.sendNow(c, [MsgType.ABORT, { message: 'the router is shutting down' }, Uri.SYSTEM_SHUTDOWN]);
      c.ws?.end(CloseCode.GOING_AWAY, 'router shutting down');
      return;
    }
    const w = this.#realmWorker.get(realm);
    if (w === undefined) {
      this.counters.refuse('no_such_realm');
      this.log.info({ conn: c.id, peer: c.peer, reason: Uri.NO_SUCH_REALM, realm }, 'session refused');
      this.#out.sendNow(c, [MsgType.ABORT, { message: `no realm '${realm}' exists on this router` }, Uri.NO_SUCH_REALM]);
      c.ws?.end(CloseCode.NORMAL, Uri.NO_SUCH_REALM);
      return;
    }
    let component: TransportInfo['component'] = null;
    const gate = c.service.componentGate;
    if (gate !== null) {
      const authextra = (msg[2] as { authextra?: unknown }).authextra;
      const id = gate.claim(isDict(authextra) ? authextra.crosswire_component_token : undefined, realm);
      if (typeof id === 'string') {
        this.counters.refuse('auth');
        this.log.warn({ conn: c.id, peer: c.peer, reason: Uri.AUTHENTICATION_FAILED, realm, why: id }, 'session refused on the component socket');
        this.#out.sendNow(c, [MsgType.ABORT, { message: id }, Uri.AUTHENTICATION_FAILED]);
        c.ws?.end(CloseCode.POLICY_VIOLATION, Uri.AUTHENTICATION_FAILED);
        return;
      }
      component = { authid: id.authid, role: id.role };
      this.log.info({ conn: c.id, realm, component: id.component, authrole: id.role }, 'router component joining over its private socket');
    }
    c.state = ConnState.ATTACHED;
    if (c.helloTimer !== null) {
      clearTimeout(c.helloTimer);
      c.helloTimer = null;
    }
    c.worker = w;
    const transport: TransportInfo = {
      ...c.service.info,
      serIndex: c.serIndex,
      serializer: c.ser.name,
      peer: c.peer,
      cookieAnonAuthid: c.cbtid === null ? null : (c.service.cookies?.anonymousAuthid(c.cbtid) ?? null),
      cookieAuth: c.cbtid === null ? null : (c.service.cookies?.auth(c.cbtid) ?? null),
      component,
      secure: c.service.secure,
      tls: c.tls,
    };
    this.#posting(c, w);
    w.outbox.push5(Op.OPEN, c.id, realm, msg[2], transport);
  }

  /** A protocol violation found on the main thread: ABORT, then close; only this connection. */
  #violation(c: Conn, message: string): void {
    this.counters.violation(c.service.config.id);
    this.log.info({ conn: c.id, peer: c.peer, reason: message }, 'protocol violation');
    this.#out.sendNow(c, [MsgType.ABORT, { message }, Uri.PROTOCOL_VIOLATION]);
    c.ws?.end(CloseCode.PROTOCOL_ERROR, Uri.PROTOCOL_VIOLATION);
  }

  /** Closes `c` from the main thread, after what was routed to it (Delivery writes once per event-loop turn). */
  #end(c: Conn, code: number, reason: string): void {
    this.#out.flush(c);
    c.ws?.end(code, reason);
  }

  /**
   * A WebSocket without a session (before its first HELLO, or after a GOODBYE) is closed after
   * crosswire.hello_timeout, so idle sockets cannot hold connection slots forever.
   */
  #awaitHello(c: Conn): void {
    const ms = this.config.helloTimeout;
    if (ms === 0) return;
    c.helloTimer = setTimeout(() => {
      c.helloTimer = null;
      if (c.state !== ConnState.IDLE || c.ws === null) return;
      this.log.info({ conn: c.id, peer: c.peer, ms }, 'no HELLO in time: closing');
      c.ws.end(CloseCode.POLICY_VIOLATION, `no HELLO within ${ms} ms`);
    }, ms);
    c.helloTimer.unref();
  }

  #detached(c: Conn): void {
    this.#out.flush(c);
    c.worker = null;
    c.state = ConnState.IDLE;
    forgetSession(c);
    this.#awaitHello(c);
    if (this.#shuttingDown) {
      this.#end(c, CloseCode.GOING_AWAY, 'router shutting down');
      return;
    }
    const leaving = c.leaving;
    c.leaving = false;
    if (leaving && c.held === null && c.ws !== null) {
      // The peer said it is done and sent nothing behind its GOODBYE: close with 1000 now, right
      // behind the GOODBYE reply. uWS answers a close frame itself, echoing its code, so a client
      // that closes without a code (AutobahnJS on Node.js) would get no code (1005, "lost"), where
      // Crossbar answers 1000 (autobahn's echo_close_codereason: false).
      this.#end(c, CloseCode.NORMAL, '');
      return;
    }
    // WAMP spec, "GOODBYE": the transport may carry a new session; replay what came meanwhile.
    const held = c.held;
    c.held = null;
    if (held !== null) for (const m of held) if (c.ws !== null) this.#route(c, m);
  }

  /**
   * A realm worker died (workers.ts already replaced its handle, so new HELLOs queue for the
   * restarted thread). Its sessions cannot be saved, and since calls are realm-local every caller
   * waiting on the dead worker is one of its own sessions: each gets ERROR wamp.error.canceled for
   * its unanswered calls from the main thread (session-track.ts), then a 1011 close whose reason
   * names the failure.
   */
  #workerFailed(old: WorkerHandle, cause: WorkerFailure, detail: { err?: unknown; exitCode: number; delayMs: number }): void {
    this.counters.restarted(old.index, cause);
    this.bridge.workerFailed(old);
    const message = `the realm's worker thread failed (${cause}); the router is restarting it`;
    let sessions = 0;
    let calls = 0;
    for (const c of [...this.#conns.values()]) {
      if (c.worker !== old) continue;
      c.worker = null;
      c.held = null;
      if (c.joined) sessions++;
      for (const m of orphanedCalls(c, message)) {
        calls++;
        this.#out.sendNow(c, m);
      }
      forgetSession(c);
      this.#end(c, CloseCode.INTERNAL, `realm worker failed (${cause}); reconnect`);
    }
    this.log.error(
      { err: detail.err, exitCode: detail.exitCode, cause, worker: old.index, realms: old.realms, sessions, canceledCalls: calls, restartInMs: detail.delayMs },
      'realm worker failed; its sessions were closed and it is being restarted',
    );
  }

  /** Tests only: make realm worker `index` fail (DEBUG_FAIL). Throws unless started with debugHooks. */
  debugFailWorker(index: number, mode: DebugFailMode): void {
    if (!this.#debugHooks) throw new Error('debug hooks are not enabled (Router.start option debugHooks)');
    const w = this.workers[index];
    if (w === undefined) throw new Error(`no realm worker ${index}`);
    w.outbox.push2(Op.DEBUG_FAIL, mode);
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /**
   * Graceful drain. /ready turns 503 and new connections and HELLOs are refused at once; the
   * workers stop accepting CALLs, let in-flight calls finish for up to `drainMs` and say GOODBYE
   * (wamp.close.system_shutdown) to each session as soon as it has nothing in flight (drain.ts);
   * after `drainMs`, callers still waiting get wamp.error.canceled. Sessions then have up to 1 s
   * to answer GOODBYE; whatever is left is closed, the listeners stop and the workers end.
   */
  shutdown(drainMs = this.config.shutdownTimeout): Promise<void> {
    this.#stopped ??= this.#shutdown(drainMs);
    return this.#stopped;
  }

  async #shutdown(drainMs: number): Promise<void> {
    this.#shuttingDown = true;
    this.log.info({ drainMs, connections: this.#conns.size }, 'draining');
    for (const w of this.workers) w.outbox.push2(Op.SHUTDOWN, drainMs);
    for (const c of [...this.#conns.values()]) {
      if (c.state === ConnState.IDLE) c.ws?.end(CloseCode.GOING_AWAY, 'router shutting down');
    }
    if (this.#conns.size > 0) {
      const graceMs = Math.min(1000, Math.max(100, drainMs));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainMs + graceMs);
        this.#allClosed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    for (const c of [...this.#conns.values()]) this.#end(c, CloseCode.GOING_AWAY, 'router shutting down');
    // Listening until here: load balancers see /ready 503 and upgrades get 503 during the drain.
    for (const l of this.listeners) l.stopListening();
    this.ops?.stopListening();
    this.bridge.close();
    await this.#workers.terminate();
    await Promise.all(this.listeners.map((l) => l.close()));
    this.componentGate?.close();
    this.log.info('router stopped');
  }
}
