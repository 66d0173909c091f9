import type { MessagePort } from 'node:worker_threads';

/**
 * Collects operations for one MessagePort and posts them as one batch per event-loop turn
 * (on setImmediate, i.e. after every I/O callback of the current poll phase has run), or at once
 * when the batch grows past `maxOps` so a burst cannot build an unbounded array.
 */
export class Outbox {
  #ops: unknown[] = [];
  #scheduled = false;
  #port: MessagePort;
  #maxOps: number;
  /** Batches posted and operations carried, for metrics. */
  batches = 0;
  entries = 0;

  constructor(port: MessagePort, maxOps = 65536) {
    this.#port = port;
    this.#maxOps = maxOps;
  }

  push1(a: unknown): void {
    this.#ops.push(a);
    this.#after();
  }
  push2(a: unknown, b: unknown): void {
    this.#ops.push(a, b);
    this.#after();
  }
  push3(a: unknown, b: unknown, c: unknown): void {
    this.#ops.push(a, b, c);
    this.#after();
  }
  push4(a: unknown, b: unknown, c: unknown, d: unknown): void {
    this.#ops.push(a, b, c, d);
    this.#after();
  }
  push5(a: unknown, b: unknown, c: unknown, d: unknown, e: unknown): void {
    this.#ops.push(a, b, c, d, e);
    this.#after();
  }

  #after(): void {
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
    this.#ops = [];
    this.batches++;
    this.entries += ops.length;
    this.#port.postMessage(ops);
  }
}
