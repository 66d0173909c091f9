import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { matrix } from '../../bench/lib/cells.js';
import { CLUSTER_NODES, clusterTwin, nodeOf } from '../../bench/lib/cluster.js';
import { CODECS, PAYLOADS } from '../../bench/lib/codec.js';
import { type CpuProfile, summarize } from '../../bench/lib/profile.js';
import { markdown, type Meta, pairedRatio, ratio, type Row, svg, targets, typical } from '../../bench/lib/report.js';
import { publicationBytes, rpcBytes } from '../../bench/lib/rpc-bytes.js';
import { SERIALIZERS } from '../../src/shared/serializers/index.js';
import type { CellResult } from '../../bench/lib/runner.js';
import { Histogram, SeqChecker } from '../../bench/lib/stats.js';

describe('bench: loss detection (SeqChecker)', () => {
  test('an unbroken sequence has no loss', () => {
    const c = new SeqChecker();
    for (let i = 0; i < 100; i++) c.see(i);
    c.finish(100);
    assert.deepEqual([c.received, c.lost, c.disorder], [100, 0, 0]);
  });

  test('a gap is counted as lost, by its width', () => {
    const c = new SeqChecker();
    for (const s of [0, 1, 2, 6, 7, 9]) c.see(s);
    c.finish(10);
    assert.equal(c.lost, 3 + 1);
    assert.equal(c.disorder, 0);
  });

  test('a missing tail is lost once the sender says how many it sent', () => {
    const c = new SeqChecker();
    for (let i = 0; i < 5; i++) c.see(i);
    c.finish(8);
    assert.equal(c.lost, 3);
  });

  test('duplicates and reordering are reported, not mistaken for progress', () => {
    const c = new SeqChecker();
    for (const s of [0, 1, 1, 3, 2, 4]) c.see(s);
    c.finish(5);
    assert.equal(c.disorder, 2);
    assert.equal(c.lost, 1); // 2 arrived after 3: counted lost at the jump, and once as disorder
  });
});

describe('bench: latency histogram', () => {
  test('exact below 1 ms, within 1.6 % above, percentiles by rank', () => {
    const h = new Histogram();
    for (let i = 1; i <= 1000; i++) h.record(i);
    assert.equal(h.percentile(0.5), 501); // bucket 500 covers [500, 501)
    assert.equal(h.percentile(0.99), 991);
    const big = new Histogram();
    big.record(123456);
    const p = big.percentile(0.5);
    assert.ok(Math.abs(p - 123456) / 123456 < 0.016, String(p));
  });

  test('histograms from several processes merge', () => {
    const a = new Histogram();
    const b = new Histogram();
    for (let i = 0; i < 90; i++) a.record(100);
    for (let i = 0; i < 10; i++) b.record(5000);
    const m = new Histogram();
    m.merge(JSON.parse(JSON.stringify(a.toJSON())));
    m.merge(JSON.parse(JSON.stringify(b.toJSON())));
    assert.equal(m.count, 100);
    assert.equal(m.percentile(0.5), 101);
    assert.ok(m.percentile(0.95) >= 5000 && m.percentile(0.95) <= 5000 * 1.016);
    assert.equal(m.max, 5000);
  });
});

describe('bench: cpuprofile summary', () => {
  test('self time per function, idle kept apart, thread from the file name', () => {
    const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });
    const p: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)') },
        { id: 2, callFrame: frame('(idle)') },
        { id: 3, callFrame: frame('hot', 'file:///x/dist/src/router.js', 9) },
        { id: 4, callFrame: frame('cold', 'file:///x/node_modules/msgpackr/unpack.js', 1) },
      ],
      startTime: 0,
      endTime: 1000,
      samples: [3, 3, 4, 2, 3],
      timeDeltas: [0, 100, 100, 100, 300],
    };
    const s = summarize(p, '/tmp/CPU.20260101.120000.42.3.007.cpuprofile');
    assert.equal(s.thread, 'worker 3');
    assert.equal(s.idleMs, 0.3);
    assert.equal(s.busyMs, 0.3);
    assert.deepEqual(
      s.top.map((f) => [f.name, f.where, f.selfMs]),
      [
        ['hot', 'src/router.js:10', 0.2],
        ['cold', 'msgpackr/unpack.js:2', 0.1],
      ],
    );
  });
});

describe('bench: matrix and report', () => {
  const meta: Meta = {
    git_sha: 'abc',
    git_dirty: false,
    date: '2026-01-01T00:00:00Z',
    node: 'v20',
    cores: 2,
    cpu_model: 'x',
    loadavg_start: [0, 0, 0],
    seconds: 1,
    warmup: 0,
    command: 'npm run bench',
  };
  const res = (target: string, value: number, extra: Partial<CellResult> = {}): CellResult => ({
    scenario: 'rpc',
    variant: 'small',
    serializer: 'msgpack',
    target,
    status: 'ok',
    metric: 'calls/s',
    higherIsBetter: true,
    value,
    extra: {},
    lost: 0,
    errors: 0,
    errorSamples: [],
    note: '',
    cpu: null,
    ...extra,
  });

  test('the default matrix has every scenario, variant and serializer', () => {
    const cells = matrix({
      scenarios: ['rpc', 'rpc-shared', 'fanout', 'fanin', 'join', 'idle'],
      serializers: ['json', 'msgpack'],
      payloads: ['small', '1k'],
      fanout: [10, 100, 1000],
      fanin: 100,
      idle: 10000,
    });
    assert.equal(cells.length, 2 * (2 + 2 + 6 + 1 + 1 + 1));
    // rpc-shared shares rpc's echo limit; fanout cells each have their own
    const rpc = cells.find((c) => c.scenario === 'rpc' && c.payload === 'small' && c.serializer === 'json')!;
    const shared = cells.find((c) => c.scenario === 'rpc-shared' && c.payload === 'small' && c.serializer === 'json')!;
    assert.equal(rpc.limitKey, shared.limitKey);
    assert.equal(new Set(cells.filter((c) => c.scenario === 'fanout').map((c) => c.limitKey)).size, 12);
  });

  test('--cluster: rpc and fanout cells get a 2-node twin with the same load; callers on node A, the callee on node B', () => {
    const cells = matrix({ scenarios: ['rpc', 'rpc-shared', 'fanout', 'join'], serializers: ['json'], payloads: ['small'], fanout: [100], fanin: 100, idle: 10 });
    const twins = cells.map((c) => clusterTwin(c));
    assert.deepEqual(
      twins.map((t) => t?.variant ?? null),
      ['small 2 nodes', null, '100 subs small 2 nodes', null],
    );
    const rpc = twins[0]!;
    assert.equal(rpc.nodes, CLUSTER_NODES);
    assert.deepEqual({ ...rpc, variant: cells[0]!.variant, nodes: undefined }, { ...cells[0]!, nodes: undefined });
    assert.equal(nodeOf('callers'), 0);
    assert.equal(nodeOf('callees'), 1);
  });

  test('ratios, targets and a failed cell show up in the table and chart', () => {
    assert.equal(ratio(20, 100, true), 0.2);
    assert.equal(ratio(8, 2, false), 0.25);
    assert.equal(ratio(null, 100, true), null);
    const cell = matrix({ scenarios: ['rpc'], serializers: ['msgpack'], payloads: ['small'], fanout: [], fanin: 100, idle: 1 })[0]!;
    const rows: Row[] = [{ cell, router: [res('router', 20000, { status: 'failed', lost: 3 })], limit: res('limit', 100000), ref: [] }];
    const t = targets(rows);
    assert.match(t[0]!, /rpc msgpack small.*0\.200 \(target ≥ 0\.15\) \*\*NOT MET\*\* \(a measurement failed/);
    rows[0]!.router[0]!.status = 'ok';
    assert.match(targets(rows)[0]!, /0\.200 \(target ≥ 0\.15\) MET$/);
    rows[0]!.router[0]!.status = 'failed';
    assert.match(t.at(-1)!, /1 measurement\(s\) failed verification/);
    const md = markdown(meta, rows, null);
    assert.match(md, /\| rpc \| small \| msgpack \| calls\/s \| 20,000 \| 100,000 \| 0\.200 \|/);
    assert.match(md, /\*\*failed\*\* \(router\): 3 lost/);
    const chart = svg(meta, rows);
    assert.match(chart, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal((chart.match(/<rect /g) ?? []).length, 3 + 2);
  });
});

describe('rpc generator byte paths (bench/lib/rpc-bytes.ts)', () => {
  const PROC = 'com.bench.echo';
  const IDS = [1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1];
  for (const ser of ['json', 'msgpack'] as const) {
    const codec = CODECS[ser];
    const bytes = (x: Uint8Array | string): Buffer => Buffer.from(typeof x === 'string' ? Buffer.from(x) : x);
    for (const payload of [PAYLOADS.small, PAYLOADS['1k']]) {
      test(`${ser}: CALL bytes, reply recognition and the YIELD for an INVOCATION equal the codec's (${payload.length === 2 ? 'small' : '1k'})`, () => {
        const fast = rpcBytes(codec, PROC, payload, 50, [{}, payload]);
        for (const id of IDS) {
          assert.deepEqual(bytes(fast.call(id)), bytes(codec.encode([48, id, {}, PROC, payload])), `CALL ${id}`);
          const reply = Buffer.from(bytes(codec.encode([50, id, {}, payload])));
          assert.equal(fast.replyId(reply, 0, reply.length), id, `RESULT ${id}`);
          const wrong = Buffer.from(bytes(codec.encode([50, id, {}, ['other', 1]])));
          assert.equal(fast.replyId(wrong, 0, wrong.length), 0, 'a different payload is not recognized');
          const details = Buffer.from(bytes(codec.encode([50, id, { x: 1 }, payload])));
          assert.equal(fast.replyId(details, 0, details.length), 0, 'different details are not recognized');
          for (const inv of [id, 2 ** 53 - 1]) {
            // INVOCATIONs come from the router: its serializer writes ids ≥ 2^32 as uint64.
            const m = Buffer.from(bytes(SERIALIZERS[ser].encode([68, inv, 2 ** 40 + 3, {}, payload])));
            assert.deepEqual(Buffer.from(fast.yieldFor(m, 0, m.length)!), Buffer.from(bytes(SERIALIZERS[ser].encode([70, inv, {}, payload]))));
          }
          const disclosed = Buffer.from(bytes(codec.encode([68, id, 5, { caller: 1 }, payload])));
          assert.equal(fast.yieldFor(disclosed, 0, disclosed.length), undefined);
        }
        const echo = rpcBytes(codec, PROC, payload, 48, [{}, PROC, payload]);
        const call = Buffer.from(bytes(echo.call(77)));
        assert.equal(echo.replyId(call, 0, call.length), 77, 'the echo server returns the CALL itself');
      });
    }
  }
});

describe('publisher byte template (bench/lib/rpc-bytes.ts publicationBytes)', () => {
  for (const ser of ['json', 'msgpack'] as const) {
    const codec = CODECS[ser];
    const bytes = (x: Uint8Array | string): Buffer => Buffer.from(typeof x === 'string' ? Buffer.from(x) : x);
    test(`${ser}: PUBLISH to the router and EVENT to the limit server equal the codec's bytes`, () => {
      for (const payload of [PAYLOADS.small, PAYLOADS['1k'], [] as const]) {
        for (const router of [true, false]) {
          const one = publicationBytes(codec, router, 'com.bench.topic', payload, 1);
          const two = publicationBytes(codec, router, 'com.bench.topic', payload, 2);
          for (const n of [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 2]) {
            const msg = (args: unknown[]): unknown[] => (router ? [16, n + 1, {}, 'com.bench.topic', args] : [36, 1, n + 1, {}, args]);
            assert.deepEqual(bytes(one(n + 1, [n])), bytes(codec.encode(msg([n, ...payload]))), `one ${router} ${n}`);
            assert.deepEqual(bytes(two(n + 1, [7, n])), bytes(codec.encode(msg([7, n, ...payload]))), `two ${router} ${n}`);
          }
        }
      }
    });
  }
});

test('typical value of runs: the median of three or more, the mean of two', () => {
  assert.equal(typical([]), null);
  assert.equal(typical([5]), 5);
  assert.equal(typical([4, 6]), 5);
  assert.equal(typical([100, 1, 7]), 7, 'one disturbed run does not move it');
  assert.equal(typical([9, 1, 3, 7]), 5);
});

test('paired ratio: the median of the ratios of runs made in the same round, so a drift between rounds cancels', () => {
  const runs = (values: number[]) => values.map((value) => ({ value, extra: {} }) as unknown as Parameters<typeof pairedRatio>[0][number]);
  // Order json, msgpack | msgpack, json | json, msgpack; the machine slows by a third from the
  // fourth run on; json is 0.8 × msgpack throughout. The medians of each side come from different
  // speeds (160 ÷ 300 = 0.533); the pairs do not.
  const json = runs([0.8 * 300, 0.8 * 200, 0.8 * 200]);
  const msgpack = runs([300, 300, 200]);
  assert.equal(typical([240, 160, 160])! / typical([300, 300, 200])!, 160 / 300);
  assert.equal(pairedRatio(json, msgpack)!.toFixed(3), '0.800');
  // Two runs: the mean of the two ratios; runs that do not pair: the ratio of typical values.
  assert.equal(pairedRatio(runs([1, 4]), runs([2, 2])), 1.25);
  assert.equal(pairedRatio(runs([3]), runs([1, 2])), 2);
  assert.equal(pairedRatio(runs([3]), runs([])), null);
});
