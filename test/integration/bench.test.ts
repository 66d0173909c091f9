import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type Finished, runNode } from '../helpers/process.js';

const RUN = new URL('../../bench/run.js', import.meta.url).pathname;

/** Runs the benchmark harness for real (built router, limit servers, generator processes). */
const bench = (args: string[]): Promise<Finished> => runNode(RUN, args, 60000, `npm run bench -- ${args.join(' ')}`);

type Line = Record<string, unknown> & { target: string; status: string; value: number | null; lost: number; errors: number };

function lines(dir: string): Line[] {
  return readFileSync(join(dir, 'latest.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
}

// The two runs are independent child-process trees on their own ephemeral ports: run them side by side.
describe('benchmark harness at tiny scale', { concurrency: true }, () => {
  test('rpc for 1 s against the router and the echo limit: JSON lines, Markdown, SVG, profiles', async (t) => {
    const out = mkdtempSync(join(tmpdir(), 'crosswire-bench-test-'));
    t.after(() => rmSync(out, { recursive: true, force: true }));
    const r = await bench(['--scenario', 'rpc', '--payload', 'small', '--serializer', 'msgpack', '--seconds', '1', '--warmup', '0.2', '--rounds', '1', '--profile', '--out', out]);
    assert.equal(r.code, 0, r.stderr);

    const ls = lines(out);
    assert.deepEqual(ls.map((l) => l.target).sort(), ['limit', 'router']);
    for (const l of ls) {
      for (const k of ['git_sha', 'date', 'node', 'cores', 'scenario', 'variant', 'serializer', 'metric', 'value', 'lost', 'errors']) assert.ok(k in l, `${k} in ${JSON.stringify(l)}`);
      assert.equal(l.node, process.version);
      assert.equal(l.status, 'ok', JSON.stringify(l));
      assert.equal(l.lost, 0);
      assert.equal(l.errors, 0);
      assert.ok(typeof l.value === 'number' && l.value > 0, `a rate was measured: ${JSON.stringify(l)}`);
      assert.equal(l.metric, 'calls/s');
    }
    const router = ls.find((l) => l.target === 'router')!;
    assert.ok(typeof router.ratio_to_limit === 'number' && router.ratio_to_limit > 0);
    assert.ok((router.extra as Record<string, number>).p99_us! > 0);

    const md = readFileSync(join(out, 'latest.md'), 'utf8');
    assert.match(md, /\| rpc \| small \| msgpack \| calls\/s \| [\d,]+ \| [\d,]+ \| \d\.\d{3} \|/);
    assert.match(md, /rpc msgpack small, calls\/s ÷ echo round trips\/s: \d\.\d{3} \(target ≥ 0\.15\)/);
    assert.ok(r.stdout.includes(md.trim().split('\n')[0]!), 'the table is printed');
    assert.match(readFileSync(join(out, 'latest.svg'), 'utf8'), /^<svg [\s\S]*<\/svg>\n$/);
    assert.ok(readdirSync(out).some((f) => /^bench-.*\.jsonl$/.test(f)));

    // --profile: the router's main thread and its realm worker both wrote a profile, summarized.
    const runDir = join(out, 'profiles', readdirSync(join(out, 'profiles'))[0]!);
    const summary = readFileSync(join(runDir, 'summary.txt'), 'utf8');
    assert.match(summary, /^main thread — [\d.]+ s busy/m);
    assert.match(summary, /^worker \d+ thread — [\d.]+ s busy/m);
    assert.match(r.stdout, /self ms +% busy +function/);
  });

  test('a lost EVENT is caught; an unimplemented feature is reported, not faked', async (t) => {
    const out = mkdtempSync(join(tmpdir(), 'crosswire-bench-test-'));
    t.after(() => rmSync(out, { recursive: true, force: true }));
    // The fanout publisher skips sequence number 50: each of the 10 subscribers must miss exactly one.
    const r = await bench(['--scenario', 'fanout,rpc-shared', '--subscribers', '10', '--payload', 'small', '--serializer', 'json', '--seconds', '1', '--warmup', '0.2', '--rounds', '1', '--no-limit', '--self-test-drop', '50', '--out', out]);
    assert.equal(r.code, 1, 'a run with a failed cell exits 1');
    const ls = lines(out);
    const fanout = ls.find((l) => l.scenario === 'fanout')!;
    assert.equal(fanout.status, 'failed');
    assert.equal(fanout.lost, 10);
    assert.equal(fanout.errors, 0);
    assert.match(readFileSync(join(out, 'latest.md'), 'utf8'), /\*\*failed\*\* \(router\): 10 lost/);

    // Shared registrations: until the dealer implements them, REGISTER with invoke 'roundrobin' is
    // refused, and the cell says so; once it does, the four callees must all be used.
    const shared = ls.find((l) => l.scenario === 'rpc-shared')!;
    if (shared.status === 'unsupported') {
      assert.match(String(shared.note), /invoke 'roundrobin'.*wamp\.error\.invalid_argument/);
      assert.equal(shared.value, null);
    } else {
      assert.equal(shared.status, 'ok', JSON.stringify(shared));
      assert.match(String(shared.note), /invocations per callee: [1-9]\d*\/[1-9]\d*\/[1-9]\d*\/[1-9]\d*/);
    }
    assert.ok(existsSync(join(out, 'latest.svg')));
  });

  test('--cluster rpc: the one-node cell, then callers on node A calling the callee on node B through NATS, 0 errors', async (t) => {
    const out = mkdtempSync(join(tmpdir(), 'crosswire-bench-test-'));
    t.after(() => rmSync(out, { recursive: true, force: true }));
    const r = await bench(['--cluster', '--scenario', 'rpc', '--payload', 'small', '--serializer', 'msgpack', '--seconds', '0.5', '--warmup', '0.1', '--rounds', '1', '--no-limit', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const ls = lines(out);
    assert.deepEqual(ls.map((l) => l.variant), ['small', 'small 2 nodes']);
    for (const l of ls) {
      assert.equal(l.status, 'ok', JSON.stringify(l));
      assert.equal(l.lost, 0);
      assert.equal(l.errors, 0);
      assert.ok(typeof l.value === 'number' && l.value > 0, `a rate was measured: ${JSON.stringify(l)}`);
    }
    const m = /\| rpc small 2 nodes msgpack \| [\d,]+ \| [\d,]+ \| (\d+\.\d\d) (MET|\*\*MISSED\*\*) \| [\d.]+ \/ [\d.]+ \| (\S+) \|/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(m[3], m[1], 'with one round, the run-by-run ratio is the ratio');
    // Both cells at the cluster's load (capacity), not the single-node default of 16 callers.
    assert.match(r.stdout, /^rpc cells: 128 callers × 32 calls in flight each \(the --cluster default/m);
  });

  test('by default a cell runs three times, its serializers alternating; the median counts', async (t) => {
    const out = mkdtempSync(join(tmpdir(), 'crosswire-bench-test-'));
    t.after(() => rmSync(out, { recursive: true, force: true }));
    const r = await bench(['--scenario', 'rpc', '--payload', 'small', '--seconds', '0.5', '--warmup', '0.1', '--no-limit', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const order = [...r.stderr.matchAll(/^\[\d+\/6\] rpc small (\w+) · router/gm)].map((m) => m[1]);
    assert.deepEqual(order, ['json', 'msgpack', 'msgpack', 'json', 'json', 'msgpack']);
    const ls = lines(out);
    assert.deepEqual(ls.map((l) => l.serializer).sort(), ['json', 'json', 'json', 'msgpack', 'msgpack', 'msgpack']);
    for (const l of ls) assert.equal(l.status, 'ok', JSON.stringify(l));
    const md = readFileSync(join(out, 'latest.md'), 'utf8');
    assert.match(md, /the median \(of 2: the mean\) of 3 runs per cell/);
    // the ratio line is the median of the ratios of each round's pair, and lists them
    const runsOf = (ser: string): number[] => ls.filter((l) => l.serializer === ser).map((l) => l.value!);
    const median = (ser: string): number => [...runsOf(ser)].sort((a, b) => a - b)[1]!;
    const pairs = runsOf('json').map((j, i) => j / runsOf('msgpack')[i]!);
    const m = /json ÷ msgpack, rpc small: (\d+\.\d{3}) .*\(run by run: (\d+\.\d{3}), (\d+\.\d{3}), (\d+\.\d{3})\)/.exec(md);
    assert.ok(m, md);
    assert.deepEqual([m[2], m[3], m[4]], pairs.map((p) => p.toFixed(3)));
    assert.equal(m[1], [...pairs].sort((a, b) => a - b)[1]!.toFixed(3));
    assert.match(md, new RegExp(`\\| rpc \\| small \\| json \\| calls/s \\| ${median('json').toLocaleString('en-US')} \\|`));
  });
});
