// wamp.session.on_stats (realm `stats`, test/integration/session-stats.test.ts) across the nodes of
// a cluster (docs/cluster.md): published like on_join, so it reaches subscribers on other nodes.
//
// Needs Debian's nats-server (scripts/install-test-deps.sh installs it): without it this file FAILS.
import '../helpers/quiet.js'; // before 'autobahn'
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestCluster } from '../helpers/cluster.js';
import { linked, sub } from '../helpers/nats.js';
import { ANONYMOUS_ALL } from '../helpers/router.js';

type Dict = Record<string, unknown>;

let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start({
    realms: [{ name: 'realm1', roles: [ANONYMOUS_ALL], stats: { trigger_after_rated_messages: 1000, trigger_on_join: true } }],
    inProcess: ['stats_a', 'stats_b'],
  });
});
after(async () => {
  await cluster.stop();
});

describe('wamp.session.on_stats in a cluster (real nats-server, two nodes)', () => {
  test("a session's join and leave statistics reach a subscriber on another node", async () => {
    const obs = await cluster.client(0);
    const { events } = await sub(obs, 'wamp.session.on_stats');
    await linked(await cluster.client(1), 'com.stats', [obs]);
    const { peer, id } = await cluster.raw(1, 'json');
    // This session's events among all (the observers' own too): waits (5 s per event) until there are k.
    const mine = async (k: number) => {
      for (;;) {
        const got = events.items.filter((e) => (e.args[0] as Dict).session === id);
        if (got.length >= k) return got;
        await events.waitFor(events.items.length + 1);
      }
    };
    let got = await mine(1);
    assert.deepEqual(got[0]!.args[0], { realm: 'realm1', session: id, authid: (got[0]!.args[0] as Dict).authid, authrole: 'anonymous' });
    assert.equal((got[0]!.args[1] as Dict).first, true);
    peer.send([6, {}, 'wamp.close.normal']);
    await peer.next(6);
    got = await mine(2);
    const last = got[1]!.args[1] as Dict;
    assert.equal(last.last, true);
    assert.equal(last.messages, 2, 'GOODBYE in, GOODBYE out');
  });
});
