import type { PeerResult, PeerSetup } from '../lib/ipc.js';
import { type Codec, CODECS } from '../lib/codec.js';
import type { Endpoint } from '../lib/wamp-peer.js';
import { WampPeer } from '../lib/wamp-peer.js';

/** One kind of load inside a generator process (see bench/lib/ipc.ts for the sequence). */
export interface Role {
  /** Connects, joins, registers or subscribes; resolves when load can start. */
  setup(): Promise<Record<string, unknown> | undefined>;
  start(): void;
  counters(): Record<string, number>;
  /** Latency is recorded only between mark(begin) and mark(end). */
  measure(on: boolean): void;
  /** Stops new load, waits up to `drainMs` for what is in flight, and verifies. */
  stop(drainMs: number): Promise<PeerResult>;
  close(): void;
}

/** The setup step was refused because the router does not implement the feature. */
export class Unsupported extends Error {}

export function codecOf(s: PeerSetup): Codec {
  return CODECS[s.serializer];
}

/** Opens `n` peers, at most `concurrency` handshakes at a time; `path` per index. */
export async function openMany(
  n: number,
  ep: Endpoint,
  codec: Codec,
  concurrency: number,
  each: (p: WampPeer, i: number) => Promise<void>,
  localAddresses: string[] = [],
): Promise<WampPeer[]> {
  const peers: WampPeer[] = new Array<WampPeer>(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const local = localAddresses.length > 0 ? localAddresses[i % localAddresses.length] : undefined;
      const p = await WampPeer.open(ep, codec, local);
      peers[i] = p;
      await each(p, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return peers;
}

/** Resolves when `done()` is true (checked on every `poke`) or after `ms`. */
export class Drain {
  #resolve: (() => void) | null = null;
  constructor(readonly done: () => boolean) {}
  poke(): void {
    if (this.#resolve !== null && this.done()) this.#resolve();
  }
  wait(ms: number): Promise<void> {
    if (this.done()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#resolve = null;
        resolve();
      }, ms);
      this.#resolve = () => {
        clearTimeout(timer);
        this.#resolve = null;
        resolve();
      };
    });
  }
}
