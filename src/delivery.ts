import { performance } from 'node:perf_hooks';
import type { Histogram } from 'prom-client';
import type { OpHandlers, ToMainOps, WorkerStats } from './shared/ipc/protocol.js';
import { readToMain } from './shared/ipc/reader.js';
import type { Logger } from './shared/log.js';
import type { MainCounters } from './metrics/counters.js';
import { TYPE_SLOTS } from './shared/labels.js';
import { SERIALIZER_LIST } from './shared/serializers/index.js';
import type { Conn } from './transport/connection.js';
import { sendAll } from './transport/send.js';
import { forgetSession, noteSent, refusalReason } from './transport/session-track.js';
import { CloseCode, MsgType } from './shared/wamp/codes.js';
import { isDict } from './shared/wamp/messages.js';
import { Uri } from './shared/wamp/uris.js';
import type { WorkerHandle } from './realm-threads.js';

/** What the output side needs from the router. */
export interface DeliveryHost {
  /** The worker ended the session and hands the connection back (DETACH). */
  detached(c: Conn): void;
  statsArrived(w: WorkerHandle, stats: WorkerStats): void;
  /** The worker consumed the client bytes up to `mark` (flow control, src/flow.ts). */
  acked(w: WorkerHandle, mark: number): void;
  /** The answer to an HTTP bridge request (src/http/bridge.ts). */
  bridged(id: number, status: number, body: string): void;
}

/**
 * The main thread's output side: walks each batch a realm worker routed (messages the worker
 * encoded, a fanned-out EVENT once per serializer) and writes each connection's share of the batch
 * in one cork().
 * Every message written is counted here (MainCounters), with plain array increments.
 *
 * It also keeps the sum of the connections' send buffers within crosswire.flow.send_budget:
 * past it, the connections with the largest buffers are dropped. Each connection's own buffer is
 * bounded by max_backpressure (sendAll).
 */
export class Delivery {
  /** Connections that got output during the worker batch being processed. */
  #touched: Conn[] = [];
  /** A setImmediate will write the touched connections' output. */
  #flushScheduled = false;
  #flushTouched = (): void => {
    this.#flushScheduled = false;
    const touched = this.#touched;
    for (let j = 0; j < touched.length; j++) this.flush(touched[j]!);
    touched.length = 0;
    const stamps = this.#stamps;
    if (stamps.length > 0) {
      const now = performance.now();
      for (let j = 0; j < stamps.length; j++) this.latency.observe((now - stamps[j]!) / 1000);
      stamps.length = 0;
    }
  };
  /** STAMPs of the batches whose output waits for that flush. */
  #stamps: number[] = [];
  /** FANOUT_BYTES scratch: the EVENT's bytes per serializer. */
  #views: (Uint8Array | undefined)[] = new Array(SERIALIZER_LIST.length).fill(undefined);
  /**
   * The connections' send buffers as last seen (Conn.sendBuffered summed: after each flush, so an
   * upper bound: uWS drains them in between), and the connections with some.
   */
  sendBuffered = 0;
  readonly #buffering = new Set<Conn>();

  constructor(
    readonly conns: ReadonlyMap<number, Conn>,
    readonly counters: MainCounters,
    readonly latency: Histogram,
    readonly host: DeliveryHost,
    /** crosswire.flow.send_budget. */
    readonly sendBudget: number,
    readonly log: Logger,
  ) {}

  /** The worker whose batch is being read, and that batch's ROUTED stamp and ACK (-1: none). */
  #w: WorkerHandle | null = null;
  #stamp = -1;
  #ack = -1;

  /** What each operation from a realm worker does (protocol.ts; read by readToMain). */
  readonly #ops: OpHandlers<ToMainOps> = {
    SEND: (connId, msg) => {
      const c = this.conns.get(connId);
      if (c === undefined) return;
      if (msg[0] === MsgType.ABORT) this.#aborted(c, msg);
      else noteSent(c, msg);
      if (c.cbtid !== null && msg[0] === MsgType.WELCOME) c.service.cookies?.welcomed(c.cbtid, msg[2]);
      const data = this.#encode(c, msg);
      if (data !== undefined) this.#queue(c, data, msg[0] as number, msg);
    },
    RUN: (count) => {
      const bytes = this.#w!.bytesIn;
      let k = count;
      while (k-- > 0) {
        const len = bytes.header();
        const c = this.conns.get(bytes.connId);
        const data = bytes.take(len);
        if (c === undefined) continue;
        const done = bytes.done;
        if (done >= 0 && c.calls !== null) c.calls.delete(done);
        this.#queue(c, data, bytes.type);
      }
    },
    FANOUT_BYTES: (ids, lens) => {
      const bytes = this.#w!.bytesIn;
      // The EVENT encoded once per serializer (SERIALIZER_LIST index); every socket of a
      // serializer gets the same bytes.
      const views = this.#views;
      for (let k = 0; k < lens.length; k++) views[k] = lens[k]! > 0 ? bytes.take(lens[k]!) : undefined;
      for (let j = 0; j < ids.length; j++) {
        const c = this.conns.get(ids[j]!);
        if (c === undefined) continue;
        const data = views[c.serIndex];
        // undefined: the worker could not encode it for this serializer and ends those sessions.
        if (data !== undefined) this.#queue(c, data, MsgType.EVENT);
      }
      views.fill(undefined);
    },
    DETACH: (connId) => {
      const c = this.conns.get(connId);
      if (c !== undefined) this.host.detached(c);
    },
    CLOSE: (connId, code, reason) => {
      const c = this.conns.get(connId);
      if (c !== undefined) {
        this.flush(c);
        c.worker = null; // the worker already dropped the session
        forgetSession(c);
        c.ws?.end(code, reason);
      }
    },
    ROUTED: (time) => {
      this.#stamp = time;
    },
    ACK: (mark) => {
      this.#ack = mark;
    },
    BRIDGE_REPLY: (reqId, status, body) => this.host.bridged(reqId, status, body),
    STATS: (stats) => {
      const w = this.#w!;
      this.counters.addWorkerStats(w.index, stats);
      this.host.statsArrived(w, stats);
    },
    corrupt: (op) => {
      throw new Error(`corrupt IPC batch from a realm worker: opcode ${String(op)}`);
    },
  };

  batch(w: WorkerHandle, ops: unknown[]): void {
    this.#w = w;
    this.#stamp = -1;
    this.#ack = -1;
    readToMain(ops, w.bytesIn, this.#ops);
    this.#w = null;
    const stamp = this.#stamp;
    const ack = this.#ack;
    // Written once per event-loop turn, not per worker batch: a turn often brings several batches
    // (MAX_BATCH_OPS) with messages for the same connections, and each cork() is a write(2).
    if (!this.#flushScheduled && this.#touched.length > 0) {
      this.#flushScheduled = true;
      setImmediate(this.#flushTouched);
    }
    // One observation per batch: main receive → worker routed → bytes handed to uWS (at the flush).
    if (stamp >= 0) {
      if (this.#flushScheduled) this.#stamps.push(stamp);
      else this.latency.observe((performance.now() - stamp) / 1000);
    }
    // After the batch: releasing paused connections posts their frames to the worker.
    if (ack >= 0) this.host.acked(w, ack);
  }

  /** An ABORT from a realm worker: counted, and logged here when the worker did not log it. */
  #aborted(c: Conn, msg: unknown[]): void {
    const reason = msg[2];
    const message = isDict(msg[1]) ? msg[1].message : undefined;
    if (reason === Uri.PROTOCOL_VIOLATION) {
      this.counters.violation(c.service.config.id);
      // The worker logs violations of established sessions; a refused HELLO is logged here.
      if (!c.joined) this.log.info({ conn: c.id, peer: c.peer, reason: message }, 'protocol violation');
    } else if (!c.joined) {
      this.counters.refuse(refusalReason(reason));
      this.log.info({ conn: c.id, peer: c.peer, reason, message }, 'session refused');
    }
    forgetSession(c);
  }

  /** Encodes for `c`'s serializer; a message that cannot be encoded closes `c` (1011), nothing else. */
  #encode(c: Conn, msg: unknown[]): string | Uint8Array | undefined {
    try {
      return c.ser.encode(msg);
    } catch (err) {
      this.log.error({ err, conn: c.id, peer: c.peer, msgType: msg[0] }, 'cannot encode an outgoing message');
      this.flush(c);
      c.ws?.end(CloseCode.INTERNAL, 'an outgoing message could not be encoded');
      return undefined;
    }
  }

  /** `msg`: the message decoded, when it came so (SEND). */
  #queue(c: Conn, data: string | Uint8Array, type: number, msg?: unknown[]): void {
    this.#count(c, type, byteLength(data));
    if (c.service.config.debug) this.log.info({ conn: c.id, dir: 'out', wamp: msg ?? this.#decodeForLog(c, data) }, 'wamp message');
    if (c.out === null) {
      c.out = [data];
      this.#touched.push(c);
    } else c.out.push(data);
  }

  #decodeForLog(c: Conn, data: string | Uint8Array): unknown {
    try {
      return c.ser.decode(typeof data === 'string' ? Buffer.from(data) : data);
    } catch (err) {
      return `(cannot decode: ${String(err)})`;
    }
  }

  /**
   * Sends what is queued for `c` in one corked write. Called at the end of the event-loop turn,
   * and by whoever is about to write to `c` or close it from the main thread (output routed before
   * goes first).
   */
  flush(c: Conn): void {
    const out = c.out;
    if (out === null) return;
    c.out = null;
    const ws = c.ws;
    if (ws === null) return;
    let sent = 0;
    ws.cork(() => {
      sent = sendAll(c, ws, out);
    });
    if (sent >= 0) {
      // A pressured connection: sendAll's bound of its buffer. Otherwise corked sends reported
      // success; what the socket could not take shows after uncorking.
      let buffered = sent;
      if (!c.pressured) {
        buffered = ws.getBufferedAmount();
        if (buffered > 0) c.pressured = true;
      }
      if (buffered !== c.sendBuffered) this.#buffered(c, buffered);
    } else {
      // Never drop silently: a consumer that cannot keep up is told (1008 + reason), counted, closed.
      this.counters.slowConsumerCloses++;
      this.log.warn(
        { conn: c.id, peer: c.peer, reason: 'send buffer limit exceeded', max_backpressure: c.service.config.ws.maxBackpressure },
        'slow consumer closed',
      );
      c.service.fail(c, CloseCode.POLICY_VIOLATION, 'slow consumer: send buffer limit exceeded');
    }
  }

  /**
   * Reads every send buffer last seen non-empty again (what uWS has written out meanwhile) and
   * returns the sum: before a drop for the budget, and for a /metrics scrape.
   */
  refreshSendBuffered(): number {
    for (const c of this.#buffering) {
      const b = c.ws === null ? 0 : c.ws.getBufferedAmount();
      this.sendBuffered += b - c.sendBuffered;
      c.sendBuffered = b;
      if (b === 0) this.#buffering.delete(c);
    }
    return this.sendBuffered;
  }

  /** `c` closed: its send buffer is uWS's to free. */
  closed(c: Conn): void {
    if (c.sendBuffered !== 0) this.#buffered(c, 0);
  }

  #buffered(c: Conn, bytes: number): void {
    this.sendBuffered += bytes - c.sendBuffered;
    c.sendBuffered = bytes;
    if (bytes === 0) this.#buffering.delete(c);
    else {
      this.#buffering.add(c);
      if (this.sendBuffered > this.sendBudget) this.#overBudget();
    }
  }

  /**
   * Over crosswire.flow.send_budget: the connection with the largest send buffer is dropped
   * (TCP, no close frame) until the sum fits. Dropped, not closed with a close frame: the close
   * frame would wait behind the buffer, which uWS keeps for a few seconds after a close (its fixed close
   * timeout); dropping frees it now. Such a consumer, not reading, could not receive the frame.
   */
  #overBudget(): void {
    this.refreshSendBuffered();
    while (this.sendBuffered > this.sendBudget) {
      let big: Conn | null = null;
      for (const c of this.#buffering) if (big === null || c.sendBuffered > big.sendBuffered) big = c;
      if (big === null) return;
      this.counters.sendBudgetCloses++;
      this.log.warn(
        { conn: big.id, peer: big.peer, buffered: big.sendBuffered, total: this.sendBuffered, send_budget: this.sendBudget },
        'slow consumer dropped: router-wide send buffer budget exceeded',
      );
      const ws = big.ws;
      big.out = null;
      this.#buffered(big, 0);
      ws?.close();
    }
  }

  /** Sends one message at once, outside any batch (ABORTs and GOODBYEs from the main thread). */
  sendNow(c: Conn, msg: unknown[]): void {
    if (c.ws === null) return;
    this.flush(c); // what the worker routed to `c` before this goes first
    const data = c.ser.encode(msg);
    this.#count(c, msg[0] as number, byteLength(data));
    c.ws.send(data, c.ser.binary);
  }

  #count(c: Conn, type: number, bytes: number): void {
    this.counters.msgOut[c.serIndex * TYPE_SLOTS + type]!++;
    this.counters.bytesOut[c.serIndex]! += bytes;
  }
}

function byteLength(data: string | Uint8Array): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}
