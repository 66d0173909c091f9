// The meta API that acts on sessions, registrations and subscriptions across the nodes of a cluster
// (docs/cluster.md): the kill procedures, remove_callee, remove_subscriber and get_events reach
// sessions and subscriptions of every node; registration ids are the same on every node;
// force_reregister takes a procedure over from callees on other nodes; the remote calls in flight
// metric. Nodes A and B run in this process, C in a child process (test/helpers/cluster.ts), all
// joined through a real nats-server.
//
// Needs Debian's nats-server (scripts/install-test-deps.sh installs it): without it this file FAILS.
import '../helpers/quiet.js'; // before 'autobahn'
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '../helpers/client.js';
import { TestCluster } from '../helpers/cluster.js';
import { scrape } from '../helpers/metrics.js';
import { until } from '../helpers/nats.js';
import { within } from '../helpers/wait.js';

type Dict = Record<string, unknown>;

const ALLOW = { call: true, register: true, publish: true, subscribe: true };
const ROLES = [
  {
    name: 'anonymous',
    permissions: [
      { uri: '', match: 'prefix', allow: ALLOW },
      { uri: 'com.fr.noreg.', match: 'prefix', allow: { ...ALLOW, register: false } },
    ],
  },
];
const REALMS = [
  { name: 'realm1', roles: ROLES, store: { type: 'memory', 'event-history': [{ uri: 'com.hist.', match: 'prefix', limit: 5 }] } },
  { name: 'kill', roles: ROLES },
];

let cluster: TestCluster;
/** One client per node (A, B, C) on realm1. */
let obs: Client[] = [];

before(async () => {
  cluster = await TestCluster.start({ realms: REALMS, inProcess: ['meta_a', 'meta_b'], spawned: ['meta_c'] });
  obs = await Promise.all([0, 1, 2].map((n) => cluster.client(n)));
});

after(async () => {
  await cluster.stop();
});

let seq = 0;
const uri = (stem: string) => `com.meta.${stem}${++seq}`;
const wampError = (expected: string) => (e: unknown) => {
  assert.equal((e as { error: string }).error, expected, JSON.stringify(e));
  return true;
};
const sorted = (x: unknown) => [...(x as number[])].sort((a, b) => a - b);

/** Waits until every node counts `n` sessions on the realm of `clients` (each node has heard of the others' sessions). */
async function counted(clients: Client[], n: number): Promise<void> {
  await until(async () => (await Promise.all(clients.map((c) => c.session.call('wamp.session.count')))).every((x) => x === n), `${n} sessions on every node`);
}

/** Waits until the node of each client routes `procedure` to `n` callees (the directory crossed NATS). */
async function seen(clients: Client[], procedure: string, n: number): Promise<void> {
  await until(async () => {
    const counts = await Promise.all(
      clients.map(async (c) => {
        const id = (await c.session.call('wamp.registration.match', [procedure])) as number | null;
        return id === null ? 0 : ((await c.session.call('wamp.registration.count_callees', [id]).catch(() => -1)) as number);
      }),
    );
    return counts.every((x) => x === n);
  }, `${n} callee(s) of ${procedure} on every node`);
}

describe('meta API across nodes (real nats-server, three nodes)', () => {
  test('wamp.session.kill, kill_by_authid, kill_by_authrole, kill_all reach the sessions of every node; the caller is excluded; results are cluster-wide', async () => {
    // The caller: a raw peer on A with authid "x" (so kill_by_authid("x") would match it).
    const k = await cluster.raw(0, 'json', [], 'kill');
    const open = (node: number, authid: string) => cluster.client(node, 'json', 'kill', { authid });
    const [onB, onC, onA, otherB] = await Promise.all([open(1, 'x'), open(2, 'x'), open(0, 'x'), open(1, 'y')]);
    const [idB, idA] = [onB.session.id, onA.session.id]; // (AutobahnJS forgets a session's id once it is closed)
    await counted([onB, onC, onA, otherB], 5);
    let req = 0;
    const call = async (procedure: string, args: unknown[], kwargs?: Dict): Promise<unknown[]> => {
      k.peer.send(kwargs === undefined ? [48, ++req, {}, procedure, args] : [48, ++req, {}, procedure, args, kwargs]);
      const m = await k.peer.nextOf([50, 8], 10_000);
      assert.equal(m[m[0] === 50 ? 1 : 2], req);
      return m;
    };
    // kill: a session on another node, with reason and message; RESULT without arguments, as on one node.
    assert.deepEqual(await call('wamp.session.kill', [onC.session.id], { reason: 'com.example.kicked', message: 'out' }), [50, req, {}, []]);
    const closed = await within(onC.closed, 5000, 'the killed session on C to close');
    assert.deepEqual([closed.details.reason, closed.details.message], ['com.example.kicked', 'out']);
    // Itself, a session that is nowhere, a bad reason: errors, nothing killed.
    assert.equal((await call('wamp.session.kill', [k.id]))[4], 'wamp.error.no_such_session');
    assert.equal((await call('wamp.session.kill', [424242]))[4], 'wamp.error.no_such_session');
    assert.equal((await call('wamp.session.kill', [onB.session.id], { reason: 'not a uri' }))[4], 'wamp.error.invalid_uri');
    assert.equal((await call('wamp.session.kill_by_authid', ['x'], { reason: 'not a uri' }))[4], 'wamp.error.invalid_uri');
    await counted([onB, onA, otherB], 4);
    // kill_by_authid: the sessions with that authid on every node (A and B here), the ids of all.
    const byAuthid = await call('wamp.session.kill_by_authid', ['x']);
    assert.equal(byAuthid[0], 50);
    assert.deepEqual(sorted((byAuthid[3] as unknown[])[0]), sorted([idB, idA]));
    for (const c of [onB, onA]) assert.equal((await within(c.closed, 5000, 'a killed session to close')).details.reason, 'wamp.close.killed');
    assert.ok(otherB.connection.isOpen, 'the session with another authid is still there');
    // kill_by_authrole: a role nobody has kills nothing; "anonymous" every other session of every node.
    const [b2, c2] = await Promise.all([open(1, 'z'), open(2, 'z')]);
    await counted([otherB, b2, c2], 4);
    assert.deepEqual(await call('wamp.session.kill_by_authrole', ['nobody']), [50, req, {}, [0]]);
    assert.deepEqual(await call('wamp.session.kill_by_authrole', ['anonymous'], { reason: 'com.example.doomed' }), [50, req, {}, [3]]);
    for (const c of [otherB, b2, c2]) assert.equal((await within(c.closed, 5000, 'a killed session to close')).details.reason, 'com.example.doomed');
    // kill_all: every other session of every node, counted cluster-wide; as on one node (WAMP spec),
    // no on_leave and no testaments for them (absence shown by markers: later sessions' on_leave
    // from the same nodes, which would come after).
    const will = 'com.kill.will';
    k.peer.send([32, 901, {}, 'wamp.session.on_leave']);
    k.peer.send([32, 902, {}, will]);
    const onLeave = (await k.peer.next(33))[2];
    await k.peer.next(33);
    const watcher = await open(2, 'w');
    const victims = await Promise.all([open(0, 'v'), open(1, 'v')]);
    for (const v of victims) await v.session.call('wamp.session.add_testament', [will, ['testament'], {}]);
    await counted([watcher, ...victims], 4);
    assert.deepEqual(await call('wamp.session.kill_all', []), [50, req, {}, [3]]);
    for (const c of [watcher, ...victims]) assert.equal((await within(c.closed, 5000, 'a killed session to close')).details.reason, 'wamp.close.killed');
    assert.deepEqual(await call('wamp.session.list', []), [50, req, {}, [[k.id]]]);
    const markers = await Promise.all([0, 1, 2].map((n) => open(n, 'marker')));
    const markerIds = markers.map((m) => m.session.id);
    await Promise.all(markers.map((m) => m.close()));
    const left: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const ev = await k.peer.next(36);
      assert.equal(ev[1], onLeave, `only on_leave events reached the caller: ${JSON.stringify(ev)}`);
      left.push((ev[4] as unknown[])[0]);
    }
    assert.deepEqual(sorted(left), sorted(markerIds));
  });

  test('registration ids are the same on every node, and list, lookup, match, get, list_callees, count_callees agree', async () => {
    const p = uri('shared');
    const pattern = uri('pat');
    const [ra, rb, rc] = await Promise.all([0, 1, 2].map((n) => cluster.raw(n, n === 1 ? 'msgpack' : 'json')));
    ra!.peer.send([64, 1, { invoke: 'roundrobin' }, p]);
    const regA = (await ra!.peer.next(65))[2];
    rb!.peer.send([64, 1, { invoke: 'roundrobin' }, p]);
    const regB = (await rb!.peer.next(65))[2];
    rc!.peer.send([64, 1, { match: 'prefix' }, pattern]);
    const regC = (await rc!.peer.next(65))[2];
    assert.equal(regA, regB, 'REGISTERED carries the same id on both nodes');
    await seen(obs, p, 2);
    await seen(obs, `${pattern}.x`, 1);
    for (const o of obs) {
      const call = (proc: string, args: unknown[], kwargs?: Dict) => o.session.call(proc, args, kwargs);
      assert.equal(await call('wamp.registration.lookup', [p]), regA);
      assert.equal(await call('wamp.registration.lookup', [pattern], { match: 'prefix' }), regC);
      assert.equal(await call('wamp.registration.match', [p]), regA);
      assert.equal(await call('wamp.registration.match', [`${pattern}.x`]), regC);
      const list = (await call('wamp.registration.list', [])) as { exact: number[]; prefix: number[] };
      assert.ok(list.exact.includes(regA as number) && list.prefix.includes(regC as number), JSON.stringify(list));
      const info = (await call('wamp.registration.get', [regA])) as Dict;
      assert.deepEqual([info.id, info.uri, info.match, info.invoke], [regA, p, 'exact', 'roundrobin']);
      assert.deepEqual(sorted(await call('wamp.registration.list_callees', [regA])), sorted([ra!.id, rb!.id]));
      assert.equal(await call('wamp.registration.count_callees', [regA]), 2);
      assert.deepEqual(await call('wamp.registration.list_callees', [regC]), [rc!.id]);
    }
  });

  test('wamp.registration.remove_callee and wamp.subscription.remove_subscriber for a session on another node', async () => {
    const p = uri('removed');
    const t = uri('topic');
    const callee = await cluster.raw(1, 'msgpack', ['registration_revocation']);
    callee.peer.send([64, 1, {}, p]);
    const reg = (await callee.peer.next(65))[2] as number;
    const subscriber = await cluster.raw(2, 'json', ['subscription_revocation']);
    subscriber.peer.send([32, 1, {}, t]);
    const sub = (await subscriber.peer.next(33))[2] as number;
    await seen([obs[0]!], p, 1);
    const a = obs[0]!.session;
    await until(async () => (await a.call('wamp.subscription.lookup', [t])) === sub, 'node A to see the subscription');
    // Errors first: nothing is removed.
    await assert.rejects(a.call('wamp.registration.remove_callee', [reg, 424242]), wampError('wamp.error.no_such_session'));
    await assert.rejects(a.call('wamp.registration.remove_callee', [424242, callee.id]), wampError('wamp.error.no_such_registration'));
    await assert.rejects(a.call('wamp.subscription.remove_subscriber', [sub, 424242]), wampError('wamp.error.no_such_session'));
    await assert.rejects(a.call('wamp.subscription.remove_subscriber', [424242, subscriber.id]), wampError('wamp.error.no_such_subscription'));
    // From node A: the callee on B, the subscriber on C are told (revocation) with the reason.
    await a.call('wamp.registration.remove_callee', [reg, callee.id], { reason: 'com.example.out' });
    assert.deepEqual(await callee.peer.next(67), [67, 0, { registration: reg, reason: 'com.example.out' }]);
    await a.call('wamp.subscription.remove_subscriber', [sub, subscriber.id], { reason: 'com.example.out' });
    assert.deepEqual(await subscriber.peer.next(35), [35, 0, { subscription: sub, reason: 'com.example.out' }]);
    await seen(obs, p, 0);
    await until(async () => (await a.call('wamp.subscription.lookup', [t])) === null, 'the subscription to be gone');
  });

  test('wamp.subscription.get_events from a node without a subscriber of the subscription', async () => {
    // The history is kept for the subscriptions of the configured (uri, match): com.hist. prefix.
    const t = `com.hist.t${++seq}`;
    const b = await cluster.client(1);
    const s = await b.session.subscribe('com.hist.', () => undefined, { match: 'prefix' });
    const c = obs[2]!.session;
    for (const n of [1, 2, 3]) await c.publish(t, [n], {}, { acknowledge: true });
    const a = obs[0]!.session;
    assert.equal(await a.call('wamp.subscription.lookup', ['com.hist.'], { match: 'prefix' }), s.id);
    let events: Dict[] = [];
    await until(
      async () => (events = ((await a.call('wamp.subscription.get_events', [s.id, 10])) as Dict[]).filter((e) => e.topic === t)).length === 3,
      "node A's history to hold the 3 events",
    );
    assert.deepEqual(
      events.map((e) => [e.subscription, e.args]),
      [3, 2, 1].map((n) => [s.id, [n]]),
    );
    assert.deepEqual(((await a.call('wamp.subscription.get_events', [s.id], { limit: 1 })) as Dict[]).map((e) => e.args), [[3]]);
    await assert.rejects(a.call('wamp.subscription.get_events', [424242]), wampError('wamp.error.no_such_subscription'));
    await assert.rejects(a.call('wamp.subscription.get_events', [s.id, 0]), wampError('wamp.error.invalid_argument'));
  });

  test('force_reregister takes a procedure over from the callees of other nodes; they get UNREGISTERED with the reason, as on one node', async () => {
    const features = ['registration_revocation'];
    // A single registration on B.
    const p = uri('force');
    const old = await cluster.raw(1, 'msgpack', features);
    old.peer.send([64, 1, {}, p]);
    const oldReg = (await old.peer.next(65))[2];
    await seen(obs, p, 1);
    const fresh = await cluster.raw(0, 'json', features);
    fresh.peer.send([64, 1, { force_reregister: true }, p]);
    const reg = await fresh.peer.nextOf([65, 8], 10_000);
    assert.equal(reg[0], 65, JSON.stringify(reg));
    assert.deepEqual(await old.peer.next(67), [67, 0, { registration: oldReg, reason: 'wamp.error.force_reregister' }]);
    await seen(obs, p, 1);
    for (const o of obs) {
      const call = o.session.call(p, ['x']);
      const inv = await fresh.peer.next(68);
      fresh.peer.send([70, inv[1], {}, ['fresh']]);
      assert.equal(await call, 'fresh');
    }
    // A shared registration with callees on B and C, taken over by a single one on C... from A.
    const q = uri('forceshared');
    const [sb, sc] = await Promise.all([cluster.raw(1, 'json', features), cluster.raw(2, 'msgpack', features)]);
    sb.peer.send([64, 1, { invoke: 'roundrobin' }, q]);
    sc.peer.send([64, 1, { invoke: 'roundrobin' }, q]);
    const sharedReg = (await sb.peer.next(65))[2];
    await sc.peer.next(65);
    await seen(obs, q, 2);
    const taker = await cluster.raw(0, 'msgpack', features);
    taker.peer.send([64, 1, { force_reregister: true }, q]);
    assert.equal((await taker.peer.nextOf([65, 8], 10_000))[0], 65);
    for (const x of [sb, sc]) assert.deepEqual(await x.peer.next(67), [67, 0, { registration: sharedReg, reason: 'wamp.error.force_reregister' }]);
    await seen(obs, q, 1);
    // Now single: a plain REGISTER anywhere is refused.
    const late = await cluster.raw(2, 'json');
    late.peer.send([64, 1, {}, q]);
    assert.equal((await late.peer.next(8))[4], 'wamp.error.procedure_already_exists');
  });

  test('force_reregister across nodes needs the right to register all the pattern matches, as on one node', async () => {
    // The role may register com.fr.* but not com.fr.noreg.*: it covers the prefix com.fr. in part only.
    const holder = await cluster.raw(1, 'json', ['registration_revocation']);
    holder.peer.send([64, 1, { match: 'prefix' }, 'com.fr.']);
    await holder.peer.next(65);
    await seen(obs, 'com.fr.x', 1);
    const taker = await cluster.raw(0, 'json');
    taker.peer.send([64, 1, { match: 'prefix', force_reregister: true }, 'com.fr.']);
    assert.equal((await taker.peer.next(8))[4], 'wamp.error.not_authorized');
    // The holder on B keeps it.
    const call = obs[2]!.session.call('com.fr.x', [1]);
    const inv = await holder.peer.next(68);
    holder.peer.send([70, inv[1], {}, ['still b']]);
    assert.equal(await call, 'still b');
    assert.equal(holder.peer.received.filter((m) => m[0] === 67).length, 0, 'the holder was not told to let go');
  });

  test('crosswire_cluster_remote_calls_in_flight counts the calls waiting across nodes, on both sides', async () => {
    const p = uri('inflight');
    const callee = await cluster.raw(1, 'json');
    callee.peer.send([64, 1, {}, p]);
    await callee.peer.next(65);
    await seen([obs[0]!], p, 1);
    const caller = await cluster.raw(0, 'msgpack');
    const gauge = async (node: number, direction: string) => (await scrape(cluster.nodes[node]!.http)).get('crosswire_cluster_remote_calls_in_flight', { worker: '0', direction });
    assert.equal(await gauge(0, 'out'), 0);
    caller.peer.send([48, 1, {}, p, [1]]);
    caller.peer.send([48, 2, {}, p, [2]]);
    const invs = [await callee.peer.next(68), await callee.peer.next(68)];
    await until(async () => (await gauge(0, 'out')) === 2 && (await gauge(1, 'in')) === 2, 'the two calls in flight on A (out) and B (in)');
    assert.equal(await gauge(0, 'in'), 0);
    assert.equal(await gauge(1, 'out'), 0);
    assert.equal((await scrape(cluster.nodes[0]!.http)).type('crosswire_cluster_remote_calls_in_flight'), 'gauge');
    callee.peer.send([70, invs[0]![1], {}, ['one']]);
    await caller.peer.next(50);
    await until(async () => (await gauge(0, 'out')) === 1 && (await gauge(1, 'in')) === 1, 'one call left in flight');
    callee.peer.send([70, invs[1]![1], {}, ['two']]);
    await caller.peer.next(50);
    await until(async () => (await gauge(0, 'out')) === 0 && (await gauge(1, 'in')) === 0, 'no call in flight');
  });
});
