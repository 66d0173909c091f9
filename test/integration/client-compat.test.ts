// Real WAMP clients that Crossbar.io serves and Crosswire must serve the same way:
// JavaScript clients' `undefined` option values in msgpack and CBOR (item 11).
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Wampy } from 'wampy';
import { CborSerializer } from 'wampy/CborSerializer.js';
import { MsgpackSerializer } from 'wampy/MsgpackSerializer.js';
import websocket from 'websocket';
import { connect } from '../helpers/client.js';
import { RawPeer } from '../helpers/raw.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';

let r: TestRouter;
before(async () => {
  r = await startRouter();
});
after(() => r.stop());

const fromHex = (h: string) => Buffer.from(h, 'hex');

// The bytes wampy 8 sends: its serializers are msgpackr's default pack() and cbor-x's Encoder,
// which write a JS `undefined` as fixext 1 type 0 (d4 00 00) and as simple value 23 (f7).
// SUBSCRIBE [32, 1, {match: undefined, get_retained: undefined}, "com.example.t"]
// PUBLISH [16, 2, {acknowledge: true, exclude_me: undefined}, "com.example.t", [1, undefined, "x"], {a: undefined, b: 2}]
const WAMPY = {
  msgpack: {
    subscribe: '942001de0002a56d61746368d40000ac6765745f72657461696e6564d40000ad636f6d2e6578616d706c652e74',
    publish: '961002de0002ab61636b6e6f776c65646765c3aa6578636c7564655f6d65d40000ad636f6d2e6578616d706c652e749301d40000a178de0002a161d40000a16202',
  },
  cbor: {
    subscribe: '84182001b90002656d61746368f76c6765745f72657461696e6564f76d636f6d2e6578616d706c652e74',
    publish: '861002b900026b61636b6e6f776c65646765f56a6578636c7564655f6d65f76d636f6d2e6578616d706c652e748301f76178b900026161f7616202',
  },
} as const;

describe('item 11: undefined option values of JavaScript clients read as absent', () => {
  for (const ser of ['msgpack', 'cbor'] as const) {
    test(`${ser}: wampy's SUBSCRIBE and PUBLISH bytes: subscribed; the event has the list element nil and the dict key dropped`, async () => {
      const peer = await RawPeer.open(r.url, ser);
      const json = await connect(r.url, 'json');
      try {
        await peer.join();
        peer.ws.send(fromHex(WAMPY[ser].subscribe), { binary: true });
        const subscribed = await peer.next(33);
        assert.equal(subscribed[1], 1);
        const events = new Inbox<unknown[]>();
        await json.session.subscribe('com.example.t', (args, kwargs) => events.push([args, kwargs]));
        peer.ws.send(fromHex(WAMPY[ser].publish), { binary: true });
        assert.equal((await peer.next(17))[1], 2, 'PUBLISHED');
        assert.deepEqual(await events.waitFor(1), [[[1, null, 'x'], { b: 2 }]]);
      } finally {
        peer.close();
        await json.close();
      }
    });
  }
});

describe('item 11 with wampy itself (8.0.2, its Node.js setup: the websocket package)', () => {
  for (const [ser, Ser] of [['msgpack', MsgpackSerializer], ['cbor', CborSerializer]] as const) {
    test(`${ser}: wampy subscribes, publishes, registers and calls`, async () => {
      const make = () => new Wampy(r.url, { realm: 'realm1', ws: websocket.w3cwebsocket as never, serializer: new Ser(), autoReconnect: false });
      const [a, b] = [make(), make()];
      try {
        await within(Promise.all([a.connect(), b.connect()]), 5000, 'two wampy sessions');
        const events = new Inbox<unknown>();
        await within(a.subscribe('com.example.w', (e) => events.push(e.argsList)), 5000, 'wampy SUBSCRIBED');
        await within(b.publish('com.example.w', [1, 'two']), 5000, 'wampy PUBLISHED');
        assert.deepEqual(await events.waitFor(1), [[1, 'two']]);
        await within(a.register('com.example.add', (e) => ({ argsList: [(e.argsList![0] as number) + (e.argsList![1] as number)] })), 5000, 'wampy REGISTERED');
        assert.deepEqual((await within(b.call('com.example.add', [2, 3]), 5000, 'the wampy call')).argsList, [5]);
      } finally {
        await Promise.all([a.disconnect(), b.disconnect()]);
      }
    });
  }
});

describe('item 12: AutobahnJS connection.close() is a clean close', () => {
  for (const ser of ['json', 'msgpack'] as const) {
    test(`${ser}: AutobahnJS reports "closed", not "lost"`, async () => {
      const c = await connect(r.url, ser);
      c.connection.close();
      const { reason, details } = await within(c.closed, 5000, 'the connection to close');
      assert.equal(reason, 'closed', JSON.stringify(details));
      assert.equal(details.reason, 'wamp.close.goodbye_and_out');
    });
  }

  test('a GOODBYE that only leaves the realm keeps the WebSocket for a HELLO sent after the reply', async () => {
    const p = await RawPeer.open(r.url, 'json');
    try {
      await p.join();
      p.send([6, {}, 'wamp.close.close_realm']);
      assert.deepEqual(await p.next(6), [6, {}, 'wamp.close.goodbye_and_out']);
      const welcome = await p.join(); // only after the GOODBYE reply came
      assert.equal(welcome[0], 2);
      p.send([6, {}, 'wamp.close.normal']);
      await p.next(6);
      // Done (wamp.close.normal) and nothing behind it: the router closes with 1000.
      assert.deepEqual(await within(p.closed, 5000, 'the close'), { code: 1000, reason: '' });
    } finally {
      p.close();
    }
  });

  // Why the router closes first after GOODBYE wamp.close.normal instead of waiting for the
  // client's close frame: uWebSockets.js answers a close frame by itself, in C++, before the
  // router hears of it, and answers one without a code without a code (1005 at the client,
  // "lost" for AutobahnJS). Should a uWS build ever answer it with 1000, the router could keep the
  // WebSocket open for a HELLO after the GOODBYE reply and this test would say so.
  test('uWebSockets.js answers a close frame without a code without a code (1005), whatever the router does', async () => {
    const p = await RawPeer.open(r.url, 'json');
    await p.join();
    p.ws.close();
    assert.deepEqual(await within(p.closed, 5000, 'the close'), { code: 1005, reason: '' });
  });

  test('a HELLO sent right behind GOODBYE wamp.close.normal still starts a new session', async () => {
    const p = await RawPeer.open(r.url, 'msgpack');
    try {
      await p.join();
      p.send([6, {}, 'wamp.close.normal']);
      p.send([1, 'realm1', { roles: { subscriber: {} } }]);
      assert.deepEqual(await p.next(6), [6, {}, 'wamp.close.goodbye_and_out']);
      assert.equal((await p.next(2))[0], 2);
      p.send([32, 1, {}, 'com.example.again']);
      assert.equal((await p.next(33))[0], 33);
    } finally {
      p.close();
    }
  });
});
