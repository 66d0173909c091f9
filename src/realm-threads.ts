import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { bridgeSpecs, type RouterConfig, serviceAuths } from './config/load.js';
import { IpcBytes, Outbox } from './shared/ipc/outbox.js';
import { type LogFormat, Op, type ToWorkerOps, type WorkerStartup, type WorkerStats } from './shared/ipc/protocol.js';
import type { Logger } from './shared/log.js';
import type { WorkerFailure } from './shared/labels.js';

/**
 * The main thread's end of one realm worker thread. A restarted worker gets a new handle (new
 * channel, new outbox), so connections still pointing at the old one are recognisably stale.
 */
export interface WorkerHandle {
  readonly index: number;
  readonly realms: string[];
  readonly port: MessagePort;
  readonly outbox: Outbox<ToWorkerOps>;
  /**
   * The byte areas of this worker's batches. One per worker, not one for all: when a batch is
   * retried entry by entry (Outbox), its area and its entries arrive as separate messages, and
   * another worker's batch may be handled in between.
   */
  readonly bytesIn: IpcBytes;
  /** null while a restart waits out its backoff (messages queue on the port meanwhile). */
  worker: Worker | null;
  online: boolean;
  /** Resolves when this handle's thread is online (after a restart's backoff, too). */
  readonly whenOnline: Promise<void>;
  /** The latest STATS this worker sent (its gauges), and scrapes waiting for the next one. */
  stats: WorkerStats | null;
  statsWaiters: (() => void)[];
  /** Main → worker IPC counts already folded into prom-client. */
  folded: { batches: number; entries: number };
  /**
   * Flow control (src/flow.ts): `outbox.mark` counts the bytes of client messages posted to this
   * worker, `acked` those it has consumed (its ACKs).
   */
  acked: number;
}

export interface WorkerEvents {
  /** A batch of operations from a worker. */
  batch(h: WorkerHandle, ops: unknown[]): void;
  /** A new handle exists (first start or restart): attach per-handle hooks. */
  created(h: WorkerHandle): void;
  /** A worker died unexpectedly; `fresh` already replaces `old` and starts after `delayMs`. */
  failed(old: WorkerHandle, fresh: WorkerHandle, cause: WorkerFailure, detail: { err?: unknown; exitCode: number; delayMs: number }): void;
}

export interface WorkerOptions {
  logFormat: LogFormat;
  debugHooks: boolean;
  statsIntervalMs: number;
}

const WORKER_URL = new URL('../workers/realm-worker.js', import.meta.url);
/** Restart backoff: the first failure in a minute restarts at once, then 250 ms doubling to 10 s. */
const BACKOFF_WINDOW_MS = 60_000;
const BACKOFF_MAX_MS = 10_000;

/**
 * Starts the realm worker threads (realms assigned round-robin: a realm lives in exactly one
 * worker, so its routing state is single-threaded) and restarts any that dies.
 */
export class RealmWorkers {
  readonly handles: WorkerHandle[] = [];
  #stopping = false;
  #failures = new Map<number, number[]>();
  #timers = new Set<NodeJS.Timeout>();
  #firstOnline: Promise<void>;
  #collecting: Promise<void> | null = null;
  #wentOnline = new Map<WorkerHandle, () => void>();

  constructor(
    readonly config: RouterConfig,
    readonly options: WorkerOptions,
    readonly events: WorkerEvents,
    readonly log: Logger,
  ) {
    const started: Promise<void>[] = [];
    for (let i = 0; i < config.realmThreads; i++) {
      const { handle, port2 } = this.#create(i);
      this.handles.push(handle);
      started.push(this.#spawn(handle, port2));
    }
    this.#firstOnline = Promise.all(started).then(() => undefined);
    this.#firstOnline.catch(() => {}); // observed by online(); never an unhandled rejection
  }

  /** Resolves when every worker of the first start is online; rejects if one dies before. */
  online(): Promise<void> {
    return this.#firstOnline;
  }

  get allOnline(): boolean {
    return this.handles.every((h) => h.online);
  }

  #create(index: number): { handle: WorkerHandle; port2: MessagePort } {
    const realms = this.config.realms.filter((_, j) => j % this.config.realmThreads === index).map((r) => r.name);
    const { port1, port2 } = new MessageChannel();
    let wentOnline!: () => void;
    const whenOnline = new Promise<void>((resolve) => {
      wentOnline = resolve;
    });
    const handle: WorkerHandle = {
      index,
      realms,
      port: port1,
      // Every batch towards a worker carries the STAMP of its first entry (routing latency), and
      // the MARK of the client bytes posted so far (flow control).
      outbox: new Outbox<ToWorkerOps>(port1, undefined, Op.STAMP, Op.MARK),
      bytesIn: new IpcBytes(),
      worker: null,
      online: false,
      whenOnline,
      stats: null,
      statsWaiters: [],
      folded: { batches: 0, entries: 0 },
      acked: 0,
    };
    port1.on('message', (ops: unknown[]) => this.events.batch(handle, ops));
    this.#wentOnline.set(handle, wentOnline);
    this.events.created(handle);
    return { handle, port2 };
  }

  /** Starts the thread of `h`; resolves when it is online, rejects if it dies first. */
  #spawn(h: WorkerHandle, port2: MessagePort): Promise<void> {
    const { config, options } = this;
    const startup: WorkerStartup = {
      workerIndex: h.index,
      realms: config.realms.filter((r) => h.realms.includes(r.name)) as WorkerStartup['realms'],
      logLevel: config.logLevel,
      logFormat: options.logFormat,
      statsIntervalMs: options.statsIntervalMs,
      debugHooks: options.debugHooks,
      maxHeapMb: config.workerMaxHeapMb,
      auth: Object.fromEntries(config.transports.flatMap(serviceAuths)),
      authOptions: config.auth,
      cluster: config.cluster,
      bridges: bridgeSpecs(config).filter((b) => h.realms.includes(b.realm)),
    };
    const worker = new Worker(WORKER_URL, {
      workerData: { startup, port: port2 },
      transferList: [port2],
      name: `realm-worker-${h.index}`,
      ...(config.workerMaxHeapMb > 0 ? { resourceLimits: { maxOldGenerationSizeMb: config.workerMaxHeapMb } } : {}),
    });
    h.worker = worker;
    let error: unknown;
    return new Promise<void>((resolve, reject) => {
      worker.once('online', () => {
        h.online = true;
        this.#wentOnline.get(h)?.();
        this.#wentOnline.delete(h);
        resolve();
      });
      worker.on('error', (err) => {
        error = err;
      });
      worker.once('exit', (exitCode) => {
        h.online = false;
        if (this.#stopping) return;
        reject(new Error(`realm worker ${h.index} exited (code ${exitCode}) before it was online: ${String(error ?? 'no error reported')}`));
        if (this.handles[h.index] === h) this.#failed(h, error, exitCode);
      });
    });
  }

  /** A worker died: replace its handle at once, start the thread after the backoff. */
  #failed(old: WorkerHandle, err: unknown, exitCode: number): void {
    const cause: WorkerFailure =
      err === undefined ? 'exit' : (err as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'resource_limits' : 'uncaught_exception';
    const now = Date.now();
    const recent = (this.#failures.get(old.index) ?? []).filter((t) => now - t < BACKOFF_WINDOW_MS);
    recent.push(now);
    this.#failures.set(old.index, recent);
    const delayMs = recent.length === 1 ? 0 : Math.min(BACKOFF_MAX_MS, 250 * 2 ** (recent.length - 2));
    old.port.close(); // whatever the dead thread still had queued is for sessions that are gone
    const { handle, port2 } = this.#create(old.index);
    this.handles[old.index] = handle;
    this.events.failed(old, handle, cause, { err, exitCode, delayMs });
    const start = () => {
      this.#spawn(handle, port2).catch(() => {}); // a failure before online is handled by #failed
    };
    if (delayMs === 0) start();
    else {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        if (!this.#stopping) start();
      }, delayMs);
      this.#timers.add(t);
    }
  }

  /**
   * Asks every online worker for STATS now (COLLECT); resolves when all have answered, or after
   * `timeoutMs` (a worker too busy to answer keeps its previous report). Concurrent scrapes
   * share one round.
   */
  collectStats(timeoutMs: number): Promise<void> {
    if (this.#collecting !== null) return this.#collecting;
    const online = this.handles.filter((h) => h.online);
    const answered = online.map(
      (h) =>
        new Promise<void>((resolve) => {
          h.statsWaiters.push(resolve);
          h.outbox.push1(Op.COLLECT);
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        for (const h of online) h.statsWaiters.length = 0;
        resolve();
      }, timeoutMs);
    });
    this.#collecting = Promise.race([Promise.all(answered).then(() => undefined), timeout]).finally(() => {
      clearTimeout(timer);
      this.#collecting = null;
    });
    return this.#collecting;
  }

  /** A STATS report arrived from `h`: keep its gauges, release the scrapes waiting for it. */
  statsArrived(h: WorkerHandle, stats: WorkerStats): void {
    h.stats = stats;
    const waiters = h.statsWaiters;
    h.statsWaiters = [];
    for (const f of waiters) f();
  }

  async terminate(): Promise<void> {
    this.#stopping = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await Promise.all(this.handles.map((h) => h.worker?.terminate()));
    for (const h of this.handles) h.port.close();
  }
}
