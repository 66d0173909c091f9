// A dynamic authorizer in a cluster (docs/cluster.md, "Authorization"): the procedure may be
// registered on any node; each node asks it for its own sessions and caches the answers for
// `authorizer-cache-ttl`, so a decision the authorizer takes back stops being used on every node
// within that time. Two nodes in this process joined through a real nats-server.
//
// Needs Debian's nats-server (scripts/install-test-deps.sh installs it): without it this file FAILS.
import '../helpers/quiet.js'; // before 'autobahn'
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '../helpers/client.js';
import { type ClusterNode, TestCluster } from '../helpers/cluster.js';
import { until } from '../helpers/nats.js';

const TTL = 1500;
const ALL = { call: true, register: true, publish: true, subscribe: true };
const REALMS = [
  {
    name: 'realm1',
    roles: [
      { name: 'service', permissions: [{ uri: '', match: 'prefix', allow: ALL }] },
      { name: 'dyn', authorizer: 'com.authz.decide', 'authorizer-cache-ttl': TTL },
    ],
  },
];
const TRANSPORT = {
  auth: {
    ticket: {
      type: 'static',
      principals: { svc: { ticket: 'svc-ticket', role: 'service' }, user: { ticket: 'user-ticket', role: 'dyn' } },
    },
  },
};

let cluster: TestCluster;
let A: ClusterNode;
let B: ClusterNode;

before(async () => {
  cluster = await TestCluster.start({ realms: REALMS, inProcess: ['authz_a', 'authz_b'], transport: TRANSPORT });
  [A, B] = cluster.nodes as [ClusterNode, ClusterNode];
});

after(async () => {
  await cluster.stop();
});

const login = (node: ClusterNode, authid: 'svc' | 'user'): Promise<Client> =>
  cluster.client(node, 'json', 'realm1', { authmethods: ['ticket'], authid, onchallenge: () => `${authid}-ticket`, on_user_error: () => {} });

type Asked = { session: Record<string, unknown>; uri: string; action: string };

describe('a dynamic authorizer across nodes', () => {
  test('registered on node B, it decides for the sessions of node A; a decision it takes back is not used on A longer than authorizer-cache-ttl', async (t) => {
    const service = await login(B, 'svc');
    const asked: Asked[] = [];
    let allow = true;
    await service.session.register('com.authz.decide', (args) => {
      const [session, uri, action] = args as [Record<string, unknown>, string, string];
      asked.push({ session, uri, action });
      return { allow, cache: true };
    });
    await service.session.register('com.authz.echo', (args) => args?.[0]);
    const watcher = await login(A, 'svc');
    await until(async () => (await watcher.session.call('wamp.registration.lookup', ['com.authz.decide'])) !== null, "node A to route to B's authorizer");
    await until(async () => (await watcher.session.call('wamp.registration.lookup', ['com.authz.echo'])) !== null, "node A to route to B's echo");

    const user = await login(A, 'user');
    assert.equal(user.details.authrole, 'dyn');
    assert.equal(await user.session.call('com.authz.echo', [1]), 1);
    assert.equal(asked.length, 1);
    assert.deepEqual([asked[0]!.uri, asked[0]!.action, asked[0]!.session.session, asked[0]!.session.authrole], ['com.authz.echo', 'call', user.session.id, 'dyn']);
    // Within the TTL node A uses its cached decision: the authorizer is not asked again.
    for (let i = 2; i <= 4; i++) assert.equal(await user.session.call('com.authz.echo', [i]), i);
    assert.equal(asked.length, 1, 'calls within the TTL use the cached decision');

    // The authorizer takes it back: node A refuses once its cached decision is older than the TTL.
    allow = false;
    const t0 = Date.now();
    let refused: { error?: string } | null = null;
    for (let i = 0; i < 50_000 && refused === null && Date.now() - t0 < 10_000; i++) {
      try {
        await user.session.call('com.authz.echo', [i]);
      } catch (e) {
        refused = e as { error?: string };
      }
    }
    const ms = Date.now() - t0;
    t.diagnostic(`refused ${ms} ms after the authorizer changed its answer (TTL ${TTL} ms); authorizer asked ${asked.length} times`);
    assert.ok(refused !== null, 'the call was refused once the decision was taken back');
    assert.equal(refused.error, 'wamp.error.not_authorized');
    // The cached decision was made before t0, so it expired at most TTL after it (a margin for a loaded machine).
    assert.ok(ms < TTL + 1000, `node A used the taken-back decision for ${ms} ms (TTL ${TTL} ms)`);
    assert.equal(asked.length, 2, 'asked again once, when the cached decision expired');
    assert.equal(asked[1]!.session.session, user.session.id);
  });
});
