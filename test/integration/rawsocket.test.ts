// WAMP over RawSocket (WAMP spec, "RawSocket Transport"): the handshake, framing, limits and
// PING/PONG with a raw `net` client; sessions crossing to AutobahnJS WebSocket peers through the
// same realm worker. Autobahn|Python's RawSocket client: rawsocket-python.test.ts.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Client, connect } from '../helpers/client.js';
import { RawSocketClient } from '../helpers/rawsocket.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';

const WS = { id: 'wsock', type: 'websocket', endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' } };
const rs = (extra: Record<string, unknown> = {}) => ({ id: 'rsock', type: 'rawsocket', endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' }, ...extra });

function rsPort(r: TestRouter): number {
  return r.router.listeners[1]!.port;
}

describe('RawSocket handshake', () => {
  let r: TestRouter;
  before(async () => {
    r = await startRouter({ transports: [WS, rs({ serializers: ['json', 'msgpack'], options: { max_message_size: 65536 } })] });
  });
  after(() => r?.stop());

  test('the router answers 0x7F, its length exponent (2^(9+7) = 64 KiB) and the serializer', async () => {
    const c = await RawSocketClient.connect({ port: rsPort(r) });
    const reply = await c.handshake('msgpack', 3);
    assert.deepEqual([...reply], [0x7f, (7 << 4) | 2, 0, 0]);
    const welcome = await c.join();
    assert.equal(welcome[0], 2, `WELCOME, got ${JSON.stringify(welcome)}`);
    c.destroy();
  });

  for (const [what, bytes, code] of [
    ['an unoffered serializer (cbor) is refused with error 1', [0x7f, 0xf3, 0, 0], 1],
    ['serializer 0 (illegal) is refused with error 1', [0x7f, 0xf0, 0, 0], 1],
    ['reserved octets set are refused with error 3', [0x7f, 0xf1, 0, 1], 3],
  ] as const) {
    test(`handshake: ${what}, then the router closes`, async () => {
      const c = await RawSocketClient.connect({ port: rsPort(r) });
      c.socket.write(Buffer.from(bytes));
      const reply = await within(c.reply.promise, 5000, 'the handshake reply');
      assert.deepEqual([...reply], [0x7f, code << 4, 0, 0]);
      await within(c.closed, 5000, 'the router to close');
    });
  }

  test('a first octet other than 0x7F (an HTTP request) is dropped without a reply', async () => {
    const c = await RawSocketClient.connect({ port: rsPort(r) });
    c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await within(c.closed, 5000, 'the router to close');
    assert.equal(c.frames.items.length, 0);
    assert.equal(c.socket.bytesRead, 0);
  });

  test('a handshake split over several writes is read', async () => {
    const c = await RawSocketClient.connect({ port: rsPort(r) });
    c.ser = 'json';
    for (const b of [0x7f, 0xf1, 0, 0]) {
      c.socket.write(Buffer.from([b]));
      await new Promise<void>((res) => setImmediate(res));
    }
    assert.deepEqual([...(await within(c.reply.promise, 5000, 'reply'))], [0x7f, (7 << 4) | 1, 0, 0]);
    assert.equal((await c.join())[0], 2);
    c.destroy();
  });
});

describe('RawSocket sessions cross to WebSocket sessions in the same realm', () => {
  let r: TestRouter;
  let ws: Client;
  before(async () => {
    r = await startRouter({ transports: [WS, rs()] });
    ws = await connect(`ws://127.0.0.1:${r.port}/ws`, 'json');
  });
  after(async () => {
    await ws?.close();
    await r?.stop();
  });

  for (const ser of ['json', 'msgpack', 'cbor'] as const) {
    test(`${ser}: RawSocket calls a WebSocket callee, and publishes to a WebSocket subscriber`, async () => {
      await ws.session.register(`com.rs.${ser}.add`, (args) => (args![0] as number) + (args![1] as number));
      const events = new Inbox<unknown[]>();
      await ws.session.subscribe(`com.rs.${ser}.topic`, (args) => events.push(args!));
      const c = await RawSocketClient.connect({ port: rsPort(r) });
      await c.handshake(ser);
      const welcome = await c.join();
      assert.equal(welcome[0], 2);
      c.send([48, 1, {}, `com.rs.${ser}.add`, [2 ** 40, 2]]);
      const result = await c.message(2);
      assert.deepEqual(result, [50, 1, {}, [2 ** 40 + 2]]);
      c.send([16, 2, { acknowledge: true }, `com.rs.${ser}.topic`, ['hello', 7]]);
      assert.equal((await c.message(3))[0], 17, 'PUBLISHED');
      assert.deepEqual((await events.waitFor(1))[0], ['hello', 7]);
      c.destroy();
    });

    test(`${ser}: a WebSocket caller calls a RawSocket callee, and the RawSocket subscriber gets its events`, async () => {
      const c = await RawSocketClient.connect({ port: rsPort(r) });
      await c.handshake(ser);
      await c.join();
      c.send([64, 1, {}, `com.rs.${ser}.echo`]);
      const registered = await c.message(2);
      assert.equal(registered[0], 65);
      c.send([32, 2, {}, `com.rs.${ser}.ev`]);
      assert.equal((await c.message(3))[0], 33);
      const call = ws.session.call(`com.rs.${ser}.echo`, ['x', 1]);
      const inv = await c.message(4);
      assert.equal(inv[0], 68, `INVOCATION, got ${JSON.stringify(inv)}`);
      c.send([70, inv[1], {}, ['echo', ...(inv[4] as unknown[])]]);
      const res = (await within(call, 5000, 'the call result')) as { args: unknown[] };
      assert.deepEqual(res.args, ['echo', 'x', 1]);
      await ws.session.publish(`com.rs.${ser}.ev`, ['to-rs'], {}, { acknowledge: true });
      const ev = await c.message(5);
      assert.equal(ev[0], 36);
      assert.deepEqual(ev[4], ['to-rs']);
      c.destroy();
    });
  }
});
