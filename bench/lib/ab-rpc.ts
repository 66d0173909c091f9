/**
 * Two router setups compared on one RPC cell (bench/tls-front.ts, bench/universal.ts): for each
 * setup a `crosswire start` process, one callee echoing, `--callers` `ws` clients each keeping
 * `--window` CALLs in flight (JSON, small payload), counted for `--seconds` after `--warmup`; and the
 * time to open and join `--joins` sessions one after another. The two setups alternate (ABBA) for
 * `--rounds` rounds; medians and their ratio are printed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { spawnRouter } from '../../test/helpers/process.js';

export interface AbRpcOptions<S extends string> {
  /** The two setups, in the order of the first round; the ratio printed is second / first. */
  setups: readonly [S, S];
  /** How each setup is named in the summary lines. */
  labels: Record<S, string>;
  /** The node config a setup runs (its transport on port 0). */
  config(setup: S): object;
  /** The WebSocket URL on the port the router listens on. */
  url(port: number): string;
  /** ws client options (TLS material). */
  client: WebSocket.ClientOptions;
}

interface Result {
  callsPerSec: number;
  joinMs: number;
}

const OPTIONS = {
  seconds: { type: 'string', default: '3' },
  warmup: { type: 'string', default: '1' },
  rounds: { type: 'string', default: '3' },
  callers: { type: 'string', default: '8' },
  window: { type: 'string', default: '32' },
  joins: { type: 'string', default: '100' },
  help: { type: 'boolean', default: false },
} as const;
const { values } = parseArgs({ options: OPTIONS });
if (values.help) {
  const flags = Object.entries(OPTIONS).flatMap(([k, o]) => (o.type === 'string' ? [`[--${k} ${o.default}]`] : []));
  console.log(`node ${process.argv[1]} ${flags.join(' ')}`);
  process.exit(0);
}
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const ROUNDS = Number(values.rounds);
const CALLERS = Number(values.callers);
const WINDOW = Number(values.window);
const JOINS = Number(values.joins);

/** A JSON WAMP session joined to realm1 as caller and callee; `next` yields its messages in order. */
function open(url: string, opts: WebSocket.ClientOptions): Promise<{ ws: WebSocket; next: () => Promise<unknown[]> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['wamp.2.json'], { perMessageDeflate: false, ...opts });
    const queue: unknown[][] = [];
    let waiter: ((m: unknown[]) => void) | null = null;
    ws.on('message', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as unknown[];
      if (waiter !== null) {
        const w = waiter;
        waiter = null;
        w(m);
      } else queue.push(m);
    });
    const next = () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise<unknown[]>((r) => (waiter = r)));
    ws.once('open', async () => {
      ws.send(JSON.stringify([1, 'realm1', { roles: { caller: {}, callee: {} } }]));
      const w = await next();
      if (w[0] !== 2) return reject(new Error(`no WELCOME: ${JSON.stringify(w)}`));
      resolve({ ws, next });
    });
    ws.once('error', reject);
  });
}

async function round<S extends string>(o: AbRpcOptions<S>, setup: S): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'crosswire-bench-ab-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(o.config(setup)));
  const p = await spawnRouter(['--config', file]);
  try {
    const url = o.url(p.port);
    // Sequential joins: what a connection costs (connect or TLS handshake, upgrade, HELLO/WELCOME).
    const t0 = performance.now();
    for (let i = 0; i < JOINS; i++) (await open(url, o.client)).ws.close();
    const joinMs = (performance.now() - t0) / JOINS;
    const callee = await open(url, o.client);
    callee.ws.send(JSON.stringify([64, 1, {}, 'bench.echo']));
    await callee.next();
    callee.ws.removeAllListeners('message');
    callee.ws.on('message', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as unknown[];
      if (m[0] === 68) callee.ws.send(JSON.stringify([70, m[1], {}, m[4] ?? []]));
    });
    let counted = 0;
    let counting = false;
    let running = true;
    const callers = await Promise.all(Array.from({ length: CALLERS }, () => open(url, o.client)));
    for (const c of callers) {
      let id = 0;
      const call = () => c.ws.send(JSON.stringify([48, ++id, {}, 'bench.echo', ['hello', 42]]));
      c.ws.removeAllListeners('message');
      c.ws.on('message', () => {
        if (counting) counted++;
        if (running) call();
      });
      for (let i = 0; i < WINDOW; i++) call();
    }
    await new Promise((r) => setTimeout(r, WARMUP * 1000));
    counting = true;
    const start = performance.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    counting = false;
    const elapsed = (performance.now() - start) / 1000;
    running = false;
    for (const c of [...callers, callee]) c.ws.close();
    return { callsPerSec: counted / elapsed, joinMs };
  } finally {
    p.child.kill('SIGTERM');
    await p.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Runs the rounds and prints each round, then the medians and second / first. */
export async function abRpc<S extends string>(o: AbRpcOptions<S>): Promise<void> {
  const [a, b] = o.setups;
  const width = Math.max(a.length, b.length);
  const results = { [a]: [] as Result[], [b]: [] as Result[] } as Record<S, Result[]>;
  for (let r = 0; r < ROUNDS; r++) {
    for (const setup of r % 2 === 0 ? [a, b] : [b, a]) {
      const x = await round(o, setup);
      results[setup].push(x);
      console.log(`round ${r + 1} ${setup.padEnd(width)} ${x.callsPerSec.toFixed(0).padStart(7)} calls/s  ${x.joinMs.toFixed(2)} ms/join`);
    }
  }
  const calls = (s: S) => median(results[s].map((x) => x.callsPerSec));
  const joins = (s: S) => median(results[s].map((x) => x.joinMs));
  console.log(`\nmedian over ${ROUNDS} rounds (${CALLERS} callers x ${WINDOW} in flight, ${SECONDS} s; ${JOINS} sequential joins):`);
  const lw = Math.max(o.labels[a].length, o.labels[b].length) + 1;
  for (const s of [a, b]) console.log(`  ${`${o.labels[s]}:`.padEnd(lw)} ${calls(s).toFixed(0)} calls/s, ${joins(s).toFixed(2)} ms per join`);
  console.log(`  ${b} / ${a}: ${(calls(b) / calls(a)).toFixed(2)} x throughput, ${(joins(b) / joins(a)).toFixed(2)} x join time`);
}
