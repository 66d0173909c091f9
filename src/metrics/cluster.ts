import { Counter, Gauge, type Registry } from 'prom-client';
import type { ClusterStats } from '../shared/ipc/protocol.js';
import type { WorkerHandle } from '../realm-threads.js';

/**
 * The cluster link's counters (docs/cluster.md), per realm worker: the deltas of its STATS
 * reports add up here until a scrape folds them into prom-client.
 */
export class ClusterCounters {
  readonly #pending = new Map<number, { msgsIn: number; msgsOut: number; bytesIn: number; bytesOut: number; reconnects: number; dropped: number }>();

  add(worker: number, s: ClusterStats): void {
    let p = this.#pending.get(worker);
    if (p === undefined) this.#pending.set(worker, (p = { msgsIn: 0, msgsOut: 0, bytesIn: 0, bytesOut: 0, reconnects: 0, dropped: 0 }));
    p.msgsIn += s.msgsIn;
    p.msgsOut += s.msgsOut;
    p.bytesIn += s.bytesIn;
    p.bytesOut += s.bytesOut;
    p.reconnects += s.reconnects;
    p.dropped += s.publicationsDropped;
  }

  /** Registers crosswire_cluster_* (but crosswire_cluster_connected, registry.ts). */
  register(registry: Registry, workers: readonly WorkerHandle[]): void {
    const registers = [registry];
    const pending = this.#pending;
    const fold = (pick: (p: { msgsIn: number; msgsOut: number; bytesIn: number; bytesOut: number }) => [number, number]) =>
      function (this: Counter<'worker' | 'direction'>) {
        for (const [w, p] of pending) {
          const [from, to] = pick(p);
          this.inc({ worker: String(w), direction: 'in' }, from);
          this.inc({ worker: String(w), direction: 'out' }, to);
        }
      };
    new Counter({
      name: 'crosswire_cluster_messages_total',
      help: 'NATS messages received (in) and sent (out) by the realm worker (events, reports, requests; only on a cluster node: docs/cluster.md).',
      labelNames: ['worker', 'direction'],
      registers,
      collect: fold((p) => {
        const r: [number, number] = [p.msgsIn, p.msgsOut];
        p.msgsIn = p.msgsOut = 0;
        return r;
      }),
    });
    new Counter({
      name: 'crosswire_cluster_bytes_total',
      help: 'Payload bytes of those NATS messages, received (in) and sent (out).',
      labelNames: ['worker', 'direction'],
      registers,
      collect: fold((p) => {
        const r: [number, number] = [p.bytesIn, p.bytesOut];
        p.bytesIn = p.bytesOut = 0;
        return r;
      }),
    });
    new Counter({
      name: 'crosswire_cluster_reconnects_total',
      help: "Times the realm worker's NATS connection was re-established after a loss.",
      labelNames: ['worker'],
      registers,
      collect() {
        for (const [w, p] of pending) {
          this.inc({ worker: String(w) }, p.reconnects);
          p.reconnects = 0;
        }
      },
    });
    new Counter({
      name: 'crosswire_cluster_publications_dropped_total',
      help: "Publications the realm worker could not hand to NATS (not connected, bigger than NATS's max_payload, …): their events reached this node's subscribers only.",
      labelNames: ['worker'],
      registers,
      collect() {
        for (const [w, p] of pending) {
          this.inc({ worker: String(w) }, p.dropped);
          p.dropped = 0;
        }
      },
    });
    new Gauge({
      name: 'crosswire_cluster_remote_calls_in_flight',
      help: "Calls across nodes in flight: by this node's callers to callees on other nodes (out), and from other nodes' callers to callees here (in).",
      labelNames: ['worker', 'direction'],
      registers,
      collect() {
        this.reset();
        for (const w of workers) {
          const c = w.stats?.cluster;
          if (c == null) continue;
          this.set({ worker: String(w.index), direction: 'out' }, c.remoteCallsOut);
          this.set({ worker: String(w.index), direction: 'in' }, c.remoteCallsIn);
        }
      },
    });
    new Gauge({
      name: 'crosswire_cluster_peers',
      help: 'Other Crosswire nodes (distinct node ids) whose session-count reports reached the realm worker within the last 6 s.',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const w of workers) if (w.stats?.cluster != null) this.set({ worker: String(w.index) }, w.stats.cluster.peers);
      },
    });
  }
}

/** Why the node is not ready because of its cluster link, or null: every online worker's link is up. */
export function clusterNotReady(workers: readonly WorkerHandle[]): string | null {
  for (const w of workers) {
    const down = w.online ? w.stats?.cluster?.down : null;
    if (down != null) return `worker ${w.index}: ${down}`;
  }
  return null;
}
