import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildConfig, ConfigError } from '../../src/config/load.js';

const KEY = 'a'.repeat(64);

function cfg(auth: unknown, extra: { realms?: unknown[]; crosswire?: unknown } = {}) {
  return {
    version: 2,
    workers: [
      {
        type: 'router',
        realms: extra.realms ?? [
          { name: 'realm1', roles: [{ name: 'user', 'allow-by-default': true }, { name: 'anonymous' }] },
          { name: 'auth', roles: [{ name: 'backend' }] },
        ],
        transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 8080 }, auth }],
      },
    ],
    ...(extra.crosswire === undefined ? {} : { crosswire: extra.crosswire }),
  };
}

function refused(raw: unknown, pattern: RegExp, env: NodeJS.ProcessEnv = {}) {
  assert.throws(() => buildConfig(raw, env), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, pattern);
    return true;
  });
}

describe('transport auth config', () => {
  test('every method, static and dynamic, in Crossbar vocabulary', () => {
    const c = buildConfig(
      cfg({
        anonymous: { type: 'static' },
        ticket: { type: 'static', principals: { joe: { ticket: '${T}', role: 'user' } } },
        wampcra: { type: 'dynamic', authenticator: 'com.example.auth', 'authenticator-realm': 'auth' },
        cryptosign: { type: 'static', principals: { alice: { authorized_keys: [KEY.toUpperCase()], role: 'user', realm: 'realm1' } } },
        scram: {
          type: 'static',
          principals: { sam: { kdf: 'argon2id13', iterations: 4096, memory: 512, salt: 'c2FsdA==', 'stored-key': KEY, 'server-key': KEY, role: 'user' } },
        },
      }, { crosswire: { realm_threads: 1 } }),
      { T: 'from-env' },
    );
    const a = c.transports[0]!.auth;
    assert.deepEqual(a.anonymous, { type: 'static', role: 'anonymous', authid: null });
    assert.equal(a.ticket?.type === 'static' && a.ticket.principals.joe!.ticket, 'from-env');
    assert.deepEqual(a.wampcra, { type: 'dynamic', authenticator: 'com.example.auth', 'authenticator-realm': 'auth', salted_secret: 'derived_key' });
    assert.equal(a.cryptosign?.type === 'static' && a.cryptosign.principals.alice!.authorized_keys[0], KEY); // normalized to lower case
    assert.equal(a.scram?.type === 'static' && a.scram.principals.sam!.kdf, 'argon2id-13'); // the spec's name accepted
    assert.deepEqual(c.auth, { timeout: 10000, threads: c.auth.threads, failDelay: 500, maxFailures: 10, failureWindow: 60000 });
    assert.ok(c.auth.threads >= 1);
  });

  test('an unset "${VAR}" secret: a warning naming key and variable, and a principal nobody can log in as', () => {
    const c = buildConfig(cfg({ ticket: { type: 'static', principals: { joe: { ticket: '${NOPE}', role: 'user' } } } }), {});
    const a = c.transports[0]!.auth;
    assert.equal(a.ticket?.type === 'static' && a.ticket.principals.joe!.ticket, null);
    assert.deepEqual(c.warnings, ['workers[0].transports[0].auth.ticket.principals.joe.ticket: environment variable NOPE is not set: nobody can log in with this secret']);
  });

  test('wrong or missing keys are named', () => {
    refused(cfg({ ticket: { type: 'static', principals: { joe: { ticket: 'x' } } } }), /auth\.ticket\.principals\.joe\.role: must be a non-empty string/);
    refused(cfg({ ticket: { type: 'static', principals: { joe: { ticket: 'x', role: 'user', tiket: 1 } } } }), /principals\.joe\.tiket: unknown key/);
    refused(cfg({ ticket: { type: 'static', principals: { joe: { ticket: '${NO PE}', role: 'user' } } } }), /principals\.joe\.ticket: '\$\{NO PE\}' is not an environment reference/);
    refused(cfg({ ticket: { type: 'function', create: 'x.y' } }), /auth\.ticket\.type: must be "static" or "dynamic" \("function" authenticators are Python-only\)/);
    refused(cfg({ wampcra: { type: 'static', users: { u: { secret: 's', role: 'user', salt: 'x' } } } }), /users\.u: a salted secret needs all of salt, iterations and keylen/);
    refused(cfg({ wampcra: { type: 'static', salted_secret: 'plain', users: {} } }), /auth\.wampcra\.salted_secret: must be "derived_key" \(default\) or "password"/);
    refused(cfg({ cryptosign: { type: 'static', principals: { a: { authorized_keys: ['abc'], role: 'user' } } } }), /authorized_keys\[0\]: must be an Ed25519 public key in hex/);
    refused(
      cfg({ cryptosign: { type: 'static', principals: { a: { authorized_keys: [KEY], role: 'user' }, b: { authorized_keys: [KEY], role: 'user' } } } }),
      /principals\.b\.authorized_keys\[0\]: the key is also authorized for .*principals\.a/,
    );
    refused(cfg({ cryptosign: { type: 'static', trustroots: {} } }), /cryptosign\.trustroots: certificate trustroots are not implemented/);
    refused(cfg({ scram: { type: 'static', principals: { s: { kdf: 'scrypt', role: 'user' } } } }), /principals\.s\.kdf: must be "argon2id-13"/);
    refused(cfg({ ticket: { type: 'dynamic' } }), /auth\.ticket\.authenticator: must be a procedure URI/);
    refused(cfg({ ticket: { type: 'dynamic', authenticator: 'a.b', 'authenticator-role': 'x' } }), /auth\.ticket\.authenticator-role: unknown key/);
    refused(cfg({}), /auth: enables no method/);
  });

  test('roles and realms named by principals must exist', () => {
    refused(cfg({ ticket: { type: 'static', principals: { joe: { ticket: 'x', role: 'admin' } } } }), /principals\.joe\.role: no realm has a role 'admin'/);
    refused(cfg({ ticket: { type: 'static', principals: { joe: { ticket: 'x', role: 'user', realm: 'auth' } } } }), /principals\.joe\.role: realm 'auth' has no role 'user'/);
    refused(cfg({ ticket: { type: 'static', principals: { joe: { ticket: 'x', role: 'user', realm: 'other' } } } }), /principals\.joe\.realm: no realm 'other'/);
    refused(cfg({ anonymous: { type: 'static', role: 'nobody' } }), /auth\.anonymous\.role: no realm has a role 'nobody'/);
    refused(cfg({ ticket: { type: 'dynamic', authenticator: 'a.b', 'authenticator-realm': 'nope' } }), /authenticator-realm: no realm 'nope'/);
  });

  test('an authenticator realm puts every realm in one worker thread, with a warning naming what was asked', () => {
    const c = buildConfig(cfg({ ticket: { type: 'dynamic', authenticator: 'a.b', 'authenticator-realm': 'auth' } }, { crosswire: { realm_threads: 2 } }), {});
    assert.equal(c.realmThreads, 1);
    assert.deepEqual(c.warnings, [
      "crosswire.realm_threads: 2 is not applied: with authenticator-realm 'auth' every realm runs in one realm worker thread (dynamic authenticators are called in the thread of the realm a client joins)",
    ]);
    // Without authenticator-realm the authenticator runs on the client's own realm: any thread count.
    assert.equal(buildConfig(cfg({ ticket: { type: 'dynamic', authenticator: 'a.b' } }, { crosswire: { realm_threads: 2 } }), {}).realmThreads, 2);
  });

  test('dynamic roles: authorizer with Crosswire cache keys; not mixed with permissions', () => {
    const c = buildConfig(
      cfg(null, { realms: [{ name: 'realm1', roles: [{ name: 'anonymous', authorizer: 'com.example.authorize', 'authorizer-cache-ttl': 5000 }] }] }),
      {},
    );
    assert.deepEqual(c.realms[0]!.roles[0], { name: 'anonymous', authorizer: 'com.example.authorize', 'authorizer-cache-size': 10000, 'authorizer-cache-ttl': 5000 });
    refused(cfg(null, { realms: [{ name: 'realm1', roles: [{ name: 'a', authorizer: 'x y' }] }] }), /roles\[0\]\.authorizer: 'x y' is not a valid URI/);
    refused(cfg(null, { realms: [{ name: 'realm1', roles: [{ name: 'a', authorizer: 'a.b', 'authorizer-cache-ttl': 0 }] }] }), /authorizer-cache-ttl: must be a positive integer/);
  });

  test('brute-force and timeout knobs', () => {
    const c = buildConfig(cfg(null, { crosswire: { auth_timeout: 2000, auth_fail_delay: 0, auth_max_failures: 3, auth_failure_window: 1000, auth_threads: 2 } }), {});
    assert.deepEqual(c.auth, { timeout: 2000, threads: 2, failDelay: 0, maxFailures: 3, failureWindow: 1000 });
    refused(cfg(null, { crosswire: { auth_timeout: 0 } }), /crosswire\.auth_timeout: must be an integer number of milliseconds from 1 to 2147483647/);
    assert.equal(buildConfig(cfg(null), { CROSSWIRE_AUTH_FAIL_DELAY: '0' }).auth.failDelay, 0);
  });
});
