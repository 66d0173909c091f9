import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { scramCredential, scramProof } from '../helpers/auth.js';
import { spawnRouter } from '../helpers/process.js';
import { RawPeer } from '../helpers/raw.js';
import { ANONYMOUS_ALL, startRouter, type TestRouter } from '../helpers/router.js';
import { within } from '../helpers/wait.js';

// AutobahnJS has no SCRAM: these tests speak raw WAMP frames, as Autobahn|Python's AuthScram would.
type Dict = Record<string, unknown>;
const ROLES = { caller: {}, callee: {}, publisher: {}, subscriber: {} };
const ARGON = { iterations: 2, memory: 1024 };

let r: TestRouter;
before(async () => {
  const sam = await scramCredential('sam-password', 'argon2id-13', randomBytes(16).toString('base64'), ARGON.iterations, ARGON.memory);
  const pat = await scramCredential('pat-password', 'pbkdf2', randomBytes(16).toString('base64'), 1000);
  r = await startRouter({
    crosswire: { auth_fail_delay: 0, auth_max_failures: 0, auth_timeout: 400 },
    realms: [{ name: 'realm1', roles: [{ ...ANONYMOUS_ALL, name: 'user' }] }],
    transport: {
      auth: {
        scram: { type: 'static', principals: { sam: { ...sam, role: 'user' }, pat: { ...pat, role: 'user' } } },
        ticket: { type: 'static', principals: { joe: { ticket: 't', role: 'user' } } },
      },
    },
  });
});
after(() => r.stop());

async function scramLogin(ser: 'json' | 'msgpack', authid: string, password: string, method = 'scram') {
  const p = await RawPeer.open(r.url, ser);
  const nonce = randomBytes(16).toString('base64');
  p.send([1, 'realm1', { roles: ROLES, authmethods: [method], authid, authextra: { nonce } }]);
  const first = await p.nextOf([4, 3]);
  if (first[0] === 3) return { p, abort: first, challenge: null, welcome: null, expected: '' };
  const extra = first[2] as { nonce: string; salt: string; kdf: string; iterations: number; memory?: number };
  const { proof, serverSignature } = await scramProof(password, authid, nonce, extra, method === 'wamp-scram');
  p.send([5, proof, {}]);
  const reply = await p.nextOf([2, 3]);
  return { p, challenge: first, abort: reply[0] === 3 ? reply : null, welcome: reply[0] === 2 ? reply : null, expected: serverSignature };
}

describe('scram (raw frames)', () => {
  for (const ser of ['json', 'msgpack'] as const) {
    test(`argon2id-13, Crossbar's flavour: WELCOME carries scram_server_signature (${ser})`, async () => {
      const { p, challenge, welcome, expected } = await scramLogin(ser, 'sam', 'sam-password');
      try {
        assert.equal(challenge![1], 'scram');
        const extra = challenge![2] as Dict;
        assert.deepEqual(Object.keys(extra).sort(), ['iterations', 'kdf', 'memory', 'nonce', 'salt']); // Autobahn|Python refuses other keys
        assert.equal(extra.kdf, 'argon2id-13');
        assert.deepEqual([extra.iterations, extra.memory], [ARGON.iterations, ARGON.memory]);
        assert.ok(welcome, 'WELCOME');
        const d = welcome[2] as Dict;
        assert.deepEqual([d.authid, d.authrole, d.authmethod, d.authprovider], ['sam', 'user', 'scram', 'static']);
        assert.equal((d.authextra as Dict).scram_server_signature, expected);
      } finally {
        p.close();
      }
    });
  }

  test("pbkdf2 with the spec's name wamp-scram: WELCOME carries verifier", async () => {
    const { p, challenge, welcome, expected } = await scramLogin('json', 'pat', 'pat-password', 'wamp-scram');
    try {
      assert.equal(challenge![1], 'wamp-scram');
      assert.equal((challenge![2] as Dict).kdf, 'pbkdf2');
      assert.ok(welcome, 'WELCOME');
      assert.equal(((welcome[2] as Dict).authextra as Dict).verifier, expected);
      assert.equal((welcome[2] as Dict).authmethod, 'wamp-scram');
    } finally {
      p.close();
    }
  });

  test('wrong password and unknown user: the same CHALLENGE keys, then the same ABORT wamp.error.authentication_failed', async () => {
    const wrong = await scramLogin('msgpack', 'sam', 'guess');
    assert.equal(wrong.abort?.[2], 'wamp.error.authentication_failed');
    await within(wrong.p.closed, 5000, 'the close');
    const unknown = await scramLogin('json', 'nobody', 'x');
    assert.ok(unknown.challenge, 'a CHALLENGE for the unknown user too');
    // Shaped like a configured principal's (sam: argon2id-13 with memory; pat: pbkdf2 without).
    const x = unknown.challenge[2] as Dict;
    assert.deepEqual(Object.keys(x).sort(), x.kdf === 'pbkdf2' ? ['iterations', 'kdf', 'nonce', 'salt'] : ['iterations', 'kdf', 'memory', 'nonce', 'salt']);
    assert.deepEqual(unknown.abort, wrong.abort);
    unknown.p.close();
  });

  test('a HELLO without authextra.nonce is refused', async () => {
    const p = await RawPeer.open(r.url, 'json');
    p.send([1, 'realm1', { roles: ROLES, authmethods: ['scram'], authid: 'sam' }]);
    const abort = await p.next(3);
    assert.equal(abort[2], 'wamp.error.authentication_failed');
    assert.match((abort[1] as Dict).message as string, /nonce/);
  });
});

describe('the authentication state machine (raw frames)', () => {
  test('no AUTHENTICATE within auth_timeout: ABORT, connection closed', async () => {
    const p = await RawPeer.open(r.url, 'json');
    const t0 = Date.now();
    p.send([1, 'realm1', { roles: ROLES, authmethods: ['ticket'], authid: 'joe' }]);
    assert.deepEqual(await p.next(4), [4, 'ticket', {}]);
    const abort = await p.next(3, 5000);
    assert.equal(abort[2], 'wamp.error.authentication_failed');
    assert.match((abort[1] as Dict).message as string, /within 400 ms/);
    assert.ok(Date.now() - t0 >= 350, 'not before the timeout');
    await within(p.closed, 5000, 'the close');
  });

  test('any other message while authenticating is a protocol violation; other sessions carry on', async () => {
    const bystander = await RawPeer.open(r.url, 'msgpack');
    bystander.send([1, 'realm1', { roles: ROLES, authmethods: ['ticket'], authid: 'joe' }]);
    await bystander.next(4);
    bystander.send([5, 't', {}]);
    await bystander.next(2);
    const p = await RawPeer.open(r.url, 'json');
    p.send([1, 'realm1', { roles: ROLES, authmethods: ['ticket'], authid: 'joe' }]);
    await p.next(4);
    p.send([16, 1, {}, 'com.example.topic']);
    const abort = await p.next(3);
    assert.equal(abort[2], 'wamp.error.protocol_violation');
    assert.equal((await within(p.closed, 5000, 'the close')).code, 1002);
    bystander.send([32, 1, {}, 'com.example.still_here']);
    assert.equal((await bystander.next(33))[0], 33);
    bystander.close();
  });

  test('AUTHENTICATE without a CHALLENGE, or a malformed one: protocol violation', async () => {
    const p = await RawPeer.open(r.url, 'json');
    p.send([1, 'realm1', { roles: ROLES, authmethods: ['ticket'], authid: 'joe' }]);
    await p.next(4);
    p.send([5, 't', {}]);
    await p.next(2);
    p.send([5, 't', {}]); // established now
    assert.equal((await p.next(3))[2], 'wamp.error.protocol_violation');
    const q = await RawPeer.open(r.url, 'msgpack');
    q.send([1, 'realm1', { roles: ROLES, authmethods: ['ticket'], authid: 'joe' }]);
    await q.next(4);
    q.send([5, 42, {}]);
    const abort = await q.next(3);
    assert.equal(abort[2], 'wamp.error.protocol_violation');
    assert.match((abort[1] as Dict).message as string, /AUTHENTICATE must be/);
  });

  test('the client may ABORT its authentication; the connection is closed without reply', async () => {
    const p = await RawPeer.open(r.url, 'json');
    p.send([1, 'realm1', { roles: ROLES, authmethods: ['ticket'], authid: 'joe' }]);
    await p.next(4);
    p.send([3, { message: 'changed my mind' }, 'wamp.error.cannot_authenticate']);
    assert.equal((await within(p.closed, 5000, 'the close')).code, 1000);
    assert.equal(p.received.length, 0);
  });
});

describe('brute-force hygiene', () => {
  let t: TestRouter;
  before(async () => {
    t = await startRouter({
      crosswire: { auth_fail_delay: 250, auth_max_failures: 2, auth_failure_window: 60000 },
      realms: [{ name: 'realm1', roles: [{ ...ANONYMOUS_ALL, name: 'user' }] }],
      transport: { auth: { ticket: { type: 'static', principals: { joe: { ticket: 't', role: 'user' } } } } },
    });
  });
  after(() => t.stop());

  async function attempt(ticket: string): Promise<{ reply: unknown[]; ms: number }> {
    const p = await RawPeer.open(t.url, 'json');
    p.send([1, 'realm1', { roles: ROLES, authmethods: ['ticket'], authid: 'joe' }]);
    const first = await p.nextOf([4, 3]);
    if (first[0] === 3) return { reply: first, ms: 0 };
    const t0 = Date.now();
    p.send([5, ticket, {}]);
    const reply = await p.nextOf([2, 3]);
    p.close();
    return { reply, ms: Date.now() - t0 };
  }

  test('a failure is answered after auth_fail_delay; past auth_max_failures the peer is refused; established sessions are untouched', async () => {
    const ok = await RawPeer.open(t.url, 'msgpack');
    ok.send([1, 'realm1', { roles: ROLES, authmethods: ['ticket'], authid: 'joe' }]);
    await ok.next(4);
    ok.send([5, 't', {}]);
    await ok.next(2);
    for (let i = 0; i < 2; i++) {
      const { reply, ms } = await attempt('guess');
      assert.equal(reply[2], 'wamp.error.authentication_failed');
      assert.ok(ms >= 200, `the ABORT came after ${ms} ms`);
    }
    // Even the right ticket is refused now, at HELLO, without a CHALLENGE.
    const { reply } = await attempt('t');
    assert.equal(reply[0], 3);
    assert.equal(reply[2], 'wamp.error.authentication_failed');
    assert.match((reply[1] as Dict).message as string, /too many failed authentication attempts/);
    ok.send([32, 7, {}, 'com.example.still_here']);
    assert.equal((await ok.next(33))[1], 7);
    ok.close();
  });
});

describe('failed logins in the log', () => {
  // Realm workers log from their own threads straight to stdout, so this runs the router process.
  test('a hostile 1 MiB authid is logged clipped to 256 characters with its length', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-authlog-'));
    const file = join(dir, 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        version: 2,
        workers: [
          {
            type: 'router',
            realms: [{ name: 'realm1', roles: [{ ...ANONYMOUS_ALL, name: 'user' }] }],
            transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 0 }, auth: { ticket: { type: 'static', principals: { joe: { ticket: 't', role: 'user' } } } } }],
          },
        ],
        crosswire: { auth_fail_delay: 0, auth_max_failures: 0 },
      }),
    );
    const rp = await spawnRouter(['--config', file]);
    try {
      const authid = `x${'y'.repeat(1024 * 1024 - 1)}`;
      const p = await RawPeer.open(`ws://127.0.0.1:${rp.port}/ws`, 'json');
      p.send([1, 'realm1', { roles: ROLES, authmethods: ['ticket'], authid }]);
      assert.equal((await p.nextOf([4, 3]))[0], 4);
      p.send([5, 'wrong', {}]);
      assert.equal((await p.nextOf([3]))[0], 3);
      p.close();
      const line = await rp.waitForLine((l) => l.includes('"authentication failed"'), 10_000, 'the failure log line');
      assert.ok(line.length < 2048, `the whole line stays small (${line.length} characters)`);
      assert.equal((JSON.parse(line) as { authid: string }).authid, `${authid.slice(0, 256)}… (${authid.length} characters)`);
    } finally {
      rp.child.kill('SIGTERM');
      await within(rp.exited, 10_000, 'the router to exit');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
