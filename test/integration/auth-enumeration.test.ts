// Principal enumeration: an unknown authid must not be told apart from a known one (an ABORT
// no_such_principal after the failure delay against a CHALLENGE at once). For every static method,
// both get a CHALLENGE at once, of the same shape (WAMP-CRA and SCRAM: the salting and parameters
// of a configured principal, the same each time for the same authid), and both fail at
// AUTHENTICATE with the same ABORT after the same delay. Raw frames, known and unknown side by side.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { scramCredential, scramProof } from '../helpers/auth.js';
import { RawPeer } from '../helpers/raw.js';
import { ANONYMOUS_ALL, startRouter, type TestRouter } from '../helpers/router.js';

type Dict = Record<string, unknown>;
const ROLES = { caller: {}, callee: {} };
/** Long enough that a reply it delayed cannot be mistaken for a prompt one, even on a loaded machine. */
const FAIL_DELAY = 2000;

function edKey(): { pubkey: string; privateKey: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { pubkey: Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('hex'), privateKey };
}
const alice = edKey();
const stranger = edKey();

let r: TestRouter;
before(async () => {
  const sam = await scramCredential('sam-password', 'pbkdf2', randomBytes(16).toString('base64'), 1000);
  r = await startRouter({
    crosswire: { auth_fail_delay: FAIL_DELAY, auth_max_failures: 0 },
    realms: [{ name: 'realm1', roles: [{ ...ANONYMOUS_ALL, name: 'user' }] }],
    transport: {
      auth: {
        ticket: { type: 'static', principals: { joe: { ticket: 'joe-ticket', role: 'user' } } },
        // Both salted: whichever an unknown user imitates, its CHALLENGE carries salt, iterations and keylen.
        wampcra: {
          type: 'static',
          users: {
            peter: { secret: 'peter-key', role: 'user', salt: 'salt123', iterations: 100, keylen: 32 },
            sally: { secret: 'sally-key', role: 'user', salt: 'pepper42', iterations: 100, keylen: 32 },
          },
        },
        scram: { type: 'static', principals: { sam: { ...sam, role: 'user' } } },
        cryptosign: { type: 'static', principals: { alice: { authorized_keys: [alice.pubkey], role: 'user' } } },
      },
    },
  });
});
after(() => r.stop());

interface Try {
  /** The reply to HELLO, and how long it took. */
  first: unknown[];
  firstMs: number;
  /** The reply to AUTHENTICATE (if challenged), and how long it took. */
  last: unknown[] | null;
  lastMs: number;
}

/** HELLO, then (if challenged) AUTHENTICATE with what `answer` computes from the CHALLENGE. */
async function attempt(hello: Dict, answer: (challenge: unknown[]) => Promise<string> | string): Promise<Try> {
  const p = await RawPeer.open(r.url, 'json');
  try {
    let t0 = performance.now();
    p.send([1, 'realm1', { roles: ROLES, ...hello }]);
    const first = await p.nextOf([2, 3, 4], FAIL_DELAY * 5);
    const firstMs = performance.now() - t0;
    if (first[0] !== 4) return { first, firstMs, last: null, lastMs: 0 };
    const signature = await answer(first);
    t0 = performance.now();
    p.send([5, signature, {}]);
    const last = await p.nextOf([2, 3], FAIL_DELAY * 5);
    return { first, firstMs, last, lastMs: performance.now() - t0 };
  } finally {
    p.close();
  }
}

/** The known principal with a wrong secret and an unknown one: replies of the same kind, timing and text. */
function assertAlike(known: Try, unknown: Try, method: string): void {
  assert.deepEqual([unknown.first[0], unknown.first[1]], [4, method], `the unknown principal got ${JSON.stringify(unknown.first)}`);
  assert.deepEqual([known.first[0], known.first[1]], [4, method]);
  // Neither CHALLENGE waited for the failure delay.
  assert.ok(unknown.firstMs < FAIL_DELAY && known.firstMs < FAIL_DELAY, `CHALLENGE after ${known.firstMs} ms (known), ${unknown.firstMs} ms (unknown)`);
  assert.deepEqual(Object.keys(unknown.first[2] as Dict).sort(), Object.keys(known.first[2] as Dict).sort(), 'CHALLENGE.Extra has the same keys');
  // The same ABORT, both after the failure delay.
  assert.equal(known.last![0], 3);
  assert.deepEqual(unknown.last, known.last);
  assert.ok(unknown.lastMs >= FAIL_DELAY * 0.9 && known.lastMs >= FAIL_DELAY * 0.9, `ABORT after ${known.lastMs} ms (known), ${unknown.lastMs} ms (unknown)`);
}

const cra = (secret: string) => (c: unknown[]) => createHmac('sha256', secret).update((c[2] as Dict).challenge as string).digest('base64');

describe('an unknown principal is answered like a known one with a wrong secret', { concurrency: true }, () => {
  test('ticket', async () => {
    const [known, unknown] = await Promise.all([
      attempt({ authmethods: ['ticket'], authid: 'joe' }, () => 'guess'),
      attempt({ authmethods: ['ticket'], authid: 'mallory' }, () => 'guess'),
    ]);
    assertAlike(known, unknown, 'ticket');
  });

  test('WAMP-CRA: a plausible, stable salted challenge', async () => {
    const [known, unknown, again] = await Promise.all([
      attempt({ authmethods: ['wampcra'], authid: 'peter' }, cra('guess')),
      attempt({ authmethods: ['wampcra'], authid: 'nobody' }, cra('guess')),
      attempt({ authmethods: ['wampcra'], authid: 'nobody' }, cra('guess')),
    ]);
    assertAlike(known, unknown, 'wampcra');
    const [k, u, u2] = [known, unknown, again].map((t) => t.first[2] as Dict);
    assert.deepEqual([u!.iterations, u!.keylen], [k!.iterations, k!.keylen]);
    assert.match(u!.salt as string, /^[A-Za-z0-9]{7,8}$/, 'a salt like the configured ones');
    assert.ok(!['salt123', 'pepper42'].includes(u!.salt as string), 'not a configured salt');
    const inner = (x: Dict) => JSON.parse(x.challenge as string) as Dict;
    assert.deepEqual(Object.keys(inner(u!)).sort(), Object.keys(inner(k!)).sort());
    assert.deepEqual([inner(u!).authid, inner(u!).authrole, inner(u!).authprovider], ['nobody', 'user', 'static']);
    assert.deepEqual([u2!.salt, u2!.iterations, u2!.keylen, inner(u2!).authrole], [u!.salt, u!.iterations, u!.keylen, inner(u!).authrole], 'the same on every try');
  });

  test('SCRAM: the parameters of a configured principal, a stable salt', async () => {
    const answer = (authid: string, nonce: string) => async (c: unknown[]) =>
      (await scramProof('guess', authid, nonce, c[2] as { nonce: string; salt: string; kdf: string; iterations: number })).proof;
    const nonces = [0, 1, 2].map(() => randomBytes(16).toString('base64'));
    const [known, unknown, again] = await Promise.all([
      attempt({ authmethods: ['scram'], authid: 'sam', authextra: { nonce: nonces[0] } }, answer('sam', nonces[0]!)),
      attempt({ authmethods: ['scram'], authid: 'nobody', authextra: { nonce: nonces[1] } }, answer('nobody', nonces[1]!)),
      attempt({ authmethods: ['scram'], authid: 'nobody', authextra: { nonce: nonces[2] } }, answer('nobody', nonces[2]!)),
    ]);
    assertAlike(known, unknown, 'scram');
    const [k, u, u2] = [known, unknown, again].map((t) => t.first[2] as Dict);
    assert.deepEqual([u!.kdf, u!.iterations], [k!.kdf, k!.iterations]);
    assert.equal(Buffer.from(u!.salt as string, 'base64').length, Buffer.from(k!.salt as string, 'base64').length);
    assert.notEqual(u!.salt, k!.salt);
    assert.equal(u2!.salt, u!.salt, 'the same salt on every try');
  });

  test('cryptosign: an unknown authid or key fails like a wrong signature, even when its own signature is valid', async () => {
    const signed = (key: KeyObject) => (c: unknown[]) => {
      const challenge = Buffer.from((c[2] as Dict).challenge as string, 'hex');
      return Buffer.concat([sign(null, challenge, key), challenge]).toString('hex');
    };
    const [known, unknownAuthid, unknownKey] = await Promise.all([
      // alice's key claimed, signed by another key: a wrong signature.
      attempt({ authmethods: ['cryptosign'], authid: 'alice', authextra: { pubkey: alice.pubkey } }, signed(stranger.privateKey)),
      attempt({ authmethods: ['cryptosign'], authid: 'carol', authextra: { pubkey: stranger.pubkey } }, signed(stranger.privateKey)),
      attempt({ authmethods: ['cryptosign'], authextra: { pubkey: stranger.pubkey } }, signed(stranger.privateKey)),
    ]);
    assertAlike(known, unknownAuthid, 'cryptosign');
    assertAlike(known, unknownKey, 'cryptosign');
  });
});
