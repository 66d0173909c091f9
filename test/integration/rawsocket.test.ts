// WAMP over RawSocket (WAMP spec, "RawSocket Transport"): the handshake, framing, limits and
// PING/PONG with a raw `net` client; sessions crossing to AutobahnJS WebSocket peers through the
// same realm worker. Autobahn|Python's RawSocket client: rawsocket-python.test.ts.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Client, connect } from '../helpers/client.js';
import { scrape } from '../helpers/metrics.js';
import { makePki } from '../helpers/pki.js';
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

describe('RawSocket fan-out', () => {
  test('an EVENT reaches many RawSocket subscribers of two serializers and WebSocket ones, each event with its own payload', async () => {
    const r = await startRouter({ transports: [WS, rs()] });
    const ws = await connect(`ws://127.0.0.1:${r.port}/ws`, 'msgpack');
    try {
      const subs: RawSocketClient[] = [];
      for (const ser of ['json', 'json', 'json', 'msgpack', 'msgpack'] as const) {
        const c = await RawSocketClient.connect({ port: rsPort(r) });
        await c.handshake(ser);
        await c.join();
        c.send([32, 1, {}, 'com.fan']);
        assert.equal((await c.message(2))[0], 33);
        subs.push(c);
      }
      const wsEvents = new Inbox<unknown[]>();
      await ws.session.subscribe('com.fan', (a) => wsEvents.push(a!));
      const pub = await connect(`ws://127.0.0.1:${r.port}/ws`, 'json');
      for (let i = 0; i < 3; i++) await pub.session.publish('com.fan', [`event-${i}`, i], {}, { acknowledge: true });
      for (const c of subs) {
        await c.message(5);
        assert.deepEqual(
          c.messages().slice(2).map((m) => m[4]),
          [0, 1, 2].map((i) => [`event-${i}`, i]),
        );
      }
      assert.deepEqual(await wsEvents.waitFor(3), [0, 1, 2].map((i) => [`event-${i}`, i]));
      await pub.close();
      for (const c of subs) c.destroy();
    } finally {
      await ws.close();
      await r.stop();
    }
  });
});

describe('RawSocket framing: bad or oversize frames close only their own connection', () => {
  let r: TestRouter;
  let ws: Client;
  before(async () => {
    r = await startRouter({ transports: [WS, rs({ max_message_size: 4096 })] });
    ws = await connect(`ws://127.0.0.1:${r.port}/ws`, 'json');
  });
  after(async () => {
    await ws?.close();
    await r?.stop();
  });

  /** A joined RawSocket bystander, to show that others carry on. */
  async function bystander(): Promise<RawSocketClient> {
    const b = await RawSocketClient.connect({ port: rsPort(r) });
    await b.handshake('json');
    await b.join();
    return b;
  }

  for (const [what, header] of [
    ['a frame header longer than max_message_size (4096): closed before its payload comes', [0, 0, 0x10, 0x01]],
    ['a frame of reserved type 3', [3, 0, 0, 2]],
    ['a frame with a reserved bit set', [0x10, 0, 0, 2]],
  ] as const) {
    test(`${what}`, async () => {
      const b = await bystander();
      const c = await RawSocketClient.connect({ port: rsPort(r) });
      await c.handshake('json');
      await c.join();
      assert.equal(await ws.session.call('wamp.session.count'), 3);
      c.socket.write(Buffer.from(header));
      await within(c.closed, 5000, 'the router to close the offender');
      // Only the bystander and the WebSocket session remain.
      const n = b.messages().length;
      b.send([48, 100 + n, {}, 'wamp.session.count']);
      assert.deepEqual((await b.message(n + 1)).slice(0, 1), [50]);
      assert.equal(await ws.session.call('wamp.session.count'), 2);
      b.destroy();
    });
  }

  test('a message of exactly max_message_size passes; one byte more closes the connection', async () => {
    const c = await RawSocketClient.connect({ port: rsPort(r) });
    await c.handshake('json');
    await c.join();
    const prefix = '[16,1,{"acknowledge":true},"com.big",["';
    const fill = (n: number) => Buffer.from(`${prefix}${'x'.repeat(n - prefix.length - 3)}"]]`);
    const ok = fill(4096);
    assert.equal(ok.length, 4096);
    c.socket.write(RawSocketClient.frame(0, ok));
    assert.equal((await c.message(2))[0], 17, 'PUBLISHED for a 4096-byte message');
    c.socket.write(RawSocketClient.frame(0, fill(4097)));
    await within(c.closed, 5000, 'the router to close');
  });

  test('a message split into single bytes, and many messages in one write, are read in order', async () => {
    const c = await RawSocketClient.connect({ port: rsPort(r) });
    await c.handshake('json');
    await c.join();
    const frame = RawSocketClient.frame(0, Buffer.from('[48,7,{},"wamp.session.count"]'));
    for (const b of frame) {
      c.socket.write(Buffer.from([b]));
      await new Promise<void>((res) => setImmediate(res));
    }
    assert.deepEqual((await c.message(2)).slice(0, 2), [50, 7]);
    const many = Buffer.concat(Array.from({ length: 50 }, (_, i) => RawSocketClient.frame(0, Buffer.from(`[48,${10 + i},{},"wamp.session.count"]`))));
    c.socket.write(many);
    await c.message(52);
    assert.deepEqual(
      c.messages().slice(2).map((m) => m[1]),
      Array.from({ length: 50 }, (_, i) => 10 + i),
    );
    c.destroy();
  });

  test('PING is answered with a PONG carrying the same payload, before and after HELLO', async () => {
    const c = await RawSocketClient.connect({ port: rsPort(r) });
    await c.handshake('msgpack');
    c.socket.write(RawSocketClient.frame(1, Buffer.from('ping-1')));
    const [pong] = await c.frames.waitFor(1);
    assert.equal(pong!.type, 2);
    assert.equal(pong!.payload.toString(), 'ping-1');
    await c.join();
    c.socket.write(RawSocketClient.frame(1, Buffer.alloc(0)));
    const frames = await c.frames.waitFor(3);
    assert.deepEqual([frames[2]!.type, frames[2]!.payload.length], [2, 0]);
    // An unsolicited PONG is ignored; the session carries on.
    c.socket.write(RawSocketClient.frame(2, Buffer.from('x')));
    c.send([48, 9, {}, 'wamp.session.count']);
    assert.deepEqual((await c.message(2)).slice(0, 2), [50, 9]);
    c.destroy();
  });

  test('a message bigger than the client announced it accepts (2^10 = 1 KiB) closes that client, not the publisher', async () => {
    const c = await RawSocketClient.connect({ port: rsPort(r) });
    await c.handshake('json', 1);
    await c.join();
    c.send([32, 1, {}, 'com.small.client']);
    assert.equal((await c.message(2))[0], 33);
    await ws.session.publish('com.small.client', ['fits'], {}, { acknowledge: true });
    assert.deepEqual((await c.message(3))[4], ['fits']);
    await ws.session.publish('com.small.client', ['y'.repeat(1100)], {}, { acknowledge: true });
    await within(c.closed, 5000, 'the router to close the small client');
    assert.equal(c.messages().length, 3, 'no truncated or oversize frame was sent');
    assert.equal(await ws.session.call('wamp.session.count'), 1);
  });
});

describe('RawSocket framing violations are counted', () => {
  let r: TestRouter;
  before(async () => {
    r = await startRouter({ transports: [WS, rs({ serializers: ['json'], options: { max_message_size: 65536 } })] });
  });
  after(() => r?.stop());

  const violations = (m: Awaited<ReturnType<typeof scrape>>, transport = 'rsock') => m.get('crosswire_protocol_violations_total', { transport });

  test('a well-behaved session (PING, unsolicited PONG, a call, a close) counts no violation', async () => {
    const before = await scrape(r.http);
    const c = await RawSocketClient.connect({ port: rsPort(r) });
    await c.handshake('json');
    c.socket.write(RawSocketClient.frame(1, Buffer.from('p')));
    await c.frames.waitFor(1);
    c.socket.write(RawSocketClient.frame(2, Buffer.from('x')));
    await c.join();
    c.send([48, 1, {}, 'wamp.session.count']);
    assert.equal((await c.message(2))[0], 50);
    c.destroy();
    await within(c.closed, 5000, 'the close');
    const after = await scrape(r.http);
    assert.equal(violations(after), violations(before));
    assert.equal(after.get('crosswire_connections_opened_total', { transport: 'rsock' }), before.get('crosswire_connections_opened_total', { transport: 'rsock' }) + 1);
  });

  for (const [what, header] of [
    ['a frame of reserved type 3', [0x03, 0, 0, 2]],
    ['a frame with a reserved bit set', [0x10, 0, 0, 2]],
    ['a frame longer than max_message_size (65,537 octets announced)', [0x00, 0x01, 0x00, 0x01]],
  ] as const) {
    test(`${what} drops the connection and counts one protocol violation on its transport`, async () => {
      const before = await scrape(r.http);
      const c = await RawSocketClient.connect({ port: rsPort(r) });
      await c.handshake('json');
      await c.join();
      c.socket.write(Buffer.from(header));
      await within(c.closed, 5000, 'the router to drop the connection');
      const after = await scrape(r.http);
      assert.equal(violations(after) - violations(before), 1);
      assert.equal(violations(after, 'wsock'), violations(before, 'wsock'));
    });
  }

  test('a bad handshake is counted as a refused connection (reason other), not as a violation', async () => {
    const before = await scrape(r.http);
    const a = await RawSocketClient.connect({ port: rsPort(r) });
    a.socket.write(Buffer.from([0x7f, 0xf1, 0, 1]));
    assert.deepEqual([...(await within(a.reply.promise, 5000, 'the handshake reply'))], [0x7f, 3 << 4, 0, 0]);
    await within(a.closed, 5000, 'the router to close');
    const b = await RawSocketClient.connect({ port: rsPort(r) });
    b.socket.write('GET / HTTP/1.1\r\n\r\n');
    await within(b.closed, 5000, 'the router to close');
    const after = await scrape(r.http);
    assert.equal(after.get('crosswire_connections_refused_total', { reason: 'other' }) - before.get('crosswire_connections_refused_total', { reason: 'other' }), 2);
    assert.equal(violations(after), violations(before));
  });
});

describe('RawSocket limits: handshake timeout, max_connections, send buffer', () => {
  test('a client that sends no handshake within handshake_timeout is dropped and counted as refused', async () => {
    const r = await startRouter({ transports: [WS, rs({ options: { handshake_timeout: 1000 } })] });
    try {
      const c = await RawSocketClient.connect({ port: rsPort(r) });
      c.socket.write(Buffer.from([0x7f, 0xf1])); // half a handshake
      const t0 = Date.now();
      await within(c.closed, 5000, 'the router to drop the silent client');
      assert.ok(Date.now() - t0 >= 800, 'not before the timeout');
      assert.equal(c.socket.bytesRead, 0, 'no reply');
      assert.equal(r.router.counters.refused[6], 1, 'refused: other');
    } finally {
      await r.stop();
    }
  });

  test('max_connections: the connection past the limit gets handshake error 4; after one leaves, a new one gets in', async () => {
    const r = await startRouter({ transports: [WS, rs({ options: { max_connections: 2 } })] });
    try {
      const a = await RawSocketClient.connect({ port: rsPort(r) });
      await a.handshake();
      const b = await RawSocketClient.connect({ port: rsPort(r) });
      await b.handshake();
      const c = await RawSocketClient.connect({ port: rsPort(r) });
      assert.deepEqual([...(await c.handshake())], [0x7f, 4 << 4, 0, 0]);
      await within(c.closed, 5000, 'the refused connection to close');
      a.destroy();
      await within(a.closed, 5000, 'a to close');
      // The router sees the close asynchronously: retry a bounded number of times.
      let reply: number[] = [];
      for (let i = 0; i < 50; i++) {
        const d = await RawSocketClient.connect({ port: rsPort(r) });
        reply = [...(await d.handshake())];
        d.destroy();
        if (reply[1] !== 4 << 4) break;
        await new Promise<void>((res) => setTimeout(res, 20));
      }
      assert.deepEqual(reply, [0x7f, 0xf1, 0, 0]);
      b.destroy();
    } finally {
      await r.stop();
    }
  });

  test('a client that sends PINGs and does not read the PONGs is dropped at max_backpressure', async () => {
    const r = await startRouter({ transports: [WS, rs({ options: { max_backpressure: 64 * 1024 } })] });
    try {
      const c = await RawSocketClient.connect({ port: rsPort(r) });
      await c.handshake('json');
      c.socket.pause();
      const ping = RawSocketClient.frame(1, Buffer.alloc(60 * 1024, 7));
      let sent = 0;
      let closed = false;
      void c.closed.then(() => (closed = true));
      // Bounded: 1000 PINGs (60 MB) are far more than loopback buffers plus 64 KiB.
      while (!closed && sent < 1000) {
        if (!c.socket.write(ping)) await Promise.race([new Promise((res) => c.socket.once('drain', res)), c.closed]);
        sent++;
      }
      await within(c.closed, 10_000, 'the router to drop the PING flooder');
      assert.ok(sent < 1000, `dropped after ${sent} PINGs`);
      // Counted as a slow consumer (its send buffer), not as a protocol violation.
      const m = await scrape(r.http);
      assert.equal(m.get('crosswire_slow_consumer_closes_total'), 1);
      assert.equal(m.get('crosswire_protocol_violations_total', { transport: 'rsock' }), 0);
    } finally {
      await r.stop();
    }
  });

  test('a subscriber that does not read is dropped at max_backpressure; the publisher and others carry on', async () => {
    const r = await startRouter({ transports: [WS, rs({ options: { max_backpressure: 64 * 1024 } })] });
    const ws = await connect(`ws://127.0.0.1:${r.port}/ws`, 'msgpack');
    try {
      const slow = await RawSocketClient.connect({ port: rsPort(r) });
      await slow.handshake('msgpack');
      await slow.join();
      slow.send([32, 1, {}, 'com.flood']);
      assert.equal((await slow.message(2))[0], 33);
      slow.socket.pause(); // stops reading: the kernel buffers fill, then the router's
      const payload = 'z'.repeat(16 * 1024);
      const deadline = Date.now() + 20_000;
      while (r.router.slowConsumerCloses === 0 && Date.now() < deadline) {
        await Promise.all(Array.from({ length: 32 }, () => ws.session.publish('com.flood', [payload], {}, { acknowledge: true })));
      }
      assert.equal(r.router.slowConsumerCloses, 1, 'the RawSocket subscriber was closed as a slow consumer');
      assert.equal(await ws.session.call('wamp.session.count'), 1);
      slow.destroy();
    } finally {
      await ws.close();
      await r.stop();
    }
  });
});

describe('RawSocket: auth, session meta, metrics', () => {
  let r: TestRouter;
  let ws: Client;
  before(async () => {
    r = await startRouter({
      realms: [{ name: 'realm1', roles: [{ name: 'user', permissions: [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true } }] }, { name: 'anonymous', permissions: [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true } }] }] }],
      transports: [WS, rs({ auth: { ticket: { type: 'static', principals: { joe: { ticket: 'joe-secret', role: 'user' } } } } })],
    });
    ws = await connect(`ws://127.0.0.1:${r.port}/ws`, 'json');
  });
  after(async () => {
    await ws?.close();
    await r?.stop();
  });

  test("the transport's auth applies: ticket accepted (authid, role), a wrong one and anonymous refused", async () => {
    const c = await RawSocketClient.connect({ port: rsPort(r) });
    await c.handshake('cbor');
    const challenge = await c.join('realm1', { roles: { caller: {} }, authmethods: ['ticket'], authid: 'joe' });
    assert.deepEqual(challenge.slice(0, 2), [4, 'ticket']);
    c.send([5, 'joe-secret', {}]);
    const welcome = await c.message(2);
    assert.equal(welcome[0], 2, `WELCOME, got ${JSON.stringify(welcome)}`);
    const details = welcome[2] as Record<string, unknown>;
    assert.equal(details.authid, 'joe');
    assert.equal(details.authrole, 'user');
    assert.equal(details.authmethod, 'ticket');
    // What the realm knows about the session's transport (wamp.session.get, from a WebSocket session).
    const info = (await ws.session.call('wamp.session.get', [welcome[1]])) as Record<string, Record<string, unknown>>;
    assert.equal(info.transport!.type, 'rawsocket');
    assert.equal(info.transport!.serializer, 'cbor');
    assert.match(String(info.transport!.peer), /^tcp:127\.0\.0\.1$/);
    c.destroy();

    const bad = await RawSocketClient.connect({ port: rsPort(r) });
    await bad.handshake('json');
    await bad.join('realm1', { roles: { caller: {} }, authmethods: ['ticket'], authid: 'joe' });
    bad.send([5, 'wrong', {}]);
    const abort = await bad.message(2, 10_000);
    assert.deepEqual([abort[0], abort[2]], [3, 'wamp.error.authentication_failed']);
    await within(bad.closed, 5000, 'the refused connection to close');

    const anon = await RawSocketClient.connect({ port: rsPort(r) });
    await anon.handshake('json');
    const refused = await anon.join();
    assert.deepEqual([refused[0], refused[2]], [3, 'wamp.error.no_matching_auth_method']);
  });

  test('metrics count RawSocket connections under its transport id, messages under their serializer', async () => {
    const before = await scrape(r.http);
    const c = await RawSocketClient.connect({ port: rsPort(r) });
    await c.handshake('json');
    await c.join('realm1', { roles: { caller: {} }, authmethods: ['ticket'], authid: 'joe' });
    c.send([5, 'joe-secret', {}]);
    assert.equal((await c.message(2))[0], 2);
    const during = await scrape(r.http);
    assert.equal(during.get('crosswire_connections', { transport: 'rsock' }), before.get('crosswire_connections', { transport: 'rsock' }) + 1);
    assert.equal(
      during.get('crosswire_connections_opened_total', { transport: 'rsock' }),
      before.get('crosswire_connections_opened_total', { transport: 'rsock' }) + 1,
    );
    assert.equal(during.get('crosswire_connections', { transport: 'wsock' }), 1);
    c.destroy();
    await within(c.closed, 5000, 'close');
    let after = await scrape(r.http);
    for (let i = 0; i < 50 && after.get('crosswire_connections', { transport: 'rsock' }) !== before.get('crosswire_connections', { transport: 'rsock' }); i++) {
      await new Promise<void>((res) => setTimeout(res, 20));
      after = await scrape(r.http);
    }
    assert.equal(after.get('crosswire_connections', { transport: 'rsock' }), before.get('crosswire_connections', { transport: 'rsock' }));
    assert.equal(after.get('crosswire_connections_closed_total', { transport: 'rsock' }), before.get('crosswire_connections_closed_total', { transport: 'rsock' }) + 1);
  });
});

describe('RawSocket endpoints: unix and tls', () => {
  test('a unix socket endpoint: join, peer "unix", the socket file removed on shutdown', async () => {
    const path = join(tmpdir(), `crosswire-rs-${process.pid}.sock`);
    rmSync(path, { force: true });
    const r = await startRouter({ transports: [WS, { id: 'rsunix', type: 'rawsocket', endpoint: { type: 'unix', path } }] });
    const ws = await connect(`ws://127.0.0.1:${r.port}/ws`, 'json');
    try {
      const c = await RawSocketClient.connect({ path });
      await c.handshake('msgpack');
      const welcome = await c.join();
      assert.equal(welcome[0], 2);
      const info = (await ws.session.call('wamp.session.get', [welcome[1]])) as Record<string, Record<string, unknown>>;
      assert.equal(info.transport!.peer, 'unix');
      assert.deepEqual(r.router.peers().sort(), ['tcp:127.0.0.1', 'unix']);
      c.destroy();
    } finally {
      await ws.close();
      await r.stop();
    }
    assert.throws(() => rmSync(path), /ENOENT/);
  });

  test('a tls endpoint: RawSocket inside TLS, with the chain served', async () => {
    const pki = makePki();
    const r = await startRouter({
      transports: [WS, rs({ endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1', tls: { key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert] } } })],
    });
    try {
      const c = await RawSocketClient.connect({ port: rsPort(r) }, { ca: pki.read(pki.rootCert), servername: 'localhost' });
      assert.equal((c.socket as import('node:tls').TLSSocket).authorized, true);
      await c.handshake('json');
      assert.equal((await c.join())[0], 2);
      c.destroy();
    } finally {
      await r.stop();
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});

describe('RawSocket tls with ca_certificates', () => {
  test("a client certificate from the CA is required: with one the client joins, without one or with a stranger's the TLS handshake fails", async () => {
    const pki = makePki();
    const r = await startRouter({
      transports: [
        WS,
        rs({ endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1', tls: { key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert], ca_certificates: [pki.rootCert] } } }),
      ],
    });
    const tlsTo = (extra: Record<string, unknown>) => ({ ca: pki.read(pki.rootCert), servername: 'localhost', ...extra });
    try {
      const ok = await RawSocketClient.connect({ port: rsPort(r) }, tlsTo({ key: pki.read(pki.clientKey), cert: pki.read(pki.clientCert) }));
      await ok.handshake('json');
      assert.equal((await ok.join())[0], 2);
      ok.destroy();
      for (const extra of [{}, { key: pki.read(pki.strangerKey), cert: pki.read(pki.strangerCert) }]) {
        // TLS 1.3: the client's side of the handshake may complete before the router checks its certificate.
        const c = await RawSocketClient.connect({ port: rsPort(r) }, tlsTo(extra)).catch(() => null);
        if (c === null) continue;
        c.socket.write(Buffer.from([0x7f, 0xf1, 0, 0]));
        await within(c.closed, 5000, 'the router to fail the TLS connection');
        assert.equal(c.frames.items.length, 0);
        assert.equal(c.socket.bytesRead, 0, 'no RawSocket handshake reply');
      }
    } finally {
      await r.stop();
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});

describe('RawSocket drain', () => {
  test('shutdown: a joined session gets GOODBYE system_shutdown, then the close; a new handshake gets error 4', async () => {
    const r = await startRouter({ transports: [WS, rs()] });
    const c = await RawSocketClient.connect({ port: rsPort(r) });
    await c.handshake('json');
    await c.join();
    const stopped = r.router.shutdown(2000);
    const goodbye = await c.message(2);
    assert.deepEqual([goodbye[0], goodbye[2]], [6, 'wamp.close.system_shutdown']);
    const late = await RawSocketClient.connect({ port: rsPort(r) });
    assert.deepEqual([...(await late.handshake())], [0x7f, 4 << 4, 0, 0]);
    c.send([6, {}, 'wamp.close.goodbye_and_out']);
    await within(c.closed, 5000, 'the router to close after GOODBYE');
    await within(stopped, 10_000, 'the router to stop');
  });
});
