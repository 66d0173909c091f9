import { performance } from 'node:perf_hooks';
import type { Histogram } from 'prom-client';
import { Op, type WorkerStats } from './ipc/protocol.js';
import type { Logger } from './log.js';
import type { MainCounters } from './metrics/counters.js';
import { TYPE_SLOTS } from './metrics/labels.js';
import { SERIALIZER_LIST } from './serializers/index.js';
import { restorePayload } from './serializers/json.js';
import type { Conn } from './transport/connection.js';
import { sendAll } from './transport/send.js';
import { forgetSession, noteSent, refusalReason } from './transport/session-track.js';
import { MsgType } from './wamp/codes.js';
import type { TailedMessage } from './wamp/json-tail.js';
import { isDict } from './wamp/messages.js';
import { Uri } from './wamp/uris.js';
import type { WorkerHandle } from './workers.js';

/** WebSocket close codes sent by the main thread. */
export const Close = { GOING_AWAY: 1001, PROTOCOL_ERROR: 1002, POLICY: 1008, TOO_BIG: 1009, INTERNAL: 1011 } as const;

/** What the output side needs from the router. */
export interface DeliveryHost {
  /** The worker ended the session and hands the connection back (DETACH). */
  detached(c: Conn): void;
  statsArrived(w: WorkerHandle, stats: WorkerStats): void;
}

/**
 * The main thread's output side: walks each batch a realm worker routed, encodes (a fanned-out
 * EVENT once per serializer), and writes each connection's share of the batch in one cork().
 * Every message written is counted here (MainCounters), with plain array increments.
 */
export class Delivery {
  /** Connections that got output during the worker batch being processed. */
  #touched: Conn[] = [];
  /** FANOUT scratch: the message encoded per serializer, and its byte length. */
  #encoded: (string | Uint8Array | undefined)[] = new Array(SERIALIZER_LIST.length).fill(undefined);
  #lengths: number[] = new Array(SERIALIZER_LIST.length).fill(0);

  constructor(
    readonly conns: ReadonlyMap<number, Conn>,
    readonly counters: MainCounters,
    readonly latency: Histogram,
    readonly host: DeliveryHost,
    readonly log: Logger,
  ) {}

  batch(w: WorkerHandle, ops: unknown[]): void {
    const n = ops.length;
    let stamp = -1;
    let i = 0;
    while (i < n) {
      switch (ops[i] as number) {
        case Op.SEND: {
          const c = this.conns.get(ops[i + 1] as number);
          const msg = ops[i + 2] as unknown[];
          i += 3;
          if (c !== undefined) {
            if (msg[0] === MsgType.ABORT) this.#aborted(c, msg);
            else noteSent(c, msg);
            if (c.cbtid !== null && msg[0] === MsgType.WELCOME) c.service.cookies?.welcomed(c.cbtid, msg[2]);
            const data = this.#encode(c, msg);
            if (data !== undefined) this.#queue(c, data, msg, byteLength(data));
          }
          break;
        }
        case Op.FANOUT: {
          const ids = ops[i + 1] as number[];
          const msg = ops[i + 2] as unknown[];
          i += 3;
          // One encode per serializer (SERIALIZER_LIST index) for all recipients; every socket
          // of a serializer gets the same bytes.
          const enc = this.#encoded;
          const len = this.#lengths;
          for (let j = 0; j < ids.length; j++) {
            const c = this.conns.get(ids[j]!);
            if (c === undefined) continue;
            const k = c.serIndex;
            let data = enc[k];
            if (data === undefined && (data = enc[k] = this.#encodeBytes(c, msg)) !== undefined) len[k] = byteLength(data);
            if (data !== undefined) this.#queue(c, data, msg, len[k]!);
          }
          enc.fill(undefined);
          break;
        }
        case Op.DETACH: {
          const c = this.conns.get(ops[i + 1] as number);
          i += 2;
          if (c !== undefined) this.host.detached(c);
          break;
        }
        case Op.CLOSE: {
          const c = this.conns.get(ops[i + 1] as number);
          const code = ops[i + 2] as number;
          const reason = ops[i + 3] as string;
          i += 4;
          if (c !== undefined) {
            this.flush(c);
            c.worker = null; // the worker already dropped the session
            forgetSession(c);
            c.ws?.end(code, reason);
          }
          break;
        }
        case Op.ROUTED:
          stamp = ops[i + 1] as number;
          i += 2;
          break;
        case Op.STATS: {
          const stats = ops[i + 1] as WorkerStats;
          i += 2;
          this.counters.addWorkerStats(w.index, stats);
          this.host.statsArrived(w, stats);
          break;
        }
        default:
          throw new Error(`corrupt IPC batch from a realm worker: opcode ${String(ops[i])}`);
      }
    }
    const touched = this.#touched;
    for (let j = 0; j < touched.length; j++) this.flush(touched[j]!);
    touched.length = 0;
    // One observation per batch: main receive → worker routed → bytes handed to uWS.
    if (stamp >= 0) this.latency.observe((performance.now() - stamp) / 1000);
  }

  /** An ABORT from a realm worker: counted, and logged here when the worker did not log it. */
  #aborted(c: Conn, msg: unknown[]): void {
    const reason = msg[2];
    const message = isDict(msg[1]) ? msg[1].message : undefined;
    if (reason === Uri.PROTOCOL_VIOLATION) {
      this.counters.violations++;
      // The worker logs violations of established sessions; a refused HELLO is logged here.
      if (!c.joined) this.log.info({ conn: c.id, peer: c.peer, reason: message }, 'protocol violation');
    } else if (!c.joined) {
      this.counters.refuse(refusalReason(reason));
      this.log.info({ conn: c.id, peer: c.peer, reason, message }, 'session refused');
    }
    forgetSession(c);
  }

  /** Encodes for `c`'s serializer; a message that cannot be encoded closes `c` (1011), nothing else. */
  /**
   * #encode, as bytes: uWS converts a JS string (JSON's output) to UTF-8 on every send, so a
   * fanned-out string would be re-encoded once per recipient (found with `npm run bench`).
   */
  #encodeBytes(c: Conn, msg: unknown[]): Uint8Array | undefined {
    const data = this.#encode(c, msg);
    return typeof data === 'string' ? Buffer.from(data) : data;
  }

  #encode(c: Conn, msg: unknown[]): string | Uint8Array | undefined {
    try {
      // A payload that travelled only as JSON text (workers/: leanForJson) is decoded for other serializers.
      if (c.ser.name !== 'json' && (msg as TailedMessage).jsonTail !== undefined) return c.ser.encode(restorePayload(msg));
      return c.ser.encode(msg);
    } catch (err) {
      this.log.error({ err, conn: c.id, peer: c.peer, msgType: msg[0] }, 'cannot encode an outgoing message');
      this.flush(c);
      c.ws?.end(Close.INTERNAL, 'an outgoing message could not be encoded');
      return undefined;
    }
  }

  #queue(c: Conn, data: string | Uint8Array, msg: unknown[], bytes: number): void {
    this.#count(c, msg, bytes);
    if (c.service.config.debug) this.log.info({ conn: c.id, dir: 'out', msg, jsonPayload: (msg as TailedMessage).jsonTail }, 'wamp message');
    if (c.out === null) {
      c.out = [data];
      this.#touched.push(c);
    } else c.out.push(data);
  }

  /** Sends what is queued for `c` in one corked write. */
  flush(c: Conn): void {
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
      this.counters.slowConsumerCloses++;
      this.log.warn(
        { conn: c.id, peer: c.peer, reason: 'send buffer limit exceeded', max_backpressure: c.service.config.ws.maxBackpressure },
        'slow consumer closed',
      );
      c.service.fail(c, Close.POLICY, 'slow consumer: send buffer limit exceeded');
    }
  }

  /** Sends one message at once, outside any batch (ABORTs and GOODBYEs from the main thread). */
  sendNow(c: Conn, msg: unknown[]): void {
    if (c.ws === null) return;
    const data = c.ser.encode(msg);
    this.#count(c, msg, byteLength(data));
    c.ws.send(data, c.ser.binary);
  }

  #count(c: Conn, msg: unknown[], bytes: number): void {
    this.counters.msgOut[c.serIndex * TYPE_SLOTS + (msg[0] as number)]!++;
    this.counters.bytesOut[c.serIndex]! += bytes;
  }
}

function byteLength(data: string | Uint8Array): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}
