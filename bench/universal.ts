/**
 * The cost of the universal transport's handoff (src/transport/universal.ts: Node accepts, reads the
 * first byte, hands HTTP to uWS through a private unix socket) against a plain websocket transport
 * (uWS listens itself), on one RPC cell: a `crosswire start` process, one callee echoing,
 * `--callers` `ws` clients each keeping `--window` CALLs in flight (JSON, small payload), counted
 * for `--seconds` after `--warmup`; and the time to open and join `--joins` sessions one after
 * another. The two setups alternate for `--rounds` rounds; medians and their ratio are printed.
 *
 *   npm run build && node dist/bench/universal.js [--seconds 3] [--rounds 3] [--callers 8] [--window 32] [--joins 100]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { spawnRouter } from '../test/helpers/process.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    callers: { type: 'string', default: '8' },
    window: { type: 'string', default: '32' },
    joins: { type: 'string', default: '100' },
  },
});
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const ROUNDS = Number(values.rounds);
const CALLERS = Number(values.callers);
const WINDOW = Number(values.window);
const JOINS = Number(values.joins);

type Setup = 'websocket' | 'universal';

function config(setup: Setup): object {
  const endpoint = { type: 'tcp', port: 0, interface: '127.0.0.1' };
  return {
    version: 2,
    workers: [
      {
        type: 'router',
        realms: [{ name: 'realm1', roles: [{ name: 'anonymous', 'allow-by-default': true }] }],
        transports: [setup === 'websocket' ? { type: 'websocket', endpoint } : { type: 'universal', endpoint, rawsocket: {}, websocket: { ws: {} } }],
      },
    ],
    crosswire: { log_level: 'info' },
  };
}

function open(url: string, opts: WebSocket.ClientOptions): Promise<{ ws: WebSocket; next: () => Promise<unknown[]> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['wamp.2.json'], opts);
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

async function round(setup: Setup): Promise<{ callsPerSec: number; joinMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'crosswire-bench-universal-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config(setup)));
  const p = await spawnRouter(['--config', file]);
  try {
    const url = `ws://127.0.0.1:${p.port}/ws`;
    const opts: WebSocket.ClientOptions = { perMessageDeflate: false };
    // Sequential joins: what a connection costs (connect, upgrade, HELLO/WELCOME).
    const t0 = performance.now();
    for (let i = 0; i < JOINS; i++) (await open(url, opts)).ws.close();
    const joinMs = (performance.now() - t0) / JOINS;
    const callee = await open(url, opts);
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
    const callers = await Promise.all(Array.from({ length: CALLERS }, () => open(url, opts)));
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

const results: Record<Setup, { callsPerSec: number; joinMs: number }[]> = { websocket: [], universal: [] };
for (let r = 0; r < ROUNDS; r++) {
  for (const setup of (r % 2 === 0 ? ['websocket', 'universal'] : ['universal', 'websocket']) as Setup[]) {
    const x = await round(setup);
    results[setup].push(x);
    console.log(`round ${r + 1} ${setup.padEnd(9)} ${x.callsPerSec.toFixed(0).padStart(7)} calls/s  ${x.joinMs.toFixed(2)} ms/join`);
  }
}
const calls = (s: Setup) => median(results[s].map((x) => x.callsPerSec));
const joins = (s: Setup) => median(results[s].map((x) => x.joinMs));
console.log(`\nmedian over ${ROUNDS} rounds (${CALLERS} callers x ${WINDOW} in flight, ${SECONDS} s; ${JOINS} sequential joins):`);
console.log(`  websocket: ${calls('websocket').toFixed(0)} calls/s, ${joins('websocket').toFixed(2)} ms per join`);
console.log(`  universal: ${calls('universal').toFixed(0)} calls/s, ${joins('universal').toFixed(2)} ms per join`);
console.log(`  universal / websocket: ${(calls('universal') / calls('websocket')).toFixed(2)} x throughput, ${(joins('universal') / joins('websocket')).toFixed(2)} x join time`);
