import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import type { RouterConfig } from './config/load.js';
import { Outbox } from './ipc/outbox.js';
import type { WorkerStartup } from './ipc/protocol.js';

/** The main thread's end of one realm worker thread. */
export interface WorkerHandle {
  index: number;
  worker: Worker;
  port: MessagePort;
  outbox: Outbox;
  realms: string[];
}

const WORKER_URL = new URL('../workers/realm-worker.js', import.meta.url);

/**
 * Starts the realm worker threads and assigns realms to them round-robin. A realm lives in
 * exactly one worker, so all of its routing state is single-threaded.
 */
export function spawnRealmWorkers(config: RouterConfig, onBatch: (w: WorkerHandle, ops: unknown[]) => void): WorkerHandle[] {
  const handles: WorkerHandle[] = [];
  for (let i = 0; i < config.realmThreads; i++) {
    const realms = config.realms.filter((_, j) => j % config.realmThreads === i);
    const { port1, port2 } = new MessageChannel();
    const startup: WorkerStartup = {
      workerIndex: i,
      realms: realms as WorkerStartup['realms'],
      logLevel: config.logLevel,
      auth: Object.fromEntries(config.transports.map((t) => [t.id, t.auth])),
      authOptions: config.auth,
    };
    const worker = new Worker(WORKER_URL, { workerData: { startup, port: port2 }, transferList: [port2], name: `realm-worker-${i}` });
    const h: WorkerHandle = { index: i, worker, port: port1, outbox: new Outbox(port1), realms: realms.map((r) => r.name) };
    port1.on('message', (ops: unknown[]) => onBatch(h, ops));
    handles.push(h);
  }
  return handles;
}
