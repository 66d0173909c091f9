// An established session's frames go to the realm worker as received (the main thread reads
// only their head, src/shared/wamp/peek.ts), unless the head is not in the plain form: then the main
// thread decodes them as before. Both kinds must keep the session's order, and a CALL's request
// id read from the head must still let the main thread answer the call when the worker dies.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '../helpers/client.js';
import { captureLog } from '../helpers/log.js';
import { RawPeer } from '../helpers/raw.js';
import { SERIALIZERS as SERIALIZERS_ } from '../../src/shared/serializers/index.js';
import { startRouter } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';

test('json frames with plain and with unusual heads are routed in the order they were sent', async () => {
  const r = await startRouter();
  try {
    const callee = await connect(r.url, 'msgpack');
    const seen = new Inbox<number>();
    await callee.session.register('com.example.echo', (args) => {
      seen.push(args[0] as number);
      return args[0];
    });
    const raw = await RawPeer.open(r.url, 'json');
    await raw.join();
    const frames = [
      '[48,1,{},"com.example.echo",[1]]', // plain: forwarded as bytes
      '[ 48 , 2 , {} , "com.example.echo" , [2] ]', // whitespace: still read from the head
      '[48,3.0,{},"com.example.echo",[3]]', // request id not a plain integer: decoded here
      '[48,4,{},"com.example.echo",[4]]',
      '[48,5e0,{},"com.example.echo",[5]]',
      '[48,6,{},"com.example.echo",[6]]',
    ];
    const forwarded = r.router.counters.forwarded;
    for (const f of frames) raw.ws.send(f);
    assert.deepEqual(await seen.waitFor(6), [1, 2, 3, 4, 5, 6]);
    const results = new Map<number, unknown>();
    for (let i = 0; i < 6; i++) {
      const m = await raw.next(50);
      results.set(m[1] as number, (m[3] as unknown[])[0]);
    }
    assert.deepEqual([...results.entries()].sort((a, b) => a[0] - b[0]), [1, 2, 3, 4, 5, 6].map((i) => [i, i]));
    // Frames 1, 2, 4 and 6 went to the worker as bytes, 3 and 5 were decoded on the main thread;
    // the callee's six YIELDs (all answered by now) were forwarded too.
    assert.equal(r.router.counters.forwarded - forwarded, 4 + 6);
    raw.close();
    await callee.close();
  } finally {
    await r.stop();
  }
});

test('calls pending when the realm worker dies are canceled by request id, at every msgpack integer width', async () => {
  const capture = captureLog();
  const r = await startRouter({ options: { debugHooks: true }, log: capture.log });
  try {
    const callee = await connect(r.url, 'json');
    const invoked = new Inbox<number>();
    await callee.session.register('com.example.hang', (args) => {
      invoked.push(args[0] as number);
      return new Promise(() => {});
    });
    const raw = await RawPeer.open(r.url, 'msgpack');
    await raw.join();
    // fixint, uint8, uint16, uint32, uint64 request ids.
    const ids = [7, 200, 60000, 2 ** 32 - 1, 2 ** 53 - 1];
    const forwarded = r.router.counters.forwarded;
    for (const id of ids) raw.send([48, id, {}, 'com.example.hang', [id]]);
    assert.deepEqual((await invoked.waitFor(ids.length)).sort((a, b) => a - b), [...ids].sort((a, b) => a - b));
    // Every CALL took the bytes path: its request id was read from the head, not from a decode.
    assert.equal(r.router.counters.forwarded - forwarded, ids.length);
    r.router.debugFailWorker(0, 'throw');
    const canceled: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const e = await raw.next(8);
      assert.equal(e[1], 48);
      assert.equal(e[4], 'wamp.error.canceled');
      canceled.push(e[2] as number);
    }
    assert.deepEqual(canceled.sort((a, b) => a - b), [...ids].sort((a, b) => a - b));
    assert.equal((await within(raw.closed, 5000, 'the close')).code, 1011);
  } finally {
    await r.stop();
  }
});

test('a frame the worker cannot decode ends only its session: ABORT protocol_violation, close 1002', async () => {
  const r = await startRouter();
  try {
    const bystander = await connect(r.url, 'json');
    await bystander.session.register('com.example.ping', () => 'pong');
    for (const [ser, frame] of [
      ['json', '[48,1,{},"com.example.ping",[1]'], // the head is fine, the rest is not JSON
      ['msgpack', Buffer.from([0x94, 0x30, 0x01, 0x80, 0xc1])], // 0xc1 is never used in msgpack
    ] as const) {
      const raw = await RawPeer.open(r.url, ser);
      await raw.join();
      const forwarded = r.router.counters.forwarded;
      raw.ws.send(frame, { binary: ser === 'msgpack' });
      const abort = await raw.next(3);
      assert.equal(abort[2], 'wamp.error.protocol_violation');
      assert.match((abort[1] as { message: string }).message, new RegExp(`malformed ${ser} message`));
      assert.equal((await within(raw.closed, 5000, 'the close')).code, 1002);
      assert.equal(r.router.counters.forwarded - forwarded, 1, 'the worker found it, not the main thread');
    }
    assert.equal(await bystander.session.call('com.example.ping'), 'pong');
    await bystander.close();
  } finally {
    await r.stop();
  }
});

test('a msgpack frame cannot read past its own end: what follows it in the batch is never decoded as part of it', async () => {
  const r = await startRouter();
  try {
    const sub = await connect(r.url, 'msgpack');
    const events = new Inbox<unknown[]>();
    await sub.session.subscribe('t', (args) => events.push(args));
    const bad = await RawPeer.open(r.url, 'msgpack');
    await bad.join();
    // PUBLISH [16, 1, {}, "t", …] whose Arguments are msgpackr's bundled-strings extension (0x62)
    // pointing back into the frame, followed by a list whose second element is a uint64 (0xcf)
    // with no bytes left: decoded in place in the batch's byte area, the read ran on into the
    // bytes after the frame (the next record, or stale memory) and the PUBLISH was routed with
    // them as arguments. More frames follow in the same write, so there are
    // bytes after it in the area.
    const crafted = Buffer.from('951001' + '80' + 'a174' + 'd66200000006' + '92cf' + 'a0a0', 'hex');
    const tail = [1, 2, 3].map((i) => Buffer.from(SERIALIZERS_.msgpack.encode([16, 100 + i, {}, 'u', ['x'.repeat(40)]])));
    bad.ws.send(crafted, { binary: true });
    for (const t of tail) bad.ws.send(t, { binary: true });
    const abort = await bad.next(3);
    assert.equal(abort[2], 'wamp.error.protocol_violation');
    assert.match((abort[1] as { message: string }).message, /malformed msgpack message/);
    assert.equal((await within(bad.closed, 5000, 'the close')).code, 1002);
    // The subscriber got nothing from it: the first event it sees is the next legitimate one.
    const pub = await connect(r.url, 'json');
    await pub.session.publish('t', ['legit'], {}, { acknowledge: true });
    assert.deepEqual(await events.waitFor(1), [['legit']]);
    await Promise.all([pub.close(), sub.close()]);
  } finally {
    await r.stop();
  }
});
