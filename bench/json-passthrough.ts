/**
 * Microbenchmark of the main thread's share of routing one 1 KiB JSON message (CALL →
 * INVOCATION) through a real worker thread over a MessageChannel, in batches of 32 as the router
 * posts them: decode, structured clone both ways, encode, and the UTF-8 bytes uWS sends.
 *
 *   npm run build && node dist/bench/json-passthrough.js [--rounds 5]
 *
 * Three variants, each in a fresh process, alternating: `stringify` (the payload re-encoded
 * with JSON.stringify, as before src/wamp/json-tail.ts), `tail` (the payload's JSON text carried
 * beside the decoded values both ways: what the router does when a receiver speaks another
 * serializer), `tail-only` (the way back carries only the text: what the router does when every
 * receiver speaks JSON, workers/ leanForJson). Reports main-thread active µs per message
 * (event-loop utilisation, so the clone work inside postMessage and message delivery counts).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MessageChannel, Worker } from 'node:worker_threads';
import { jsonSerializer } from '../src/serializers/json.js';
import type { TailedMessage } from '../src/wamp/json-tail.js';

const VARIANTS = ['stringify', 'tail', 'tail-only'] as const;
type Variant = (typeof VARIANTS)[number];
const BATCH = 32;
const BATCHES = 4000;

const WORKER = `
const { parentPort } = require('node:worker_threads');
parentPort.once('message', ({ port, variant }) => port.on('message', (batch) => {
  const out = [];
  for (let i = 0; i < batch.length; i += 2) {
    const m = batch[i + 1];
    const inv = [68, i + 1, 77, {}];
    if (variant !== 'tail-only' || m.jsonTail === undefined) for (let k = 4; k < m.length; k++) inv.push(m[k]);
    if (m.jsonTail !== undefined) inv.jsonTail = m.jsonTail;
    out.push(11, inv);
  }
  port.postMessage(out);
}));`;

async function measure(variant: Variant): Promise<number> {
  const worker = new Worker(WORKER, { eval: true });
  const { port1, port2 } = new MessageChannel();
  worker.postMessage({ port: port2, variant }, [port2]);
  const frame = Buffer.from(JSON.stringify([48, 12345, {}, 'com.example.echo', ['x'.repeat(1024)]]));
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const decode = variant === 'stringify' ? (b: Uint8Array) => JSON.parse(utf8.decode(b)) as unknown[] : (b: Uint8Array) => jsonSerializer.decode(b) as unknown[];
  const encode = (m: TailedMessage): string => {
    if (variant === 'tail-only' && m.jsonTail !== undefined) return `${JSON.stringify(m).slice(0, -1)},${m.jsonTail}]`;
    return jsonSerializer.encode(m) as string;
  };
  const send = (): void => {
    const b: unknown[] = [];
    for (let i = 0; i < BATCH; i++) b.push(2, decode(frame));
    port1.postMessage(b);
  };
  let got = 0;
  const { performance } = await import('node:perf_hooks');
  const done = new Promise<void>((resolve) => {
    port1.on('message', (b: unknown[]) => {
      for (let i = 0; i < b.length; i += 2) Buffer.from(encode(b[i + 1] as TailedMessage));
      if (++got === BATCHES) resolve();
      else if (got <= BATCHES - 4) send();
    });
  });
  const elu0 = performance.eventLoopUtilization();
  for (let k = 0; k < 4; k++) send();
  await done;
  const elu = performance.eventLoopUtilization(elu0);
  await worker.terminate();
  port1.close();
  return (elu.active * 1000) / (BATCHES * BATCH);
}

if (process.argv[2] === '--child') {
  const us = await measure(process.argv[3] as Variant);
  process.send!(us);
} else {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
  const rounds = Number(values.rounds);
  const results: Record<Variant, number[]> = { stringify: [], tail: [], 'tail-only': [] };
  const self = fileURLToPath(import.meta.url);
  for (let r = 0; r < rounds; r++) {
    for (const v of VARIANTS) {
      const us = await new Promise<number>((resolve, reject) => {
        const child = fork(self, ['--child', v]);
        child.once('message', (m) => resolve(m as number));
        child.once('error', reject);
      });
      results[v].push(us);
    }
  }
  const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const base = median(results.stringify);
  console.log(`main-thread active µs per 1 KiB JSON message (median of ${rounds}, batches of ${BATCH})`);
  for (const v of VARIANTS) {
    const m = median(results[v]);
    console.log(`${v.padEnd(10)} ${m.toFixed(2)} µs   stringify ÷ ${v}: ${(base / m).toFixed(2)}   runs: ${results[v].map((x) => x.toFixed(2)).join(' ')}`);
  }
}
