import type { WorkerStats } from '../shared/ipc/protocol.js';
import { SERIALIZER_LIST } from '../shared/serializers/index.js';
import { ClusterCounters } from './cluster.js';
import { AUTH_METHODS, AUTH_RESULTS, BRIDGE_DROP_REASONS, LIMITS, REFUSE_REASONS, type RefuseReason, TYPE_SLOTS, WORKER_FAILURES, type WorkerFailure } from '../shared/labels.js';

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
  /**
   * Protocol violations by transport id: ABORT wamp.error.protocol_violation sent by the main
   * thread or a worker, RawSocket connections dropped for a framing violation, and WebSocket
   * messages over max_message_size (closed 1009).
   */
  readonly violations = new Map<string, number>();
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
  /** Deltas from workers' STATS: authentication results (AUTH_METHODS index * AUTH_RESULTS.length + result). */
  readonly auth = new Float64Array(AUTH_METHODS.length * AUTH_RESULTS.length);
  /** Deltas from workers' STATS: limits reached, indexed like LIMITS. */
  readonly limits = new Float64Array(LIMITS.length);
  /** Deltas from workers' STATS: events the HTTP bridge's subscriber services dropped, by service key, indexed like BRIDGE_DROP_REASONS. */
  readonly bridgeDrops = new Map<string, number[]>();
  /** IPC towards the main thread, per worker index: batches, entries, largest batch since the last scrape. */
  readonly fromWorker = new Map<number, { batches: number; entries: number; maxBatch: number }>();
  /** Worker restarts by worker index * WORKER_FAILURES.length + cause. */
  readonly restarts = new Map<number, number>();
  /** Deltas from workers' STATS: the cluster link (src/metrics/cluster.ts). */
  readonly cluster = new ClusterCounters();

  refuse(reason: RefuseReason): void {
    this.refused[REFUSE_REASONS.indexOf(reason)]!++;
  }

  violation(transport: string): void {
    this.violations.set(transport, (this.violations.get(transport) ?? 0) + 1);
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
    for (const [service, d] of Object.entries(s.bridgeDrops)) {
      let t = this.bridgeDrops.get(service);
      if (t === undefined) this.bridgeDrops.set(service, (t = new Array<number>(BRIDGE_DROP_REASONS.length).fill(0)));
      for (let i = 0; i < d.length && i < t.length; i++) t[i]! += d[i]!;
    }
    let f = this.fromWorker.get(worker);
    if (f === undefined) this.fromWorker.set(worker, (f = { batches: 0, entries: 0, maxBatch: 0 }));
    f.batches += s.batchesOut;
    f.entries += s.entriesOut;
    if (s.maxBatchOut > f.maxBatch) f.maxBatch = s.maxBatchOut;
    if (s.cluster !== null) this.cluster.add(worker, s.cluster);
  }
}
