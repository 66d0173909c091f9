// Every EVENT the real router sends is held to the EVENT.Details table of src/shared/wamp/options.ts,
// which the 21 details_validation samples of the WAMP test vectors' event.json pin
// (test/unit/options.test.ts): publisher disclosure, a pattern subscription's topic, a retained
// event and payload passthru, in JSON, MessagePack and CBOR.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MsgType } from '../../src/shared/wamp/codes.js';
import { checkOptions } from '../../src/shared/wamp/options.js';
import { RawPeer, type RawSer } from '../helpers/raw.js';
import { startRouter, type TestRouter } from '../helpers/router.js';

let r: TestRouter;
before(async () => {
  const allow = { call: true, register: true, publish: true, subscribe: true };
  r = await startRouter({
    realms: [{ name: 'realm1', roles: [{ name: 'anonymous', permissions: [{ uri: '', match: 'prefix', allow, disclose: { publisher: true } }] }] }],
  });
});
after(() => r.stop());

type Dict = Record<string, unknown>;
const FEATURES = {
  publisher_identification: true,
  pattern_based_subscription: true,
  event_retention: true,
  payload_passthru_mode: true,
};

async function join(ser: RawSer): Promise<RawPeer> {
  const p = await RawPeer.open(r.url, ser);
  await p.join('realm1', { roles: { publisher: { features: FEATURES }, subscriber: { features: FEATURES } } });
  return p;
}

let seq = 0;
for (const ser of ['json', 'msgpack', 'cbor'] as const) {
  describe(`EVENT.Details the router sends (${ser})`, () => {
    test('disclosed publisher, pattern topic, retained, passthru: each key present and valid', async () => {
      const pub = await join(ser);
      const sub = await join(ser);
      try {
        const n = `com.details.${ser}.n${++seq}`;
        const other = `com.other.${ser}.n${seq}`;
        // A retained event first, for the get_retained subscription below.
        pub.send([16, 1, { acknowledge: true, retain: true }, `${n}.kept`, ['kept']]);
        await pub.next(17);
        sub.send([32, 1, { match: 'prefix' }, n]);
        sub.send([32, 2, { get_retained: true }, `${n}.kept`]);
        sub.send([32, 3, {}, other]);
        for (let i = 0; i < 3; i++) assert.equal((await sub.nextOf([33, 8]))[0], 33, 'SUBSCRIBED');
        pub.send([16, 2, { acknowledge: true, exclude_me: false }, `${n}.a`, ['pattern']]);
        await pub.next(17);
        const ppt = { ppt_scheme: 'x_test', ppt_serializer: 'cbor', ppt_cipher: 'xsalsa20poly1305', ppt_keyid: 'key-1' };
        pub.send([16, 3, { acknowledge: true, ...ppt }, other, [Buffer.from([1, 2, 3])]]);
        await pub.next(17);
        const events: unknown[][] = [];
        for (let i = 0; i < 3; i++) events.push(await sub.next(36));
        const details = events.map((e) => e[3] as Dict);
        for (const d of details) checkOptions(MsgType.EVENT, d);
        const seen = new Set(details.flatMap((d) => Object.keys(d)));
        for (const key of ['publisher', 'publisher_authid', 'publisher_authrole', 'topic', 'retained', 'ppt_scheme']) {
          assert.ok(seen.has(key), `some EVENT carries ${key}: ${JSON.stringify(details)}`);
        }
        const retained = details.find((d) => d.retained === true)!;
        assert.equal(typeof retained.publisher, 'number');
        const pattern = details.find((d) => d.topic !== undefined)!;
        assert.equal(pattern.topic, `${n}.a`);
      } finally {
        pub.close();
        sub.close();
      }
    });
  });
}
