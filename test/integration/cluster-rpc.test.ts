// RPC across the nodes of a cluster joined through a real nats-server (docs/cluster.md): callers on
// one node reach callees on others with every invocation policy, pattern precedence, progressive
// results and invocations, timeouts, CANCEL, caller disclosure and errors; `single` is unique
// cluster-wide, also when nodes race; a node that is killed (SIGKILL) or shuts down takes its
// callees with it without leaving a caller hanging. Nodes A and B run in this process (each its
// own main thread, worker thread and NATS connection), C and D are child processes that can be
// killed.
//
// Needs Debian's nats-server (scripts/install-test-deps.sh installs it): without it this file FAILS.
import '../helpers/quiet.js'; // before 'autobahn'
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import autobahn, { type RegistrationHandle, type Result } from 'autobahn';
import { connect as natsConnect } from 'nats';
import { msgpackSerializer } from '../../src/shared/serializers/msgpack.js';
import type { Client, SerializerName } from '../helpers/client.js';
import { TestCluster } from '../helpers/cluster.js';
import { killNats, type Nats, startNats } from '../helpers/nats.js';
import type { RouterProcess } from '../helpers/process.js';
import { RawPeer } from '../helpers/raw.js';
import { deferred, Inbox, within } from '../helpers/wait.js';

const ALLOW = { call: true, register: true, publish: true, subscribe: true };
const REALMS = [
  {
    name: 'realm1',
    roles: [
      {
        name: 'anonymous',
        permissions: [
          { uri: '', match: 'prefix', allow: ALLOW },
          { uri: 'com.rpc.disclosed.', match: 'prefix', allow: ALLOW, disclose: { caller: true } },
          { uri: 'com.rpc.nocall.', match: 'prefix', allow: { ...ALLOW, call: false } },
          { uri: 'com.rpc.noreg.', match: 'prefix', allow: { ...ALLOW, register: false } },
        ],
      },
    ],
    // Call queues are per node (docs/cluster.md): only com.rpc.cq* calls wait.
    store: { type: 'memory', 'call-queue': [{ uri: 'com.rpc.cq', match: 'prefix', limit: 10 }] },
  },
];

/** Nodes A and B in this process, C in a child process (test/helpers/cluster.ts). */
let cluster: TestCluster;
/** The nats-server (replaced when the last test restarts it). */
let nats: Nats;
const children: RouterProcess[] = [];
const raws: RawPeer[] = [];
/** One observer per node (A, B, C): asks its node's registration meta API. */
let obs: Client[] = [];

/** A node in a child process (killable), on the same NATS and realms. */
async function spawnNode(id: string): Promise<RouterProcess> {
  const p = (await cluster.spawn(id)).process!;
  children.push(p);
  return p;
}

before(async () => {
  cluster = await TestCluster.start({ realms: REALMS, inProcess: ['rpc_a', 'rpc_b'], spawned: ['rpc_c'] });
  nats = cluster.nats;
  children.push(cluster.nodes[2]!.process!);
  obs = await Promise.all([client(0), client(1), client(2)]);
});

after(async () => {
  for (const r of raws) r.close();
  await cluster.stop();
});

function client(node: number, ser: SerializerName = 'json'): Promise<Client> {
  return cluster.client(node, ser);
}

/** A raw peer announcing `features` for caller and callee. */
async function raw(node: number, ser: 'json' | 'msgpack', features: string[]): Promise<RawPeer> {
  const p = await RawPeer.open(cluster.nodes[node]!.url, ser);
  raws.push(p);
  const f = Object.fromEntries(features.map((x) => [x, true]));
  await p.join('realm1', { roles: { caller: { features: f }, callee: { features: f } } });
  return p;
}

let seq = 0;
const uri = (stem = 'p') => `com.rpc.${stem}${++seq}`;
const wampError = (expected: string) => (e: unknown) => {
  assert.equal((e as { error: string }).error, expected, JSON.stringify(e));
  return true;
};

/** Calls `probe` until it returns true: bounded in count and time (each call is a round trip, never a sleep). */
async function until(probe: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 20_000 && Date.now() < deadline; i++) if (await probe()) return;
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** How many callees the node of `c` routes a CALL to `procedure` to (its registration meta API). */
async function calleesSeen(c: Client, procedure: string): Promise<number> {
  const id = (await c.session.call('wamp.registration.match', [procedure])) as number | null;
  if (id === null) return 0;
  // The registration may be gone between the two calls: then look again.
  return (await c.session.call('wamp.registration.count_callees', [id]).catch(() => -1)) as number;
}

/** Waits until the nodes of `observers` route `procedure` to `n` callees (the directory crossed NATS). */
async function seen(observers: Client[], procedure: string, n: number, ms = 10_000): Promise<void> {
  let last: number[] = [];
  await until(async () => {
    last = await Promise.all(observers.map((o) => calleesSeen(o, procedure)));
    return last.every((x) => x === n);
  }, `${n} callee(s) of ${procedure} on every node`, ms).catch((e) => {
    throw new Error(`${String(e)} (last: ${JSON.stringify(last)})`);
  });
}


describe('RPC across nodes (real nats-server, three nodes)', () => {
  test('a caller on one node reaches a callee on another: args, kwargs, errors with args and kwargs, caller disclosure by role', async () => {
    const p = uri();
    const d = `com.rpc.disclosed.d${seq}`;
    const b = await client(1, 'msgpack');
    await b.session.register(p, (args = [], kwargs = {}, details) => {
      if (args[0] === 'fail') throw new autobahn.Error('com.app.oops', ['bad', 1], { why: 'asked' });
      return new autobahn.Result(['echo', ...args], { ...kwargs, caller: details?.caller ?? null });
    });
    await b.session.register(d, (_args, _kwargs, details) => [details?.caller, details?.caller_authid, details?.caller_authrole]);
    await seen([obs[0]!, obs[2]!], p, 1);
    await seen([obs[0]!, obs[2]!], d, 1);
    for (const node of [0, 2]) {
      const a = await client(node, node === 0 ? 'json' : 'msgpack');
      const r = (await a.session.call(p, [1, 'x', { deep: [null, true] }], { k: 'v' })) as Result;
      assert.deepEqual(r.args, ['echo', 1, 'x', { deep: [null, true] }]);
      assert.deepEqual(r.kwargs, { k: 'v', caller: null }); // no disclosure without the role's disclose.caller
      await assert.rejects(a.session.call(p, ['fail']), (e: { error: string; args: unknown[]; kwargs: unknown }) => {
        assert.equal(e.error, 'com.app.oops');
        assert.deepEqual(e.args, ['bad', 1]);
        assert.deepEqual(e.kwargs, { why: 'asked' });
        return true;
      });
      assert.deepEqual(await a.session.call(d, []), [a.session.id, a.details.authid, 'anonymous']);
    }
  });

  test("a call or an answer bigger than NATS's max_payload fails at once with wamp.error.canceled; the calls beside it go through", async () => {
    const p = uri();
    const big = 'x'.repeat(1536 * 1024); // nats-server's default max_payload is 1 MiB
    const b = await client(1);
    await b.session.register(p, (args = []) => (args[0] === 'answer big' ? big : args));
    await seen([obs[0]!], p, 1);
    const a = await client(0);
    // Made in one turn: the big call and the small ones travel in one batch, which is split.
    const [small1, bigCall, small2, bigAnswer] = await within(
      Promise.allSettled([a.session.call(p, [1]), a.session.call(p, [big]), a.session.call(p, [2]), a.session.call(p, ['answer big'])]),
      10_000,
      'the four calls to end',
    );
    assert.deepEqual(small1, { status: 'fulfilled', value: [1] });
    assert.deepEqual(small2, { status: 'fulfilled', value: [2] });
    for (const r of [bigCall, bigAnswer]) {
      assert.equal(r!.status, 'rejected');
      assert.equal(((r as PromiseRejectedResult).reason as { error: string }).error, 'wamp.error.canceled');
    }
    assert.deepEqual(await a.session.call(p, [3]), [3]);
  });

  test("authorization stays local: CALL is decided on the caller's node, REGISTER on the callee's", async () => {
    const b = await client(1);
    const a = await client(0);
    const nocall = `com.rpc.nocall.x${++seq}`;
    await b.session.register(nocall, () => 'never');
    await seen([obs[0]!], nocall, 1);
    await assert.rejects(a.session.call(nocall, []), wampError('wamp.error.not_authorized'));
    const noreg = `com.rpc.noreg.x${++seq}`;
    await assert.rejects(b.session.register(noreg, () => 'never'), wampError('wamp.error.not_authorized'));
    await assert.rejects(a.session.call(noreg, []), wampError('wamp.error.no_such_procedure'));
  });

  test('shared registrations: roundrobin cycles through the callees of all nodes in registration order; first and last agree on every node; random reaches all', async () => {
    const names = ['a', 'b', 'c'];
    const callees = await Promise.all([client(0), client(1, 'msgpack'), client(2)]);
    const procs = { roundrobin: uri('rr'), first: uri('first'), last: uri('last'), random: uri('random') };
    const regs: Record<string, RegistrationHandle[]> = {};
    // Registered on B, then C, then A: the cluster-wide order.
    for (const i of [1, 2, 0]) {
      for (const [invoke, p] of Object.entries(procs)) {
        (regs[invoke] ??= [])[i] = await callees[i]!.session.register(p, () => names[i], { invoke: invoke as 'roundrobin' });
        await seen(obs, p, [1, 2, 0].indexOf(i) + 1);
      }
    }
    const callers = [await client(0), await client(2, 'msgpack')];
    for (const c of callers) {
      const got: unknown[] = [];
      for (let k = 0; k < 6; k++) got.push(await c.session.call(procs.roundrobin));
      assert.deepEqual(got, ['b', 'c', 'a', 'b', 'c', 'a']);
      for (let k = 0; k < 3; k++) {
        assert.equal(await c.session.call(procs.first), 'b');
        assert.equal(await c.session.call(procs.last), 'a');
      }
      const random = new Set<unknown>();
      for (let k = 0; k < 60 && random.size < 3; k++) random.add(await c.session.call(procs.random));
      assert.deepEqual([...random].sort(), names);
    }
    // The first callee goes: the next in the cluster order is first everywhere.
    await callees[1]!.session.unregister(regs.first![1]!);
    await seen(obs, procs.first, 2);
    for (const c of callers) assert.equal(await c.session.call(procs.first), 'c');
    // A policy must agree with the registration's, across nodes too.
    const other = await client(1);
    await assert.rejects(other.session.register(procs.roundrobin, () => 'x', { invoke: 'random' }), wampError('wamp.error.procedure_exists_with_different_invocation_policy'));
  });

  test('pattern registrations across nodes: exact beats prefix beats wildcard, as on one node', async () => {
    const t = uri('pat');
    const [a, b, c] = await Promise.all([client(0), client(1), client(2)]);
    await a.session.register(`${t}..c`, (_a, _k, d) => ['wildcard@a', d?.procedure], { match: 'wildcard' });
    await b.session.register(`${t}.b`, (_a, _k, d) => ['prefix@b', d?.procedure], { match: 'prefix' });
    await c.session.register(`${t}.b.c`, (_a, _k, d) => ['exact@c', d?.procedure]);
    await seen(obs, `${t}.b.c`, 1);
    await seen(obs, `${t}.bq.c`, 1);
    await seen(obs, `${t}.z.c`, 1);
    for (const caller of obs) {
      assert.deepEqual(await caller.session.call(`${t}.b.c`), ['exact@c', `${t}.b.c`]);
      assert.deepEqual(await caller.session.call(`${t}.bq.c`), ['prefix@b', `${t}.bq.c`]);
      assert.deepEqual(await caller.session.call(`${t}.z.c`), ['wildcard@a', `${t}.z.c`]);
    }
    await assert.rejects(obs[1]!.session.call(`${t}.z.d`), wampError('wamp.error.no_such_procedure'));
  });

  test('JSON payload pass-through across nodes: a JSON callee on another node gets the caller\'s text byte for byte, and the caller the callee\'s', async () => {
    // Text that JSON.parse + JSON.stringify would not reproduce (src/shared/wamp/json-tail.ts).
    const payload = '[1.0, 9007199254740993, "\\u0041", 1e2], {"z": 1, "a": -0.0}';
    /** The raw text frames of a JSON peer, and the text after its first k elements. */
    const texts = (p: RawPeer): string[] => {
      const out: string[] = [];
      p.ws.on('message', (d: Buffer, binary: boolean) => {
        if (!binary) out.push(d.toString('utf8'));
      });
      return out;
    };
    const tail = (text: string, k: number): string => text.slice(JSON.stringify((JSON.parse(text) as unknown[]).slice(0, k)).length - 1, -1);
    const callee = await raw(1, 'json', []);
    const caller = await raw(0, 'json', []);
    const calleeTexts = texts(callee);
    const callerTexts = texts(caller);
    const p = uri('verbatim');
    callee.send([64, 1, {}, p]);
    await callee.next(65);
    await seen([obs[0]!], p, 1);
    caller.ws.send(`[48,5,{},${JSON.stringify(p)},${payload}]`);
    const inv = await callee.next(68);
    const invText = calleeTexts.find((t) => t.startsWith('[68,'))!;
    assert.equal(tail(invText, 4), `,${payload}`, 'the INVOCATION carries the caller\'s text');
    callee.ws.send(`[70,${inv[1] as number},{},${payload}]`);
    await caller.next(50);
    const resText = callerTexts.find((t) => t.startsWith('[50,'))!;
    assert.equal(tail(resText, 3), `,${payload}`, 'the RESULT carries the callee\'s text');
  });

  test("a JSON caller's payload reaches a MessagePack callee on another node as values, byte strings as bytes; and back", async () => {
    const callee = await raw(1, 'msgpack', []);
    const caller = await raw(0, 'json', []);
    const p = uri('mixed');
    callee.send([64, 1, {}, p]);
    await callee.next(65);
    await seen([obs[0]!], p, 1);
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    caller.ws.send(`[48,7,{},${JSON.stringify(p)},[1,"\\u0000${bytes.toString('base64')}",{"deep":[null,true,2.5]}],{"k":"v"}]`);
    const inv = await callee.next(68);
    assert.equal(inv.length, 6);
    assert.deepEqual((inv[4] as unknown[])[0], 1);
    assert.deepEqual(Buffer.from((inv[4] as unknown[])[1] as Uint8Array), bytes);
    assert.deepEqual((inv[4] as unknown[])[2], { deep: [null, true, 2.5] });
    assert.deepEqual(inv[5], { k: 'v' });
    callee.send([70, inv[1], {}, [new Uint8Array([9, 8]), 'ok'], { n: 1 }]);
    const res = await caller.next(50);
    assert.deepEqual(res, [50, 7, {}, [`\u0000${Buffer.from([9, 8]).toString('base64')}`, 'ok'], { n: 1 }]);
    // The other way round: a JSON callee's answer (and error) for a MessagePack caller.
    const jsonCallee = await raw(1, 'json', []);
    const msgpackCaller = await raw(0, 'msgpack', []);
    const q = uri('mixed');
    jsonCallee.send([64, 2, {}, q]);
    await jsonCallee.next(65);
    await seen([obs[0]!], q, 1);
    msgpackCaller.send([48, 8, {}, q, [bytes]]);
    const inv2 = await jsonCallee.next(68);
    assert.deepEqual(inv2[4], [`\u0000${bytes.toString('base64')}`]);
    jsonCallee.ws.send(`[70,${inv2[1] as number},{},["\\u0000${Buffer.from([7]).toString('base64')}",3]]`);
    const res2 = await msgpackCaller.next(50);
    assert.deepEqual(Buffer.from((res2[3] as unknown[])[0] as Uint8Array), Buffer.from([7]));
    assert.equal((res2[3] as unknown[])[1], 3);
    msgpackCaller.send([48, 9, {}, q, []]);
    const inv3 = await jsonCallee.next(68);
    jsonCallee.ws.send(`[8,68,${inv3[1] as number},{},"com.app.no",["why"],{"k":1}]`);
    const err = await msgpackCaller.next(8);
    assert.deepEqual(err.slice(2), [9, {}, 'com.app.no', ['why'], { k: 1 }]);
  });

  test('progressive call results and progressive call invocations across nodes (raw frames)', async () => {
    const features = ['progressive_call_results', 'progressive_call_invocations', 'call_canceling'];
    const callee = await raw(1, 'msgpack', features);
    const caller = await raw(2, 'json', features);
    const p = uri('prog');
    callee.send([64, 1, {}, p]);
    await callee.next(65);
    await seen([obs[2]!], p, 1);
    // Progressive results.
    caller.send([48, 1, { receive_progress: true }, p, ['go']]);
    const inv = await callee.next(68);
    assert.deepEqual(inv.slice(3), [{ receive_progress: true }, ['go']]);
    callee.send([70, inv[1], { progress: true }, [1]]);
    callee.send([70, inv[1], { progress: true }, [2], { k: 'v' }]);
    callee.send([70, inv[1], {}, ['done']]);
    assert.deepEqual(await caller.next(50), [50, 1, { progress: true }, [1]]);
    assert.deepEqual(await caller.next(50), [50, 1, { progress: true }, [2], { k: 'v' }]);
    assert.deepEqual(await caller.next(50), [50, 1, {}, ['done']]);
    // Progressive invocations: one request id, one invocation id, in order.
    caller.send([48, 7, { progress: true }, p, ['chunk-1']]);
    const first = await callee.next(68);
    assert.deepEqual(first.slice(3), [{ progress: true }, ['chunk-1']]);
    caller.send([48, 7, { progress: true }, p, ['chunk-2']]);
    caller.send([48, 7, {}, p, ['last']]);
    const second = await callee.next(68);
    const third = await callee.next(68);
    assert.deepEqual([second[1], second[3], second[4]], [first[1], { progress: true }, ['chunk-2']]);
    assert.deepEqual([third[1], third[3], third[4]], [first[1], {}, ['last']]);
    callee.send([70, first[1], {}, ['got 3']]);
    assert.deepEqual(await caller.next(50), [50, 7, {}, ['got 3']]);
  });

  test('timeout and CANCEL skip, kill, killnowait across nodes (raw frames)', async () => {
    const callee = await raw(1, 'msgpack', ['call_canceling']);
    const caller = await raw(0, 'json', ['call_canceling']);
    const p = uri('cancel');
    callee.send([64, 1, {}, p]);
    await callee.next(65);
    await seen([obs[0]!], p, 1);
    // Timeout: the caller's node times the call out and interrupts the remote callee.
    caller.send([48, 1, { timeout: 300 }, p, []]);
    const i1 = await callee.next(68);
    const e1 = await caller.next(8, 10_000);
    assert.deepEqual([e1[1], e1[2], e1[4]], [48, 1, 'wamp.error.timeout']);
    // As on one node (test/integration/rpc-advanced.test.ts): INTERRUPT killnowait with the reason wamp.error.timeout.
    assert.deepEqual(await callee.next(69), [69, i1[1], { mode: 'killnowait', reason: 'wamp.error.timeout' }]);
    callee.send([70, i1[1], {}, ['late']]); // dropped
    // skip: ERROR at once, no INTERRUPT, the late answer dropped.
    caller.send([48, 2, {}, p, []]);
    const i2 = await callee.next(68);
    caller.send([49, 2, { mode: 'skip' }]);
    const e2 = await caller.next(8);
    assert.deepEqual([e2[2], e2[4]], [2, 'wamp.error.canceled']);
    callee.send([70, i2[1], {}, ['late']]);
    // killnowait: ERROR at once, INTERRUPT killnowait to the callee.
    caller.send([48, 3, {}, p, []]);
    const i3 = await callee.next(68);
    caller.send([49, 3, { mode: 'killnowait' }]);
    const e3 = await caller.next(8);
    assert.deepEqual([e3[2], e3[4]], [3, 'wamp.error.canceled']);
    assert.deepEqual(await callee.next(69), [69, i3[1], { mode: 'killnowait', reason: 'wamp.error.canceled' }]);
    // kill: INTERRUPT kill; the caller gets the callee's answer.
    caller.send([48, 4, {}, p, []]);
    const i4 = await callee.next(68);
    caller.send([49, 4, { mode: 'kill' }]);
    assert.deepEqual(await callee.next(69), [69, i4[1], { mode: 'kill', reason: 'wamp.error.canceled' }]);
    callee.send([8, 68, i4[1], {}, 'wamp.error.canceled', ['stopped at 40%'], { at: 40 }]);
    assert.deepEqual(await caller.next(8), [8, 48, 4, {}, 'wamp.error.canceled', ['stopped at 40%'], { at: 40 }]);
    // A marker call: answered after everything above was handled; no stray RESULT reached the caller.
    caller.send([48, 5, {}, p, ['marker']]);
    const i5 = await callee.next(68);
    callee.send([70, i5[1], {}, ['ok']]);
    assert.deepEqual(await caller.next(50), [50, 5, {}, ['ok']]);
    assert.equal(caller.received.filter((m) => m[0] === 50).length, 0, 'no late result reached the caller');
    assert.equal(callee.received.filter((m) => m[0] === 69).length, 0, 'skip sent no INTERRUPT');
  });

  test("REGISTER.Options.concurrency across nodes: the callee's node counts the calls of every node, a caller's node its own (raw frames)", async () => {
    const callee = await raw(1, 'msgpack', []);
    const callerA = await raw(0, 'json', []);
    const callerC = await raw(2, 'json', []);
    const p = uri('conc');
    callee.send([64, 1, { concurrency: 1 }, p]);
    await callee.next(65);
    await seen([obs[0]!, obs[2]!], p, 1);
    callerA.send([48, 1, {}, p, ['a1']]);
    const i1 = await callee.next(68, 10_000);
    // Node C has not seen A's call: the callee's node refuses C's.
    callerC.send([48, 1, {}, p, ['c1']]);
    const e1 = await callerC.next(8, 10_000);
    assert.deepEqual([e1[1], e1[2], e1[4]], [48, 1, 'crossbar.error.max_concurrency_reached']);
    // Node A knows its own call in flight: refused there.
    callerA.send([48, 2, {}, p, ['a2']]);
    const e2 = await callerA.next(8, 10_000);
    assert.deepEqual([e2[1], e2[2], e2[4]], [48, 2, 'crossbar.error.max_concurrency_reached']);
    callee.send([70, i1[1], {}, ['r1']]);
    assert.deepEqual(await callerA.next(50, 10_000), [50, 1, {}, ['r1']]);
    // Room again, for a call from either node.
    callerC.send([48, 2, {}, p, ['c2']]);
    const i2 = await callee.next(68, 10_000);
    assert.deepEqual(i2[4], ['c2']);
    callee.send([70, i2[1], {}, ['r2']]);
    assert.deepEqual(await callerC.next(50, 10_000), [50, 2, {}, ['r2']]);
    callerA.send([48, 3, {}, p, ['a3']]);
    const i3 = await callee.next(68, 10_000);
    assert.deepEqual(i3[4], ['a3']);
    callee.send([70, i3[1], {}, ['r3']]);
    assert.deepEqual(await callerA.next(50, 10_000), [50, 3, {}, ['r3']]);
    assert.equal(callee.received.filter((m) => m[0] === 68).length, 0, 'no refused call reached the callee');
  });

  test("call queues are per node: a caller's node queues its own calls to a full remote callee; the callee's node refuses another node's call, not queued (raw frames)", async () => {
    const callee = await raw(1, 'msgpack', []);
    const callerA = await raw(0, 'json', []);
    const callerC = await raw(2, 'json', []);
    const p = uri('cq');
    callee.send([64, 1, { concurrency: 1 }, p]);
    await callee.next(65);
    await seen([obs[0]!, obs[2]!], p, 1);
    callerA.send([48, 1, {}, p, ['a1']]);
    const i1 = await callee.next(68, 10_000);
    // Node A knows its own call in flight: its second waits there.
    callerA.send([48, 2, {}, p, ['a2']]);
    // Node C does not know the callee is full: the callee's node refuses C's call; C does not queue it.
    callerC.send([48, 1, {}, p, ['c1']]);
    const e1 = await callerC.next(8, 10_000);
    assert.deepEqual([e1[1], e1[2], e1[4]], [48, 1, 'crossbar.error.max_concurrency_reached']);
    assert.equal(callerA.received.length, 0, "A's second call waits");
    // The answer to a1 reaches node A, which sends a2 from its queue.
    callee.send([70, i1[1], {}, ['r1']]);
    assert.deepEqual(await callerA.next(50, 10_000), [50, 1, {}, ['r1']]);
    const i2 = await callee.next(68, 10_000);
    assert.deepEqual(i2[4], ['a2']);
    callee.send([70, i2[1], {}, ['r2']]);
    assert.deepEqual(await callerA.next(50, 10_000), [50, 2, {}, ['r2']]);
    assert.equal(callee.received.filter((m) => m[0] === 68).length, 0, "C's refused call never reached the callee");
  });

  test('single is unique cluster-wide: a second REGISTER on any node is refused, also when nodes race (single against single, shared or another policy)', async () => {
    const [a, b, c] = await Promise.all([client(0), client(1, 'msgpack'), client(2)]);
    const p = uri('single');
    const reg = await a.session.register(p, () => 'a');
    // Refused at once, also where the directory may not show it yet (the claim is in NATS's KV).
    await assert.rejects(b.session.register(p, () => 'b'), wampError('wamp.error.procedure_already_exists'));
    await assert.rejects(c.session.register(p, () => 'c'), wampError('wamp.error.procedure_already_exists'));
    await seen(obs, p, 1);
    // The race: three nodes register the same procedure at once; exactly one gets it.
    for (let k = 0; k < 5; k++) {
      const q = uri('race');
      const results = await Promise.allSettled([a, b, c].map((x, i) => x.session.register(q, () => i)));
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1, `race ${k}: ${JSON.stringify(results.map((r) => r.status))}`);
      for (const r of results) if (r.status === 'rejected') wampError('wamp.error.procedure_already_exists')(r.reason);
      await seen(obs, q, 1);
    }
    // A single and a shared REGISTER racing: one wins. Shared ones with different policies: one policy wins.
    for (let k = 0; k < 3; k++) {
      const q = uri('mixed');
      const mixed = await Promise.allSettled([a.session.register(q, () => 'a'), b.session.register(q, () => 'b', { invoke: 'roundrobin' })]);
      assert.equal(mixed.filter((r) => r.status === 'fulfilled').length, 1, `mixed race ${k}: ${JSON.stringify(mixed.map((r) => r.status))}`);
      for (const r of mixed) if (r.status === 'rejected') wampError('wamp.error.procedure_already_exists')(r.reason);
      const q2 = uri('policies');
      const policies = ['roundrobin', 'random', 'roundrobin'] as const;
      const results = await Promise.allSettled([a, b, c].map((x, i) => x.session.register(q2, () => i, { invoke: policies[i] })));
      const winners = new Set(policies.filter((_, i) => results[i]!.status === 'fulfilled'));
      assert.equal(winners.size, 1, `policy race ${k}: ${JSON.stringify(results.map((r) => r.status))}`);
      results.forEach((r, i) => {
        if (r.status === 'rejected') {
          assert.ok(!winners.has(policies[i]!), `a ${policies[i]} REGISTER lost to its own policy`);
          wampError('wamp.error.procedure_exists_with_different_invocation_policy')(r.reason);
        }
      });
      await seen(obs, q2, winners.has('random') ? 1 : 2);
    }
    // Shared registrations with one policy on every node at once: all of them join.
    const q3 = uri('joined');
    await Promise.all([a, b, c].map((x, i) => x.session.register(q3, () => i, { invoke: 'roundrobin' })));
    await seen(obs, q3, 3);
    // Once its callee goes, the name is free again on every node (within a round trip to NATS).
    await a.session.unregister(reg);
    await seen(obs, p, 0);
    await until(
      // Still taken: try again; any other error fails the test (wampError asserts).
      () => b.session.register(p, () => 'b').then(() => true, (e: unknown) => !wampError('wamp.error.procedure_already_exists')(e)),
      'the name to be free again',
    );
    await seen(obs, p, 1);
    assert.equal(await obs[2]!.session.call(p), 'b');
  });

  test('a peer node cannot make a node hold more than MAX_REMOTE_PENDING invocations from it', async () => {
    // A hostile "node": a raw NATS client speaking the cluster protocol (workers/cluster/rpc.ts).
    const callee = await raw(1, 'json', []);
    const p = uri('flood');
    callee.send([64, 1, {}, p]);
    await callee.next(65);
    const regId = (await obs[1]!.session.call('wamp.registration.lookup', [p])) as number;
    const sid = (await obs[1]!.session.call('wamp.registration.list_callees', [regId])) as number[];
    const nc = await natsConnect({ servers: nats.url });
    try {
      const members = new Map<string, string>();
      const hb = nc.subscribe('cwx.hb', {
        callback: (_e, m) => {
          const [, member, node] = msgpackSerializer.decode(m.data) as string[];
          members.set(node!, member!);
        },
      });
      await until(async () => {
        await nc.flush();
        return members.has('rpc_b');
      }, 'the heartbeat of node B');
      hb.unsubscribe();
      const me = 'cw_hostile';
      const refusals = new Inbox<unknown[]>();
      nc.subscribe(`cwx.d.${me}`, { callback: (_e, m) => {
        // Direct messages travel in batches: ['B', from, message, …] (workers/cluster/wire.ts).
        const msg = msgpackSerializer.decode(m.data) as unknown[];
        for (const r of (msg[0] === 'B' ? msg.slice(2) : [msg]) as unknown[][]) if (r[0] === 'r') refusals.push(r[4] as unknown[]);
      } });
      const MAX = 10_000;
      const extra = 5;
      for (let k = 1; k <= MAX + extra; k++) {
        nc.publish(`cwx.d.${members.get('rpc_b')}`, msgpackSerializer.encode(['i', me, 'realm1', sid[0], [68, k, regId, {}, [k]], null]));
      }
      await nc.flush();
      const refused = await refusals.waitFor(extra, 20_000);
      assert.deepEqual(
        refused.map((m) => [m[2], m[4]]),
        Array.from({ length: extra }, (_, i) => [MAX + 1 + i, 'crosswire.error.limit_exceeded']),
      );
      // The callee got the first MAX, no more (the marker: a call from a real node, answered after them).
      const a = await client(0);
      const answered = a.session.call(p, ['marker']);
      let n = 0;
      let inv: unknown[] = [];
      for (; n <= MAX + extra; ) {
        inv = await callee.next(68, 20_000);
        n++;
        if ((inv[4] as unknown[])[0] === 'marker') break;
      }
      assert.equal(n, MAX + 1, 'the callee got the first MAX invocations of the flood and the marker');
      callee.send([70, inv[1], {}, ['ok']]);
      assert.equal(await answered, 'ok');
    } finally {
      await nc.close();
    }
  });

  test('a node shutting down withdraws its callees at once; its calls in flight still finish', async () => {
    const d = await spawnNode('rpc_d');
    const callee = await RawPeer.open(`ws://127.0.0.1:${d.port}/ws`, 'msgpack');
    raws.push(callee);
    await callee.join('realm1', { roles: { callee: { features: { call_canceling: true } } } });
    const p = uri('drain');
    callee.send([64, 1, {}, p]);
    await callee.next(65);
    await seen([obs[0]!], p, 1);
    const caller = await client(0);
    const inFlight = caller.session.call(p, ['x']).catch((e: unknown) => {
      throw new Error(`${JSON.stringify(e)}; the callee got ${JSON.stringify(callee.received)}; node D said:\n${d.stdout.join('\n')}`);
    });
    const inv = await callee.next(68, 10_000);
    d.child.kill('SIGTERM'); // drains: the busy callee stays until it answered
    // Withdrawn from the other nodes while its callee is still there (not by the death timeout: D keeps heartbeating).
    await seen([obs[0]!], p, 0, 2500);
    assert.equal(d.child.exitCode, null, 'node D is still draining');
    callee.send([70, inv[1], {}, ['finished while draining']]);
    assert.equal(await inFlight, 'finished while draining');
    // Then D says GOODBYE to its callee, which has nothing in flight any more, and exits.
    assert.equal((await callee.next(6, 10_000))[2], 'wamp.close.system_shutdown');
    callee.send([6, {}, 'wamp.close.goodbye_and_out']);
    assert.equal((await within(d.exited, 15_000, 'node D to exit')).code, 0);
  });

  // Last: it kills node C.
  test('SIGKILL of a node with a callee mid-call: the caller gets an ERROR within the bound; its registrations and single claims are gone', async () => {
    const c = await client(2, 'msgpack');
    const b = await client(1);
    const p = uri('killed');
    const shared = uri('shared');
    const started = deferred();
    await c.session.register(p, () => {
      started.resolve();
      return new Promise(() => undefined); // never answers
    });
    await c.session.register(shared, () => 'c', { invoke: 'roundrobin' });
    await b.session.register(shared, () => 'b', { invoke: 'roundrobin' });
    await seen([obs[0]!, obs[1]!], p, 1);
    await seen([obs[0]!, obs[1]!], shared, 2);
    const a = await client(0);
    const inFlight = a.session.call(p, []).then(
      () => null,
      (e: { error: string }) => e,
    );
    await within(started.promise, 10_000, 'the invocation on node C');
    const t0 = Date.now();
    children[0]!.child.kill('SIGKILL');
    const err = await within(inFlight, 15_000, 'the caller to get an error');
    const ms = Date.now() - t0;
    assert.ok(err !== null, 'the call failed');
    assert.equal(err.error, 'wamp.error.canceled');
    // Dead after at most DEAD_AFTER_MS (3 s) + a sweep (0.25 s) without a heartbeat: with margin for a loaded machine.
    assert.ok(ms < 8000, `the caller waited ${ms} ms`);
    await seen([obs[0]!, obs[1]!], p, 0);
    await seen([obs[0]!, obs[1]!], shared, 1);
    for (let k = 0; k < 3; k++) assert.equal(await a.session.call(shared), 'b');
    // The dead node's single claim does not block the name.
    await a.session.register(p, () => 'a now');
    await seen([obs[1]!], p, 1);
    assert.equal(await b.session.call(p), 'a now');
  });

  // After the SIGKILL test: nodes A and B are left. It restarts nats-server.
  test('NATS restarting: nodes that declared each other dead meet again, exchange their callees, and settle single registrations made meanwhile', async () => {
    const [a, b] = await Promise.all([client(0), client(1, 'msgpack')]);
    const p = uri('before');
    await b.session.register(p, () => 'b');
    await seen([obs[0]!], p, 1);
    const { port, dir: store } = nats;
    await killNats(nats);
    // Cut off for longer than DEAD_AFTER_MS: A drops B's callees (and B A's).
    await seen([obs[0]!], p, 0);
    // While cut off, both register the same single procedure (each node alone can only check itself).
    const q = uri('meanwhile');
    await Promise.all([a.session.register(q, () => 'a'), b.session.register(q, () => 'b')]);
    assert.equal(await a.session.call(q), 'a');
    assert.equal(await b.session.call(q), 'b');
    nats = await startNats({ port, dir: store });
    // Back: B's callee is known on A again.
    await seen([obs[0]!], p, 1, 20_000);
    assert.equal(await a.session.call(p), 'b');
    // The two single registrations made meanwhile: one node keeps its own, the other revokes its
    // callee and routes to the winner (claims are settled once every live member was heard).
    await until(
      async () => {
        // Until then a node may refuse the call (no_such_procedure) for a moment.
        const [x, y] = await Promise.all([a, b].map((c) => c.session.call(q).catch(() => null)));
        return x !== null && x === y;
      },
      'both nodes to route the single registration to the same callee',
      20_000,
    );
    await seen([obs[0]!, obs[1]!], q, 1);
  });
});
