// The `nats` cookie store (docs/cluster.md): a cookie that logged in on one node is accepted by
// another (no sticky sessions), a logout on one node holds on the other. Two real routers, each
// with its own cookie tracking, joined through a real nats-server (JetStream key-value bucket).
//
// Needs Debian's nats-server (scripts/install-test-deps.sh installs it): without it this file FAILS.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildConfig } from '../../src/config/load.js';
import { type Nats, startNats, stopAllNats, until } from '../helpers/nats.js';
import { admitted, close, hello, ticketLogin } from '../helpers/cookies.js';
import { startRouter, type TestRouter } from '../helpers/router.js';

const ALL = [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true } }];
const REALMS = [{ name: 'realm1', roles: [{ name: 'user', permissions: ALL }] }];
const TICKET = { type: 'static', principals: { alice: { ticket: 'alice-secret', role: 'user' } } };

let nats: Nats;
const nodes: TestRouter[] = [];

before(async () => {
  nats = await startNats();
  for (const id of ['cookie_a', 'cookie_b']) {
    nodes.push(
      await startRouter({
        realms: REALMS,
        transport: { cookie: { store: { type: 'nats', bucket: 'test-cookies' } }, auth: { ticket: TICKET, cookie: {} } },
        crosswire: { realm_threads: 1, auth_fail_delay: 0, cluster: { nats: { servers: [nats.url] }, node_id: id } },
      }),
    );
  }
});

after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await stopAllNats();
});

describe('nats cookie store (real nats-server)', () => {
  test('a cookie that logged in by ticket on node a admits a connection to node b; a logout on b holds on a', async () => {
    const cbtid = await ticketLogin(nodes[0]!.url, 'alice-secret');
    // Node b learns the record through the bucket (asynchronously).
    const last = await admitted(nodes[1]!.url, cbtid, 'node b to admit the cookie');
    const d = last[2] as Record<string, unknown>;
    assert.deepEqual([d.authid, d.authrole, d.authmethod, d.authprovider], ['alice', 'user', 'ticket', 'cookie']);
    // Logout on node b.
    const out = await hello(nodes[1]!.url, cbtid, ['cookie']);
    assert.equal(out.reply[0], 2);
    out.peer.send([6, {}, 'wamp.close.logout']);
    await out.peer.next(6);
    await close(out.peer);
    await until(async () => {
      const h = await hello(nodes[0]!.url, cbtid, ['cookie']);
      await close(h.peer).catch(() => undefined);
      return h.reply[0] === 3 && h.reply[2] === 'wamp.error.no_matching_auth_method';
    }, 'node a to refuse the logged-out cookie');
  });

  test('a nats cookie store without crosswire.cluster.nats is refused, naming the key', () => {
    const config = {
      version: 2,
      workers: [
        {
          type: 'router',
          realms: REALMS,
          transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 8080 }, cookie: { store: { type: 'nats' } }, auth: { ticket: TICKET } }],
        },
      ],
    };
    assert.throws(() => buildConfig(config, {}), /workers\[0\]\.transports\[0\]\.cookie\.store\.type: a nats cookie store needs crosswire\.cluster\.nats\.servers/);
    const bad = structuredClone(config);
    (bad.workers[0]!.transports[0]!.cookie.store as Record<string, unknown>).filename = 'x';
    assert.throws(() => buildConfig({ ...bad, crosswire: { cluster: { nats: { servers: ['nats://127.0.0.1:4222'] } } } }, {}), /cookie\.store\.filename: not a key of a 'nats' cookie store/);
  });
});
