import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import autobahn from 'autobahn';
import { ed25519Key } from '../helpers/auth.js';
import { type Client, connect } from '../helpers/client.js';
import { RawPeer } from '../helpers/raw.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox } from '../helpers/wait.js';

type Dict = Record<string, unknown>;
const ALL = { call: true, register: true, publish: true, subscribe: true };
const TTL = 300;
const alice = ed25519Key();

let r: TestRouter;
let backend: Client; // the authenticators, on realm "authrealm"
let service: Client; // the authorizer, on realm1
const authenticatorCalls: unknown[][] = [];
const authorizerCalls: { session: Dict; uri: string; action: string; options: Dict }[] = [];

before(async () => {
  r = await startRouter({
    crosswire: { auth_fail_delay: 0, auth_max_failures: 0, auth_timeout: 2000 },
    realms: [
      {
        name: 'realm1',
        roles: [
          {
            name: 'user',
            permissions: [
              { uri: 'com.example.', match: 'prefix', allow: { call: true, subscribe: true } },
              { uri: 'com.example.user.*', allow: ALL },
              { uri: 'com.rooms.*.public', allow: { publish: true } },
              { uri: 'com.example.user.secret', match: 'exact', allow: {} },
            ],
          },
          { name: 'service', permissions: [{ uri: '*', allow: ALL }] },
          { name: 'dyn', authorizer: 'com.example.authorize', 'authorizer-cache-ttl': TTL },
          { name: 'unserved', authorizer: 'com.example.nobody_registered_this' },
        ],
      },
      { name: 'authrealm', roles: [{ name: 'backend', permissions: [{ uri: '*', allow: ALL }] }] },
    ],
    transport: {
      auth: {
        anonymous: { type: 'static', role: 'backend' },
        ticket: { type: 'dynamic', authenticator: 'com.example.authenticate', 'authenticator-realm': 'authrealm' },
        wampcra: { type: 'dynamic', authenticator: 'com.example.cra', 'authenticator-realm': 'authrealm' },
        cryptosign: { type: 'dynamic', authenticator: 'com.example.cryptosign', 'authenticator-realm': 'authrealm' },
      },
    },
  });
  // Authenticators and authorizers throw on purpose here: AutobahnJS need not log each one.
  backend = await connect(r.url, 'msgpack', 'authrealm', { on_user_error: () => {} });
  await backend.session.register('com.example.authenticate', (args) => {
    authenticatorCalls.push(args);
    const [realm, authid, details] = args as [string, string, Dict];
    if (authid === 'nobody') throw new autobahn.Error('com.example.no_such_user', ['no user nobody']);
    if (details.ticket !== `${authid}-ticket`) throw new autobahn.Error('wamp.error.not_authorized', ['wrong ticket']);
    if (authid === 'ghost') return { role: 'no_such_role' };
    if (authid === 'legacy') return 'user'; // a bare role string (Crossbar's legacy answer)
    if (authid === 'moved') return { role: 'backend', realm: 'authrealm' }; // admitted to another realm
    const role = authid === 'svc' ? 'service' : authid === 'dyn' || authid === 'dyn2' ? 'dyn' : authid === 'lost' ? 'unserved' : 'user';
    return { role, realm, extra: { greeting: `hello ${authid}` } };
  });
  await backend.session.register('com.example.cra', (args) => {
    const [, authid] = args as [string, string];
    if (authid !== 'carl') throw new autobahn.Error('wamp.error.no_such_principal', ['unknown']);
    // Default salted_secret "derived_key": the secret is the derived key, as Crossbar's docs show.
    return { secret: autobahn.auth_cra.derive_key('carl-secret', 'pepper', 50, 32), role: 'user', salt: 'pepper', iterations: 50, keylen: 32 };
  });
  await backend.session.register('com.example.cryptosign', (args) => {
    const [, , details] = args as [string, string | null, Dict];
    const pubkey = (details.authextra as Dict).pubkey;
    if (pubkey !== alice.pubkey) throw new autobahn.Error('wamp.error.no_such_principal', ['unknown key']);
    return { pubkey, authid: 'alice', role: 'user' };
  });
  service = await ticket('svc');
  await service.session.register('com.example.authorize', (args) => {
    const [session, uri, action, options] = args as [Dict, string, string, Dict];
    authorizerCalls.push({ session, uri, action, options });
    if (uri.endsWith('.cached')) return { allow: true, cache: true, disclose: true };
    if (uri.endsWith('.uncached')) return true;
    if (uri.endsWith('.broken')) throw new autobahn.Error('com.example.oops');
    if (uri.endsWith('.garbage')) return 'yes';
    return false;
  });
});
after(async () => {
  await service?.close();
  await backend?.close();
  await r.stop();
});

function ticket(authid: string, secret = `${authid}-ticket`): Promise<Client> {
  return connect(r.url, 'json', 'realm1', { authmethods: ['ticket'], authid, onchallenge: () => secret, on_user_error: () => {} });
}

describe('dynamic authenticators (called on authenticator-realm)', () => {
  test('ticket: the authenticator decides role and WELCOME authextra', async () => {
    const c = await ticket('dora');
    try {
      assert.deepEqual([c.details.authid, c.details.authrole, c.details.authmethod, c.details.authprovider], ['dora', 'user', 'ticket', 'dynamic']);
      assert.deepEqual(c.details.authextra, { greeting: 'hello dora' });
      const [realm, authid, details] = authenticatorCalls.at(-1) as [string, string, Dict];
      assert.deepEqual([realm, authid, details.ticket, details.authmethod], ['realm1', 'dora', 'dora-ticket', 'ticket']);
      assert.equal(details.session, c.session.id);
      assert.match((details.transport as Dict).peer as string, /^tcp:127\.0\.0\.1$/);
    } finally {
      await c.close();
    }
  });

  test('a bare role string is accepted', async () => {
    const c = await ticket('legacy');
    assert.deepEqual([c.details.authid, c.details.authrole], ['legacy', 'user']);
    await c.close();
  });

  test('the authenticator may admit the client to another realm (of the same worker thread)', async () => {
    const c = await ticket('moved');
    assert.deepEqual([c.details.realm, c.details.authrole], ['authrealm', 'backend']);
    await c.close();
  });

  test("the authenticator's error URI and message are the ABORT", async () => {
    await assert.rejects(ticket('nobody'), /com\.example\.no_such_user.*no user nobody/);
    await assert.rejects(ticket('dora', 'guess'), /wamp\.error\.not_authorized.*wrong ticket/);
  });

  test('a role the realm does not have: wamp.error.no_such_role', async () => {
    await assert.rejects(ticket('ghost'), /wamp\.error\.no_such_role/);
  });

  test('wampcra: the authenticator returns the (salted) secret', async () => {
    const c = await connect(r.url, 'msgpack', 'realm1', {
      authmethods: ['wampcra'],
      authid: 'carl',
      onchallenge: (_s: unknown, _m: string, extra: Dict) => {
        assert.deepEqual([extra.salt, extra.iterations, extra.keylen], ['pepper', 50, 32]);
        return autobahn.auth_cra.sign(autobahn.auth_cra.derive_key('carl-secret', 'pepper', 50, 32), extra.challenge as string);
      },
    });
    assert.deepEqual([c.details.authid, c.details.authrole, c.details.authprovider], ['carl', 'user', 'dynamic']);
    await c.close();
    await assert.rejects(
      connect(r.url, 'json', 'realm1', { authmethods: ['wampcra'], authid: 'carl', onchallenge: (_s: unknown, _m: string, x: Dict) => autobahn.auth_cra.sign('nope', x.challenge as string) }),
      /wamp\.error\.authentication_failed/,
    );
    await assert.rejects(connect(r.url, 'json', 'realm1', { authmethods: ['wampcra'], authid: 'cora', onchallenge: () => 'x' }), /wamp\.error\.no_such_principal/);
  });

  test('cryptosign: the authenticator confirms the public key and names the principal', async () => {
    const login = (key: typeof alice) =>
      connect(r.url, 'json', 'realm1', {
        authmethods: ['cryptosign'],
        authextra: { pubkey: key.pubkey },
        onchallenge: (_s: unknown, _m: string, extra: Dict) => autobahn.auth_cryptosign.sign_challenge(key.pkey, extra),
      });
    const c = await login(alice);
    assert.deepEqual([c.details.authid, c.details.authrole, c.details.authprovider], ['alice', 'user', 'dynamic']);
    await c.close();
    await assert.rejects(login(ed25519Key()), /wamp\.error\.no_such_principal/);
  });

  test('an authenticator that is not registered: wamp.error.authentication_failed naming it', async () => {
    const solo = await startRouter({
      crosswire: { auth_fail_delay: 0 },
      realms: [{ name: 'realm1', roles: [{ name: 'user', 'allow-by-default': true }] }],
      transport: { auth: { ticket: { type: 'dynamic', authenticator: 'com.example.authenticate' } } },
    });
    try {
      const q = await RawPeer.open(solo.url, 'msgpack');
      q.send([1, 'realm1', { roles: { caller: {} }, authmethods: ['ticket'], authid: 'x' }]);
      await q.next(4);
      q.send([5, 'x', {}]);
      const abort = await q.next(3);
      assert.equal(abort[2], 'wamp.error.authentication_failed');
      assert.match((abort[1] as Dict).message as string, /com\.example\.authenticate/);
    } finally {
      await solo.stop();
    }
  });
});

describe('static authorization per role (ticket-authenticated "user")', () => {
  test('allowed and denied call/register/publish/subscribe by prefix, starred, wildcard and exact rules', async () => {
    const c = await ticket('una');
    const s = c.session;
    const denied = (p: Promise<unknown>) => assert.rejects(p, (e: { error: string }) => e.error === 'wamp.error.not_authorized');
    try {
      await s.register('com.example.user.echo', (a) => a[0]); // starred prefix: everything
      assert.equal(await s.call('com.example.user.echo', [1]), 1);
      await s.subscribe('com.example.news', () => {}); // explicit prefix: call + subscribe only
      await denied(s.register('com.example.news', () => {}));
      await denied(s.publish('com.example.news', [], {}, { acknowledge: true }) as Promise<unknown>);
      await s.publish('com.rooms.lobby.public', [], {}, { acknowledge: true }); // wildcard a.*.c
      await denied(s.subscribe('com.rooms.lobby.public', () => {}));
      await denied(s.publish('com.rooms.lobby.private', [], {}, { acknowledge: true }) as Promise<unknown>);
      await denied(s.subscribe('com.example.user.secret', () => {})); // exact rule allows nothing
      await denied(s.call('com.other.thing'));
    } finally {
      await c.close();
    }
  });
});

describe('dynamic authorizer', () => {
  test('the authorizer gets (session, uri, action, options); true/false/{allow, cache} decide', async () => {
    const c = await ticket('dyn');
    try {
      const before = authorizerCalls.length;
      await c.session.register('com.example.x.cached', () => 'ok');
      const call = authorizerCalls[before]!;
      assert.deepEqual([call.uri, call.action], ['com.example.x.cached', 'register']);
      assert.deepEqual([call.session.session, call.session.authid, call.session.authrole, call.session.authmethod], [c.session.id, 'dyn', 'dyn', 'ticket']);
      assert.deepEqual(call.session.authextra, { greeting: 'hello dyn' });
      await c.session.subscribe('com.example.x.uncached', () => {});
      await assert.rejects(c.session.call('com.example.x.denied'), (e: { error: string }) => e.error === 'wamp.error.not_authorized');
      await assert.rejects(c.session.call('com.example.x.broken'), (e: { error: string }) => e.error === 'wamp.error.authorization_failed');
      await assert.rejects(c.session.call('com.example.x.garbage'), (e: { error: string }) => e.error === 'wamp.error.authorization_failed');
    } finally {
      await c.close();
    }
  });

  test('a role whose authorizer nobody registered: wamp.error.authorization_failed', async () => {
    const c = await ticket('lost');
    try {
      await assert.rejects(c.session.subscribe('com.example.t', () => {}), (e: { error: string }) => e.error === 'wamp.error.authorization_failed');
    } finally {
      await c.close();
    }
  });

  test('messages after one waiting for the authorizer keep their order', async () => {
    const c = await ticket('dyn');
    try {
      const events = new Inbox<unknown>();
      // SUBSCRIBE waits for the authorizer; the PUBLISH right behind it must not overtake it.
      const sub = c.session.subscribe('com.example.order.cached', (a) => events.push(a[0]));
      const pub = c.session.publish('com.example.order.cached', ['first'], {}, { acknowledge: true, exclude_me: false });
      await Promise.all([sub, pub]);
      assert.deepEqual(await events.waitFor(1), ['first']);
    } finally {
      await c.close();
    }
  });

  test('cache: a cached decision is not asked again until authorizer-cache-ttl has passed', async () => {
    const c = await ticket('dyn2');
    try {
      const count = () => authorizerCalls.filter((x) => x.session.session === c.session.id && x.uri === 'com.example.ttl.cached' && x.action === 'call').length;
      await service.session.register('com.example.ttl.cached', () => 'pong');
      const t0 = Date.now();
      assert.equal(await c.session.call('com.example.ttl.cached'), 'pong');
      for (let i = 0; i < 5; i++) await c.session.call('com.example.ttl.cached');
      assert.equal(count(), 1, 'one authorizer call for six CALLs within the TTL');
      // Uncached answers are asked every time.
      const before = authorizerCalls.length;
      await c.session.call('com.example.ttl.uncached').catch(() => {});
      await c.session.call('com.example.ttl.uncached').catch(() => {});
      assert.equal(authorizerCalls.length - before, 2);
      // After the TTL the authorizer is asked again: call until it is (bounded in count and time).
      const deadline = Date.now() + 5000;
      let n = 0;
      while (count() === 1 && Date.now() < deadline && n++ < 10_000) await c.session.call('com.example.ttl.cached');
      assert.equal(count(), 2, 'asked again after the TTL');
      assert.ok(Date.now() - t0 >= TTL, `not before the TTL (${Date.now() - t0} ms)`);
      // ...and decisions are per session: another session's first call asks again.
      const other = await ticket('dyn');
      const total = authorizerCalls.length;
      await other.session.call('com.example.ttl.cached');
      assert.equal(authorizerCalls.length, total + 1);
      await other.close();
    } finally {
      await c.close();
    }
  });

  test('disclose in the answer discloses the caller', async () => {
    const c = await ticket('dyn');
    try {
      const seen = new Inbox<Dict>();
      await service.session.register('com.example.who.cached', (_a, _k, details) => {
        seen.push(details as Dict);
        return null;
      });
      await c.session.call('com.example.who.cached');
      const [d] = await seen.waitFor(1);
      assert.equal(d!.caller, c.session.id);
    } finally {
      await c.close();
    }
  });
});


describe('dynamic anonymous and scram (authenticator on the realm the client asked for)', () => {
  let t: TestRouter;
  let svc: Client;
  before(async () => {
    const { scramCredential } = await import('../helpers/auth.js');
    const cred = await scramCredential('sue-password', 'pbkdf2', 'c2FsdHNhbHQ=', 500);
    t = await startRouter({
      crosswire: { auth_fail_delay: 0, auth_max_failures: 0 },
      realms: [{ name: 'realm1', roles: [{ name: 'svc', 'allow-by-default': true }, { name: 'guest', 'allow-by-default': true }] }],
      transport: {
        auth: {
          ticket: { type: 'static', principals: { svc: { ticket: 'svc-ticket', role: 'svc' } } },
          anonymous: { type: 'dynamic', authenticator: 'com.example.anon' },
          scram: { type: 'dynamic', authenticator: 'com.example.scram' },
        },
      },
    });
    svc = await connect(t.url, 'json', 'realm1', { authmethods: ['ticket'], authid: 'svc', onchallenge: () => 'svc-ticket', on_user_error: () => {} });
    await svc.session.register('com.example.anon', (args) => {
      const [, authid] = args as [string, string];
      return { role: 'guest', authid: `guest-${authid}` };
    });
    await svc.session.register('com.example.scram', (args) => {
      const [, authid] = args as [string, string];
      if (authid !== 'sue') throw new autobahn.Error('wamp.error.no_such_principal', ['no such user']);
      return { ...cred, role: 'guest' };
    });
  });
  after(async () => {
    await svc?.close();
    await t?.stop();
  });

  test('anonymous: the authenticator assigns role and authid', async () => {
    const c = await connect(t.url, 'msgpack', 'realm1', { authid: 'visitor' });
    assert.deepEqual([c.details.authid, c.details.authrole, c.details.authmethod, c.details.authprovider], ['guest-visitor', 'guest', 'anonymous', 'dynamic']);
    await c.close();
  });

  test('scram: the authenticator returns the stored credential; wrong password and unknown user fail', async () => {
    const { scramProof } = await import('../helpers/auth.js');
    const login = async (authid: string, password: string) => {
      const p = await RawPeer.open(t.url, 'json');
      p.send([1, 'realm1', { roles: { caller: {} }, authmethods: ['scram'], authid, authextra: { nonce: 'Y2xpZW50bm9uY2U=' } }]);
      const ch = await p.nextOf([4, 3]);
      if (ch[0] === 3) return ch;
      const { proof } = await scramProof(password, authid, 'Y2xpZW50bm9uY2U=', ch[2] as { nonce: string; salt: string; kdf: string; iterations: number });
      p.send([5, proof, {}]);
      return p.nextOf([2, 3]);
    };
    const ok = await login('sue', 'sue-password');
    assert.equal(ok[0], 2);
    assert.deepEqual([(ok[2] as Dict).authid, (ok[2] as Dict).authprovider], ['sue', 'dynamic']);
    assert.equal((await login('sue', 'nope'))[2], 'wamp.error.authentication_failed');
    assert.equal((await login('sam', 'x'))[2], 'wamp.error.no_such_principal');
  });
});
