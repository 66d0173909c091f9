import type { FlowConfig } from './config/load.js';
import type { Logger } from './shared/log.js';
import type { MainCounters } from './metrics/counters.js';
import type { Conn } from './transport/connection.js';
import type { WorkerHandle } from './realm-threads.js';

/** What flow control needs from the router. */
export interface FlowHost {
  /** Handles a held message of `c` as if it had just arrived (it passed the size and frame-type checks then). */
  replay(c: Conn, data: Uint8Array): void;
  /** Closes `c` with 1008 and `reason`. */
  close(c: Conn, reason: string): void;
}

/**
 * Held bytes after which stopping a paused socket is tried again (a send the kernel could not
 * take at once makes it read again: SocketThrottle). More than uSockets reads at once (512 KiB),
 * so the messages of the read that paused it do not count.
 */
const RETRY_STEP = 1 << 20;

/**
 * Flow control from the sockets to the realm workers. The main thread reads every socket as fast
 * as the clients send; without a bound, a realm worker that cannot keep up (decoding large
 * messages, say) lets the queue between them grow without limit, and every session of the realm
 * waits behind it.
 *
 * Each realm worker acknowledges the client bytes it has consumed (Op.MARK / Op.ACK, one number
 * per batch, src/shared/ipc/protocol.ts). A connection is paused when the bytes in flight to its worker
 * reach `worker_window`, or its own reach `connection_window`; while paused, its socket is not
 * read (SocketThrottle: the client meets TCP backpressure) and what it had already sent waits
 * here, in order. Paused connections wait in a queue per worker and are released in turn as
 * acknowledgements come in (below half the worker window; a connection's own bytes below half its
 * window, or all acknowledged), so one heavy sender cannot starve the others: each gets at most
 * its window per turn.
 *
 * The hot path (Router.frame) only compares two numbers per message; this class is entered when a
 * window is full, for held messages and for acknowledgements (one per worker batch).
 */
export class FlowControl {
  /** Bytes held for paused connections. */
  heldBytes = 0;
  /** Connections paused now. */
  readonly paused = new Set<Conn>();
  /**
   * The connections paused on each worker, in the order they are to be released (a restarted
   * worker's new handle starts with none).
   */
  readonly #waiting = new WeakMap<WorkerHandle, Conn[]>();

  /** The connections paused on `w`, in release order. */
  waiting(w: WorkerHandle): readonly Conn[] {
    return this.#waiting.get(w) ?? [];
  }
  readonly #cfg: FlowConfig;
  readonly #stopSockets: boolean;
  #warned = false;

  constructor(
    cfg: FlowConfig,
    /** uWS runs natively (the socket throttle needs its binary). */
    native: boolean,
    readonly counters: MainCounters,
    readonly host: FlowHost,
    readonly log: Logger,
  ) {
    this.#cfg = cfg;
    this.#stopSockets = cfg.pauseReading && native;
  }

  /**
   * Called when `w`'s window or `c`'s looks full: brings `c`'s bound up to date with the
   * acknowledgements, and pauses `c` (returns true) if it still has to wait.
   */
  mustWait(c: Conn, w: WorkerHandle): boolean {
    const inflight = w.outbox.mark - w.acked;
    if (w.acked >= c.flowMark) c.flowBound = 0;
    else if (c.flowBound > inflight) c.flowBound = inflight;
    if (inflight < this.#cfg.workerWindow && c.flowBound < this.#cfg.connectionWindow) return false;
    c.flowHeld = [];
    c.flowHeldBytes = 0;
    c.flowWorker = w;
    c.flowRetryAt = RETRY_STEP;
    const waiting = this.#waiting.get(w);
    if (waiting === undefined) this.#waiting.set(w, [c]);
    else waiting.push(c);
    this.paused.add(c);
    this.counters.flowPauses++;
    this.#stop(c);
    return true;
  }

  #stop(c: Conn): void {
    const t = c.service.throttle;
    if (!this.#stopSockets || t === null || c.ws === null) return;
    if (t.pause(c.ws)) c.flowStopped = true;
    else if (t.failed && !this.#warned) {
      this.#warned = true;
      this.log.warn('this uWebSockets.js build cannot pause a WebSocket: paused connections are only held (crosswire.flow.connection_hold)');
    }
  }

  /** A message of paused `c`: kept, in order, within connection_hold and hold_budget. */
  hold(c: Conn, data: ArrayBuffer): void {
    const n = data.byteLength;
    // The first message is always kept (it may be as large as max_message_size).
    if (c.flowHeld!.length > 0 && c.flowHeldBytes + n > this.#cfg.connectionHold) {
      this.#overflow(c, 'flow control: sent too much while paused');
      return;
    }
    c.flowHeld!.push(data.slice(0)); // uWS neuters `data` when its callback returns
    c.flowHeldBytes += n;
    this.heldBytes += n;
    if (c.flowHeldBytes >= c.flowRetryAt) {
      c.flowRetryAt = c.flowHeldBytes + RETRY_STEP;
      this.#stop(c);
    }
    if (this.heldBytes > this.#cfg.holdBudget) this.#overBudget();
  }

  /** Over hold_budget: the connections holding most are closed until it fits. */
  #overBudget(): void {
    while (this.heldBytes > this.#cfg.holdBudget) {
      let big: Conn | null = null;
      for (const c of this.paused) if (big === null || c.flowHeldBytes > big.flowHeldBytes) big = c;
      if (big === null) return;
      this.#overflow(big, 'flow control: router-wide hold budget exceeded');
    }
  }

  #overflow(c: Conn, reason: string): void {
    this.counters.flowHoldCloses++;
    this.log.warn({ conn: c.id, peer: c.peer, held: c.flowHeldBytes, reason }, 'connection closed by flow control');
    this.#forget(c);
    this.host.close(c, reason);
  }

  /** The connection went away. */
  closed(c: Conn): void {
    if (c.flowHeld !== null) this.#forget(c);
  }

  #forget(c: Conn): void {
    this.heldBytes -= c.flowHeldBytes;
    c.flowHeld = null;
    c.flowHeldBytes = 0;
    c.flowWorker = null;
    c.flowStopped = false;
    this.paused.delete(c);
  }

  /**
   * `w` has consumed every client byte up to `mark`. Paused connections are released in queue
   * order while the windows allow; one released with messages still held goes to the back.
   */
  acked(w: WorkerHandle, mark: number): void {
    if (mark > w.acked) w.acked = mark;
    const queue = this.#waiting.get(w);
    if (queue === undefined || queue.length === 0) return;
    const { workerWindow, connectionWindow } = this.#cfg;
    if (w.outbox.mark - w.acked > workerWindow / 2) return;
    const kept: Conn[] = [];
    const again: Conn[] = [];
    let i = 0;
    for (; i < queue.length; i++) {
      const c = queue[i]!;
      if (c.flowHeld === null || c.flowWorker !== w) continue; // closed, or released meanwhile
      const inflight = w.outbox.mark - w.acked;
      if (inflight >= workerWindow) break; // full again: the rest keep their places
      if (w.acked >= c.flowMark) c.flowBound = 0;
      else if (c.flowBound > inflight) c.flowBound = inflight;
      if (c.flowBound > connectionWindow / 2) {
        kept.push(c);
        continue;
      }
      if (this.#release(c, w)) again.push(c);
    }
    this.#waiting.set(w, i < queue.length ? kept.concat(queue.slice(i), again) : kept.concat(again));
  }

  /** Replays `c`'s held messages while the windows allow; true if some are still held. */
  #release(c: Conn, w: WorkerHandle): boolean {
    const held = c.flowHeld!;
    const { workerWindow, connectionWindow } = this.#cfg;
    let k = 0;
    while (k < held.length && w.outbox.mark - w.acked < workerWindow && c.flowBound < connectionWindow) {
      const data = held[k++]!;
      c.flowHeldBytes -= data.byteLength;
      this.heldBytes -= data.byteLength;
      this.host.replay(c, new Uint8Array(data));
      if (c.flowHeld !== held) return false; // closed while replaying (a protocol violation, say)
    }
    if (k < held.length) {
      held.splice(0, k);
      return true;
    }
    const stopped = c.flowStopped;
    c.flowHeld = null;
    c.flowWorker = null;
    c.flowStopped = false;
    this.paused.delete(c);
    if (stopped && c.ws !== null) c.service.throttle!.resume(c.ws);
    return false;
  }
}
