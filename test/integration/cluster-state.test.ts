// Cluster state beyond plain pub/sub (docs/cluster.md): /ready and crosswire_cluster_* follow the
// NATS link, NATS killed and restarted under traffic. Two real routers (each its own realm worker
// thread with its own NATS connection, uWS on 127.0.0.1) joined through a real nats-server.
//
// Needs Debian's nats-server (scripts/install-test-deps.sh installs it): without it this file FAILS.
import '../helpers/quiet.js'; // before 'autobahn'
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect as natsConnect } from 'nats';
import { msgpackSerializer } from '../../src/shared/serializers/msgpack.js';
import { natsToken } from '../../workers/cluster.js';
import { META_TIMEOUT_MS } from '../../workers/cluster/meta.js';
import { type Client, connect } from '../helpers/client.js';
import { get } from '../helpers/http.js';
import { scrape } from '../helpers/metrics.js';
import { argsOf, type Ev, killNats, linked, type Nats, startNats, stopAllNats, sub, until } from '../helpers/nats.js';
import { ANONYMOUS_ALL, startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox } from '../helpers/wait.js';

type Dict = Record<string, unknown>;

const REALMS = [
  { name: 'realm1', roles: [ANONYMOUS_ALL] },
  { name: 'meta.realm', roles: [ANONYMOUS_ALL] },
  { name: 'events.realm', roles: [ANONYMOUS_ALL] },
  { name: 'hist.realm', roles: [ANONYMOUS_ALL], store: { type: 'memory', 'event-history': [{ uri: 'com.hist.', match: 'prefix', limit: 5 }] } },
];
const clusterOf = (id: string) => ({ realm_threads: 1, cluster: { nats: { servers: [nats.url] }, node_id: id } });

let nats: Nats;
const nodes: TestRouter[] = [];
const clients: Client[] = [];

before(async () => {
  nats = await startNats();
  for (const id of ['state_a', 'state_b']) {
    nodes.push(await startRouter({ realms: REALMS, crosswire: clusterOf(id) }));
  }
});

after(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await Promise.all(nodes.map((n) => n.stop()));
  await stopAllNats();
});

async function client(node: number, realm = 'realm1'): Promise<Client> {
  const c = await connect(nodes[node]!.url, 'json', realm);
  clients.push(c);
  return c;
}

async function ready(node: number): Promise<{ code: number; body: { status: string; reason?: string } }> {
  const r = await get(`${nodes[node]!.http}/ready`);
  return { code: r.status, body: (await r.json()) as { status: string; reason?: string } };
}

let seq = 0;
const base = () => `com.state.t${++seq}`;

describe('cluster link state: /ready and metrics (real nats-server)', () => {
  test('a connected node is ready and counts its NATS traffic and its peers', async () => {
    await until(async () => (await ready(0)).code === 200 && (await ready(1)).code === 200, 'both nodes ready');
    await until(async () => (await scrape(nodes[0]!.http)).get('crosswire_cluster_peers', { worker: '0' }) === 1, 'node a to see one peer');
    const t = base();
    const a = await client(0);
    const b = await client(1);
    const s = await sub(b, t);
    await linked(a, t, [b]);
    const m0 = await scrape(nodes[0]!.http);
    const m1 = await scrape(nodes[1]!.http);
    await a.session.publish(t, ['x'.repeat(10_000)], {}, { acknowledge: true });
    await s.events.waitFor(1);
    const n0 = await scrape(nodes[0]!.http);
    const n1 = await scrape(nodes[1]!.http);
    const d = (n: typeof m0, m: typeof m0, name: string, direction: string) => n.get(name, { worker: '0', direction }) - m.get(name, { worker: '0', direction });
    assert.ok(d(n0, m0, 'crosswire_cluster_messages_total', 'out') >= 1);
    assert.ok(d(n0, m0, 'crosswire_cluster_bytes_total', 'out') >= 10_000, 'the 10 kB event left node a');
    assert.ok(d(n1, m1, 'crosswire_cluster_bytes_total', 'in') >= 10_000, 'the 10 kB event reached node b');
    assert.equal(n1.get('crosswire_cluster_peers', { worker: '0' }), 1);
    assert.equal(n0.type('crosswire_cluster_messages_total'), 'counter');
  });

  test("publications that cannot reach NATS (over its max_payload) are counted in crosswire_cluster_publications_dropped_total, the others not", async () => {
    const t = base();
    const a = await client(0);
    const b = await client(1);
    const remote = await sub(b, t);
    await linked(a, t, [b]);
    const dropped = async () => {
      const m = await scrape(nodes[0]!.http);
      assert.equal(m.type('crosswire_cluster_publications_dropped_total'), 'counter');
      assert.ok(m.samples.some((x) => x.name === 'crosswire_cluster_publications_dropped_total' && x.labels.worker === '0'), 'a sample for worker 0');
      return m.get('crosswire_cluster_publications_dropped_total', { worker: '0' });
    };
    assert.equal(await dropped(), 0, 'nothing dropped while every publication crossed');
    const big = 'x'.repeat(1536 * 1024); // nats-server's default max_payload is 1 MiB
    for (let i = 0; i < 2; i++) {
      await a.session.publish(t, [big], {}, { acknowledge: true });
      await a.session.publish(t, [`small${i}`], {}, { acknowledge: true });
    }
    await a.session.publish(t, ['end'], {}, { acknowledge: true });
    await remote.events.waitFor(3, 10_000);
    assert.deepEqual(argsOf(remote.events), ['small0', 'small1', 'end']);
    // The scrape has the worker report its counters at once: the two big events, no more.
    assert.equal(await dropped(), 2);
    assert.equal((await scrape(nodes[1]!.http)).get('crosswire_cluster_publications_dropped_total', { worker: '0' }), 0, 'node b dropped nothing');
  });

  test('a single node has no cluster metrics and its /ready says nothing of a cluster', async () => {
    const single = await startRouter({ crosswire: { realm_threads: 1 } });
    try {
      let m = await scrape(single.http);
      await until(async () => (m = await scrape(single.http)).has('crosswire_worker_heap_used_bytes'), 'the worker to report its stats');
      for (const name of ['crosswire_cluster_peers', 'crosswire_cluster_messages_total', 'crosswire_cluster_reconnects_total', 'crosswire_cluster_publications_dropped_total']) assert.equal(m.has(name), false, name);
      const r = await get(`${single.http}/ready`);
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { status: 'ready' });
    } finally {
      await single.stop();
    }
  });

});

/**
 * Subscribes with get_retained until a retained event arrives (bounded); returns its event and
 * unsubscribes. Only events marked retained count: the live copy of a publication made just
 * before may still be crossing NATS when the subscription is made, and arrives as a live event.
 */
async function retainedOn(c: Client, topic: string, options: Record<string, unknown> = {}): Promise<Ev> {
  let got: Ev | undefined;
  await until(async () => {
    const box = new Inbox<Ev>();
    const s = await c.session.subscribe(
      topic,
      (args, kwargs, details) => {
        if ((details as unknown as Dict).retained === true) box.push({ args, kwargs: kwargs ?? {}, details });
      },
      { get_retained: true, ...options },
    );
    got = (await box.waitFor(1, 200).catch(() => []))[0];
    await c.session.unsubscribe(s);
    return got !== undefined;
  }, `a retained event of ${topic}`);
  return got!;
}

describe('retained events and event history across nodes (JetStream)', () => {
  test('retain on node a, get_retained on node b sees the latest; a node started later too', async () => {
    const t = base();
    const a = await client(0);
    const b = await client(1);
    const p1 = await a.session.publish(t, ['first'], { k: 1 }, { retain: true, acknowledge: true });
    const e1 = await retainedOn(b, t);
    assert.deepEqual([e1.args, e1.kwargs, e1.details.publication, (e1.details as unknown as Dict).retained], [['first'], { k: 1 }, p1!.id, true]);
    const p2 = await a.session.publish(t, ['second'], {}, { retain: true, acknowledge: true });
    let e2: Ev | undefined;
    await until(async () => (e2 = await retainedOn(b, t)).args[0] === 'second', 'node b to have the second retained event');
    assert.equal(e2!.details.publication, p2!.id);
    // A pattern subscription on b gets the retained event of a topic it matches.
    assert.deepEqual((await retainedOn(b, 'com.state.', { match: 'prefix' })).details.topic !== undefined, true);
    // A third node, started after the events were retained, learns them from the bucket.
    const late = await startRouter({ realms: REALMS, crosswire: clusterOf('state_late') });
    try {
      const c = await connect(late.url, 'msgpack', 'realm1');
      clients.push(c);
      assert.deepEqual((await retainedOn(c, t)).args, ['second']);
    } finally {
      await late.stop();
    }
  });

  test('black/whitelists of retained events hold on the other node (the latest each subscriber may receive)', async () => {
    const t = base();
    const a = await client(0);
    const b1 = await client(1);
    const b2 = await client(1);
    await a.session.publish(t, ['all'], {}, { retain: true, acknowledge: true });
    await retainedOn(b2, t); // b has 'all'
    await a.session.publish(t, ['only-b1'], {}, { retain: true, acknowledge: true, eligible: [b1.session.id] });
    await until(async () => (await retainedOn(b1, t)).args[0] === 'only-b1', 'b1 to get the event only it may receive');
    assert.deepEqual((await retainedOn(b2, t)).args, ['all']);
  });

  test('event history on node b has the events published on node a (no subscriber on b when they were published)', async () => {
    const a = await client(0, 'hist.realm');
    const b = await client(1, 'hist.realm');
    const t = `com.hist.t${++seq}`;
    // Both nodes are linked to NATS (history interest is made when a node connects).
    await linked(a, `com.link${seq}`, [b]);
    for (let i = 0; i < 7; i++) await a.session.publish(t, [i], {}, { acknowledge: true });
    await a.session.publish('com.other', ['not kept'], {}, { acknowledge: true });
    const s = await b.session.subscribe('com.hist.', () => undefined, { match: 'prefix' });
    let events: Dict[] = [];
    // Until the last event has crossed too: node b takes them in order, and its history holds 5 from the 5th one on.
    const newest = (): unknown => (events[0]?.args as unknown[] | undefined)?.[0];
    await until(async () => {
      events = (await b.session.call('wamp.subscription.get_events', [s.id, 10])) as Dict[];
      return newest() === 6;
    }, 'node b to have the last event');
    // Newest first, the history's limit (5) applied.
    assert.deepEqual(events.map((e) => (e.args as unknown[])[0]), [6, 5, 4, 3, 2]);
    assert.ok(events.every((e) => e.topic === t && e.subscription === s.id));
  });
});

async function wampError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { error: string }).error;
  }
  throw new Error('the call succeeded');
}

const sorted = (xs: unknown) => [...(xs as number[])].sort((x, y) => x - y);

describe('meta API across nodes', () => {
  test('wamp.session.list and wamp.session.get answer for every node', async () => {
    const a = await client(0, 'meta.realm');
    const b1 = await client(1, 'meta.realm');
    const b2 = await client(1, 'meta.realm');
    const all = sorted([a.session.id, b1.session.id, b2.session.id]);
    let last: unknown;
    await until(async () => JSON.stringify(sorted((last = await a.session.call('wamp.session.list')))) === JSON.stringify(all), 'node a to list every session').catch((e) => {
      throw new Error(`${String(e)}: last ${JSON.stringify(last)}, want ${JSON.stringify(all)}`);
    });
    assert.deepEqual(sorted(await b1.session.call('wamp.session.list', [['anonymous']])), all);
    assert.deepEqual(await b1.session.call('wamp.session.list', [['nobody']]), []);
    const d = (await a.session.call('wamp.session.get', [b2.session.id])) as Dict;
    assert.equal(d.session, b2.session.id);
    assert.equal(d.authrole, 'anonymous');
    assert.equal(((await b2.session.call('wamp.session.get', [a.session.id])) as Dict).session, a.session.id);
    assert.equal(await wampError(a.session.call('wamp.session.get', [424242])), 'wamp.error.no_such_session');
    await b2.close();
    await until(async () => (await a.session.call('wamp.session.list')) !== null && !(await a.session.call('wamp.session.list') as number[]).includes(b2.session.id), 'a session that left to be gone');
  });

  test('wamp.subscription.* answer for every node; a subscription has the same id on every node', async () => {
    const t = base();
    const a = await client(0, 'meta.realm');
    const a2 = await client(0, 'meta.realm');
    const b1 = await client(1, 'meta.realm');
    const b2 = await client(1, 'meta.realm');
    const onA = await a2.session.subscribe(t, () => undefined);
    const onB1 = await b1.session.subscribe(t, () => undefined);
    await b2.session.subscribe(t, () => undefined);
    const pattern = await b1.session.subscribe(`${t}.`, () => undefined, { match: 'prefix' });
    assert.equal(onA.id, onB1.id, 'same (topic, match): same subscription id on both nodes');
    await until(async () => (await a.session.call('wamp.subscription.count_subscribers', [onA.id])) === 3, 'node a to count 3 subscribers');
    assert.deepEqual(sorted(await a.session.call('wamp.subscription.list_subscribers', [onA.id])), sorted([a2.session.id, b1.session.id, b2.session.id]));
    // Only on node b: node a answers from b's part.
    assert.equal(await a.session.call('wamp.subscription.lookup', [`${t}.`, { match: 'prefix' }]), pattern.id);
    assert.equal(await a.session.call('wamp.subscription.lookup', [`${t}.nothing`]), null);
    assert.deepEqual(sorted(await a.session.call('wamp.subscription.match', [`${t}.x`])), [pattern.id]);
    assert.deepEqual(sorted(await a.session.call('wamp.subscription.match', [t])), [onA.id]);
    assert.equal(await a.session.call('wamp.subscription.match', [`com.none${seq}`]), null);
    const info = (await a.session.call('wamp.subscription.get', [pattern.id])) as Dict;
    assert.deepEqual([info.id, info.uri, info.match], [pattern.id, `${t}.`, 'prefix']);
    assert.deepEqual(await a.session.call('wamp.subscription.list_subscribers', [pattern.id]), [b1.session.id]);
    const list = (await a.session.call('wamp.subscription.list')) as { exact: number[]; prefix: number[] };
    assert.ok(list.exact.includes(onA.id) && list.prefix.includes(pattern.id));
    assert.equal(list.exact.filter((x) => x === onA.id).length, 1, 'listed once');
    assert.equal(await wampError(a.session.call('wamp.subscription.get', [424242])), 'wamp.error.no_such_subscription');
    assert.equal(await wampError(a.session.call('wamp.subscription.count_subscribers', [424242])), 'wamp.error.no_such_subscription');
  });

  test('a node that does not answer a meta request in time is left out: the call answers after the timeout with the others', async () => {
    const a = await client(0, 'meta.realm');
    const b = await client(1, 'meta.realm');
    await until(async () => ((await a.session.call('wamp.session.list')) as number[]).includes(b.session.id), 'node a to list b');
    // A silent "node": it reports sessions of the realm (so it is expected to answer) and never answers.
    const silent = await natsConnect({ servers: nats.url });
    try {
      silent.publish(`cw.${natsToken('meta.realm')}.n`, msgpackSerializer.encode(['silent-conn', [['anonymous', 1]], false, 'silent-node']) as Uint8Array);
      await silent.flush();
      await until(async () => (await a.session.call('wamp.session.count')) === ((await a.session.call('wamp.session.list')) as number[]).length + 1, 'node a to count the silent node');
      const t0 = performance.now();
      const ids = (await a.session.call('wamp.session.list')) as number[];
      const ms = performance.now() - t0;
      assert.ok(ids.includes(a.session.id) && ids.includes(b.session.id), 'the nodes that answered are in');
      assert.ok(ms >= META_TIMEOUT_MS * 0.9 && ms < META_TIMEOUT_MS + 4000, `answered after the ${META_TIMEOUT_MS} ms timeout (took ${Math.round(ms)} ms)`);
    } finally {
      await silent.close();
    }
  });

  test('session, subscription and registration meta events from another node reach subscribers once', async () => {
    const a = await client(0, 'events.realm');
    const b = await client(1, 'events.realm');
    const got: { topic: string; args: unknown[] }[] = [];
    const box = new Inbox<{ topic: string; args: unknown[] }>();
    const topics = ['session.on_join', 'session.on_leave', 'subscription.on_create', 'subscription.on_subscribe', 'subscription.on_unsubscribe', 'subscription.on_delete'];
    topics.push('registration.on_create', 'registration.on_register', 'registration.on_unregister', 'registration.on_delete');
    for (const topic of topics) await a.session.subscribe(`wamp.${topic}`, (args) => box.push({ topic, args }));
    const p = `com.ev${++seq}`;
    await linked(b, p, [a]);
    box.items.length = 0; // the probe subscription's own meta events
    const c = await client(1, 'events.realm');
    const id = c.session.id;
    const s = await c.session.subscribe(`${p}.x`, () => undefined);
    await c.session.unsubscribe(s);
    const r = await c.session.register(`${p}.proc`, () => undefined);
    await c.session.unregister(r);
    await c.close();
    // One NATS connection carries node b's publications in order: once the marker is in, so are the meta events.
    const marker = await sub(a, `${p}.marker`);
    await linked(b, `${p}.m`, [a]);
    await b.session.publish(`${p}.marker`, ['end'], {}, { acknowledge: true });
    await marker.events.waitFor(1);
    got.push(...box.items.filter((e) => (e.topic === 'session.on_join' ? (e.args[0] as Dict).session === id : e.args[0] === id)));
    assert.deepEqual(
      got.map((e) => e.topic),
      [
        'session.on_join',
        'subscription.on_create',
        'subscription.on_subscribe',
        'subscription.on_unsubscribe',
        'subscription.on_delete',
        'registration.on_create',
        'registration.on_register',
        'registration.on_unregister',
        'registration.on_delete',
        'session.on_leave',
      ],
    );
    assert.equal((got[1]!.args[1] as Dict).uri, `${p}.x`);
    assert.equal(got[2]!.args[1], s.id);
    assert.equal((got[5]!.args[1] as Dict).uri, `${p}.proc`);
    assert.equal(got[6]!.args[1], r.id);
    assert.equal(got[8]!.args[1], r.id);
  });
});

describe('cluster link lost and back (real nats-server)', () => {
  // Last: it kills nats-server.
  test('NATS killed under traffic: /ready 503 with the reason, local delivery goes on; restarted: 200, reconnects counted, events cross again', async () => {
    const t = base();
    const a = await client(0);
    const a2 = await client(0);
    const b = await client(1);
    const local = await sub(a2, t);
    const remote = await sub(b, t);
    await linked(a, t, [b]);
    const before0 = (await scrape(nodes[0]!.http)).get('crosswire_cluster_reconnects_total', { worker: '0' });
    // Traffic all along: a publishes until told to stop (each publish acknowledged: bounded by round trips).
    let stop = false;
    let sent = 0;
    const traffic = (async () => {
      while (!stop && sent < 100_000) await a.session.publish(t, [`n${sent++}`], {}, { acknowledge: true });
    })();
    await local.events.waitFor(5);
    await killNats(nats);
    await until(async () => (await ready(0)).code === 503 && (await ready(1)).code === 503, '/ready 503 on both nodes');
    const down = await ready(0);
    assert.equal(down.body.status, 'cluster_unavailable');
    assert.match(down.body.reason ?? '', /^worker 0: NATS connection lost/);
    assert.equal((await scrape(nodes[0]!.http)).get('crosswire_cluster_connected', { worker: '0' }), 0);
    // The node keeps serving its own sessions.
    const n = local.events.items.length;
    await local.events.waitFor(n + 5);
    nats = await startNats({ port: nats.port, dir: nats.dir });
    await until(async () => (await ready(0)).code === 200 && (await ready(1)).code === 200, '/ready 200 again on both nodes', 20_000);
    stop = true;
    await traffic;
    assert.equal((await scrape(nodes[0]!.http)).get('crosswire_cluster_reconnects_total', { worker: '0' }), before0 + 1);
    // The subscription made before the restart is announced again: events cross again.
    await linked(a, t, [b]);
    const k = remote.events.items.length;
    await a.session.publish(t, ['after'], {}, { acknowledge: true });
    await remote.events.waitFor(k + 1);
    assert.equal(argsOf(remote.events).at(-1), 'after');
    assert.equal(argsOf(local.events).at(-1), 'after');
  });
});
