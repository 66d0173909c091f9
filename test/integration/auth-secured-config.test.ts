import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import autobahn from 'autobahn';
import { connect } from '../helpers/client.js';
import { type RouterProcess, spawnRouter } from '../helpers/process.js';
import { within } from '../helpers/wait.js';

// The secured config of docs/authentication.md (config/secured.json), run as `crosswire start --config`.
const CONFIG = new URL('../../../config/secured.json', import.meta.url).pathname;
// The example's device key (docs/authentication.md: put your own); its public key is in the config.
const DEVICE_SEED = Buffer.from('2deace91045510a02869ca11948a67fe5650ea43b45c9a1cd01bd45c93075699', 'hex');
const DEVICE_PUB = Buffer.from('86c9aaff6c0a87639c135fe81e4852c872b0d1ed6d57009c9dd5c5179aa9f049', 'hex');

let p: RouterProcess;
let url: string;
before(async () => {
  p = await spawnRouter(['--config', CONFIG], { SERVICE1_TICKET: 'svc-ticket', JOE_SECRET: 'joe-secret', CROSSWIRE_AUTH_FAIL_DELAY: '0' });
  url = `ws://127.0.0.1:${p.port}/ws`;
});
after(async () => {
  p.child.kill('SIGTERM');
  await within(p.exited, 10_000, 'the router to exit');
});

test('the secured example: ticket (backend), wampcra plain and salted (frontend), cryptosign (backend); roles apply', async () => {
  const service = await connect(url, 'msgpack', 'realm1', { authmethods: ['ticket'], authid: 'service1', onchallenge: () => 'svc-ticket' });
  const device = await connect(url, 'json', 'realm1', {
    authmethods: ['cryptosign'],
    authextra: { pubkey: DEVICE_PUB.toString('hex') },
    onchallenge: (_s: unknown, _m: string, extra: Record<string, unknown>) =>
      autobahn.auth_cryptosign.sign_challenge({ publicKey: new Uint8Array(DEVICE_PUB), secretKey: new Uint8Array(Buffer.concat([DEVICE_SEED, DEVICE_PUB])) }, extra),
  });
  const cra = (authid: string, password: string) =>
    connect(url, 'json', 'realm1', {
      authmethods: ['wampcra'],
      authid,
      onchallenge: (_s: unknown, _m: string, x: Record<string, unknown>) =>
        autobahn.auth_cra.sign(x.salt === undefined ? password : autobahn.auth_cra.derive_key(password, x.salt as string, x.iterations as number, x.keylen as number), x.challenge as string),
    });
  const joe = await cra('joe', 'joe-secret');
  const peter = await cra('peter', 'secret2');
  try {
    assert.deepEqual([service.details.authrole, device.details.authid, device.details.authrole, joe.details.authrole, peter.details.authrole], [
      'backend',
      'device1',
      'backend',
      'frontend',
      'frontend',
    ]);
    await service.session.register('com.example.api.add', (a) => (a[0] as number) + (a[1] as number));
    assert.equal(await joe.session.call('com.example.api.add', [2, 3]), 5);
    await assert.rejects(joe.session.register('com.example.api.sub', () => 0), (e: { error: string }) => e.error === 'wamp.error.not_authorized');
    await assert.rejects(peter.session.publish('com.example.news', [], {}, { acknowledge: true }) as Promise<unknown>, (e: { error: string }) => e.error === 'wamp.error.not_authorized');
    await device.session.publish('com.example.news', ['hi'], {}, { acknowledge: true });
    await assert.rejects(cra('peter', 'wrong'), /wamp\.error\.authentication_failed/);
  } finally {
    for (const c of [service, device, joe, peter]) await c.close();
  }
});
