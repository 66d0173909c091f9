import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import autobahn from 'autobahn';
import { ed25519Key } from '../helpers/auth.js';
import { connect, SERIALIZERS, type SerializerName } from '../helpers/client.js';
import { startRouter, type TestRouter } from '../helpers/router.js';

// AutobahnJS 22 speaks ticket, wampcra (incl. salted) and cryptosign: each is tested with it.
const alice = ed25519Key();
const bob = ed25519Key();
const stranger = ed25519Key();
const SALT = 'salt123';
const SALTED_KEY = autobahn.auth_cra.derive_key('salted-password', SALT, 100, 32);

let r: TestRouter;
before(async () => {
  r = await startRouter({
    env: { JOE_TICKET: 'joe-secret-from-env' },
    crosswire: { auth_fail_delay: 0, auth_max_failures: 0 },
    realms: [
      {
        name: 'realm1',
        roles: [
          { name: 'user', permissions: [{ uri: 'com.example.user.*', allow: { call: true, register: true, publish: true, subscribe: true } }] },
          { name: 'admin', permissions: [{ uri: '*', allow: { call: true, register: true, publish: true, subscribe: true } }] },
        ],
      },
    ],
    transport: {
      auth: {
        ticket: {
          type: 'static',
          principals: { joe: { ticket: '${JOE_TICKET}', role: 'user' }, root: { ticket: 'root-ticket', role: 'admin' } },
        },
        wampcra: {
          type: 'static',
          users: {
            peter: { secret: 'peter-secret', role: 'user' },
            sally: { secret: SALTED_KEY, role: 'admin', salt: SALT, iterations: 100, keylen: 32 },
          },
        },
        cryptosign: {
          type: 'static',
          principals: { alice: { authorized_keys: [alice.pubkey], role: 'admin' }, bob: { authorized_keys: [bob.pubkey], role: 'user' } },
        },
      },
    },
  });
});
after(() => r.stop());

function ticketLogin(ser: SerializerName, authid: string, secret: string) {
  return connect(r.url, ser, 'realm1', { authmethods: ['ticket'], authid, onchallenge: () => secret });
}

function craLogin(ser: SerializerName, authid: string, password: string) {
  return connect(r.url, ser, 'realm1', {
    authmethods: ['wampcra'],
    authid,
    onchallenge: (_s: unknown, method: string, extra: Record<string, unknown>) => {
      assert.equal(method, 'wampcra');
      const key =
        extra.salt === undefined ? password : autobahn.auth_cra.derive_key(password, extra.salt as string, extra.iterations as number, extra.keylen as number);
      return autobahn.auth_cra.sign(key, extra.challenge as string);
    },
  });
}

function cryptosignLogin(ser: SerializerName, key: typeof alice, authid?: string, claimed = key.pubkey) {
  return connect(r.url, ser, 'realm1', {
    authmethods: ['cryptosign'],
    ...(authid === undefined ? {} : { authid }),
    authextra: { pubkey: claimed },
    onchallenge: (_s: unknown, method: string, extra: Record<string, unknown>) => {
      assert.equal(method, 'cryptosign');
      return autobahn.auth_cryptosign.sign_challenge(key.pkey, extra);
    },
  });
}

describe('ticket (AutobahnJS)', () => {
  for (const ser of SERIALIZERS) {
    test(`a static principal with a \${ENV} ticket joins with its role (${ser})`, async () => {
      const c = await ticketLogin(ser, 'joe', 'joe-secret-from-env');
      try {
        assert.equal(c.details.authid, 'joe');
        assert.equal(c.details.authrole, 'user');
        assert.equal(c.details.authmethod, 'ticket');
        assert.equal(c.details.authprovider, 'static');
        // The role applies: user may use com.example.user.* only.
        await c.session.register('com.example.user.echo', (args) => args[0]);
        assert.equal(await c.session.call('com.example.user.echo', ['hi']), 'hi');
        await assert.rejects(c.session.call('com.example.admin.op'), (e: { error: string }) => e.error === 'wamp.error.not_authorized');
      } finally {
        await c.close();
      }
    });
  }

  test('wrong ticket: ABORT wamp.error.authentication_failed', async () => {
    await assert.rejects(ticketLogin('json', 'joe', 'guess'), /wamp\.error\.authentication_failed/);
  });

  test('unknown principal: challenged like a known one, then the ABORT of a wrong ticket (no enumeration)', async () => {
    await assert.rejects(ticketLogin('msgpack', 'mallory', 'joe-secret-from-env'), /wamp\.error\.authentication_failed/);
  });

  test('the literal "${JOE_TICKET}" is not the ticket', async () => {
    await assert.rejects(ticketLogin('json', 'joe', '${JOE_TICKET}'), /wamp\.error\.authentication_failed/);
  });
});

describe('wampcra (AutobahnJS)', () => {
  for (const ser of SERIALIZERS) {
    test(`plain secret (${ser})`, async () => {
      const c = await craLogin(ser, 'peter', 'peter-secret');
      try {
        assert.deepEqual([c.details.authid, c.details.authrole, c.details.authmethod, c.details.authprovider], ['peter', 'user', 'wampcra', 'static']);
      } finally {
        await c.close();
      }
    });

    test(`salted secret: the client derives the key from the password (${ser})`, async () => {
      const c = await craLogin(ser, 'sally', 'salted-password');
      try {
        assert.deepEqual([c.details.authid, c.details.authrole], ['sally', 'admin']);
        await c.session.register('com.example.admin.op', () => 42);
        assert.equal(await c.session.call('com.example.admin.op'), 42);
      } finally {
        await c.close();
      }
    });
  }

  test('the challenge names the session WELCOME then carries', async () => {
    let challenge: Record<string, unknown> = {};
    const c = await connect(r.url, 'json', 'realm1', {
      authmethods: ['wampcra'],
      authid: 'peter',
      onchallenge: (_s: unknown, _m: string, extra: Record<string, unknown>) => {
        challenge = JSON.parse(extra.challenge as string) as Record<string, unknown>;
        return autobahn.auth_cra.sign('peter-secret', extra.challenge as string);
      },
    });
    try {
      assert.equal(challenge.session, c.session.id);
      assert.deepEqual([challenge.authid, challenge.authrole, challenge.authmethod, challenge.authprovider], ['peter', 'user', 'wampcra', 'static']);
      assert.match(challenge.nonce as string, /^[A-Za-z0-9+/]{64}$/);
      assert.ok(Math.abs(Date.parse(challenge.timestamp as string) - Date.now()) < 60_000);
    } finally {
      await c.close();
    }
  });

  test('wrong password, plain and salted: wamp.error.authentication_failed', async () => {
    await assert.rejects(craLogin('json', 'peter', 'nope'), /wamp\.error\.authentication_failed/);
    await assert.rejects(craLogin('msgpack', 'sally', 'nope'), /wamp\.error\.authentication_failed/);
  });

  test('unknown user: challenged like a known one, then the ABORT of a wrong password (no enumeration)', async () => {
    await assert.rejects(craLogin('json', 'nobody', 'x'), /wamp\.error\.authentication_failed/);
  });
});

describe('cryptosign (AutobahnJS)', () => {
  for (const ser of SERIALIZERS) {
    test(`Ed25519 key with authid (${ser})`, async () => {
      const c = await cryptosignLogin(ser, alice, 'alice');
      try {
        assert.deepEqual([c.details.authid, c.details.authrole, c.details.authmethod, c.details.authprovider], ['alice', 'admin', 'cryptosign', 'static']);
        assert.equal((c.details.authextra as Record<string, unknown>).pubkey, alice.pubkey);
      } finally {
        await c.close();
      }
    });
  }

  test('without authid, the public key names the principal', async () => {
    const c = await cryptosignLogin('json', bob);
    try {
      assert.deepEqual([c.details.authid, c.details.authrole], ['bob', 'user']);
    } finally {
      await c.close();
    }
  });

  test("a signature by another key than the one claimed: wamp.error.authentication_failed", async () => {
    await assert.rejects(cryptosignLogin('json', stranger, 'alice', alice.pubkey), /wamp\.error\.authentication_failed/);
  });

  test("another principal's key: wamp.error.authentication_failed", async () => {
    await assert.rejects(cryptosignLogin('json', bob, 'alice'), /wamp\.error\.authentication_failed/);
  });

  test('an unknown key or principal, even with a valid signature: the ABORT of a wrong signature (no enumeration)', async () => {
    await assert.rejects(cryptosignLogin('msgpack', stranger), /wamp\.error\.authentication_failed/);
    await assert.rejects(cryptosignLogin('json', alice, 'carol'), /wamp\.error\.authentication_failed/);
  });
});

describe('method selection', () => {
  test("the client's order of authmethods is respected", async () => {
    // peter is a wampcra user and joe a ticket principal: the method picked decides who joins.
    for (const [methods, authid, expected] of [
      [['wampcra', 'ticket'], 'peter', 'wampcra'],
      [['ticket', 'wampcra'], 'joe', 'ticket'],
      [['scram', 'anonymous', 'ticket', 'wampcra'], 'joe', 'ticket'],
    ] as const) {
      let seen = '';
      const c = await connect(r.url, 'json', 'realm1', {
        authmethods: [...methods],
        authid,
        onchallenge: (_s: unknown, method: string, extra: Record<string, unknown>) => {
          seen = method;
          return method === 'ticket' ? 'joe-secret-from-env' : autobahn.auth_cra.sign('peter-secret', extra.challenge as string);
        },
      });
      assert.equal(seen, expected, `authmethods ${methods.join(',')}`);
      assert.equal(c.details.authmethod, expected);
      await c.close();
    }
  });

  test('no offered method is enabled (anonymous is not, here): wamp.error.no_matching_auth_method', async () => {
    await assert.rejects(connect(r.url, 'json', 'realm1'), /wamp\.error\.no_matching_auth_method/);
    await assert.rejects(connect(r.url, 'msgpack', 'realm1', { authmethods: ['scram', 'cookie'], authid: 'joe' }), /wamp\.error\.no_matching_auth_method/);
  });
});
