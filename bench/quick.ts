/**
 * A quick, rough load test (not the benchmark suite): starts the built router as a child
 * process on an ephemeral port and drives it with raw WebSocket WAMP peers from this process.
 *
 *   npm run build && node dist/bench/quick.js [--serializer json|msgpack] [--seconds 5]
 *
 * rpc:    `callers` connections, each keeping `window` CALLs in flight, to one callee.
 * fanout: one publisher, `subscribers` connections on one topic; the publisher keeps a bounded
 *         window of acknowledged publications in flight; every EVENT is counted and sequence-checked.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { SERIALIZERS, type SerializerName } from '../src/serializers/index.js';

const { values } = parseArgs({
  options: {
    serializer: { type: 'string', default: 'msgpack' },
    seconds: { type: 'string', default: '5' },
    callers: { type: 'string', default: '16' },
    window: { type: 'string', default: '32' },
    subscribers: { type: 'string', default: '100' },
    url: { type: 'string' },
    scenario: { type: 'string', default: 'all' },
  },
});
const serName = values.serializer as SerializerName;
const ser = SERIALIZERS[serName];
const seconds = Number(values.seconds);
const CLI = new URL('../src/cli.js', import.meta.url).pathname;

async function startRouter(): Promise<{ port: number; stop: () => void }> {
  const child = spawn(process.execPath, [CLI, 'start'], {
    env: { ...process.env, CROSSWIRE_PORT: '0', CROSSWIRE_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"ports":\[(\d+)\]/.exec(buf);
      if (m) resolve({ port: Number(m[1]), stop: () => child.kill('SIGTERM') });
    });
    child.on('exit', (code) => reject(new Error(`router exited ${code}`)));
  });
}

class Peer {
  ws: WebSocket;
  onMsg: (m: unknown[]) => void = () => {};
  constructor(url: string) {
    this.ws = new WebSocket(url, [ser.subprotocol], { perMessageDeflate: false });
    this.ws.on('message', (d: Buffer) => this.onMsg(ser.decode(d) as unknown[]));
  }
  send(m: unknown[]): void {
    this.ws.send(ser.encode(m), { binary: ser.binary });
  }
  async join(): Promise<void> {
    await new Promise((r) => this.ws.once('open', r));
    const welcome = new Promise<void>((r) => {
      this.onMsg = (m) => m[0] === 2 && r();
    });
    this.send([1, 'realm1', { roles: { caller: {}, callee: {}, publisher: {}, subscriber: {} } }]);
    await welcome;
  }
  /** Sends a request and resolves with the first reply of `type`. */
  request(m: unknown[], type: number): Promise<unknown[]> {
    return new Promise((r) => {
      this.onMsg = (x) => x[0] === type && r(x);
      this.send(m);
    });
  }
}

async function rpc(url: string): Promise<Record<string, number>> {
  const callee = new Peer(url);
  await callee.join();
  await callee.request([64, 1, {}, 'com.bench.echo'], 65);
  callee.onMsg = (m) => {
    if (m[0] === 68) callee.send([70, m[1], {}, m[4] ?? []]);
  };
  const n = Number(values.callers);
  const win = Number(values.window);
  const callers = Array.from({ length: n }, () => new Peer(url));
  await Promise.all(callers.map((c) => c.join()));
  let done = 0;
  let errors = 0;
  let running = true;
  const lat: number[] = [];
  for (const c of callers) {
    let req = 0;
    const sent = new Map<number, bigint>();
    const fire = () => {
      req++;
      sent.set(req, process.hrtime.bigint());
      c.send([48, req, {}, 'com.bench.echo', ['hello', 42]]);
    };
    c.onMsg = (m) => {
      if (m[0] === 50) {
        done++;
        const t = sent.get(m[1] as number);
        sent.delete(m[1] as number);
        if (t !== undefined && (done & 63) === 0) lat.push(Number(process.hrtime.bigint() - t) / 1000);
      } else errors++;
      if (running) fire();
    };
    for (let i = 0; i < win; i++) fire();
  }
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  const dt = (Date.now() - t0) / 1000;
  const calls = done;
  for (const c of [...callers, callee]) c.ws.close();
  lat.sort((a, b) => a - b);
  return { calls_per_s: Math.round(calls / dt), errors, p50_us: Math.round(lat[lat.length >> 1] ?? 0), p99_us: Math.round(lat[Math.floor(lat.length * 0.99)] ?? 0) };
}

async function fanout(url: string): Promise<Record<string, number>> {
  const n = Number(values.subscribers);
  const subs = Array.from({ length: n }, () => new Peer(url));
  await Promise.all(subs.map((s) => s.join()));
  await Promise.all(subs.map((s) => s.request([32, 1, {}, 'com.bench.topic'], 33)));
  let delivered = 0;
  let outOfOrder = 0;
  for (const s of subs) {
    let last = -1;
    s.onMsg = (m) => {
      if (m[0] !== 36) return;
      const seq = (m[4] as number[])[0]!;
      if (seq !== last + 1) outOfOrder++;
      last = seq;
      delivered++;
    };
  }
  const pub = new Peer(url);
  await pub.join();
  let seq = 0;
  let acked = 0;
  let running = true;
  const WINDOW = 8;
  const fire = () => pub.send([16, ++seq, { acknowledge: true }, 'com.bench.topic', [seq - 1, 'hello']]);
  pub.onMsg = (m) => {
    if (m[0] !== 17) return;
    acked++;
    // flow control: stay at most WINDOW publications ahead of the slowest subscriber
    if (running && seq - delivered / n < WINDOW) fire();
  };
  const drainCheck = setInterval(() => {
    if (running && seq - delivered / n < WINDOW && seq === acked) fire();
  }, 1);
  for (let i = 0; i < WINDOW; i++) fire();
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  clearInterval(drainCheck);
  const dt = (Date.now() - t0) / 1000;
  const d = delivered;
  for (const s of [...subs, pub]) s.ws.close();
  return { publications_per_s: Math.round(acked / dt), deliveries_per_s: Math.round(d / dt), subscribers: n, out_of_order: outOfOrder };
}

// --url: drive a router started elsewhere (e.g. under --cpu-prof) instead of a child process.
const router = values.url === undefined ? await startRouter() : { port: 0, stop: () => {} };
const url = values.url ?? `ws://127.0.0.1:${router.port}/ws`;
try {
  if (values.scenario !== 'fanout') console.log(JSON.stringify({ scenario: 'rpc', serializer: serName, ...(await rpc(url)) }));
  if (values.scenario !== 'rpc') console.log(JSON.stringify({ scenario: 'fanout', serializer: serName, ...(await fanout(url)) }));
} finally {
  router.stop();
}
