import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect, SERIALIZERS } from '../helpers/client.js';
import { RawPeer } from '../helpers/raw.js';
import { SERIALIZERS as SERIALIZERS_ } from '../../src/shared/serializers/index.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';

let r: TestRouter;
before(async () => {
  r = await startRouter();
});
after(() => r.stop());


for (const ser of SERIALIZERS) {
  test(`a payload nested too deep to pass between threads ends only its sender's session (${ser})`, async () => {
    const bystander = await connect(r.url, ser);
    const events = new Inbox<unknown[]>();
    await bystander.session.subscribe('com.example.deep', (args) => events.push(args));
    const bad = await RawPeer.open(r.url, ser);
    await bad.join();
    // Within the size limit, but structured clone gives up long before 20,000 levels.
    if (ser === 'json') bad.ws.send(`[16,1,{},"com.example.deep",[${'['.repeat(20000)}${']'.repeat(20000)}]]`);
    else {
      // Built by hand: an encoder would recurse as deep as the value.
      const head = Buffer.from(SERIALIZERS_.msgpack.encode([16, 1, {}, 'com.example.deep']));
      head[0] = 0x95; // five elements: the fifth is Arguments
      bad.ws.send(Buffer.concat([head, Buffer.alloc(20000, 0x91), Buffer.from([0x90])]), { binary: true });
    }
    const abort = await bad.next(3);
    assert.equal(abort[2], 'wamp.error.protocol_violation');
    assert.match((abort[1] as { message: string }).message, /nested too deeply|malformed/);
    const { code } = await within(bad.closed, 5000, 'the close');
    assert.equal(code, 1002);
    // Everyone else carries on.
    const pub = await connect(r.url, ser);
    await pub.session.publish('com.example.deep', ['after'], {}, { acknowledge: true });
    assert.deepEqual(await events.waitFor(1), [['after']]);
    await Promise.all([pub.close(), bystander.close()]);
  });
}

test('many connections join and leave concurrently without disturbing a running call stream', async () => {
  const [caller, callee] = await Promise.all([connect(r.url, 'msgpack'), connect(r.url, 'json')]);
  await callee.session.register('com.example.inc', (args) => (args[0] as number) + 1);
  let n = 0;
  const stream = (async () => {
    for (let i = 0; i < 300; i++) n = (await caller.session.call('com.example.inc', [n])) as number;
  })();
  for (let round = 0; round < 5; round++) {
    const peers = await Promise.all(Array.from({ length: 20 }, (_, i) => RawPeer.open(r.url, i % 2 ? 'json' : 'msgpack')));
    await Promise.all(peers.map((p) => p.join()));
    for (const p of peers) p.close();
  }
  await within(stream, 20000, 'the call stream');
  assert.equal(n, 300);
  await Promise.all([caller.close(), callee.close()]);
});
