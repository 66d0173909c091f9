// JSON payload pass-through (src/shared/wamp/json-tail.ts) through the router's other paths, with
// AutobahnJS JSON peers and payloads large enough (≥ 256 characters per frame) to carry their JSON
// text: a dynamic authenticator's RESULT read by the router itself, a dynamic authorizer holding
// the CALL it decides (and the one queued behind it), progressive results, event history read
// back through the meta API, and a testament published to a msgpack subscriber.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import autobahn from 'autobahn';
import { type Client, connect } from '../helpers/client.js';
import { RawPeer } from '../helpers/raw.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';

type Dict = Record<string, unknown>;
const ALL = { call: true, register: true, publish: true, subscribe: true };
const BIG = `${'é'.repeat(200)}${'x'.repeat(300)}"\\`;
const BIG_KW = { blob: BIG, n: 2 ** 53 - 1, nested: [1.5, null, true, { deep: BIG.slice(0, 50) }] };

let r: TestRouter;
const clients: Client[] = [];
const json = async (realm = 'realm1', extra: Dict = {}): Promise<Client> => {
  const c = await connect(r.url, 'json', realm, extra);
  clients.push(c);
  return c;
};

before(async () => {
  r = await startRouter({
    realms: [
      {
        name: 'realm1',
        roles: [
          { name: 'user', permissions: [{ uri: '', match: 'prefix', allow: ALL }] },
          { name: 'dyn', authorizer: 'com.example.authorize' },
        ],
        store: { type: 'memory', 'event-history': [{ uri: 'com.example.hist', limit: 5 }] },
      },
      { name: 'authrealm', roles: [{ name: 'user', permissions: [{ uri: '', match: 'prefix', allow: ALL }] }] },
    ],
    transport: {
      auth: {
        anonymous: { type: 'static', role: 'user' },
        ticket: { type: 'dynamic', authenticator: 'com.example.authenticate', 'authenticator-realm': 'authrealm' },
      },
    },
  });
  const backend = await json('authrealm');
  await backend.session.register('com.example.authenticate', (args) => {
    const authid = (args as [string, string])[1];
    return { role: authid === 'dyn' ? 'dyn' : 'user', extra: { greeting: BIG, kw: BIG_KW } };
  });
  const service = await json();
  await service.session.register('com.example.authorize', (args) => {
    const [, uri] = args as [Dict, string, string];
    return { allow: uri !== 'com.example.denied', cache: false };
  });
});
after(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await r.stop();
});

describe('JSON pass-through across router paths', () => {
  test("a dynamic authenticator's large RESULT is read by the router (WELCOME authextra)", async () => {
    const c = await json('realm1', { authmethods: ['ticket'], authid: 'dora', onchallenge: () => 'secret' });
    assert.deepEqual(c.details.authextra, { greeting: BIG, kw: BIG_KW });
    assert.equal(c.details.authrole, 'user');
  });

  test('a dynamic authorizer holds a large CALL and the next one; both reach the callee intact', async () => {
    const callee = await json();
    const seen: unknown[] = [];
    await callee.session.register('com.example.echo', (args, kwargs) => {
      seen.push([args, kwargs]);
      return new autobahn.Result(args, kwargs);
    });
    const caller = await json('realm1', { authmethods: ['ticket'], authid: 'dyn', onchallenge: () => 'secret' });
    assert.equal(caller.details.authrole, 'dyn');
    const [a, b, denied] = await Promise.allSettled([
      caller.session.call('com.example.echo', [BIG, 1], BIG_KW),
      caller.session.call('com.example.echo', [2, BIG], { x: BIG }),
      caller.session.call('com.example.denied', [BIG]),
    ]);
    assert.equal(a.status, 'fulfilled');
    assert.equal(b.status, 'fulfilled');
    const ra = (a as PromiseFulfilledResult<{ args: unknown[]; kwargs: Dict }>).value;
    const rb = (b as PromiseFulfilledResult<{ args: unknown[]; kwargs: Dict }>).value;
    assert.deepEqual([ra.args, ra.kwargs], [[BIG, 1], BIG_KW]);
    assert.deepEqual([rb.args, rb.kwargs], [[2, BIG], { x: BIG }]);
    assert.deepEqual(seen, [[[BIG, 1], BIG_KW], [[2, BIG], { x: BIG }]]);
    assert.equal(denied.status, 'rejected');
    assert.equal((denied as PromiseRejectedResult).reason.error, 'wamp.error.not_authorized');
  });

  test('progressive results with large payloads arrive in order', async () => {
    const callee = await json();
    await callee.session.register('com.example.progress', (_args, _kw, details) => {
      const progress = (details as unknown as { progress?: (a: unknown[]) => void }).progress;
      for (let i = 0; i < 3; i++) progress?.([i, BIG]);
      return [3, BIG];
    });
    const caller = await RawPeer.open(r.url, 'json');
    await caller.join('realm1', { roles: { caller: { features: { progressive_call_results: true } } } });
    caller.send([48, 1, { receive_progress: true }, 'com.example.progress', [BIG]]);
    const results = [await caller.next(50), await caller.next(50), await caller.next(50), await caller.next(50)];
    assert.deepEqual(results, [
      [50, 1, { progress: true }, [0, BIG]],
      [50, 1, { progress: true }, [1, BIG]],
      [50, 1, { progress: true }, [2, BIG]],
      [50, 1, {}, [[3, BIG]]],
    ]);
    caller.close();
  });

  test('event history returns a large JSON publication as values', async () => {
    const sub = await json();
    const inbox = new Inbox<unknown[]>();
    const s = await sub.session.subscribe('com.example.hist', (args) => inbox.push(args!));
    const pub = await json();
    await pub.session.publish('com.example.hist', [BIG, 7], BIG_KW, { acknowledge: true });
    assert.deepEqual((await inbox.waitFor(1))[0], [BIG, 7]);
    const events = (await sub.session.call('wamp.subscription.get_events', [s.id, 1])) as Dict[];
    assert.deepEqual([events[0]!.args, events[0]!.kwargs], [[BIG, 7], BIG_KW]);
  });

  test('a testament with a large payload from a JSON session reaches a msgpack subscriber', async () => {
    const listener = await connect(r.url, 'msgpack');
    clients.push(listener);
    const got = new Inbox<[unknown[], Dict]>();
    await listener.session.subscribe('com.example.will', (args, kwargs) => got.push([args!, kwargs!]));
    const leaver = await json();
    await leaver.session.call('wamp.session.add_testament', ['com.example.will', [BIG], BIG_KW]);
    await leaver.close();
    const [args, kwargs] = (await within(got.waitFor(1), 5000, 'the testament'))[0]!;
    assert.deepEqual([args, kwargs], [[BIG], BIG_KW]);
  });
});
