// The `nats` cookie store (docs/cluster.md): a cookie that logged in on one node is accepted by
// another (no sticky sessions), a logout on one node holds on the other. Two real routers, each
// with its own cookie tracking, joined through a real nats-server (JetStream key-value bucket).
//
// Needs Debian's nats-server (scripts/install-test-deps.sh installs it): without it this file FAILS.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { buildConfig } from '../../src/config/load.js';
import { type Nats, startNats, stopAllNats, until } from '../helpers/nats.js';
import { RawPeer } from '../helpers/raw.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { within } from '../helpers/wait.js';

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

/** A raw JSON peer presenting `cookie` if given; the cookie id it is tracked with. */
async function open(url: string, cookie?: string): Promise<{ peer: RawPeer; cbtid: string | null }> {
  const peer = new RawPeer(url, 'json', cookie === undefined ? {} : { headers: { Cookie: `cbtid=${cookie}` } });
  const upgrade = new Promise<IncomingMessage>((resolve) => peer.ws.once('upgrade', resolve));
  await within(peer.opened, 5000, 'the WebSocket to open');
  const m = /^cbtid=([^;]+);/.exec((await upgrade).headers['set-cookie']?.[0] ?? '');
  return { peer, cbtid: m?.[1] ?? cookie ?? null };
}

async function hello(url: string, cookie: string, authmethods: string[]): Promise<{ peer: RawPeer; reply: unknown[]; setCookie: boolean }> {
  const { peer, cbtid } = await open(url, cookie);
  peer.send([1, 'realm1', { roles: { caller: {} }, authmethods, authid: 'alice' }]);
  return { peer, reply: await peer.nextOf([2, 3, 4]), setCookie: cbtid !== cookie };
}

async function close(peer: RawPeer): Promise<void> {
  peer.ws.close();
  await within(peer.closed, 5000, 'close');
}

describe('nats cookie store (real nats-server)', () => {
  test('a cookie that logged in by ticket on node a admits a connection to node b; a logout on b holds on a', async () => {
    const { peer, cbtid } = await open(nodes[0]!.url);
    peer.send([1, 'realm1', { roles: { caller: {} }, authmethods: ['ticket'], authid: 'alice' }]);
    assert.equal((await peer.next(4))[1], 'ticket');
    peer.send([5, 'alice-secret', {}]);
    assert.equal((await peer.nextOf([2, 3]))[0], 2);
    await close(peer);
    // Node b learns the record through the bucket (asynchronously): bounded retries.
    let last: unknown[] = [];
    await until(async () => {
      const h = await hello(nodes[1]!.url, cbtid!, ['cookie']);
      last = h.reply;
      await close(h.peer);
      return h.reply[0] === 2 && !h.setCookie;
    }, 'node b to admit the cookie').catch((e) => {
      throw new Error(`${String(e)}: last ${JSON.stringify(last)}`);
    });
    const d = last[2] as Record<string, unknown>;
    assert.deepEqual([d.authid, d.authrole, d.authmethod, d.authprovider], ['alice', 'user', 'ticket', 'cookie']);
    // Logout on node b.
    const out = await hello(nodes[1]!.url, cbtid!, ['cookie']);
    assert.equal(out.reply[0], 2);
    out.peer.send([6, {}, 'wamp.close.logout']);
    await out.peer.next(6);
    await close(out.peer);
    await until(async () => {
      const h = await hello(nodes[0]!.url, cbtid!, ['cookie']);
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
