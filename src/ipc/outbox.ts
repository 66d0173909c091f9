import { performance } from 'node:perf_hooks';
import type { MessagePort } from 'node:worker_threads';

/**
 * At most this many operands per batch (about 64 messages). A batch is posted once per event-loop
 * turn, or as soon as it reaches this size: then the other thread starts on the first part while
 * this one is still producing the rest, instead of the two threads taking turns on one large batch
 * per turn. Measured with `npm run bench -- --scenario rpc --serializer msgpack --payload small`
 * (3 interleaved runs each): unbounded 48.8–56.3k calls/s, 96 → 62.8–71.2k, 192 → 61.6–75.1k at
 * the same CPU per call (the router used 130–138 % CPU instead of 106–114 %: the threads overlap);
 * 48 was slower in fan-out (more postMessage calls per delivery).
 */
export const MAX_BATCH_OPS = 192;

/**
 * Collects operations for one MessagePort and posts them as one batch per event-loop turn
 * (on setImmediate, i.e. after every I/O callback of the current poll phase has run), or at once
 * when the batch reaches `maxOps` (see MAX_BATCH_OPS).
 *
 * If a batch cannot be cloned (structured clone gives up on values nested some thousands deep,
 * which a hostile peer can send within the size limit), the batch is posted again entry by entry
 * and only the entries that fail are handed to `onReject`: one bad message never takes the
 * rest of the batch, or the thread, with it.
 *
 * With a `stampOp`, every batch ends with `stampOp, t`, t being performance.now() when the
 * batch's first entry was pushed: the receiver learns how old the batch is without a
 * timestamp per message (routing latency).
 */
export class Outbox {
  #ops: unknown[] = [];
  /** Index in #ops where each entry starts (for the entry-by-entry retry). */
  #starts: number[] = [];
  #scheduled = false;
  #port: MessagePort;
  #maxOps: number;
  onReject: (entry: unknown[], err: unknown) => void = () => {};
  #stampOp: number;
  /** performance.now() at the first push of the pending batch. */
  #began = 0;
  /** Batches posted and entries carried, and the largest batch since `maxBatch` was reset, for metrics. */
  batches = 0;
  entries = 0;
  maxBatch = 0;

  constructor(port: MessagePort, maxOps = MAX_BATCH_OPS, stampOp = 0) {
    this.#port = port;
    this.#maxOps = maxOps;
    this.#stampOp = stampOp;
  }

  /** Entries waiting for the next flush. */
  get size(): number {
    return this.#starts.length;
  }

  push1(a: unknown): void {
    this.#starts.push(this.#ops.length);
    this.#ops.push(a);
    this.#after();
  }
  push2(a: unknown, b: unknown): void {
    this.#starts.push(this.#ops.length);
    this.#ops.push(a, b);
    this.#after();
  }
  push3(a: unknown, b: unknown, c: unknown): void {
    this.#starts.push(this.#ops.length);
    this.#ops.push(a, b, c);
    this.#after();
  }
  push4(a: unknown, b: unknown, c: unknown, d: unknown): void {
    this.#starts.push(this.#ops.length);
    this.#ops.push(a, b, c, d);
    this.#after();
  }
  push5(a: unknown, b: unknown, c: unknown, d: unknown, e: unknown): void {
    this.#starts.push(this.#ops.length);
    this.#ops.push(a, b, c, d, e);
    this.#after();
  }

  #after(): void {
    if (this.#starts.length === 1 && this.#stampOp !== 0) this.#began = performance.now();
    if (this.#ops.length >= this.#maxOps) this.flush();
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
    if (this.#ops.length === 0) return;
    const ops = this.#ops;
    const starts = this.#starts;
    this.#ops = [];
    this.#starts = [];
    this.batches++;
    this.entries += starts.length;
    if (starts.length > this.maxBatch) this.maxBatch = starts.length;
    if (this.#stampOp !== 0) {
      starts.push(ops.length);
      ops.push(this.#stampOp, this.#began);
    }
    try {
      this.#port.postMessage(ops);
    } catch {
      this.#oneByOne(ops, starts);
    }
  }

  #oneByOne(ops: unknown[], starts: number[]): void {
    for (let i = 0; i < starts.length; i++) {
      const entry = ops.slice(starts[i], starts[i + 1] ?? ops.length);
      try {
        this.#port.postMessage(entry);
      } catch (err) {
        this.onReject(entry, err);
      }
    }
  }
}
