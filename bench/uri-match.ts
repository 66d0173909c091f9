/**
 * Microbenchmark of URI pattern matching (workers/match/uri-index.ts), the index the broker and
 * dealer use: 10,000 exact + 1,000 prefix + 1,000 wildcard patterns.
 *
 *   npm run build && node dist/bench/uri-match.js [--seconds 2]
 *
 * Prints matches/s for matchAll (pub/sub: every matching subscription) and matchBest (RPC: the
 * one registration a call uses), and a linear-scan baseline over the same patterns for scale.
 */
import { parseArgs } from 'node:util';
import { patternMatches } from '../workers/broker.js';
import { type Match, UriIndex } from '../workers/match/uri-index.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' } } });
const seconds = Number(values.seconds);

// Deterministic pseudo-random (mulberry32), so runs are comparable.
let seed = 42;
const rnd = (n: number) => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) % n;
};
const word = () => ['sensor', 'device', 'user', 'order', 'price', 'room', 'chat', 'state', 'alert', 'log'][rnd(10)]! + rnd(100);

/** `count` distinct patterns of one kind. */
function generate(count: number, match: Match, make: () => string): { uri: string; match: Match }[] {
  const set = new Set<string>();
  while (set.size < count) set.add(make());
  return [...set].map((uri) => ({ uri, match }));
}
const patterns = [
  ...generate(10000, 'exact', () => `com.example.${word()}.${word()}.${word()}`),
  ...generate(1000, 'prefix', () => `com.example.${word()}.${rnd(2) ? `${word()}.` : ''}`),
  ...generate(1000, 'wildcard', () => {
    const parts = ['com', 'example', word(), word(), word()];
    parts[2 + rnd(3)] = '';
    if (rnd(3) === 0) parts[2 + rnd(3)] = '';
    return parts.join('.');
  }),
];
const distinct = patterns;
const index = new UriIndex<number>();
for (const [i, p] of patterns.entries()) index.set(p.uri, p.match, i);

// Topics published: half hit exact subscriptions, half are random (hitting prefixes/wildcards).
const topics: string[] = [];
for (let i = 0; i < 1000; i++) topics.push(i % 2 ? patterns[rnd(10000)]!.uri : `com.example.${word()}.${word()}.${word()}`);

function run(name: string, fn: (t: string) => number): number {
  const out: number[] = [];
  let n = 0;
  let hits = 0;
  const end = Date.now() + 200; // warm-up
  while (Date.now() < end) hits += fn(topics[n++ % topics.length]!);
  n = 0;
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  let now = t0;
  while (now < deadline) {
    for (let i = 0; i < 1000; i++) hits += fn(topics[n++ % topics.length]!);
    now = process.hrtime.bigint();
  }
  const rate = n / (Number(now - t0) / 1e9);
  out.push(rate);
  console.log(JSON.stringify({ bench: name, patterns: distinct.length, matches_per_s: Math.round(rate), avg_hits: +(hits / n).toFixed(2) }));
  return rate;
}

const scratch: number[] = [];
run('matchAll (pub/sub)', (t) => {
  const r = index.matchAll(t, scratch).length;
  scratch.length = 0;
  return r;
});
run('matchBest (rpc)', (t) => (index.matchBest(t) === undefined ? 0 : 1));
run('linear scan baseline', (t) => {
  let h = 0;
  for (const p of distinct) if (patternMatches(p.uri, p.match, t)) h++;
  return h;
});
