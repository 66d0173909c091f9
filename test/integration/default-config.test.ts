// The embedded default (what `crosswire start` runs without a file) is open for routing, but an
// anonymous session may not call the meta procedures that end or cut off other sessions: one
// client must not be able to disconnect everyone.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_CONFIG, DESTRUCTIVE_META_PROCEDURES } from '../../src/config/default.js';
import { buildConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/shared/log.js';
import { Router } from '../../src/router.js';
import { type Client, connect } from '../helpers/client.js';
import { Inbox } from '../helpers/wait.js';

let router: Router;
let url: string;
before(async () => {
  const config = buildConfig(DEFAULT_CONFIG, { CROSSWIRE_PORT: '0', CROSSWIRE_INTERFACE: '127.0.0.1', CROSSWIRE_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' });
  router = await Router.start(config, createLogger(config.logLevel));
  url = `ws://127.0.0.1:${router.listeners[0]!.port}/ws`;
});
after(() => router.shutdown(500));

test('anonymous: kill_all, kill, kill_by_*, remove_callee, remove_subscriber are not_authorized; nobody is disconnected; routing and the other meta procedures work', async () => {
  const clients: Client[] = await Promise.all([connect(url, 'json'), connect(url, 'msgpack'), connect(url, 'json')]);
  const [subscriber, callee, attacker] = clients as [Client, Client, Client];
  try {
    const closed: string[] = [];
    for (const c of clients) void c.closed.then(({ reason }) => closed.push(reason));
    const events = new Inbox<unknown>();
    const sub = await subscriber.session.subscribe('com.example.news', (a) => events.push(a?.[0]));
    const reg = await callee.session.register('com.example.add', (a) => (a[0] as number) + (a[1] as number));
    const a = attacker.session;
    const attempts: [string, unknown[]][] = [
      ['wamp.session.kill_all', []],
      ['wamp.session.kill', [subscriber.session.id]],
      ['wamp.session.kill_by_authid', [subscriber.details.authid]],
      ['wamp.session.kill_by_authrole', ['anonymous']],
      ['wamp.registration.remove_callee', [reg.id, callee.session.id]],
      ['wamp.subscription.remove_subscriber', [sub.id, subscriber.session.id]],
    ];
    assert.deepEqual(attempts.map(([p]) => p).sort(), [...DESTRUCTIVE_META_PROCEDURES].sort(), 'every destructive procedure is tried');
    for (const [procedure, args] of attempts) {
      await assert.rejects(a.call(procedure, args), (e: { error?: string }) => {
        assert.equal(e.error, 'wamp.error.not_authorized', procedure);
        return true;
      });
    }
    // The meta API that only reads still works, and shows everyone still there.
    assert.equal(await a.call('wamp.session.count'), 3);
    assert.deepEqual(((await a.call('wamp.session.list')) as number[]).sort(), clients.map((c) => c.session.id).sort());
    assert.equal(await a.call('wamp.registration.lookup', ['com.example.add']), reg.id);
    assert.deepEqual(await a.call('wamp.subscription.list_subscribers', [sub.id]), [subscriber.session.id]);
    // Routing is open to anonymous, and the others' registration and subscription are intact.
    assert.equal(await a.call('com.example.add', [2, 3]), 5);
    await a.publish('com.example.news', ['still here'], {}, { acknowledge: true });
    assert.deepEqual(await events.waitFor(1), ['still here']);
    assert.deepEqual(closed, []);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});
