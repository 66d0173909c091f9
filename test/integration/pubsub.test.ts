import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EventDetails } from 'autobahn';
import { type Client, connect, SERIALIZERS } from '../helpers/client.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox } from '../helpers/wait.js';

type Ev = { args: unknown[]; kwargs: Record<string, unknown>; details: EventDetails };

// The embedded default's role, plus publisher disclosure (`disclose`, Crossbar.io docs, "Authorization") on one prefix.
const ALLOW = { call: true, register: true, publish: true, subscribe: true };
let r: TestRouter;
before(async () => {
  r = await startRouter({
    realms: [
      {
        name: 'realm1',
        roles: [
          {
            name: 'anonymous',
            permissions: [
              { uri: '', match: 'prefix', allow: ALLOW },
              { uri: 'com.example.pubsub.disclosed.', match: 'prefix', allow: ALLOW, disclose: { publisher: true } },
            ],
          },
        ],
      },
    ],
  });
});
after(() => r.stop());

let topicSeq = 0;
const topic = () => `com.example.pubsub.t${++topicSeq}`;

async function subscribed(c: Client, t: string): Promise<Inbox<Ev>> {
  const inbox = new Inbox<Ev>();
  await c.session.subscribe(t, (args, kwargs, details) => inbox.push({ args, kwargs, details }));
  return inbox;
}

for (const ser of SERIALIZERS) {
  describe(`pub/sub (${ser})`, () => {
    let a: Client;
    let b: Client;
    let c: Client;
    before(async () => {
      [a, b, c] = await Promise.all([connect(r.url, ser), connect(r.url, ser), connect(r.url, ser)]);
    });
    after(async () => {
      await Promise.all([a.close(), b.close(), c.close()]);
    });

    test('payload is delivered verbatim: args, kwargs, both, none', async () => {
      const t = topic();
      const inbox = await subscribed(b, t);
      await a.session.publish(t, ['x', 1, 2 ** 40, { n: null, f: 1.5 }], undefined, { acknowledge: true });
      await a.session.publish(t, [], { k: 'v', deep: [1, [2]] }, { acknowledge: true });
      await a.session.publish(t, [1], { k: 2 }, { acknowledge: true });
      await a.session.publish(t, [], {}, { acknowledge: true });
      const ev = await inbox.waitFor(4);
      assert.deepEqual(ev.map((e) => [e.args, e.kwargs]), [
        [['x', 1, 2 ** 40, { n: null, f: 1.5 }], {}],
        [[], { k: 'v', deep: [1, [2]] }],
        [[1], { k: 2 }],
        [[], {}],
      ]);
    });

    test('acknowledged publish returns the publication id the events carry', async () => {
      const t = topic();
      const inbox = await subscribed(b, t);
      const pub = await a.session.publish(t, ['p'], {}, { acknowledge: true });
      assert.ok(pub !== undefined && Number.isInteger(pub.id) && pub.id >= 1 && pub.id <= 2 ** 53);
      const [ev] = await inbox.waitFor(1);
      assert.equal(ev!.details.publication, pub.id);
    });

    test('all subscribers of a topic share one subscription id; each gets the event once', async () => {
      const t = topic();
      const inB = new Inbox<Ev>();
      const inC = new Inbox<Ev>();
      const sb = await b.session.subscribe(t, (args, kwargs, details) => inB.push({ args, kwargs, details }));
      const sc = await c.session.subscribe(t, (args, kwargs, details) => inC.push({ args, kwargs, details }));
      assert.equal(sb.id, sc.id);
      await a.session.publish(t, [1]);
      await a.session.publish(t, ['marker'], {}, { acknowledge: true });
      assert.deepEqual((await inB.waitFor(2)).map((e) => e.args), [[1], ['marker']]);
      assert.deepEqual((await inC.waitFor(2)).map((e) => e.args), [[1], ['marker']]);
    });

    test('the publisher is excluded by default and included with exclude_me: false', async () => {
      const t = topic();
      const own = await subscribed(a, t);
      const other = await subscribed(b, t);
      await a.session.publish(t, ['excluded']);
      await a.session.publish(t, ['included'], {}, { exclude_me: false });
      // b sees both; when b has seen the second, a's copy of it was routed too (same fan-out).
      assert.deepEqual((await other.waitFor(2)).map((e) => e.args), [['excluded'], ['included']]);
      assert.deepEqual((await own.waitFor(1)).map((e) => e.args), [['included']]);
      assert.equal(own.items.length, 1);
    });

    test('unsubscribe stops delivery (proven by a marker on a second subscription)', async () => {
      const t = topic();
      const marker = topic();
      const inbox = new Inbox<Ev>();
      const sub = await b.session.subscribe(t, (args, kwargs, details) => inbox.push({ args, kwargs, details }));
      const markers = await subscribed(b, marker);
      await a.session.publish(t, ['before'], {}, { acknowledge: true });
      await inbox.waitFor(1);
      await b.session.unsubscribe(sub);
      await a.session.publish(t, ['after'], {}, { acknowledge: true });
      await a.session.publish(marker, ['marker'], {}, { acknowledge: true });
      await markers.waitFor(1);
      assert.deepEqual(inbox.items.map((e) => e.args), [['before']]);
    });

    test("publisher identification: the publisher's role decides (disclose.publisher), not disclose_me", async () => {
      const t = topic();
      const disclosed = `com.example.pubsub.disclosed.t${++topicSeq}`;
      const inbox = await subscribed(b, t);
      const shown = await subscribed(b, disclosed);
      await a.session.publish(t, ['anon']);
      await a.session.publish(t, ['asked'], {}, { disclose_me: true });
      await a.session.publish(disclosed, ['role']);
      const [anon, asked] = await inbox.waitFor(2);
      const [role] = await shown.waitFor(1);
      assert.equal(anon!.details.publisher, undefined);
      assert.equal(asked!.details.publisher, undefined);
      assert.equal(role!.details.publisher, a.session.id);
      assert.equal(typeof role!.details.publisher_authid, 'string');
      assert.equal(role!.details.publisher_authrole, 'anonymous');
    });

    test('publishing to a topic with no subscriber is fine and acknowledged', async () => {
      const pub = await a.session.publish(topic(), ['nobody'], {}, { acknowledge: true });
      assert.ok(pub !== undefined && pub.id > 0);
    });

    test('invalid or reserved topics are refused with wamp.error.invalid_uri', async () => {
      await assert.rejects(a.session.publish('com.Example.Bad', [], {}, { acknowledge: true }), (e: { error: string }) => {
        assert.equal(e.error, 'wamp.error.invalid_uri');
        return true;
      });
      await assert.rejects(a.session.publish('wamp.session.on_join', [], {}, { acknowledge: true }), (e: { error: string }) => {
        assert.equal(e.error, 'wamp.error.invalid_uri');
        return true;
      });
      await assert.rejects(b.session.subscribe('com..empty', () => {}), (e: { error: string }) => {
        assert.equal(e.error, 'wamp.error.invalid_uri');
        return true;
      });
    });

    test('a subscriber that leaves stops receiving; the others keep going', async () => {
      const t = topic();
      const d = await connect(r.url, ser);
      await subscribed(d, t);
      const inbox = await subscribed(b, t);
      await d.close();
      await a.session.publish(t, ['still'], {}, { acknowledge: true });
      assert.deepEqual((await inbox.waitFor(1)).map((e) => e.args), [['still']]);
    });
  });
}

describe('across serializers', () => {
  for (const [from, to] of [
    ['json', 'msgpack'],
    ['msgpack', 'json'],
  ] as const) {
    test(`${from} publisher -> ${to} subscriber, including binary payloads`, async () => {
      const pub = await connect(r.url, from);
      const sub = await connect(r.url, to);
      try {
        const t = topic();
        const inbox = await subscribed(sub, t);
        // A binary value: bytes in msgpack, "\0" + base64 in JSON (WAMP spec, "Binary support in JSON").
        const binOut = from === 'msgpack' ? Buffer.from([0, 1, 254, 255]) : '\u0000AAH+/w==';
        await pub.session.publish(t, ['text', 2 ** 40, binOut], { nested: { bin: binOut } }, { acknowledge: true });
        const [ev] = await inbox.waitFor(1);
        const binIn = to === 'msgpack' ? Buffer.from([0, 1, 254, 255]) : '\u0000AAH+/w==';
        assert.equal(ev!.args[0], 'text');
        assert.equal(ev!.args[1], 2 ** 40);
        assert.deepEqual(to === 'msgpack' ? Buffer.from(ev!.args[2] as Uint8Array) : ev!.args[2], binIn);
        const nested = (ev!.kwargs.nested as { bin: unknown }).bin;
        assert.deepEqual(to === 'msgpack' ? Buffer.from(nested as Uint8Array) : nested, binIn);
      } finally {
        await Promise.all([pub.close(), sub.close()]);
      }
    });
  }
});
