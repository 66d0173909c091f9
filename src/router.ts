import type { RouterConfig } from './config/load.js';
import { Op, type TransportInfo } from './ipc/protocol.js';
import type { Logger } from './log.js';
import { type Conn, ConnState } from './transport/connection.js';
import { SERIALIZER_LIST } from './serializers/index.js';
import { sendAll } from './transport/send.js';
import { type ConnHandler, Listener } from './transport/ws-server.js';
import { loadUws } from './uws.js';
import { KNOWN_TYPES, MsgType } from './wamp/codes.js';
import { isDict } from './wamp/messages.js';
import { Uri } from './wamp/uris.js';
import { spawnRealmWorkers, type WorkerHandle } from './workers.js';

const LOGOUT = 'wamp.close.logout';

/** WebSocket close codes sent by the main thread. */
const Close = { GOING_AWAY: 1001, PROTOCOL_ERROR: 1002, POLICY: 1008, TOO_BIG: 1009, INTERNAL: 1011 } as const;

/**
 * The main thread: terminates WebSockets (uWS), decodes each frame once, hands frames to the
 * realm worker of the session in one batch per event-loop turn, and sends what the workers
 * route back, encoding a fanned-out EVENT once per serializer.
 */
export class Router implements ConnHandler {
  readonly listeners: Listener[] = [];
  readonly workers: WorkerHandle[];
  readonly nativeUws: boolean;
  #conns = new Map<number, Conn>();
  #nextConnId = 1;
  #realmWorker = new Map<string, WorkerHandle>();
  #shuttingDown = false;
  #allClosed: (() => void) | null = null;
  /** Connections that got output during the worker batch being processed. */
  #touched: Conn[] = [];
  /** FANOUT scratch: the message encoded per serializer (SERIALIZER_LIST index). */
  #encoded: (string | Uint8Array | undefined)[] = new Array(SERIALIZER_LIST.length).fill(undefined);
  /** Slow consumers closed because their send buffer passed the limit. */
  slowConsumerCloses = 0;

  private constructor(
    readonly config: RouterConfig,
    readonly log: Logger,
  ) {
    const { uws, native } = loadUws(config.allowUwsFallback);
    this.nativeUws = native;
    if (!native) log.warn('uWebSockets.js runs on its pure-JS fallback (allowed by config): expect poor performance');
    // Listeners first: one that cannot be built (a TLS file, say) fails before any thread starts.
    for (const t of config.transports) this.listeners.push(new Listener(uws, t, this, log.child({ transport: t.id })));
    this.workers = spawnRealmWorkers(config, (w, ops) => this.#onWorkerBatch(w, ops));
    for (const w of this.workers) {
      for (const r of w.realms) this.#realmWorker.set(r, w);
      w.worker.on('error', (err) => this.#workerFailed(w, err));
      w.outbox.onReject = (entry) => {
        // A frame that cannot cross to the worker (nested too deep to clone): only its sender pays.
        const c = this.#conns.get(entry[1] as number);
        if (c !== undefined) this.#violation(c, 'message nested too deeply');
      };
    }
  }

  /** Starts workers and listeners; resolves when every transport listens. */
  static async start(config: RouterConfig, log: Logger): Promise<Router> {
    const r = new Router(config, log);
    try {
      await Promise.all(r.listeners.map((l) => l.listen()));
    } catch (e) {
      for (const l of r.listeners) l.stopListening();
      await Promise.all(r.listeners.map((l) => l.close()));
      await Promise.all(r.workers.map((w) => w.worker.terminate()));
      throw e;
    }
    for (const l of r.listeners) log.info({ transport: l.config.id, host: l.config.host, port: l.port, configured_url: l.config.url }, 'listening');
    return r;
  }

  get connectionCount(): number {
    return this.#conns.size;
  }

  /** The peer (real client address, `tcp4:…`) of every open connection, as sessions get it. */
  peers(): string[] {
    return [...this.#conns.values()].map((c) => c.peer);
  }

  // ---- ConnHandler (called by uWS) ----------------------------------------------------------

  accepting(): boolean {
    return !this.#shuttingDown;
  }

  opened(c: Conn): void {
    c.id = this.#nextConnId++;
    this.#conns.set(c.id, c);
  }

  closed(c: Conn, _code: number): void {
    this.#conns.delete(c.id);
    if (c.worker !== null) c.worker.outbox.push2(Op.CLOSED, c.id);
    c.worker = null;
    if (this.#conns.size === 0) this.#allClosed?.();
  }

  frame(c: Conn, data: ArrayBuffer, isBinary: boolean): void {
    if (data.byteLength > c.service.config.maxMessageSize) {
      this.log.info({ conn: c.id, peer: c.peer, size: data.byteLength }, 'message over max_message_size');
      c.service.fail(c, Close.TOO_BIG, `message too big (limit ${c.service.config.maxMessageSize} bytes)`);
      return;
    }
    if (isBinary !== c.ser.binary) {
      return this.#violation(c, `${c.ser.subprotocol} messages must be sent as ${c.ser.binary ? 'binary' : 'text'} WebSocket frames`);
    }
    let msg: unknown;
    try {
      // Decoded synchronously: uWS neuters `data` when this callback returns.
      msg = c.ser.decode(new Uint8Array(data));
    } catch (e) {
      return this.#violation(c, `malformed ${c.ser.name} message: ${(e as Error).message}`);
    }
    if (c.ser.batched) {
      // A batch (wamp.2.*.batched): its messages in order, until one ends the connection.
      for (const m of msg as unknown[]) if (!this.#accept(c, m) || c.ws === null) return;
      return;
    }
    this.#accept(c, msg);
  }

  /** Envelope check of one decoded message, then routing. False after a protocol violation. */
  #accept(c: Conn, msg: unknown): boolean {
    if (!Array.isArray(msg) || msg.length === 0 || !KNOWN_TYPES.has(msg[0] as number)) {
      this.#violation(c, 'a WAMP message must be a non-empty list starting with a known message type code');
      return false;
    }
    if (c.service.config.debug) this.log.info({ conn: c.id, dir: 'in', msg }, 'wamp message');
    this.#route(c, msg);
    return true;
  }

  #route(c: Conn, msg: unknown[]): void {
    switch (c.state) {
      case ConnState.ATTACHED:
        // Frames of one connection go through one port in order: the session sees them in order.
        if (msg[0] === MsgType.GOODBYE) {
          c.state = ConnState.DETACHING;
          if (c.cbtid !== null && msg[2] === LOGOUT) this.#logout(c, c.cbtid);
        }
        c.worker!.outbox.push3(Op.FRAME, c.id, msg);
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
    c.service.cookies?.setAuth(cbtid, { authid: null, authrole: null, authmethod: null, authrealm: null, authextra: null });
    for (const o of this.#conns.values()) {
      if (o !== c && o.cbtid === cbtid && o.service === c.service) o.ws?.end(1000, LOGOUT);
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
    const w = this.#realmWorker.get(realm);
    if (w === undefined) {
      this.log.info({ conn: c.id, peer: c.peer, realm }, 'HELLO for a realm that does not exist');
      this.#sendNow(c, [MsgType.ABORT, { message: `no realm '${realm}' exists on this router` }, Uri.NO_SUCH_REALM]);
      c.ws?.end(1000, Uri.NO_SUCH_REALM);
      return;
    }
    c.state = ConnState.ATTACHED;
    c.worker = w;
    const transport: TransportInfo = { ...c.service.info, serializer: c.ser.name, peer: c.peer, cbtid: c.cbtid };
    w.outbox.push5(Op.OPEN, c.id, realm, msg[2], transport);
  }

  /** A protocol violation found on the main thread: ABORT, then close; only this connection. */
  #violation(c: Conn, message: string): void {
    this.log.info({ conn: c.id, peer: c.peer, reason: message }, 'protocol violation');
    this.#sendNow(c, [MsgType.ABORT, { message }, Uri.PROTOCOL_VIOLATION]);
    c.ws?.end(Close.PROTOCOL_ERROR, Uri.PROTOCOL_VIOLATION);
  }

  #sendNow(c: Conn, msg: unknown[]): void {
    c.ws?.send(c.ser.encode(msg), c.ser.binary);
  }

  // ---- output from realm workers ----------------------------------------------------------

  #onWorkerBatch(_w: WorkerHandle, ops: unknown[]): void {
    const n = ops.length;
    let i = 0;
    while (i < n) {
      switch (ops[i] as number) {
        case Op.SEND: {
          const c = this.#conns.get(ops[i + 1] as number);
          if (c !== undefined) {
            const msg = ops[i + 2] as unknown[];
            if (c.cbtid !== null && msg[0] === MsgType.WELCOME) c.service.cookies!.welcomed(c.cbtid, msg[2]);
            const data = this.#encode(c, msg);
            if (data !== undefined) this.#queue(c, data, msg);
          }
          i += 3;
          break;
        }
        case Op.FANOUT: {
          const ids = ops[i + 1] as number[];
          const msg = ops[i + 2] as unknown[];
          i += 3;
          // One encode per serializer for all recipients; every socket gets the same bytes.
          const enc = this.#encoded;
          for (let j = 0; j < ids.length; j++) {
            const c = this.#conns.get(ids[j]!);
            if (c === undefined) continue;
            const data = (enc[c.serIndex] ??= this.#encode(c, msg));
            if (data !== undefined) this.#queue(c, data, msg);
          }
          enc.fill(undefined);
          break;
        }
        case Op.DETACH: {
          const c = this.#conns.get(ops[i + 1] as number);
          i += 2;
          if (c !== undefined) this.#detached(c);
          break;
        }
        case Op.CLOSE: {
          const c = this.#conns.get(ops[i + 1] as number);
          const code = ops[i + 2] as number;
          const reason = ops[i + 3] as string;
          i += 4;
          if (c !== undefined) {
            this.#flush(c);
            c.worker = null; // the worker already dropped the session
            c.ws?.end(code, reason);
          }
          break;
        }
        default:
          throw new Error(`corrupt IPC batch from a realm worker: opcode ${String(ops[i])}`);
      }
    }
    const touched = this.#touched;
    for (let j = 0; j < touched.length; j++) this.#flush(touched[j]!);
    touched.length = 0;
  }

  /** Encodes for `c`'s serializer; a message that cannot be encoded closes `c` (1011), nothing else. */
  #encode(c: Conn, msg: unknown[]): string | Uint8Array | undefined {
    try {
      return c.ser.encode(msg);
    } catch (err) {
      this.log.error({ err, conn: c.id, msgType: msg[0] }, 'cannot encode an outgoing message');
      this.#flush(c);
      c.ws?.end(Close.INTERNAL, 'an outgoing message could not be encoded');
      return undefined;
    }
  }

  #queue(c: Conn, data: string | Uint8Array, msg: unknown): void {
    if (c.service.config.debug) this.log.info({ conn: c.id, dir: 'out', msg }, 'wamp message');
    if (c.out === null) {
      c.out = [data];
      this.#touched.push(c);
    } else c.out.push(data);
  }

  /** Sends what is queued for `c` in one corked write. */
  #flush(c: Conn): void {
    const out = c.out;
    if (out === null) return;
    c.out = null;
    const ws = c.ws;
    if (ws === null) return;
    let keptUp = true;
    ws.cork(() => {
      keptUp = sendAll(c, ws, out);
    });
    // Corked sends report success; what the socket could not take shows after uncorking.
    if (keptUp && !c.pressured && ws.getBufferedAmount() > 0) c.pressured = true;
    if (!keptUp) {
      // Never drop silently: a consumer that cannot keep up is told (1008 + reason), counted, closed.
      this.slowConsumerCloses++;
      this.log.warn({ conn: c.id, peer: c.peer, max_backpressure: c.service.config.ws.maxBackpressure }, 'slow consumer: send buffer limit exceeded, closing');
      c.service.fail(c, Close.POLICY, 'slow consumer: send buffer limit exceeded');
    }
  }

  #detached(c: Conn): void {
    this.#flush(c);
    c.worker = null;
    c.state = ConnState.IDLE;
    if (this.#shuttingDown) {
      c.ws?.end(Close.GOING_AWAY, 'router shutting down');
      return;
    }
    // WAMP spec, "GOODBYE": the transport may carry a new session; replay what came meanwhile.
    const held = c.held;
    c.held = null;
    if (held !== null) for (const m of held) if (c.ws !== null) this.#route(c, m);
  }

  #workerFailed(w: WorkerHandle, err: unknown): void {
    this.log.fatal({ err, worker: w.index, realms: w.realms }, 'realm worker failed');
    for (const c of this.#conns.values()) {
      if (c.worker === w) {
        c.worker = null;
        c.ws?.end(Close.INTERNAL, 'realm worker failed');
      }
    }
    for (const r of w.realms) this.#realmWorker.delete(r);
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /**
   * Stops accepting, says GOODBYE (wamp.close.system_shutdown) to every session, waits up to
   * `timeoutMs` for the answers, closes what is left and stops the workers.
   */
  async shutdown(timeoutMs = this.config.shutdownTimeout): Promise<void> {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    for (const l of this.listeners) l.stopListening();
    for (const w of this.workers) w.outbox.push1(Op.SHUTDOWN);
    for (const c of [...this.#conns.values()]) {
      if (c.state === ConnState.IDLE) c.ws?.end(Close.GOING_AWAY, 'router shutting down');
    }
    if (this.#conns.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.#allClosed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    for (const c of [...this.#conns.values()]) c.ws?.end(Close.GOING_AWAY, 'router shutting down');
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    await Promise.all(this.listeners.map((l) => l.close()));
    this.log.info('router stopped');
  }
}
