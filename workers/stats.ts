import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { Outbox } from '../src/shared/ipc/outbox.js';
import { type ClusterStats, Op, type ToMainOps, type WorkerStats } from '../src/shared/ipc/protocol.js';
import { AUTH_METHODS, AUTH_RESULTS, type AuthResult, authIndex, BRIDGE_DROP_REASONS, type BridgeDropReason } from '../src/shared/labels.js';
import { takeLimitCounts } from './limits.js';
import type { RealmServices } from './services.js';

/** Authentication results of this thread since the last report (AUTH_METHODS index * AUTH_RESULTS.length + result). */
const auth: number[] = new Array<number>(AUTH_METHODS.length * AUTH_RESULTS.length).fill(0);
/** Events the HTTP bridge's subscriber services dropped since the last report, by service key, indexed like BRIDGE_DROP_REASONS. */
let bridgeDrops: Record<string, number[]> = {};
let batchesIn = 0;

/** Counts one authentication result; `method` is Crossbar's name, or `none` when no offered method is enabled. */
export function countAuth(method: string, result: AuthResult): void {
  auth[authIndex(method) * AUTH_RESULTS.length + AUTH_RESULTS.indexOf(result)]!++;
}

/** Counts one event (for one target URL) the HTTP bridge's subscriber service dropped. */
export function countBridgeDrop(service: string, reason: BridgeDropReason): void {
  const d = (bridgeDrops[service] ??= new Array<number>(BRIDGE_DROP_REASONS.length).fill(0));
  d[BRIDGE_DROP_REASONS.indexOf(reason)]!++;
}

/** Counts one batch received from the main thread (for the queue-depth gauge). */
export function countBatchIn(): void {
  batchesIn++;
}

/**
 * Sends this worker's STATS to the main thread every `intervalMs` and on COLLECT: counter
 * deltas since the previous report, and gauges (sessions per realm, heap, event-loop lag).
 * One STATS entry per interval rides in an ordinary batch; nothing is sent per message.
 */
export class StatsReporter {
  #lag = monitorEventLoopDelay({ resolution: 10 });
  #timer: NodeJS.Timeout | null = null;
  #batches = 0;
  #entries = 0;
  /** Whether the worker's cluster link is connected (workers/cluster.ts); null: not a cluster node. */
  clusterConnected: (() => boolean) | null = null;
  /** The cluster link's state and counters since the previous report (workers/cluster.ts); null: not a cluster node. */
  clusterStats: (() => ClusterStats) | null = null;

  constructor(
    readonly outbox: Outbox<ToMainOps>,
    readonly realms: ReadonlyMap<string, RealmServices>,
    readonly intervalMs: number,
  ) {}

  start(): void {
    this.#lag.enable();
    this.#timer = setInterval(() => this.report(), this.intervalMs);
    this.#timer.unref();
  }

  report(): void {
    const sessions: Record<string, number> = {};
    const retained: Record<string, [number, number]> = {};
    const queued: Record<string, [number, number]> = {};
    for (const [name, r] of this.realms) {
      sessions[name] = r.sessions.size;
      retained[name] = [r.broker.retainedEvents, r.broker.retainedBytes];
      queued[name] = [r.dealer.queuedCalls, r.dealer.queuedBytes];
    }
    const heap = getHeapStatistics();
    const lag = this.#lag;
    // An interval without a single sample (just enabled) reads as NaN/huge: report 0 then.
    const ok = lag.count > 0;
    const { outbox } = this;
    const stats: WorkerStats = {
      batchesIn,
      batchesOut: outbox.batches - this.#batches,
      entriesOut: outbox.entries - this.#entries,
      maxBatchOut: outbox.maxBatch,
      auth: auth.slice(),
      sessions,
      limits: takeLimitCounts(),
      bridgeDrops,
      retained,
      queued,
      heapUsed: heap.used_heap_size,
      heapTotal: heap.total_heap_size,
      heapLimit: heap.heap_size_limit,
      loopLagMean: ok ? lag.mean / 1e9 : 0,
      loopLagP99: ok ? lag.percentile(99) / 1e9 : 0,
      loopLagMax: ok ? lag.max / 1e9 : 0,
      clusterConnected: this.clusterConnected === null ? null : this.clusterConnected(),
      cluster: this.clusterStats === null ? null : this.clusterStats(),
    };
    this.#batches = outbox.batches;
    this.#entries = outbox.entries;
    outbox.maxBatch = 0;
    auth.fill(0);
    bridgeDrops = {};
    lag.reset();
    outbox.push2(Op.STATS, stats);
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#lag.disable();
  }
}
