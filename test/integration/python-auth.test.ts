// Authentication interop with Autobahn|Python's own authenticators (Debian's python3-autobahn,
// with python3-argon2 for SCRAM and python3-nacl for cryptosign): test/interop/python_auth.py
// joins with AuthScram (argon2id-13, the only KDF it implements), AuthCryptoSign and AuthWampCra.
// SCRAM's WELCOME is checked by the client itself (its on_welcome verifies the server signature).
//
// Needs scripts/install-test-deps.sh. Missing packages fail this file, unless
// CROSSWIRE_SKIP_PYTHON_INTEROP=1 is set: then it is skipped.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ed25519Key, scramCredential } from '../helpers/auth.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { within } from '../helpers/wait.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../../test/interop/python_auth.py', import.meta.url));

function problem(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import autobahn, msgpack, argon2, nacl; from autobahn.wamp.auth import HAS_ARGON; assert HAS_ARGON'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.error) return `${PYTHON} cannot run: ${r.error.message}`;
  if (r.status !== 0) return `${PYTHON} cannot import autobahn, msgpack, argon2 and nacl (${r.stderr.trim().split('\n').pop()})`;
  return undefined;
}
const missing = problem();
const skip = missing !== undefined && process.env.CROSSWIRE_SKIP_PYTHON_INTEROP === '1' ? `CROSSWIRE_SKIP_PYTHON_INTEROP=1 and ${missing}` : false;

interface Outcome {
  joined: boolean;
  authid?: string;
  authrole?: string;
  authmethod?: string;
  authextra?: Record<string, unknown>;
  reason?: string;
}

function python(url: string, ser: string, method: string, authid: string, secret: string): Promise<Outcome> {
  const child = spawn(PYTHON, [SCRIPT, url, ser, method, authid, secret], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return within(
    new Promise((resolve, reject) =>
      // 'close', not 'exit': all of the output has been read by then.
      child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as Outcome) : reject(new Error(`python_auth.py exited ${code}: ${err}`)))),
    ),
    20_000,
    `python_auth.py ${method} ${authid}`,
  );
}

const device = ed25519Key();
let r: TestRouter;

describe('Autobahn|Python authenticators', { skip }, () => {
  before(async () => {
    assert.equal(missing, undefined, `${missing}: run scripts/install-test-deps.sh`);
    // Autobahn|Python's own defaults for argon2id are 4096 iterations / 512 KiB; smaller here for speed.
    const sam = await scramCredential('sam-password', 'argon2id-13', randomBytes(16).toString('base64'), 8, 1024);
    r = await startRouter({
      crosswire: { auth_fail_delay: 0, auth_max_failures: 0 },
      realms: [{ name: 'realm1', roles: [{ name: 'user', 'allow-by-default': true }] }],
      transport: {
        auth: {
          scram: { type: 'static', principals: { sam: { ...sam, role: 'user' } } },
          cryptosign: { type: 'static', principals: { dev: { authorized_keys: [device.pubkey], role: 'user' } } },
          wampcra: { type: 'static', users: { wes: { secret: 'wes-secret', role: 'user' } } },
        },
      },
    });
  });
  after(() => r?.stop());

  for (const ser of ['json', 'msgpack']) {
    test(`scram (argon2id-13): joins, and the client accepts the server signature (${ser})`, async () => {
      const o = await python(r.url, ser, 'scram', 'sam', 'sam-password');
      assert.deepEqual([o.joined, o.authid, o.authrole, o.authmethod], [true, 'sam', 'user', 'scram']);
      assert.equal(typeof o.authextra?.scram_server_signature, 'string');
    });
  }

  test('scram with a wrong password and an unknown user', async () => {
    const [wrong, unknown] = await Promise.all([python(r.url, 'json', 'scram', 'sam', 'guess'), python(r.url, 'msgpack', 'scram', 'nobody', 'x')]);
    assert.deepEqual([wrong.joined, wrong.reason], [false, 'wamp.error.authentication_failed']);
    // An unknown user is challenged like a known one and fails alike (no principal enumeration).
    assert.deepEqual([unknown.joined, unknown.reason], [false, 'wamp.error.authentication_failed']);
  });

  test('cryptosign and wampcra', async () => {
    const seed = Buffer.from(device.pkey.secretKey.subarray(0, 32)).toString('hex');
    const [cs, cra] = await Promise.all([python(r.url, 'msgpack', 'cryptosign', 'dev', seed), python(r.url, 'json', 'wampcra', 'wes', 'wes-secret')]);
    assert.deepEqual([cs.joined, cs.authid, cs.authmethod], [true, 'dev', 'cryptosign']);
    assert.deepEqual([cra.joined, cra.authid, cra.authmethod], [true, 'wes', 'wampcra']);
  });
});
