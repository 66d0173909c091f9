/**
 * The benchmark matrix: every scenario × variant × serializer is a cell, measured against the
 * router and against the physical limit (a raw uWS server doing only the transport work).
 */
import type { PayloadName, SerName } from './codec.js';

export const SCENARIOS = ['rpc', 'rpc-shared', 'fanout', 'fanin', 'join', 'idle', 'http-publish'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface Cell {
  scenario: Scenario;
  /** Human-readable variant, e.g. `small`, `100 subs 1k`. */
  variant: string;
  serializer: SerName;
  payload: PayloadName;
  /** fanout: subscribers; fanin: publishers; idle: sessions. */
  peers: number;
  /** Which raw uWS server is the limit for this cell (bench/limit/). */
  limit: 'echo' | 'fanout' | 'forward';
  /** Cells with the same key share one limit measurement (rpc-shared uses rpc's echo). */
  limitKey: string;
  /**
   * fanout only: subscribers SUBSCRIBE with match prefix to a pattern their role covers in part,
   * so the router authorizes each delivery (--fanout-match prefix).
   */
  match?: 'prefix';
  /** --cluster: the router is this many nodes joined through NATS (bench/lib/cluster.ts); absent: one. */
  nodes?: number;
}

/** What a cell reports: the headline metric and whether higher is better. */
export const METRICS: Readonly<Record<Scenario, { name: string; higherIsBetter: boolean }>> = {
  rpc: { name: 'calls/s', higherIsBetter: true },
  'rpc-shared': { name: 'calls/s', higherIsBetter: true },
  fanout: { name: 'deliveries/s', higherIsBetter: true },
  fanin: { name: 'deliveries/s', higherIsBetter: true },
  join: { name: 'sessions/s', higherIsBetter: true },
  idle: { name: 'KiB RSS/session', higherIsBetter: false },
  'http-publish': { name: 'requests/s', higherIsBetter: true },
};

export interface MatrixOptions {
  scenarios: readonly Scenario[];
  serializers: readonly SerName[];
  payloads: readonly PayloadName[];
  /** Subscriber counts of the fanout scenario. */
  fanout: readonly number[];
  fanin: number;
  idle: number;
  /** fanout subscriptions: exact (default) or partly covered prefix (Cell.match). */
  fanoutMatch?: 'exact' | 'prefix';
}

export function matrix(o: MatrixOptions): Cell[] {
  const cells: Cell[] = [];
  for (const scenario of o.scenarios) {
    for (const serializer of o.serializers) {
      const add = (variant: string, payload: PayloadName, peers: number, limit: Cell['limit'], limitKey: string): void => {
        cells.push({ scenario, variant, serializer, payload, peers, limit, limitKey: `${limitKey} ${serializer}` });
      };
      switch (scenario) {
        case 'rpc':
        case 'rpc-shared':
          for (const p of o.payloads) add(p, p, 0, 'echo', `echo ${p}`);
          break;
        case 'fanout':
          for (const n of o.fanout) {
            for (const p of o.payloads) {
              if (o.fanoutMatch !== 'prefix') add(`${n} subs ${p}`, p, n, 'fanout', `fanout ${n} ${p}`);
              else cells.push({ scenario, variant: `${n} subs ${p} prefix`, serializer, payload: p, peers: n, limit: 'fanout', limitKey: `fanout ${n} ${p} ${serializer}`, match: 'prefix' });
            }
          }
          break;
        case 'fanin':
          add(`${o.fanin} pubs small`, 'small', o.fanin, 'forward', `fanin ${o.fanin}`);
          break;
        case 'join':
          add('connect+hello+goodbye', 'small', 0, 'echo', 'join');
          break;
        case 'idle':
          add(`${o.idle} sessions`, 'small', o.idle, 'echo', `idle ${o.idle}`);
          break;
        case 'http-publish':
          // HTTP POSTs of JSON; the serializer is the WAMP subscriber's. No raw uWS limit (unsupported there).
          add('16 conns small', 'small', 16, 'echo', 'http-publish');
          break;
      }
    }
  }
  return cells;
}

export function cellId(c: Pick<Cell, 'scenario' | 'variant' | 'serializer'>): string {
  return `${c.scenario} ${c.variant} ${c.serializer}`;
}
