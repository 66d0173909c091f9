/**
 * The wire of messages between the nodes of a cluster that are meant for one member alone (its
 * direct subject `cwx.d.<member>`: directory snapshots, invocations and their answers,
 * workers/cluster/membership.ts and rpc.ts), and its codec.
 *
 * Direct messages are batched: everything one member sends to another in one event-loop turn
 * travels as one NATS message (one `PUB`, one NATS protocol line to parse, one socket write and
 * one delivery per turn instead of one per call), like the batches between the main thread and a
 * realm worker (src/shared/ipc/outbox.ts). Its payload is the MessagePack array
 *
 *     ['B', from, record, record, …]
 *
 * `from` the sending member, each record one message `[kind, from, realm, …]` (the kinds of
 * membership.ts's listeners; a record's own `from` may be empty: the batch's is the one used), in
 * the order they were sent. A batch is sent at the end of the turn
 * (setImmediate), or before it would exceed BATCH_BYTES, and before any other publication of the
 * worker's NATS connection (ClusterLink.flushDirect), so the order of everything one member
 * publishes stays what it was (NATS keeps each connection's order). A payload that is not a batch
 * (a single message `[kind, from, realm, …]`, as before batching) is still accepted.
 *
 * The codec is MessagePack without what the WAMP serializer does for peers (src/shared/
 * serializers/msgpack.ts): numbers beyond 32 bits travel as float64 (exact for every JS number,
 * WAMP ids included) instead of being widened to int64, and what arrives is not checked again as a
 * WAMP value: it was checked when the sending node decoded it from its client.
 */
import * as msgpackr from 'msgpackr';

/**
 * msgpackr's modes in which pack() returns its whole working buffer with the encoding's `start` and
 * `end` (no Buffer view made per record) and the next pack() writes over it: the bytes are copied
 * into a batch at once.
 */
const TRANSIENT_MODE = msgpackr.REUSE_BUFFER_MODE | msgpackr.RESET_BUFFER_MODE;

/** msgpackr's working buffer, the encoding being its bytes `start` to `end`: what clusterPackTransient() returns. */
export type Transient = Buffer & { start: number; end: number };

const packr = new msgpackr.Packr({ useRecords: false, useBigIntExtension: false });
const unpackr = new msgpackr.Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', copyBuffers: true });

/** Encodes a cluster message; its bytes are valid until the next clusterPack…() call (of either kind): copy them. */
export function clusterPackTransient(msg: unknown): Transient {
  return packr.pack(msg, TRANSIENT_MODE) as Transient;
}

/** Encodes a cluster message (bytes of its own). */
export function clusterPack(msg: unknown): Uint8Array {
  return packr.pack(msg);
}

export function clusterUnpack(data: Uint8Array): unknown {
  return unpackr.unpack(data);
}

/** The first element of a batch. */
export const BATCH = 'B';
/** A batch is sent before it would exceed this many bytes (and never beyond NATS's max_payload). */
export const BATCH_BYTES = 256 * 1024;
/** The batch header: a MessagePack array32 (0xdd, then the element count). */
const HEADER = 5;

/** The direct messages for one member in the current turn. */
export class DirectBatch {
  #buf: Buffer;
  #used: number;
  #count = 0;

  constructor(
    readonly subject: string,
    /** The MessagePack of BATCH and the sender's member id. */
    readonly head: Uint8Array,
    size: number,
  ) {
    this.#buf = Buffer.allocUnsafe(Math.max(size, HEADER + head.length));
    this.#buf.set(head, HEADER);
    this.#used = HEADER + head.length;
  }

  get count(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#used;
  }

  add(record: Transient): void {
    const length = record.end - record.start;
    const need = this.#used + length;
    if (need > this.#buf.length) {
      let size = this.#buf.length * 2;
      while (size < need) size *= 2;
      const grown = Buffer.allocUnsafe(size);
      grown.set(this.#buf.subarray(0, this.#used));
      this.#buf = grown;
    }
    record.copy(this.#buf, this.#used, record.start, record.end);
    this.#used = need;
    this.#count++;
  }

  /** The batch's payload (the buffer is the batch's own: NATS may hold it until written). */
  finish(): Uint8Array {
    const b = this.#buf;
    b[0] = 0xdd;
    b.writeUInt32BE(this.#count + 2, 1);
    return b.subarray(0, this.#used);
  }

  /** The bytes a batch has around its records. */
  static overhead(head: Uint8Array): number {
    return HEADER + head.length;
  }
}
