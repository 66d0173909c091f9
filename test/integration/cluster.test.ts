// One realm served by three Crosswire nodes joined through a real nats-server (docs/cluster.md):
// events cross nodes exactly once for exact, prefix and wildcard subscriptions, publish options
// hold across nodes. Each node is a real router (main thread, its own realm worker thread with its
// own NATS connection, uWS on 127.0.0.1).
//
// Needs Debian's nats-server (scripts/install-test-deps.sh installs it): without it this file FAILS.
// NATS_SERVER may name the binary; else nats-server on PATH, else Debian's /usr/sbin/nats-server.
import '../helpers/quiet.js'; // before 'autobahn'
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Client, connect, type SerializerName } from '../helpers/client.js';
import { scrape } from '../helpers/metrics.js';
import { argsOf, type Ev, freePort, linked, type Nats, startNats, stopAllNats, sub, until } from '../helpers/nats.js';
import { RawPeer } from '../helpers/raw.js';
import { ANONYMOUS_ALL, startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';

const ALLOW = { call: true, register: true, publish: true, subscribe: true };
const REALMS = [
  {
    name: 'realm1',
    roles: [
      {
        name: 'anonymous',
        permissions: [
          { uri: '', match: 'prefix', allow: ALLOW },
          { uri: 'com.cluster.disclosed.', match: 'prefix', allow: ALLOW, disclose: { publisher: true } },
        ],
      },
    ],
  },
  // Loose URIs: components NATS subjects cannot carry as they are.
  { name: 'loose.realm', roles: [ANONYMOUS_ALL], options: { uri_check: 'loose' } },
  { name: 'count.realm', roles: [ANONYMOUS_ALL] },
];

let nats: Nats | null = null;
const nodes: TestRouter[] = [];
const clients: Client[] = [];

before(async () => {
  nats = await startNats();
  for (const id of ['node_a', 'node_b', 'node_c']) {
    nodes.push(
      await startRouter({ realms: REALMS, crosswire: { realm_threads: 1, cluster: { nats: { servers: [nats.url] }, node_id: id } } }),
    );
  }
});

after(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await Promise.all(nodes.map((n) => n.stop()));
  await stopAllNats();
});

async function client(node: number, ser: SerializerName = 'json', realm = 'realm1'): Promise<Client> {
  const c = await connect(nodes[node]!.url, ser, realm);
  clients.push(c);
  return c;
}

let seq = 0;
const base = () => `com.cluster.t${++seq}`;

/**
 * Publishes a final marker to `topic` and waits until every inbox got it: with per-publisher order
 * kept, everything published before it has then arrived (so counts can be checked exactly).
 */
async function settle(publisher: Client, topic: string, inboxes: Inbox<Ev>[], marked: number[]): Promise<void> {
  await publisher.session.publish(topic, ['end'], {}, { acknowledge: true });
  await Promise.all(inboxes.map((x, i) => x.waitFor(marked[i]! + 1, 10_000)));
}

describe('cluster pub/sub across nodes (real nats-server)', () => {
  test('exact, prefix and wildcard subscriptions on other nodes get each event exactly once', async () => {
    const t = base();
    const a = await client(0);
    const b = await client(1, 'msgpack');
    const c = await client(2);
    const aExact = await sub(a, `${t}.a.b`);
    const bPrefix = await sub(b, `${t}.a`, { match: 'prefix' }); // a string prefix: also t.ab.b
    const bWild = await sub(b, `${t}..b`, { match: 'wildcard' });
    const bExact = await sub(b, `${t}.a.b`);
    const cPrefix = await sub(c, `${t}.`, { match: 'prefix' });
    await linked(a, t, [b, c]);
    for (let i = 0; i < 5; i++) {
      await a.session.publish(`${t}.a.b`, [`ab${i}`]);
      await a.session.publish(`${t}.ab.b`, [`abb${i}`]);
      await a.session.publish(`${t}.z.q`, [`zq${i}`]);
    }
    // The marker topic t.a.b reaches every subscription but cPrefix's last two topics too.
    await settle(a, `${t}.a.b`, [bPrefix.events, bWild.events, bExact.events, cPrefix.events], [10, 10, 5, 15]);
    const seqOf = (p: string) => [0, 1, 2, 3, 4].map((i) => `${p}${i}`);
    const inter = (...ps: string[]) => [0, 1, 2, 3, 4].flatMap((i) => ps.map((p) => `${p}${i}`));
    assert.deepEqual(argsOf(bExact.events), [...seqOf('ab'), 'end']);
    assert.deepEqual(argsOf(bPrefix.events), [...inter('ab', 'abb'), 'end']);
    assert.deepEqual(argsOf(bWild.events), [...inter('ab', 'abb'), 'end']);
    assert.deepEqual(argsOf(cPrefix.events), [...inter('ab', 'abb', 'zq'), 'end']);
    // Pattern subscriptions see the concrete topic; the publication id is the same on every node.
    assert.equal(bPrefix.events.items[1]!.details.topic, `${t}.ab.b`);
    assert.equal(cPrefix.events.items[2]!.details.topic, `${t}.z.q`);
    assert.equal(bExact.events.items[0]!.details.publication, cPrefix.events.items[0]!.details.publication);
    // The publisher's own node: its subscriber is excluded (exclude_me) and no copy came back through NATS.
    assert.equal(aExact.events.items.length, 0);
  });

  test('a subscriber on the publishing node gets the event once (exclude_me: false), not again from NATS', async () => {
    const t = base();
    const a = await client(0);
    const a2 = await client(0, 'msgpack');
    const b = await client(1);
    const mine = await sub(a, t);
    const local = await sub(a2, t);
    const remote = await sub(b, t);
    await linked(a, t, [b]);
    await a.session.publish(t, [1], {}, { exclude_me: false, acknowledge: true });
    await a.session.publish(t, [2], {}, { acknowledge: true });
    await settle(a, t, [local.events, remote.events], [2, 2]);
    assert.deepEqual(argsOf(mine.events), [1]);
    assert.deepEqual(argsOf(local.events), [1, 2, 'end']);
    assert.deepEqual(argsOf(remote.events), [1, 2, 'end']);
  });

  test('exclude / eligible by session id, authid and authrole hold for subscribers on other nodes', async () => {
    const t = base();
    const a = await client(0);
    const b1 = await client(1);
    const b2 = await client(1, 'msgpack');
    const c1 = await client(2);
    const [x1, x2, y1] = [await sub(b1, t), await sub(b2, t), await sub(c1, t)];
    await linked(a, t, [b1, b2, c1]);
    const id = (c: Client) => c.session.id;
    await a.session.publish(t, ['ex-b1'], {}, { exclude: [id(b1)] });
    await a.session.publish(t, ['el-b1'], {}, { eligible: [id(b1)] });
    await a.session.publish(t, ['el-b2-c1'], {}, { eligible: [id(b2), id(c1)], exclude: [id(c1)] });
    await a.session.publish(t, ['authid-c1'], {}, { eligible_authid: [c1.details.authid as string] });
    await a.session.publish(t, ['no-authid-b2'], {}, { exclude_authid: [b2.details.authid as string] });
    await a.session.publish(t, ['authrole'], {}, { exclude_authrole: ['anonymous'] });
    await a.session.publish(t, ['authrole2'], {}, { eligible_authrole: ['anonymous'], exclude: [id(b2)] });
    await settle(a, t, [x1.events, x2.events, y1.events], [3, 2, 4]).catch((e) => {
      throw new Error(`${String(e)}: ${JSON.stringify([x1, x2, y1].map((x) => argsOf(x.events)))}`);
    });
    assert.deepEqual(argsOf(x1.events), ['el-b1', 'no-authid-b2', 'authrole2', 'end']);
    assert.deepEqual(argsOf(x2.events), ['ex-b1', 'el-b2-c1', 'end']);
    assert.deepEqual(argsOf(y1.events), ['ex-b1', 'authid-c1', 'no-authid-b2', 'authrole2', 'end']);
  });

  test('publisher disclosure (by role) and acknowledge: details and publication ids across nodes', async () => {
    const t = base();
    const d = `com.cluster.disclosed.t${seq}`;
    const a = await client(0);
    const b = await client(1, 'msgpack');
    const plain = await sub(b, t);
    const disclosed = await sub(b, d);
    await linked(a, t, [b]);
    await linked(a, d, [b]);
    const p1 = await a.session.publish(d, ['who'], {}, { acknowledge: true });
    const p2 = await a.session.publish(t, ['anon'], {}, { acknowledge: true, disclose_me: true });
    const [e1] = await disclosed.events.waitFor(1);
    const [e2] = await plain.events.waitFor(1);
    assert.equal(e1!.details.publication, p1!.id);
    assert.equal(e1!.details.publisher, a.session.id);
    assert.equal((e1!.details as unknown as Record<string, unknown>).publisher_authid, a.details.authid);
    assert.equal((e1!.details as unknown as Record<string, unknown>).publisher_authrole, 'anonymous');
    // As on one node: the role decides, not disclose_me.
    assert.equal(e2!.details.publication, p2!.id);
    assert.equal(e2!.details.publisher, undefined);
  });

  test('payloads cross nodes and serializers verbatim (json ↔ msgpack)', async () => {
    const t = base();
    const aj = await client(0, 'json');
    const am = await client(0, 'msgpack');
    const bj = await client(1, 'json');
    const bm = await client(2, 'msgpack');
    const [j, m] = [await sub(bj, t), await sub(bm, t)];
    await linked(aj, t, [bj, bm]);
    const args = ['x', 1, 2 ** 40, -(2 ** 52), 1.5, null, true, { n: null, deep: [1, [2, { k: 'ü' }]] }, 'emoji 🚀'];
    const kwargs = { k: 'v', big: 2 ** 53, list: [] };
    await aj.session.publish(t, args, kwargs);
    await am.session.publish(t, args, kwargs, { exclude_me: false });
    const ej = await j.events.waitFor(2);
    const em = await m.events.waitFor(2);
    for (const e of [...ej, ...em]) {
      assert.deepEqual(e.args, args);
      assert.deepEqual(e.kwargs, kwargs);
    }
  });

  test('topics NATS cannot carry as they are (loose URIs, very long topics) cross nodes', async () => {
    const a = await client(0, 'json', 'loose.realm');
    const b = await client(1, 'msgpack', 'loose.realm');
    const t = `odd${++seq}`;
    const weird = `${t}.*.>.ü-x.a~b`;
    const long = `${t}.${'x'.repeat(1500)}.end`;
    const exact = await sub(b, weird);
    const wild = await sub(b, `${t}..>.ü-x.`, { match: 'wildcard' }); // empty components: any; `>` is a component here
    const longExact = await sub(b, long);
    const longPrefix = await sub(b, `${t}.xxx`, { match: 'prefix' });
    await linked(a, t, [b]);
    await a.session.publish(weird, ['weird']);
    await a.session.publish(`${t}.q.>.ü-x.r`, ['wild-only']);
    await a.session.publish(`${t}.q.x.ü-x.r`, ['none']); // '>' is no NATS wildcard here
    await a.session.publish(long, ['long']);
    await settle(a, weird, [exact.events, wild.events], [1, 2]);
    await longPrefix.events.waitFor(1);
    assert.deepEqual(argsOf(exact.events), ['weird', 'end']);
    assert.deepEqual(argsOf(wild.events), ['weird', 'wild-only', 'end']);
    await longExact.events.waitFor(1);
    assert.deepEqual(argsOf(longExact.events), ["long"]);
    assert.deepEqual(argsOf(longPrefix.events), ['long']);
  });

  test('an unsubscribed topic stops crossing; the other subscriptions of the node keep theirs, also for the events in flight meanwhile', async () => {
    const t = base();
    const a = await client(0);
    const b = await client(1);
    const keep = await sub(b, `${t}.`, { match: 'prefix' });
    const gone = new Inbox<Ev>();
    let unsubscribed: Promise<unknown> | null = null;
    const s = await b.session.subscribe(`${t}.x`, (args, kwargs, details) => {
      gone.push({ args, kwargs: kwargs ?? {}, details });
      // Unsubscribed in the middle of a stream of events to t.x: some are on their way to B then.
      if (args?.[0] === 20) unsubscribed = b.session.unsubscribe(s);
    });
    await linked(a, t, [b]);
    await a.session.publish(`${t}.x`, ['before']);
    await gone.waitFor(1);
    // NATS hands each event to one of B's matching NATS subscriptions (one queue group per node, so
    // that B gets it once): an event on its way to the subscription of t.x when B drops it must still
    // reach B's other subscriptions.
    const n = 200;
    for (let i = 0; i < n; i++) await a.session.publish(`${t}.x`, [i], {}, { acknowledge: true });
    await settle(a, `${t}.x`, [keep.events], [n + 1]).catch((e) => {
      const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !argsOf(keep.events).includes(i));
      throw new Error(`${String(e)}: the prefix subscription missed ${missing.length} of the ${n} events: ${missing.join(', ')}`);
    });
    assert.notEqual(unsubscribed, null);
    await unsubscribed;
    assert.deepEqual(argsOf(keep.events), ['before', ...Array.from({ length: n }, (_, i) => i), 'end']);
    // The unsubscribed one got the events up to its UNSUBSCRIBED (WAMP: none after), in order.
    const got = argsOf(gone);
    assert.deepEqual(got, ['before', ...Array.from({ length: got.length - 1 }, (_, i) => i)]);
    assert.ok(got.length >= 22 && got.length < n + 1, `t.x got ${got.length - 1} events`);
  });

  test('wamp.session.count counts the sessions of every node, also filtered by authrole', async () => {
    const cs = [
      await client(0, 'json', 'count.realm'),
      await client(1, 'msgpack', 'count.realm'),
      await client(1, 'json', 'count.realm'),
      await client(2, 'json', 'count.realm'),
    ];
    const count = async (c: Client, roles?: string[]) => (await c.session.call('wamp.session.count', roles === undefined ? [] : [roles])) as number;
    let last: number[] = [];
    const all = async (n: number, on = [cs[0]!, cs[1]!, cs[3]!]) => {
      last = await Promise.all(on.map((c) => count(c)));
      return last.every((x) => x === n);
    };
    await until(() => all(4), 'every node to count 4 sessions').catch((e) => {
      throw new Error(`${String(e)}: last counts ${JSON.stringify(last)}`);
    });
    assert.equal(await count(cs[2]!, ['anonymous']), 4);
    assert.equal(await count(cs[2]!, ['nobody']), 0);
    await cs[3]!.close();
    await until(() => all(3, [cs[0]!, cs[1]!]), 'the other nodes to count 3 sessions after one left');
  });

  test('crosswire_cluster_connected is 1 on a cluster node, absent on a single node', async () => {
    await until(async () => (await scrape(nodes[1]!.http)).get('crosswire_cluster_connected', { worker: '0' }) === 1, 'crosswire_cluster_connected 1');
    const single = await startRouter({ crosswire: { realm_threads: 1 } });
    try {
      let m = await scrape(single.http);
      await until(async () => (m = await scrape(single.http)).has('crosswire_worker_heap_used_bytes'), 'the worker to report its stats');
      assert.equal(m.has('crosswire_cluster_connected'), false);
    } finally {
      await single.stop();
    }
  });

  test("an event over NATS's max_payload stays on its node: local subscribers get it, the publisher its PUBLISHED, later events cross", async () => {
    const t = base();
    const a = await client(0);
    const a2 = await client(0);
    const b = await client(1);
    const local = await sub(a2, t);
    const remote = await sub(b, t);
    await linked(a, t, [b]);
    const big = 'x'.repeat(1536 * 1024); // nats-server's default max_payload is 1 MiB
    const p = await a.session.publish(t, [big], {}, { acknowledge: true });
    assert.ok(p !== undefined && Number.isInteger(p.id));
    await a.session.publish(t, ['small'], {}, { acknowledge: true });
    await settle(a, t, [local.events, remote.events], [2, 1]);
    assert.deepEqual(local.events.items.map((e) => (e.args[0] as string).length), [big.length, 5, 3]);
    assert.deepEqual(argsOf(remote.events), ['small', 'end']);
  });

  test('payload passthru across nodes: ppt_* details and the binary payload untouched, only to subscribers that announced it', async () => {
    const ppt = { features: { payload_passthru_mode: true } };
    const P = await RawPeer.open(nodes[0]!.url, 'msgpack');
    const S = await RawPeer.open(nodes[1]!.url, 'msgpack');
    const plain = await RawPeer.open(nodes[2]!.url, 'json');
    try {
      await P.join('realm1', { roles: { publisher: ppt } });
      await S.join('realm1', { roles: { subscriber: ppt } });
      await plain.join('realm1', { roles: { subscriber: {} } });
      const n = base();
      const subscribe = async (p: RawPeer, req: number, topic: string) => {
        p.send([32, req, {}, topic]);
        return (await p.next(33))[2] as number;
      };
      const sId = await subscribe(S, 1, n);
      const plainId = await subscribe(plain, 1, n);
      await subscribe(S, 2, `${n}.probe`);
      await subscribe(plain, 2, `${n}.probe`);
      // Linked when a probe reached both (see linked()).
      let ok = false;
      for (let i = 0; i < 100 && !ok; i++) {
        P.send([16, 100 + i, { acknowledge: true }, `${n}.probe`, [i]]);
        await P.next(17);
        ok = (await Promise.all([S, plain].map((p) => p.next(36, 100).then(() => true, () => false)))).every(Boolean);
      }
      assert.ok(ok, 'the nodes linked');
      // The next EVENT for subscription `id` (late probes are skipped).
      const on = async (p: RawPeer, id: number) => {
        for (let i = 0; i < 200; i++) {
          const m = await p.next(36);
          if (m[1] === id) return m;
        }
        throw new Error(`no EVENT for subscription ${id}`);
      };
      const bytes = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f, 0x01, 0x02]);
      const opts = { ppt_scheme: 'x_test', ppt_serializer: 'cbor', ppt_cipher: 'xsalsa20poly1305', ppt_keyid: 'key-1' };
      P.send([16, 1, { acknowledge: true, ...opts }, n, [bytes]]);
      const [, , pid] = await P.next(17);
      P.send([16, 2, { acknowledge: true }, n, ['marker']]);
      await P.next(17);
      const ev = await on(S, sId);
      assert.deepEqual(ev.slice(0, 4), [36, sId, pid, opts]);
      assert.deepEqual(Buffer.from((ev[4] as Uint8Array[])[0]!), bytes);
      assert.deepEqual((await on(S, sId))[4], ['marker']);
      const first = (await on(plain, plainId)).filter((_, i) => i !== 2);
      assert.deepEqual(first, [36, plainId, {}, ['marker']]);
    } finally {
      for (const p of [P, S, plain]) p.close();
    }
  });

  test('NATS user and password from the environment ("${VAR}") reach a NATS server that requires them', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'crosswire-nats-'));
    const secured = await startNats({ port, dir }, ['--user', 'crosswire', '--pass', 'n4ts-s3cret']);
    const node = await startRouter({
      crosswire: { realm_threads: 1, cluster: { nats: { servers: [secured.url], user: 'crosswire', password: '${TEST_NATS_PASSWORD}' } } },
      env: { TEST_NATS_PASSWORD: 'n4ts-s3cret' },
    });
    try {
      await until(async () => (await scrape(node.http)).get('crosswire_cluster_connected', { worker: '0' }) === 1, 'the node to connect with its credentials');
    } finally {
      await node.stop();
      const exited = new Promise((r) => secured.child.once('exit', r));
      secured.child.kill('SIGTERM');
      await within(exited, 10_000, 'the secured nats-server to exit');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Last: it restarts nats-server.
  test('NATS restarting: nodes serve their own sessions meanwhile, report it, reconnect and carry events again', async () => {
    const t = base();
    const a = await client(0);
    const a2 = await client(0, 'msgpack');
    const b = await client(1);
    const local = await sub(a2, t);
    const remote = await sub(b, t);
    await linked(a, t, [b]);
    const connected = async (node: number) => (await scrape(nodes[node]!.http)).get('crosswire_cluster_connected', { worker: '0' });
    const old = nats!;
    const exited = new Promise((r) => old.child.once('exit', r));
    old.child.kill('SIGKILL');
    await within(exited, 10_000, 'nats-server to die');
    nats = null;
    await until(async () => (await connected(0)) === 0 && (await connected(1)) === 0, 'crosswire_cluster_connected 0 on both nodes');
    await a.session.publish(t, ['local-only'], {}, { acknowledge: true });
    await local.events.waitFor(1);
    assert.deepEqual(argsOf(local.events), ['local-only']);
    nats = await startNats({ port: Number(new URL(old.url).port), dir: old.dir });
    await until(async () => (await connected(0)) === 1 && (await connected(1)) === 1, 'crosswire_cluster_connected 1 again', 20_000);
    // The subscription made before the restart is announced again by the reconnecting node.
    await linked(a, t, [b]);
    const before = remote.events.items.length; // 'local-only' may have been sent on reconnection, or not
    await a.session.publish(t, ['after-restart']);
    await settle(a, t, [remote.events], [before + 1]);
    assert.deepEqual(argsOf(remote.events).slice(before), ['after-restart', 'end']);
  });
});
