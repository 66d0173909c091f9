// The wire of direct messages between cluster nodes (workers/cluster/wire.ts, docs/cluster.md
// "Registrations and calls"): what a node sends to one member in one event-loop turn travels as one
// NATS message ['B', from, message, …], intact from the node's very first direct message on, in
// the order it was sent; and a node takes such batches in. A raw NATS client plays a member of the
// cluster (heartbeats, a callee announced on the realm's subject, answers in a batch) against a
// real router node.
//
// Needs Debian's nats-server (scripts/install-test-deps.sh installs it): without it this file FAILS.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect as natsConnect, type NatsConnection } from 'nats';
import { msgpackSerializer } from '../../src/shared/serializers/msgpack.js';
import { type Nats, startNats, stopAllNats, until } from '../helpers/nats.js';
import { RawPeer } from '../helpers/raw.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox } from '../helpers/wait.js';

const ALLOW = { call: true, register: true, publish: true, subscribe: true };
const REALMS = [{ name: 'realm1', roles: [{ name: 'anonymous', permissions: [{ uri: '', match: 'prefix', allow: ALLOW }] }] }];
const PROBE = 'cw_wireprobe';

let nats: Nats;
let node: TestRouter;
let nc: NatsConnection;
/** The node's member id (its heartbeats). */
let member = '';
/** Every NATS message to the probe's direct subject, decoded. */
const batches = new Inbox<unknown[]>();

before(async () => {
  nats = await startNats();
  node = await startRouter({ realms: REALMS, crosswire: { realm_threads: 1, cluster: { nats: { servers: [nats.url] }, node_id: 'wire_a' } } });
  nc = await natsConnect({ servers: nats.url });
  nc.subscribe(`cwx.d.${PROBE}`, { callback: (_e, m) => batches.push(msgpackSerializer.decode(m.data) as unknown[]) });
  const hb = nc.subscribe('cwx.hb', {
    callback: (_e, m) => {
      const [, id] = msgpackSerializer.decode(m.data) as string[];
      member = id!;
    },
  });
  await until(async () => {
    await nc.flush();
    return member !== '';
  }, 'the heartbeat of the node');
  hb.unsubscribe();
});

after(async () => {
  await nc?.close();
  await node?.stop();
  await stopAllNats();
});

/** The messages of a batch, checked to be one. */
function records(batch: unknown[]): unknown[][] {
  assert.equal(batch[0], 'B', `a batch: ${JSON.stringify(batch).slice(0, 300)}`);
  assert.equal(batch[1], member);
  for (const r of batch.slice(2)) assert.ok(Array.isArray(r), `a message: ${JSON.stringify(r)}`);
  return batch.slice(2) as unknown[][];
}

describe('direct messages between nodes travel in batches', () => {
  test("a node's first direct messages (its snapshots for a member it hears first) arrive intact, in one batch", async () => {
    // The probe says it is alive: the node sends it its callees and its sessions (asking for the probe's).
    nc.publish('cwx.hb', msgpackSerializer.encode(['h', PROBE, 'probe']));
    const [first] = await batches.waitFor(1, 10_000);
    const kinds = records(first!).map((r) => {
      assert.equal(r[1], member, `from the node: ${JSON.stringify(r)}`);
      assert.equal(r[2], 'realm1');
      assert.equal(r[3], true, 'asks for the probe’s own');
      assert.ok(Array.isArray(r[4]));
      return r[0];
    });
    assert.deepEqual(kinds.sort(), ['s', 'w'], 'the directory snapshot and the sessions snapshot, both in the first NATS message');
  });

  test('the invocations of one turn to a callee on another node: one batch, in order; the answers come back in a batch', async () => {
    const p = 'com.wire.echo';
    const calleeId = 4242;
    // The probe announces a callee (the directory entry of workers/cluster/rpc.ts).
    nc.publish('cw.realm1.rpc', msgpackSerializer.encode(['a', PROBE, 'realm1', [calleeId, p, 'exact', 'single', Date.now(), 1, false, false, 'probe', 'anonymous', {}]]));
    const caller = await RawPeer.open(`${node.url}`, 'json');
    try {
      await caller.join('realm1');
      // Routed once the node has taken the announcement in (its registration meta API knows it).
      let id = 0;
      let regId: unknown = null;
      await until(async () => {
        caller.send([48, ++id, {}, 'wamp.registration.lookup', [p]]);
        const m = await caller.next(50, 10_000);
        regId = (m[3] as unknown[])[0];
        return typeof regId === 'number';
      }, 'the callee on the probe to be known');
      const N = 20;
      const first = id + 1;
      for (let k = 0; k < N; k++) caller.send([48, ++id, {}, p, [k]]);
      const invocations: unknown[][] = [];
      let messages = 0;
      await until(async () => {
        await nc.flush(); // a round trip to NATS: what it had for the probe has arrived
        invocations.length = 0;
        messages = 0;
        for (const b of batches.items) {
          const rs = records(b).filter((r) => r[0] === 'i');
          if (rs.length > 0) messages++;
          invocations.push(...rs);
        }
        return invocations.length >= N;
      }, `${N} invocations at the probe`);
      // A JSON caller's payload travels once, as its JSON text: [INVOCATION head], tail, element count.
      for (const r of invocations) assert.equal((r[4] as unknown[]).length, 4, JSON.stringify(r));
      assert.deepEqual(invocations.map((r) => [r[5], r[6]]), Array.from({ length: N }, (_, k) => [`[${k}]`, 1]), 'in the order of the CALLs');
      // The registration travels as the INVOCATION's id (the same on every node).
      for (const r of invocations) assert.deepEqual([r[3], (r[4] as unknown[])[2]], [calleeId, regId]);
      assert.ok(messages < N, `${N} calls sent together took ${messages} NATS messages (one per call without batching)`);
      // All answers in one batch from the probe: every caller gets its own RESULT, in order. Even
      // ones carry their payload as values, odd ones as JSON text (head, tail, element count).
      const answers = invocations.map((r, k) =>
        k % 2 === 0
          ? ['r', PROBE, 'realm1', calleeId, [50, (r[4] as unknown[])[1], {}, [`echo ${k}`]], null]
          : ['r', PROBE, 'realm1', calleeId, [50, (r[4] as unknown[])[1], {}], `["echo ${k}"]`, 1],
      );
      nc.publish(`cwx.d.${member}`, msgpackSerializer.encode(['B', PROBE, ...answers]));
      const results: unknown[][] = [];
      for (let k = 0; k < N; k++) results.push(await caller.next(50, 10_000));
      assert.deepEqual(
        results.map((m) => [m[1], (m[3] as unknown[])[0]]),
        Array.from({ length: N }, (_, k) => [first + k, `echo ${k}`]),
      );
    } finally {
      caller.close();
    }
  });
});
