/**
 * Messages between the harness (bench/run.ts) and a load generator process
 * (bench/peers/load.ts), over the child_process IPC channel.
 *
 *   harness → peer: setup → (ready | unsupported | failed) → start → mark(begin) … mark(peek)
 *                   … mark(end) → stop → result → exit
 *
 * Rates are computed by the harness from the counters each peer reports at `mark`, with the
 * peer's own clock, so IPC delay does not enter the measured interval.
 */
import type { PayloadName, SerName } from './codec.js';
import type { Endpoint } from './wamp-peer.js';
import type { Verdict } from './stats.js';

/** `router`: real WAMP through Crosswire; `limit`: the same bytes through a raw uWS server. */
export type Target = 'router' | 'limit';

export type RoleConfig =
  | { role: 'callers'; callers: number; window: number; payload: PayloadName }
  | { role: 'callees'; callees: number; invoke: 'single' | 'roundrobin' }
  | { role: 'fanout'; subscribers: number; window: number; payload: PayloadName; dropSeq: number; match?: 'prefix' }
  | { role: 'fanin'; publishers: number; window: number; payload: PayloadName }
  | { role: 'join'; concurrency: number }
  | { role: 'idle'; sessions: number; concurrency: number; localAddresses: string[] }
  | { role: 'http-publish'; connections: number };

export interface PeerSetup {
  endpoint: Endpoint;
  /** A cluster cell's other nodes (bench/lib/cluster.ts): fanout spreads its subscribers over all. */
  others?: Endpoint[];
  serializer: SerName;
  target: Target;
  cfg: RoleConfig;
}

export type ToPeer =
  | { k: 'setup'; setup: PeerSetup }
  | { k: 'start' }
  | { k: 'mark'; phase: 'begin' | 'peek' | 'end' }
  | { k: 'stop'; drainMs: number }
  | { k: 'exit' };

export interface Mark {
  /** performance.now() of the peer, ms. */
  t: number;
  counters: Record<string, number>;
  /** process.cpuUsage() user+system, µs. */
  cpuUs: number;
}

export interface PeerResult {
  verdict: Verdict;
  /** Latency histogram of the measured interval (callers only). */
  hist?: { buckets: [number, number][]; max: number };
  info: Record<string, unknown>;
}

export type FromPeer =
  | { k: 'ready'; info?: Record<string, unknown> }
  | { k: 'unsupported'; reason: string }
  | { k: 'failed'; error: string }
  | { k: 'marked'; mark: Mark }
  | { k: 'result'; result: PeerResult };

/** The procedure and topic every scenario uses. */
export const PROCEDURE = 'com.bench.echo';
export const TOPIC = 'com.bench.topic';
/**
 * --fanout-match prefix: subscribers SUBSCRIBE to this prefix of TOPIC; the router's role
 * (FANOUT_PREFIX_CONFIG) covers it only in part, so every delivery is authorized.
 */
export const TOPIC_PREFIX = 'com.bench.';
/** http-publish: the HTTP bridge publisher's path, and the router config that has it (beside a WebSocket path). */
export const HTTP_PUBLISH_PATH = '/publish';
export const HTTP_PUBLISH_CONFIG = {
  version: 2,
  workers: [
    {
      type: 'router',
      realms: [{ name: 'realm1', roles: [{ name: 'anonymous', permissions: [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true } }] }] }],
      transports: [
        {
          type: 'web',
          endpoint: { type: 'tcp', port: 8080, interface: '127.0.0.1' },
          paths: { ws: { type: 'websocket', serializers: ['json', 'msgpack'] }, publish: { type: 'publisher', realm: 'realm1', role: 'anonymous' } },
        },
      ],
    },
  ],
};
export const FANOUT_PREFIX_CONFIG = {
  version: 2,
  workers: [
    {
      type: 'router',
      realms: [
        {
          name: 'realm1',
          roles: [
            {
              name: 'anonymous',
              permissions: [
                { uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true } },
                { uri: `${TOPIC_PREFIX}private`, match: 'exact', allow: {} },
              ],
            },
          ],
        },
      ],
      transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 8080, interface: '127.0.0.1' }, serializers: ['json', 'msgpack'] }],
    },
  ],
};
