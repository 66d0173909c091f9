import { performance } from 'node:perf_hooks';
import type { MessagePort } from 'node:worker_threads';
import { Op, type OpsWithArity, type OpTable } from './protocol.js';

/**
 * At most this many operands per batch (about 64 messages). A batch is posted once per event-loop
 * turn, or as soon as it reaches this size: then the other thread starts on the first part while
 * this one is still producing the rest, instead of the two threads taking turns on one large batch
 * per turn (`npm run bench -- --scenario rpc` and `--scenario fanout` compare sizes; smaller
 * batches mean more postMessage calls per fan-out).
 */
export const MAX_BATCH_OPS = 192;

/** Smallest and largest byte area started for a batch (it grows beyond the largest when a message needs it). */
const MIN_BYTES = 4096;
const MAX_START_BYTES = 1 << 20;
const EMPTY = Buffer.alloc(0);

/**
 * A message record in the byte area: connId (float64), byte length (uint32), WAMP message type
 * (uint8), and a request id (float64: the CALL a SEND ends, or -1), then the message's bytes.
 */
export const RECORD_HEADER = 21;

/**
 * Collects operations for one MessagePort and posts them as one batch per event-loop turn
 * (on setImmediate, i.e. after every I/O callback of the current poll phase has run), or at once
 * when the batch reaches `maxOps` (see MAX_BATCH_OPS).
 *
 * Encoded WAMP messages travel as bytes: every batch begins with `Op.BYTES, area`, `area` being
 * one ArrayBuffer (transferred, not copied) holding the batch's bytes, or null when there are none.
 * A message to or from a connection is a record in the area (RECORD_HEADER, then its bytes), and
 * consecutive records are one `Op.RUN, count` in the operation array: structured clone then has
 * two numbers to copy per run instead of five per message. Any other operation that carries bytes
 * has their length among its operands; the receiver reads the area in order (IpcBytes).
 *
 * If a batch cannot be cloned (structured clone gives up on values nested some thousands deep,
 * which a hostile peer could send within the size limit), the batch is posted again entry by entry
 * (the byte area first) and only the entries that fail are handed to `onReject`: one bad message
 * never takes the rest of the batch, or the thread, with it.
 *
 * With a `stampOp`, every batch ends with `stampOp, t`, t being performance.now() when the
 * batch's first entry was pushed: the receiver learns how old the batch is without a
 * timestamp per message (routing latency).
 *
 * With a `markOp`, a batch after which `mark` (a cumulative count its owner keeps: flow control's
 * bytes, src/flow.ts) has changed carries `markOp, mark`, so the receiver can acknowledge
 * everything up to it in one number.
 *
 * `T` is the direction's operand table (ToWorkerOps or ToMainOps, src/shared/ipc/protocol.ts):
 * pushN takes only an operation of T with N-1 operands, and those operands' types.
 */
export class Outbox<T extends OpTable> {
  #ops: unknown[] = [Op.BYTES, null];
  /** Index in #ops where each entry starts (for the entry-by-entry retry); entry 0 is the byte area. */
  #starts: number[] = [0];
  /** Index in #ops of the count of the RUN that ends the batch so far, or -1. */
  #run = -1;
  /** Records in the pending batch (each counts as 3 operands towards maxOps). */
  #records = 0;
  #scheduled = false;
  #port: MessagePort;
  #maxOps: number;
  onReject: (entry: unknown[], err: unknown) => void = () => {};
  #stampOp: number;
  /** performance.now() at the first push of the pending batch, -1 while it is empty. */
  #began = -1;
  /** The pending batch's byte area, and how much of it is used. */
  #bytes: Buffer = EMPTY;
  #view: DataView = new DataView(EMPTY.buffer, 0, 0);
  #used = 0;
  /** Size to start the next byte area with: what the last one needed. */
  #nextSize = MIN_BYTES;
  /** Batches posted and entries carried (a record counts as one), and the largest batch since `maxBatch` was reset, for metrics. */
  batches = 0;
  entries = 0;
  maxBatch = 0;
  /** Cumulative count kept by the owner, posted with `markOp` when it changed (see above). */
  mark = 0;
  #markOp: number;
  #markSent = 0;

  constructor(port: MessagePort, maxOps = MAX_BATCH_OPS, stampOp: OpsWithArity<T, 1> | 0 = 0, markOp: OpsWithArity<T, 1> | 0 = 0) {
    this.#port = port;
    this.#maxOps = maxOps;
    this.#stampOp = stampOp;
    this.#markOp = markOp;
  }

  /** RUN entries in the pending batch. */
  #runs = 0;

  /** Entries waiting for the next flush (a record is one, its RUN none). */
  get size(): number {
    return this.#starts.length - 1 - this.#runs + this.#records;
  }

  push1<K extends OpsWithArity<T, 0>>(op: K): void {
    this.#entry();
    this.#ops.push(op);
    this.#after();
  }
  push2<K extends OpsWithArity<T, 1>>(op: K, a: T[K][0]): void {
    this.#entry();
    this.#ops.push(op, a);
    this.#after();
  }
  push3<K extends OpsWithArity<T, 2>>(op: K, a: T[K][0], b: T[K][1]): void {
    this.#entry();
    this.#ops.push(op, a, b);
    this.#after();
  }
  push4<K extends OpsWithArity<T, 3>>(op: K, a: T[K][0], b: T[K][1], c: T[K][2]): void {
    this.#entry();
    this.#ops.push(op, a, b, c);
    this.#after();
  }
  push5<K extends OpsWithArity<T, 4>>(op: K, a: T[K][0], b: T[K][1], c: T[K][2], d: T[K][3]): void {
    this.#entry();
    this.#ops.push(op, a, b, c, d);
    this.#after();
  }

  #entry(): void {
    this.#run = -1;
    this.#starts.push(this.#ops.length);
  }

  /** One message for (or from) connection `connId`: a record in the byte area (RECORD_HEADER); returns its size in bytes. */
  pushRecord(connId: number, data: string | Uint8Array, type: number, done: number): number {
    this.#reserve(RECORD_HEADER);
    const at = this.#used;
    this.#used += RECORD_HEADER;
    const len = this.write(data); // may move the area: the header is written after
    const v = this.#view;
    v.setFloat64(at, connId);
    v.setUint32(at + 8, len);
    v.setUint8(at + 12, type);
    v.setFloat64(at + 13, done);
    this.#records++;
    if (this.#run >= 0) (this.#ops[this.#run] as number)++;
    else {
      this.#starts.push(this.#ops.length);
      this.#ops.push(Op.RUN, 1);
      this.#run = this.#ops.length - 1;
      this.#runs++;
    }
    this.#after();
    return len;
  }

  /**
   * Appends `data` to the pending batch's byte area (a string as UTF-8) and returns its length in
   * bytes. The operation that refers to it must be pushed next, before anything can flush.
   */
  write(data: string | Uint8Array): number {
    if (typeof data !== 'string') {
      const n = data.byteLength;
      this.#reserve(n);
      this.#bytes.set(data, this.#used);
      this.#used += n;
      return n;
    }
    // At most 3 bytes per UTF-16 unit; the exact count only when that bound does not fit.
    const len = data.length;
    this.#reserve(len * 3 <= this.#bytes.length - this.#used ? len * 3 : Buffer.byteLength(data));
    const n = this.#bytes.write(data, this.#used);
    this.#used += n;
    return n;
  }

  #reserve(n: number): void {
    const need = this.#used + n;
    if (need <= this.#bytes.length) return;
    let size = this.#bytes.length === 0 ? this.#nextSize : this.#bytes.length * 2;
    while (size < need) size *= 2;
    // An ArrayBuffer of its own (Buffer.alloc never uses Node's shared pool: the whole buffer is
    // transferred), zero-filled: should a reader ever go past the bytes written, it finds zeros,
    // not what the memory held before.
    const grown = Buffer.alloc(size);
    if (this.#used > 0) grown.set(this.#bytes.subarray(0, this.#used));
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }

  #after(): void {
    if (this.#began < 0 && this.#stampOp !== 0) this.#began = performance.now();
    if (this.#ops.length + 3 * this.#records >= this.#maxOps) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#onImmediate);
    }
  }

  #onImmediate = (): void => {
    this.#scheduled = false;
    this.flush();
  };

  flush(): void {
    if (this.#starts.length === 1) return;
    const ops = this.#ops;
    const starts = this.#starts;
    const entries = this.size;
    this.#ops = [Op.BYTES, null];
    this.#starts = [0];
    this.#run = -1;
    this.#records = 0;
    this.#runs = 0;
    this.batches++;
    this.entries += entries;
    if (entries > this.maxBatch) this.maxBatch = entries;
    let transfer: ArrayBuffer[] | undefined;
    if (this.#used > 0) {
      const area = this.#bytes.buffer as ArrayBuffer;
      ops[1] = area;
      transfer = [area];
      this.#nextSize = Math.min(MAX_START_BYTES, Math.max(MIN_BYTES, this.#used));
      this.#bytes = EMPTY;
      this.#used = 0;
    }
    if (this.#markOp !== 0 && this.mark !== this.#markSent) {
      starts.push(ops.length);
      ops.push(this.#markOp, this.mark);
      this.#markSent = this.mark;
    }
    if (this.#stampOp !== 0) {
      starts.push(ops.length);
      ops.push(this.#stampOp, this.#began);
      this.#began = -1;
    }
    try {
      this.#port.postMessage(ops, transfer);
    } catch {
      this.#oneByOne(ops, starts);
    }
  }

  #oneByOne(ops: unknown[], starts: number[]): void {
    for (let i = 0; i < starts.length; i++) {
      const entry = ops.slice(starts[i], starts[i + 1] ?? ops.length);
      try {
        this.#port.postMessage(entry, i === 0 && entry[1] !== null ? [entry[1] as ArrayBuffer] : undefined);
      } catch (err) {
        this.onReject(entry, err);
      }
    }
  }
}

/**
 * The receiving end of the byte areas (see Outbox): `area(operand)` at each `Op.BYTES`, then, in
 * order, `header()` + take/skip for each record of a RUN and take/skip for each other operation
 * that carries bytes. The area outlives its batch only in the entry-by-entry retry, where it
 * arrives as a message of its own.
 */
export class IpcBytes {
  #area: Uint8Array = EMPTY;
  #view: DataView = new DataView(EMPTY.buffer, 0, 0);
  #pos = 0;
  /** The last record header read. */
  connId = 0;
  type = 0;
  done = -1;

  area(buf: ArrayBuffer | null): void {
    this.#area = buf === null ? EMPTY : new Uint8Array(buf);
    this.#view = new DataView(this.#area.buffer, this.#area.byteOffset, this.#area.byteLength);
    this.#pos = 0;
  }

  /** The current area (for skip()). */
  get current(): Uint8Array {
    return this.#area;
  }

  /** Reads the next record's header (into connId, type, done) and returns its byte length. */
  header(): number {
    const p = this.#pos;
    if (p + RECORD_HEADER > this.#area.length) throw new Error('corrupt IPC batch: record beyond the byte area');
    const v = this.#view;
    this.connId = v.getFloat64(p);
    this.type = v.getUint8(p + 12);
    this.done = v.getFloat64(p + 13);
    this.#pos = p + RECORD_HEADER;
    return v.getUint32(p + 8);
  }

  /** Like take(), but returns where the bytes start in `current` instead of a view of them. */
  skip(len: number): number {
    const start = this.#pos;
    this.#pos = start + len;
    if (this.#pos > this.#area.length) throw new Error('corrupt IPC batch: message bytes beyond the byte area');
    return start;
  }

  take(len: number): Uint8Array {
    const start = this.#pos;
    this.#pos = start + len;
    if (this.#pos > this.#area.length) throw new Error('corrupt IPC batch: message bytes beyond the byte area');
    return this.#area.subarray(start, this.#pos);
  }
}
