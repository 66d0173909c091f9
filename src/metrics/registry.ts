import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { SERIALIZER_LIST } from '../shared/serializers/index.js';
import { KNOWN_TYPES, MSG_NAMES } from '../shared/wamp/codes.js';
import type { FlowControl } from '../flow.js';
import type { WorkerHandle } from '../realm-threads.js';
import type { CookieTracker } from '../transport/cookies.js';
import type { MainCounters } from './counters.js';
import { AUTH_METHODS, AUTH_RESULTS, BRIDGE_DROP_REASONS, IMPLEMENTED_REFUSE_REASONS, LIMITS, REFUSE_REASONS, TYPE_SLOTS, WORKER_FAILURES } from '../shared/labels.js';

/** What the metrics read from the router when scraped. */
export interface MetricsSource {
  readonly counters: MainCounters;
  readonly workers: readonly WorkerHandle[];
  readonly transportIds: readonly string[];
  readonly version: string;
  isReady(): boolean;
  /** Flow control's gauges (paused connections, held bytes). */
  readonly flow: Pick<FlowControl, 'paused' | 'heldBytes'>;
  /** Bytes in the connections' send buffers (src/delivery.ts). */
  sendBuffered(): number;
  /** Cookie tracking of each WebSocket service that has it (label: transport id and path). */
  cookies(): Iterable<{ transport: string; tracker: Pick<CookieTracker, 'anonymousCount' | 'storedCount' | 'forgotten'> }>;
}

/** Node's process metrics (process_*, nodejs_*): one set per process, shared by every router in it. */
let processRegistry: Registry | null = null;
function processMetrics(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** Seconds; from a loopback round trip (~50 µs) to a badly overloaded router. */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The router's Prometheus metrics (prom-client). Hot-path counts live in MainCounters as plain
 * numbers; each metric's collect() folds them in when /metrics is scraped.
 */
export class RouterMetrics {
  readonly registry = new Registry();
  /** Main thread receive of a batch's first frame → worker routed it → its output handed to uWS. */
  readonly routingLatency: Histogram;

  constructor(readonly src: MetricsSource) {
    const registers = [this.registry];
    const c = src.counters;
    const sers = SERIALIZER_LIST.map((s) => s.name);
    const types = [...KNOWN_TYPES];

    new Gauge({
      name: 'crosswire_build_info',
      help: 'Always 1; the labels say which Crosswire and Node.js run.',
      labelNames: ['version', 'nodejs'],
      registers,
      collect() {
        this.set({ version: src.version, nodejs: process.versions.node }, 1);
      },
    });
    new Gauge({
      name: 'crosswire_ready',
      help: '1 when /ready answers 200 (started, every realm worker online, not draining).',
      registers,
      collect() {
        this.set(src.isReady() ? 1 : 0);
      },
    });
    const messages = (name: string, help: string, arr: Float64Array) =>
      new Counter({
        name,
        help,
        labelNames: ['type', 'serializer'],
        registers,
        collect() {
          for (let s = 0; s < sers.length; s++) {
            for (const t of types) {
              const d = arr[s * TYPE_SLOTS + t]!;
              if (d > 0) this.inc({ type: MSG_NAMES[t]!, serializer: sers[s]! }, d);
              arr[s * TYPE_SLOTS + t] = 0;
            }
          }
        },
      });
    messages('crosswire_messages_received_total', 'WAMP messages received from clients, by message type (read from the frame head) and serializer.', c.msgIn);
    messages('crosswire_messages_sent_total', 'WAMP messages written to clients (an EVENT counts once per subscriber), by type and serializer.', c.msgOut);
    const bytes = (name: string, help: string, arr: Float64Array) =>
      new Counter({
        name,
        help,
        labelNames: ['serializer'],
        registers,
        collect() {
          for (let s = 0; s < sers.length; s++) {
            this.inc({ serializer: sers[s]! }, arr[s]!);
            arr[s] = 0;
          }
        },
      });
    bytes('crosswire_received_bytes_total', 'WebSocket message payload bytes received, by serializer.', c.bytesIn);
    bytes('crosswire_sent_bytes_total', 'WebSocket message payload bytes sent, by serializer.', c.bytesOut);

    new Gauge({
      name: 'crosswire_connections',
      help: 'Open connections (WebSocket and RawSocket), by transport.',
      labelNames: ['transport'],
      registers,
      collect() {
        for (const t of src.transportIds) this.set({ transport: t }, c.open.get(t) ?? 0);
      },
    });
    const perTransport = (name: string, help: string, m: Map<string, number>) =>
      new Counter({
        name,
        help,
        labelNames: ['transport'],
        registers,
        collect() {
          for (const t of src.transportIds) {
            this.inc({ transport: t }, m.get(t) ?? 0);
            m.delete(t);
          }
        },
      });
    perTransport('crosswire_connections_opened_total', 'Connections accepted (WebSocket upgrades, RawSocket handshakes), by transport.', c.opened);
    perTransport('crosswire_connections_closed_total', 'Connections closed (either side), by transport.', c.closed);
    new Counter({
      name: 'crosswire_connections_refused_total',
      help: 'Connections refused: at the upgrade (subprotocol, draining) or closed after their HELLO was refused (auth, no_such_realm, other).',
      labelNames: ['reason'],
      registers,
      collect() {
        for (let i = 0; i < REFUSE_REASONS.length; i++) {
          const reason = REFUSE_REASONS[i]!;
          const d = c.refused[i]!;
          // Reasons nothing can cause yet (origin, max_connections) appear once something counts them.
          if (d > 0 || IMPLEMENTED_REFUSE_REASONS.includes(reason)) this.inc({ reason }, d);
          c.refused[i] = 0;
        }
      },
    });
    const scalar = (name: string, help: string, take: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.inc(take());
        },
      });
    perTransport(
      'crosswire_protocol_violations_total',
      'Protocol violations, by transport: sessions ended with ABORT wamp.error.protocol_violation (main thread and workers), RawSocket connections dropped for a framing violation, WebSocket messages over max_message_size (closed 1009).',
      c.violations,
    );
    scalar('crosswire_slow_consumer_closes_total', 'Connections closed (1008) because their send buffer passed options.max_backpressure.', () => {
      const v = c.slowConsumerCloses;
      c.slowConsumerCloses = 0;
      return v;
    });
    scalar('crosswire_send_budget_closes_total', 'Connections dropped because the send buffers of all connections together passed crosswire.flow.send_budget (largest first).', () => {
      const v = c.sendBudgetCloses;
      c.sendBudgetCloses = 0;
      return v;
    });
    new Gauge({
      name: 'crosswire_send_buffered_bytes',
      help: 'Bytes waiting in the send buffers of all connections (read at the scrape).',
      registers,
      collect() {
        this.set(src.sendBuffered());
      },
    });
    scalar('crosswire_flow_pauses_total', 'Times a connection was paused because the bytes in flight to its realm worker reached a flow-control window.', () => {
      const v = c.flowPauses;
      c.flowPauses = 0;
      return v;
    });
    scalar('crosswire_flow_hold_closes_total', 'Connections closed (1008) for sending past crosswire.flow.connection_hold while paused, or as the largest holder past hold_budget.', () => {
      const v = c.flowHoldCloses;
      c.flowHoldCloses = 0;
      return v;
    });
    new Gauge({
      name: 'crosswire_flow_paused_connections',
      help: 'Connections paused by flow control now (not read; their messages wait for their realm worker).',
      registers,
      collect() {
        this.set(src.flow.paused.size);
      },
    });
    new Gauge({
      name: 'crosswire_flow_held_bytes',
      help: 'Bytes of client messages held on the main thread for paused connections.',
      registers,
      collect() {
        this.set(src.flow.heldBytes);
      },
    });
    this.routingLatency = new Histogram({
      name: 'crosswire_routing_latency_seconds',
      help: 'Per IPC batch: main thread received its first frame → realm worker routed it → the output was handed to the sockets.',
      buckets: LATENCY_BUCKETS,
      registers,
    });

    new Gauge({
      name: 'crosswire_cookies',
      help: 'Tracked cookies, by transport (id and path) and kind: anonymous (in memory, authenticate nobody; at most cookie.max_anonymous) or stored (authenticated someone).',
      labelNames: ['transport', 'kind'],
      registers,
      collect() {
        for (const { transport, tracker } of src.cookies()) {
          this.set({ transport, kind: 'anonymous' }, tracker.anonymousCount);
          this.set({ transport, kind: 'stored' }, tracker.storedCount);
        }
      },
    });
    new Counter({
      name: 'crosswire_cookies_forgotten_total',
      help: 'Tracked cookies forgotten, by transport and reason: anonymous_limit (cookie.max_anonymous), principal_limit (cookie.max_per_principal: the login forgotten), expired.',
      labelNames: ['transport', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const { transport, tracker } of src.cookies()) {
          for (const [reason, n] of Object.entries(tracker.forgotten)) this.inc({ transport, reason }, n);
        }
      },
    });
    new Gauge({
      name: 'crosswire_sessions',
      help: 'Joined WAMP sessions, by realm (as last reported by the realm workers).',
      labelNames: ['realm'],
      registers,
      collect() {
        for (const w of src.workers) for (const r of w.realms) this.set({ realm: r }, w.stats?.sessions[r] ?? 0);
      },
    });
    new Counter({
      name: 'crosswire_auth_total',
      help: 'Authentication results, by method (none: no offered method is enabled) and result (success, failure, blocked: refused by the brute-force throttle, throttle_timeout: auth_timeout passed while waiting for the brute-force throttle).',
      labelNames: ['method', 'result'],
      registers,
      collect() {
        const n = AUTH_RESULTS.length;
        for (let m = 0; m < AUTH_METHODS.length; m++) {
          for (let r = 0; r < n; r++) {
            const d = c.auth[m * n + r]!;
            if (d > 0 || AUTH_METHODS[m] === 'anonymous') this.inc({ method: AUTH_METHODS[m]!, result: AUTH_RESULTS[r]! }, d);
            c.auth[m * n + r] = 0;
          }
        }
      },
    });
    new Counter({
      name: 'crosswire_http_bridge_events_dropped_total',
      help: "Events the HTTP bridge's subscriber services did not deliver (one per target URL), by service key and reason: queue_full (queue_limit events waiting), failed (every attempt failed).",
      labelNames: ['service', 'reason'],
      registers,
      collect() {
        for (const [service, d] of c.bridgeDrops) {
          for (let i = 0; i < BRIDGE_DROP_REASONS.length; i++) this.inc({ service, reason: BRIDGE_DROP_REASONS[i]! }, d[i]!);
          d.fill(0);
        }
      },
    });

    new Counter({
      name: 'crosswire_limit_exceeded_total',
      help: 'Requests refused with an ERROR (or events not kept: testaments not retained, events too big for the history) because a limit was reached, by limit (its realm option; docs/limits.md).',
      labelNames: ['limit'],
      registers,
      collect() {
        for (let i = 0; i < LIMITS.length; i++) {
          this.inc({ limit: LIMITS[i]! }, c.limits[i]!);
          c.limits[i] = 0;
        }
      },
    });
    /** A per-realm gauge from the worker's STATS: element `k` of its `retained` or `queued` pair for the realm. */
    const realmPairGauge = (name: string, help: string, which: 'retained' | 'queued', k: 0 | 1) =>
      new Gauge({
        name,
        help,
        labelNames: ['realm'],
        registers,
        collect() {
          for (const w of src.workers) for (const r of w.realms) this.set({ realm: r }, w.stats?.[which]?.[r]?.[k] ?? 0);
        },
      });
    realmPairGauge('crosswire_retained_events', 'Retained events the realm keeps (max_retained_events), as last reported by its worker.', 'retained', 0);
    realmPairGauge('crosswire_retained_bytes', "Bytes of retained events the realm keeps (their PUBLISH frames' size; max_retained_bytes).", 'retained', 1);
    realmPairGauge('crosswire_call_queue_calls', "CALLs waiting in the realm's call queues (store.call-queue) for a callee with room, as last reported by its worker.", 'queued', 0);
    realmPairGauge('crosswire_call_queue_bytes', "Bytes of the CALLs waiting in the realm's call queues (their frames' size; max_queued_call_bytes).", 'queued', 1);

    const ipc = (name: string, help: string, toWorker: (w: WorkerHandle) => number, fromWorker: (f: { batches: number; entries: number }) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['direction', 'worker'],
        registers,
        collect() {
          for (const w of src.workers) this.inc({ direction: 'to_worker', worker: String(w.index) }, toWorker(w));
          for (const [index, f] of c.fromWorker) {
            this.inc({ direction: 'from_worker', worker: String(index) }, fromWorker(f));
          }
        },
      });
    ipc(
      'crosswire_ipc_batches_total',
      'Batches (one postMessage each) between the main thread and a realm worker.',
      (w) => {
        const d = w.outbox.batches - w.folded.batches;
        w.folded.batches = w.outbox.batches;
        return d;
      },
      (f) => {
        const d = f.batches;
        f.batches = 0;
        return d;
      },
    );
    ipc(
      'crosswire_ipc_entries_total',
      'Operations carried in those batches (entries / batches = mean batch size).',
      (w) => {
        const d = w.outbox.entries - w.folded.entries;
        w.folded.entries = w.outbox.entries;
        return d;
      },
      (f) => {
        const d = f.entries;
        f.entries = 0;
        return d;
      },
    );
    new Gauge({
      name: 'crosswire_ipc_batch_entries_max',
      help: 'Largest batch (operations) since the previous scrape.',
      labelNames: ['direction', 'worker'],
      registers,
      collect() {
        this.reset();
        for (const w of src.workers) {
          this.set({ direction: 'to_worker', worker: String(w.index) }, w.outbox.maxBatch);
          w.outbox.maxBatch = 0;
        }
        for (const [index, f] of c.fromWorker) {
          this.set({ direction: 'from_worker', worker: String(index) }, f.maxBatch);
          f.maxBatch = 0;
        }
      },
    });
    new Gauge({
      name: 'crosswire_ipc_queue_depth',
      help: 'Batches posted to a realm worker that it had not reported processing (at its last STATS).',
      labelNames: ['worker'],
      registers,
      collect() {
        for (const w of src.workers) this.set({ worker: String(w.index) }, Math.max(0, w.outbox.batches - (w.stats?.batchesIn ?? 0)));
      },
    });

    new Gauge({
      name: 'crosswire_ipc_queued_bytes',
      help: 'Bytes of client messages posted to a realm worker that it has not acknowledged yet (flow control bounds it by crosswire.flow.worker_window).',
      labelNames: ['worker'],
      registers,
      collect() {
        for (const w of src.workers) this.set({ worker: String(w.index) }, w.outbox.mark - w.acked);
      },
    });

    new Gauge({
      name: 'crosswire_worker_up',
      help: '1 while the realm worker thread is online.',
      labelNames: ['worker'],
      registers,
      collect() {
        for (const w of src.workers) this.set({ worker: String(w.index) }, w.online ? 1 : 0);
      },
    });
    new Counter({
      name: 'crosswire_worker_restarts_total',
      help: 'Realm worker threads that died and were restarted, by cause (uncaught_exception, resource_limits, exit).',
      labelNames: ['worker', 'cause'],
      registers,
      collect() {
        for (const w of src.workers) {
          for (let k = 0; k < WORKER_FAILURES.length; k++) {
            const key = w.index * WORKER_FAILURES.length + k;
            this.inc({ worker: String(w.index), cause: WORKER_FAILURES[k]! }, c.restarts.get(key) ?? 0);
            c.restarts.delete(key);
          }
        }
      },
    });
    const workerGauge = (name: string, help: string, pick: (s: NonNullable<WorkerHandle['stats']>) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['worker'],
        registers,
        collect() {
          this.reset();
          for (const w of src.workers) if (w.stats !== null) this.set({ worker: String(w.index) }, pick(w.stats));
        },
      });
    workerGauge('crosswire_worker_heap_used_bytes', 'V8 heap in use in the realm worker thread.', (s) => s.heapUsed);
    workerGauge('crosswire_worker_heap_total_bytes', 'V8 heap allocated by the realm worker thread.', (s) => s.heapTotal);
    workerGauge('crosswire_worker_heap_limit_bytes', "The realm worker's V8 heap limit (worker_max_heap_mb, or V8's default).", (s) => s.heapLimit);
    workerGauge('crosswire_worker_eventloop_lag_mean_seconds', 'Mean event-loop delay of the realm worker over its last report interval.', (s) => s.loopLagMean);
    workerGauge('crosswire_worker_eventloop_lag_p99_seconds', '99th percentile event-loop delay of the realm worker over its last report interval.', (s) => s.loopLagP99);
    workerGauge('crosswire_worker_eventloop_lag_max_seconds', 'Largest event-loop delay of the realm worker over its last report interval.', (s) => s.loopLagMax);
    new Gauge({
      name: 'crosswire_cluster_connected',
      help: "1 while the realm worker's NATS connection is up, 0 while it is not (only on a cluster node: docs/cluster.md).",
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const w of src.workers) {
          const c = w.stats?.clusterConnected;
          if (c !== undefined && c !== null) this.set({ worker: String(w.index) }, c ? 1 : 0);
        }
      },
    });
    c.cluster.register(this.registry, src.workers);
  }

  /** Container components: how many are in each state, and their restarts. */
  addComponents(src: { status: ReadonlyMap<string, { state: string; restarts: number }>; processRestarts: number }): void {
    const registers = [this.registry];
    const STATES = ['starting', 'running', 'failed', 'stopped', 'restarting', 'down'];
    new Gauge({
      name: 'crosswire_components',
      help: 'Components (JavaScript and Python, of containers and the router worker) by state (running, starting, restarting, failed, stopped, down).',
      labelNames: ['state'],
      registers,
      collect() {
        const n = new Map(STATES.map((x) => [x, 0]));
        for (const c of src.status.values()) n.set(c.state, (n.get(c.state) ?? 0) + 1);
        for (const [state, v] of n) this.set({ state }, v);
      },
    });
    let reportedRestarts = 0;
    new Counter({
      name: 'crosswire_component_restarts_total',
      help: 'Component restarts (by restart policy) since the router started.',
      registers,
      collect() {
        let total = 0;
        for (const c of src.status.values()) total += c.restarts;
        if (total > reportedRestarts) this.inc(total - reportedRestarts);
        reportedRestarts = Math.max(reportedRestarts, total);
      },
    });
    let reportedProcess = 0;
    new Counter({
      name: 'crosswire_container_process_restarts_total',
      help: 'Container processes restarted after dying (an uncaught exception in a component).',
      registers,
      collect() {
        if (src.processRestarts > reportedProcess) this.inc(src.processRestarts - reportedProcess);
        reportedProcess = src.processRestarts;
      },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition: Crosswire's metrics, then Node's process metrics. */
  async render(): Promise<string> {
    const own = await this.registry.metrics();
    const proc = await processMetrics().metrics();
    return `${own}\n${proc}`;
  }
}
