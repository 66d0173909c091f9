import type { WorkerStats } from '../shared/ipc/protocol.js';
import { SERIALIZER_LIST } from '../shared/serializers/index.js';
import { ClusterCounters } from './cluster.js';
import { AUTH_METHODS, LIMITS, REFUSE_REASONS, type RefuseReason, TYPE_SLOTS, WORKER_FAILURES, type WorkerFailure } from '../shared/labels.js';

/**
 * The main thread's counters: plain numbers in flat arrays, bumped on the hot path with one
 * array increment each and folded into prom-client only when /metrics is scraped
 * (registry.ts). Counter arrays hold what has not been folded yet; the fold zeroes them.
 * Workers' STATS deltas are added here too, so nothing crosses threads per message.
 */
export class MainCounters {
  /** WAMP messages received from clients (type from the decode, or the frame head when forwarded), by serializer index * TYPE_SLOTS + type code. */
  readonly msgIn = new Float64Array(SERIALIZER_LIST.length * TYPE_SLOTS);
  /** WAMP messages written to clients (a fanned-out EVENT counts once per recipient). */
  readonly msgOut = new Float64Array(SERIALIZER_LIST.length * TYPE_SLOTS);
  /** WebSocket message payload bytes, by serializer index. */
  readonly bytesIn = new Float64Array(SERIALIZER_LIST.length);
  readonly bytesOut = new Float64Array(SERIALIZER_LIST.length);
  readonly refused = new Float64Array(REFUSE_REASONS.length);
  /**
   * Frames of established sessions forwarded to a realm worker undecoded (the others were decoded
   * on the main thread: src/router.ts). Not exported; tests use it to tell the two paths apart.
   */
  forwarded = 0;
  /** Protocol violations: ABORT wamp.error.protocol_violation sent by the main thread or a worker. */
  violations = 0;
  slowConsumerCloses = 0;
  /** Flow control (src/flow.ts): connections paused, and closed for holding too much. */
  flowPauses = 0;
  flowHoldCloses = 0;
  /** Connections dropped to keep the send buffers within crosswire.flow.send_budget (src/delivery.ts). */
  sendBudgetCloses = 0;
  /** Connections opened/closed per transport id (folded), and open now (a gauge). */
  readonly opened = new Map<string, number>();
  readonly closed = new Map<string, number>();
  readonly open = new Map<string, number>();
  /** Deltas from workers' STATS: authentication results (AUTH_METHODS index * 2 + success). */
  readonly auth = new Float64Array(AUTH_METHODS.length * 2);
  /** Deltas from workers' STATS: limits reached, indexed like LIMITS. */
  readonly limits = new Float64Array(LIMITS.length);
  /** IPC towards the main thread, per worker index: batches, entries, largest batch since the last scrape. */
  readonly fromWorker = new Map<number, { batches: number; entries: number; maxBatch: number }>();
  /** Worker restarts by worker index * WORKER_FAILURES.length + cause. */
  readonly restarts = new Map<number, number>();
  /** Deltas from workers' STATS: the cluster link (src/metrics/cluster.ts). */
  readonly cluster = new ClusterCounters();

  refuse(reason: RefuseReason): void {
    this.refused[REFUSE_REASONS.indexOf(reason)]!++;
  }

  connectionOpened(transport: string): void {
    this.opened.set(transport, (this.opened.get(transport) ?? 0) + 1);
    this.open.set(transport, (this.open.get(transport) ?? 0) + 1);
  }

  connectionClosed(transport: string): void {
    this.closed.set(transport, (this.closed.get(transport) ?? 0) + 1);
    this.open.set(transport, (this.open.get(transport) ?? 1) - 1);
  }

  restarted(worker: number, cause: WorkerFailure): void {
    const k = worker * WORKER_FAILURES.length + WORKER_FAILURES.indexOf(cause);
    this.restarts.set(k, (this.restarts.get(k) ?? 0) + 1);
  }

  /** Adds a worker's STATS deltas. Its gauges stay on its WorkerHandle. */
  addWorkerStats(worker: number, s: WorkerStats): void {
    for (let i = 0; i < s.auth.length && i < this.auth.length; i++) this.auth[i]! += s.auth[i]!;
    for (let i = 0; i < s.limits.length && i < this.limits.length; i++) this.limits[i]! += s.limits[i]!;
    let f = this.fromWorker.get(worker);
    if (f === undefined) this.fromWorker.set(worker, (f = { batches: 0, entries: 0, maxBatch: 0 }));
    f.batches += s.batchesOut;
    f.entries += s.entriesOut;
    if (s.maxBatchOut > f.maxBatch) f.maxBatch = s.maxBatchOut;
    if (s.cluster !== null) this.cluster.add(worker, s.cluster);
  }
}
