import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { connect, SERIALIZERS } from '../helpers/client.js';
import { RawPeer } from '../helpers/raw.js';
import { ANONYMOUS_ALL, startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

let r: TestRouter;
before(async () => {
  r = await startRouter();
});
after(() => r.stop());

describe('session establishment', () => {
  for (const ser of SERIALIZERS) {
    test(`WELCOME announces exactly the implemented roles and features (${ser})`, async () => {
      const p = await RawPeer.open(r.url, ser);
      try {
        const welcome = await p.join();
        const [, sessionId, details] = welcome as [number, number, Record<string, unknown>];
        assert.ok(Number.isInteger(sessionId) && sessionId >= 1 && sessionId <= 2 ** 53);
        assert.deepEqual(details.roles, {
          broker: {
            features: {
              pattern_based_subscription: true,
              publisher_exclusion: true,
              publisher_identification: true,
              subscriber_blackwhite_listing: true,
              event_retention: true,
              payload_passthru_mode: true,
              session_meta_api: true,
              subscription_meta_api: true,
              subscription_revocation: true,
            },
          },
          dealer: {
            features: {
              caller_identification: true,
              pattern_based_registration: true,
              shared_registration: true,
              progressive_call_results: true,
              progressive_call_invocations: true,
              call_timeout: true,
              call_canceling: true,
              payload_passthru_mode: true,
              session_meta_api: true,
              testament_meta_api: true,
              registration_meta_api: true,
              registration_revocation: true,
            },
          },
        });
        assert.equal(details.realm, 'realm1');
        assert.equal(details.authrole, 'anonymous');
        assert.equal(details.authmethod, 'anonymous');
        assert.equal(details.authprovider, 'static');
        assert.match(details.authid as string, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){5}$/);
        assert.equal(details.agent, `Crosswire-${VERSION}`, 'the version of package.json');
      } finally {
        p.close();
      }
    });
  }

  test('a requested authid is honoured for anonymous sessions', async () => {
    const p = await RawPeer.open(r.url, 'json');
    try {
      const [, , details] = (await p.join('realm1', { roles: { caller: {} }, authid: 'joe' })) as [number, number, Record<string, unknown>];
      assert.equal(details.authid, 'joe');
    } finally {
      p.close();
    }
  });

  test('session ids are distinct', async () => {
    const peers = await Promise.all(Array.from({ length: 8 }, () => RawPeer.open(r.url, 'msgpack')));
    try {
      const ids = await Promise.all(peers.map(async (p) => (await p.join())[1]));
      assert.equal(new Set(ids).size, 8);
    } finally {
      for (const p of peers) p.close();
    }
  });

  test('HELLO offering only methods the transport does not enable: wamp.error.no_matching_auth_method', async () => {
    const p = await RawPeer.open(r.url, 'json');
    p.send([1, 'realm1', { roles: { caller: {} }, authmethods: ['ticket'], authid: 'joe' }]);
    const abort = await p.next(3);
    assert.equal(abort[2], 'wamp.error.no_matching_auth_method');
    assert.match((abort[1] as { message: string }).message, /ticket/);
    await within(p.closed, 5000, 'the close');
  });

  for (const ser of SERIALIZERS) {
    test(`AutobahnJS joining an unknown realm is refused with wamp.error.no_such_realm (${ser})`, async () => {
      await assert.rejects(connect(r.url, ser, 'no.such.realm'), /wamp.error.no_such_realm/);
    });
  }
});

describe('GOODBYE', () => {
  for (const ser of SERIALIZERS) {
    test(`client GOODBYE is answered with GOODBYE, and the transport can start a new session (${ser})`, async () => {
      const p = await RawPeer.open(r.url, ser);
      try {
        const first = await p.join();
        p.send([6, {}, 'wamp.close.close_realm']);
        // HELLO right behind GOODBYE, without waiting: the router must finish the first session first.
        p.send([1, 'realm1', { roles: { subscriber: {} } }]);
        const goodbye = await p.next(6);
        assert.deepEqual(goodbye, [6, {}, 'wamp.close.goodbye_and_out']);
        const second = await p.next(2);
        assert.notEqual(second[1], first[1]);
        p.send([32, 1, {}, 'com.example.after_goodbye']);
        assert.equal((await p.next(33))[0], 33);
      } finally {
        p.close();
      }
    });
  }

  test('AutobahnJS leave() completes the closing handshake', async () => {
    const c = await connect(r.url, 'json');
    c.connection.close('wamp.close.normal', 'bye');
    const { reason, details } = await within(c.closed, 5000, 'the close');
    // AutobahnJS says 'closed' only for a clean WebSocket close ('lost' for a dropped connection).
    assert.equal(reason, 'closed');
    assert.equal(details.reason, 'wamp.close.goodbye_and_out');
  });
});

describe('realms', () => {
  let multi: TestRouter;
  before(async () => {
    multi = await startRouter({
      realms: [
        { name: 'realm1', roles: [ANONYMOUS_ALL] },
        { name: 'realm2', roles: [ANONYMOUS_ALL], options: { uri_check: 'loose' } },
        {
          name: 'restricted',
          roles: [
            {
              name: 'anonymous',
              permissions: [
                { uri: 'com.example.public.*', allow: { call: true, subscribe: true, publish: true, register: true } },
                { uri: 'com.example.readonly', match: 'exact', allow: { subscribe: true } },
                { uri: 'com.example.*.status', allow: { call: true } },
              ],
            },
          ],
        },
      ],
      crosswire: { realm_threads: 2 },
    });
  });
  after(() => multi.stop());

  test('realms live in different worker threads and are isolated', async () => {
    assert.equal(multi.router.workers.length, 2);
    const [a1, a2, b1] = await Promise.all([connect(multi.url, 'json', 'realm1'), connect(multi.url, 'msgpack', 'realm1'), connect(multi.url, 'json', 'realm2')]);
    try {
      const in1 = new Inbox<unknown[]>();
      const in2 = new Inbox<unknown[]>();
      await a2.session.subscribe('com.example.shared', (args) => in1.push(args));
      await b1.session.subscribe('com.example.shared', (args) => in2.push(args));
      await b1.session.subscribe('com.example.marker', (args) => in2.push(args));
      await a1.session.publish('com.example.shared', ['realm1 only'], {}, { acknowledge: true });
      assert.deepEqual(await in1.waitFor(1), [['realm1 only']]);
      const b2 = await connect(multi.url, 'json', 'realm2');
      await b2.session.publish('com.example.marker', ['marker'], {}, { acknowledge: true });
      assert.deepEqual(await in2.waitFor(1), [['marker']]);
      await b2.close();
    } finally {
      await Promise.all([a1.close(), a2.close(), b1.close()]);
    }
  });

  test('uri_check strict refuses upper case; loose accepts it', async () => {
    const [strict, loose] = await Promise.all([connect(multi.url, 'json', 'realm1'), connect(multi.url, 'json', 'realm2')]);
    try {
      await assert.rejects(strict.session.register('com.Example.Proc', () => 1), (e: { error: string }) => e.error === 'wamp.error.invalid_uri');
      await loose.session.register('com.Example.Proc-1', () => 'loose ok');
      assert.equal(await loose.session.call('com.Example.Proc-1'), 'loose ok');
    } finally {
      await Promise.all([strict.close(), loose.close()]);
    }
  });

  test('static role permissions: starred prefix, exact and wildcard rules; everything else denied', async () => {
    const c = await connect(multi.url, 'msgpack', 'restricted');
    try {
      await c.session.register('com.example.public.echo', (args) => args[0]);
      assert.equal(await c.session.call('com.example.public.echo', ['ok']), 'ok');
      await c.session.subscribe('com.example.readonly', () => {});
      const denied = (e: { error: string }) => e.error === 'wamp.error.not_authorized';
      await assert.rejects(c.session.publish('com.example.readonly', [], {}, { acknowledge: true }), denied);
      await assert.rejects(c.session.register('com.example.private.x', () => 1), denied);
      await assert.rejects(c.session.subscribe('com.example.readonly.sub', () => {}), denied);
      await assert.rejects(c.session.call('com.example.pump.reset'), denied);
      // The wildcard rule allows calling any com.example.<x>.status (none registered here).
      await assert.rejects(c.session.call('com.example.pump.status'), (e: { error: string }) => e.error === 'wamp.error.no_such_procedure');
    } finally {
      await c.close();
    }
  });
});
