// A node that dies (SIGKILL) in a cluster joined through a real nats-server (docs/cluster.md,
// "Node failures: on_leave and testaments"): one survivor publishes wamp.session.on_leave for each
// of its sessions and fires their testaments, once cluster-wide, within the failure detection
// bound; wamp.session.count on the survivors drops its sessions as soon as it is declared dead.
// Nodes A and B run in this process, C is a child process that is killed (test/helpers/cluster.ts).
//
// Needs Debian's nats-server (scripts/install-test-deps.sh installs it): without it this file FAILS.
import '../helpers/quiet.js'; // before 'autobahn'
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '../helpers/client.js';
import { type ClusterNode, TestCluster } from '../helpers/cluster.js';
import { scrape } from '../helpers/metrics.js';
import { argsOf, type Ev, linked, sub, until } from '../helpers/nats.js';
import { deferred, within } from '../helpers/wait.js';
import type { Inbox } from '../helpers/wait.js';

const REALMS = [{ name: 'realm1', roles: [{ name: 'anonymous', permissions: [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true } }] }] }];

/** The survivors A and B in this process (nodes 0 and 1), the nodes that die in child processes (test/helpers/cluster.ts). */
let cluster: TestCluster;
let A: ClusterNode;
let B: ClusterNode;

/** A node in a child process (killable), on the same NATS and realms (shutdown_timeout 5000 ms). */
async function spawnNode(id: string): Promise<Required<ClusterNode>> {
  return (await cluster.spawn(id)) as Required<ClusterNode>;
}

/** Sessions on the survivors A and B (for the expected session counts). */
const onSurvivors: Client[] = [];

async function client(node: ClusterNode): Promise<Client> {
  const c = await cluster.client(node);
  if (node === A || node === B) onSurvivors.push(c);
  return c;
}

before(async () => {
  cluster = await TestCluster.start({ realms: REALMS, inProcess: ['fail_a', 'fail_b'] });
  [A, B] = cluster.nodes as [ClusterNode, ClusterNode];
});

after(async () => {
  await cluster.stop();
});

const count = async (c: Client): Promise<number> => (await c.session.call('wamp.session.count')) as number;
const leftIds = (x: Inbox<Ev>): unknown[] => x.items.map((e) => e.args[0]);

/**
 * Returns once both survivors (clients `a` on A, `b` on B) declared the dead nodes dead and
 * everything they published for them has reached the other: their counts dropped the dead nodes'
 * sessions (done in the same step as firing their testaments), and then a marker from each node
 * reached a subscriber on the other (one NATS connection per node: in order after those events).
 */
async function settled(a: Client, b: Client, total: number, tag: string): Promise<void> {
  await until(async () => (await count(a)) === total && (await count(b)) === total, 'both survivors to drop the dead nodes');
  const topic = `com.marker.${tag}`;
  const markers = await Promise.all([sub(a, topic), sub(b, topic)]);
  await linked(a, `${topic}.link1`, [b]);
  await linked(b, `${topic}.link2`, [a]);
  // Each marker reaches the other node's subscriber (a publisher's own subscription is excluded).
  await a.session.publish(topic, ['from a'], {}, { acknowledge: true });
  await b.session.publish(topic, ['from b'], {}, { acknowledge: true });
  await Promise.all(markers.map((m) => m.events.waitFor(1, 10_000)));
}

describe('a node killed without a word (real nats-server, three nodes)', () => {
  test("SIGKILL: one survivor publishes on_leave for each of the dead node's sessions and fires their testaments, once, within the bound; session.count drops them", async () => {
    const C = await spawnNode('fail_c');
    const [a, b] = await Promise.all([client(A), client(B)]);
    // Subscribers on both survivors: to on_leave and to the testament topics.
    const [leaveA, leaveB, willA, willB] = await Promise.all([sub(a, 'wamp.session.on_leave'), sub(b, 'wamp.session.on_leave'), sub(a, 'com.will.', { match: 'prefix' }), sub(b, 'com.will.', { match: 'prefix' })]);
    // Two sessions on C: one with a testament of each scope (and one flushed), one without any.
    const [c1, c2] = await Promise.all([client(C), client(C)]);
    await c1.session.call('wamp.session.add_testament', ['com.will.gone', ['c1 destroyed'], { n: 1 }]);
    await c1.session.call('wamp.session.add_testament', ['com.will.detached', ['c1 detached'], {}], { scope: 'detached' });
    await c1.session.call('wamp.session.add_testament', ['com.will.flushed', ['never'], {}], { scope: 'detached' });
    await c1.session.call('wamp.session.flush_testaments', [], { scope: 'detached' });
    await c1.session.call('wamp.session.add_testament', ['com.will.detached', ['c1 detached'], {}], { scope: 'detached' });
    const ids = [c1.session.id, c2.session.id];
    // C's session announcements travel on its one NATS connection before this probe: once the probe
    // reached A and B, so did the testaments.
    await linked(c1, 'com.will.link', [a, b]);
    const total = 5; // a and b; c1, c2 and c3 on C (the probe subscriptions are on a and b)
    // A session joining C makes C report its count at once: its report is fresh when it is killed,
    // so the reports' own staleness (6 s) would keep C's sessions counted for about 6 s.
    const c3 = await client(C);
    await until(async () => (await count(a)) === total && (await count(b)) === total, 'every node to count every session');
    ids.push(c3.session.id);

    const t0 = Date.now();
    C.process.child.kill('SIGKILL');
    await within(C.process.exited, 10_000, 'node C to die');
    const leaves = await leaveA.events.waitFor(3, 15_000);
    const ms = Date.now() - t0;
    // Declared dead at most DEAD_AFTER_MS (3 s) + a sweep (0.25 s) after its last heartbeat (at most 1 s before the kill): with margin for a loaded machine.
    assert.ok(ms < 8000, `on_leave came ${ms} ms after the kill`);
    // B may have been first to declare C dead and fired: A follows within a sweep (0.25 s).
    await until(async () => (await count(a)) === 2, "A's session count to drop C's sessions");
    const countMs = Date.now() - t0;
    // Dropped when membership declared C dead (at most 3.25 s), not when its last report went stale (6 s).
    assert.ok(countMs < 5500, `A counted C's sessions for ${countMs} ms after the kill`);
    assert.deepEqual(leaves.map((e) => e.args[0]).sort(), [...ids].sort());
    // (AutobahnJS forgets a session's id once its connection is gone: the ids were taken before.)
    const l1 = leaves.find((e) => e.args[0] === ids[0])!;
    assert.deepEqual(l1.args, [ids[0], c1.details.authid, c1.details.authrole]);
    await leaveB.events.waitFor(3, 15_000);
    const wills = await willA.events.waitFor(2, 15_000);
    await willB.events.waitFor(2, 15_000);
    // Detached scope first, then destroyed (WAMP spec, "Session Testament"); the flushed one never.
    assert.deepEqual(
      wills.map((e) => [e.details.topic, e.args]),
      [
        ['com.will.detached', ['c1 detached']],
        ['com.will.gone', ['c1 destroyed']],
      ],
    );
    assert.deepEqual(wills[1]!.kwargs, { n: 1 });

    await settled(a, b, 2, 'one');
    for (const [name, x] of [
      ['A', leaveA],
      ['B', leaveB],
    ] as const) {
      assert.deepEqual(leftIds(x.events).sort(), [...ids].sort(), `on_leave events on ${name}`);
    }
    assert.equal(willA.events.items.length, 2, `testament events on A: ${JSON.stringify(willA.events.items.map((e) => e.args))}`);
    assert.equal(willB.events.items.length, 2, `testament events on B: ${JSON.stringify(willB.events.items.map((e) => e.args))}`);
  });

  // D and E are killed as soon as they are linked: their sessions joined (and added testaments)
  // before their NATS connections were up, and a node may die before the snapshot exchange that
  // follows the first heartbeats (what made this test fail on a loaded machine: docs/cluster.md).
  test('two nodes killed at once: each of their sessions gets one on_leave and its testament once, cluster-wide', async (t) => {
    const [a, b] = await Promise.all([client(A), client(B)]);
    const base = onSurvivors.filter((c) => c.connection.isOpen).length;
    const [leaveA, leaveB, willA, willB] = await Promise.all([sub(a, 'wamp.session.on_leave'), sub(b, 'wamp.session.on_leave'), sub(a, 'com.twice.will'), sub(b, 'com.twice.will')]);
    const nodes = await Promise.all([spawnNode('fail_d'), spawnNode('fail_e')]);
    const doomed = await Promise.all(nodes.flatMap((n) => [client(n), client(n)]));
    const ids = doomed.map((c) => c.session.id);
    await Promise.all(doomed.map((c, i) => c.session.call('wamp.session.add_testament', ['com.twice.will', [ids[i]], {}])));
    // Their testaments reached A and B (each node's announcements precede its probe on its one NATS connection).
    await Promise.all([linked(doomed[0]!, 'com.twice.link1', [a, b]), linked(doomed[2]!, 'com.twice.link2', [a, b])]);
    await until(async () => (await count(a)) === base + 4 && (await count(b)) === base + 4, 'every node to count every session');

    const t0 = Date.now();
    for (const n of nodes) n.process.child.kill('SIGKILL');
    await Promise.all(nodes.map((n) => within(n.process.exited, 10_000, 'a node to die')));
    const got = await Promise.all([leaveA.events.waitFor(4, 15_000), willA.events.waitFor(4, 15_000), leaveB.events.waitFor(4, 15_000), willB.events.waitFor(4, 15_000)]);
    const ms = Date.now() - t0;
    t.diagnostic(`on_leave and testaments on A and B ${ms} ms after the kill`);
    assert.ok(ms < 8000, `on_leave and testaments came ${ms} ms after the kill`);
    await settled(a, b, base, 'two');
    const want = [...ids].sort();
    for (const [what, x] of [
      ['on_leave on A', got[0]],
      ['testaments on A', got[1]],
      ['on_leave on B', got[2]],
      ['testaments on B', got[3]],
    ] as const) {
      assert.deepEqual(x.map((e) => e.args[0]).sort(), want, what);
    }
  });

  // A publisher on A streams to subscribers on B and on S; S dies in the middle of the stream.
  test('SIGKILL of a node with a subscriber mid-stream: the publisher and the other subscriber carry on, every event once and in order; the dead subscription is gone within the bound', async (t) => {
    const [a, b] = await Promise.all([client(A), client(B)]);
    const base = onSurvivors.filter((c) => c.connection.isOpen).length;
    const leaveA = await sub(a, 'wamp.session.on_leave');
    const S = await spawnNode('fail_s');
    const s1 = await client(S);
    const sid = s1.session.id;
    const topic = 'com.stream.tick';
    const [onB, onS] = await Promise.all([sub(b, topic), sub(s1, topic)]);
    await linked(a, 'com.stream.link', [b, s1]);
    const subId = (await a.session.call('wamp.subscription.lookup', [topic])) as number;
    const subscribers = async (c: Client): Promise<unknown> => c.session.call('wamp.subscription.count_subscribers', [subId]);
    assert.equal(await subscribers(a), 2);

    let n = 0;
    let stop = false;
    const errors: unknown[] = [];
    // One event after another, each acknowledged: bounded in count and time.
    const stream = (async () => {
      const deadline = Date.now() + 30_000;
      while (!stop && n < 20_000 && Date.now() < deadline) {
        n++;
        try {
          await a.session.publish(topic, [n], {}, { acknowledge: true });
        } catch (e) {
          errors.push(e);
        }
      }
    })();
    await onS.events.waitFor(50, 10_000);
    const t0 = Date.now();
    S.process.child.kill('SIGKILL');
    await within(S.process.exited, 10_000, 'node S to die');
    const atKill = n;
    for (const c of [a, b]) await until(async () => (await subscribers(c)) === 1, "S's subscriber to leave the subscription", 15_000);
    const goneMs = Date.now() - t0;
    // The stream goes on after S is gone, too.
    await onB.events.waitFor(n + 100, 15_000);
    stop = true;
    await within(stream, 10_000, 'the stream to end');
    const events = await onB.events.waitFor(n, 10_000);
    t.diagnostic(`${n} events (${atKill} when S was killed); S's subscription gone ${goneMs} ms after the kill; S got ${onS.events.items.length}`);
    assert.deepEqual(errors, [], 'every publication acknowledged');
    assert.ok(atKill < n, 'events were published after the kill');
    // Declared dead at most 3.25 s after its last heartbeat: with margin for a loaded machine.
    assert.ok(goneMs < 8000, `S's subscription was counted ${goneMs} ms after the kill`);
    assert.deepEqual(
      events.map((e) => e.args[0]),
      Array.from({ length: n }, (_, i) => i + 1),
      "B's subscriber got every event once, in order",
    );
    assert.equal(onB.events.items.length, n);
    // What S's subscriber got before it died is the stream's beginning, in order.
    const got = argsOf(onS.events);
    assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => i + 1));
    // S's session leaves for the others too (before the next test listens for on_leave).
    await leaveA.events.waitFor(1, 15_000);
    await settled(a, b, base, 'stream');
    assert.deepEqual(leftIds(leaveA.events), [sid]);
  });

  test('SIGTERM: a node shutting down gracefully leaves at once: its registration and subscription are gone from the others well within the dead-node timeout, its sessions leave once and their testaments fire once', async (t) => {
    const [a, b] = await Promise.all([client(A), client(B)]);
    const base = onSurvivors.filter((c) => c.connection.isOpen).length;
    const [leaveA, leaveB, willA, willB] = await Promise.all([sub(a, 'wamp.session.on_leave'), sub(b, 'wamp.session.on_leave'), sub(a, 'com.grace.will'), sub(b, 'com.grace.will')]);
    const peersOf = async (n: ClusterNode): Promise<number> => (await scrape(n.http)).get('crosswire_cluster_peers', { worker: '0' });
    const G = await spawnNode('fail_g');
    const [g1, g2] = await Promise.all([client(G), client(G)]);
    const ids = [g1.session.id, g2.session.id];
    await g1.session.register('com.grace.proc', () => 'from g');
    await g1.session.subscribe('com.grace.topic', () => undefined);
    await Promise.all([g1, g2].map((c, i) => c.session.call('wamp.session.add_testament', ['com.grace.will', [ids[i]], {}])));
    await linked(g1, 'com.grace.link', [a, b]);
    await until(async () => (await count(a)) === base + 2 && (await count(b)) === base + 2, 'every node to count every session');
    for (const c of [a, b]) {
      await until(async () => (await c.session.call('wamp.registration.lookup', ['com.grace.proc'])) !== null, "the survivors to route to G's callee");
      assert.equal(await c.session.call('com.grace.proc'), 'from g');
      assert.notEqual(await c.session.call('wamp.subscription.lookup', ['com.grace.topic']), null, "G's subscription, seen from A and B");
    }
    await until(async () => (await peersOf(A)) === 2 && (await peersOf(B)) === 2, 'A and B to count G as a peer');

    const t0 = Date.now();
    G.process.child.kill('SIGTERM');
    // Registration and subscription gone from both, and G no longer a peer: well before a silent
    // node would be declared dead (3 to 3.25 s after its last heartbeat, which G sends until it exits).
    const gone = async (c: Client): Promise<boolean> =>
      (await c.session.call('wamp.registration.lookup', ['com.grace.proc'])) === null && (await c.session.call('wamp.subscription.lookup', ['com.grace.topic'])) === null;
    await until(async () => (await gone(a)) && (await gone(b)), "G's registration and subscription to be gone from A and B");
    const goneMs = Date.now() - t0;
    await within(G.process.exited, 10_000, 'node G to exit');
    await until(async () => (await peersOf(A)) === 1 && (await peersOf(B)) === 1, 'A and B to drop G from their peers');
    const leftMs = Date.now() - t0;
    t.diagnostic(`registration and subscription gone after ${goneMs} ms, G dropped from the peers after ${leftMs} ms`);
    assert.ok(goneMs < 2000, `G's registration and subscription were gone from A and B ${goneMs} ms after SIGTERM`);
    assert.ok(leftMs < 2500, `G was dropped from A's and B's peers ${leftMs} ms after SIGTERM`);
    await Promise.all([leaveA.events.waitFor(2, 15_000), leaveB.events.waitFor(2, 15_000), willA.events.waitFor(2, 15_000), willB.events.waitFor(2, 15_000)]);
    // Anything a survivor would fire for G (it must not: G published its own) comes when G is
    // dropped, which happened above; the markers follow whatever was published then.
    await settled(a, b, base, 'grace');
    const want = [...ids].sort();
    for (const [what, x] of [
      ['on_leave on A', leaveA],
      ['testaments on A', willA],
      ['on_leave on B', leaveB],
      ['testaments on B', willB],
    ] as const) {
      assert.deepEqual(x.events.items.map((e) => e.args[0]).sort(), want, what);
    }
  });

  // A draining node's busy session gets its GOODBYE once its calls are answered; an answer from
  // another node comes over NATS, not in a batch from the main thread, and must end the drain too.
  test('SIGTERM with a call in flight to a callee on another node: the answer ends the drain at once, not the drain timeout', async (t) => {
    const a = await client(A);
    const answer = deferred<string>();
    const invoked = deferred();
    await a.session.register('com.drain.slow', () => {
      invoked.resolve();
      return answer.promise;
    });
    const H = await spawnNode('fail_h'); // shutdown_timeout 5000
    const h1 = await client(H);
    await until(async () => (await h1.session.call('wamp.registration.lookup', ['com.drain.slow'])) !== null, "H to route to A's callee");
    const result = h1.session.call('com.drain.slow');
    await within(invoked.promise, 10_000, 'the invocation to reach the callee on A');
    const closed = new Promise<string>((resolve) => {
      h1.connection.onclose = (reason: string) => {
        resolve(reason);
        return true;
      };
    });
    H.process.child.kill('SIGTERM');
    // H is draining once /ready says so; then the callee answers.
    await until(async () => (await fetch(`${H.http}/ready`).catch(() => null))?.status === 503, 'H to report draining on /ready');
    const t0 = Date.now();
    answer.resolve('done');
    assert.equal(await within(result, 10_000, 'the call to return'), 'done');
    await within(closed, 10_000, "H's session to be closed");
    await within(H.process.exited, 10_000, 'node H to exit');
    const ms = Date.now() - t0;
    t.diagnostic(`H exited ${ms} ms after the answer (drain timeout 5000 ms)`);
    assert.ok(ms < 3000, `H exited ${ms} ms after its last call was answered: the drain waited for its timeout`);
  });

  // A node started while another has just died (a crashed node restarted at once, with a new member
  // id) never hears the dead one, so it must not be the one chosen to fire its sessions.
  // (Two newcomers: before the fix, one of them had the smallest member id, and nothing was fired,
  // in about half the runs.)
  test('nodes joining just after another died (before it is declared dead) are not chosen to fire its testaments; a survivor does, once', async (t) => {
    const [a, b] = await Promise.all([client(A), client(B)]);
    const [leaveA, leaveB, willA, willB] = await Promise.all([sub(a, 'wamp.session.on_leave'), sub(b, 'wamp.session.on_leave'), sub(a, 'com.late.will'), sub(b, 'com.late.will')]);
    const X = await spawnNode('fail_x');
    const x1 = await client(X);
    const id = x1.session.id;
    await x1.session.call('wamp.session.add_testament', ['com.late.will', [id], {}]);
    await linked(x1, 'com.late.link', [a, b]);
    // The newcomers are stopped as soon as they are ready, before their NATS link is up (it takes
    // them a moment), and let go once X is stopped: so they never hear X but are known to A and B
    // well before X is declared dead. (Stopped, not killed: X's sockets stay open, nothing more
    // comes from it.)
    const late = await Promise.all(
      ['fail_n1', 'fail_n2'].map(async (name) => {
        const n = await spawnNode(name);
        n.process.child.kill('SIGSTOP');
        return n;
      }),
    );
    const t0 = Date.now();
    X.process.child.kill('SIGSTOP');
    for (const n of late) n.process.child.kill('SIGCONT');
    const newcomers = await Promise.all(late.map((n) => client(n)));
    await Promise.all(newcomers.map((c, i) => linked(c, `com.late.n${i}`, [a, b])));
    t.diagnostic(`the newcomers were linked ${Date.now() - t0} ms after X stopped (X is declared dead 3 to 3.25 s after its last heartbeat)`);
    const got = await Promise.all([leaveA.events.waitFor(1, 15_000), willA.events.waitFor(1, 15_000), leaveB.events.waitFor(1, 15_000), willB.events.waitFor(1, 15_000)]);
    for (const x of got) assert.deepEqual(x.map((e) => e.args[0]), [id]);
    // Everything A and B published meanwhile has reached the other (the markers come after it).
    const total = onSurvivors.filter((c) => c.connection.isOpen).length + newcomers.length;
    await settled(a, b, total, 'late');
    for (const x of [leaveA, leaveB, willA, willB]) assert.deepEqual(argsOf(x.events), [id]);
    X.process.child.kill('SIGKILL');
  });
});
