// Every serializer a WebSocket transport offers (json, msgpack, cbor and their batched
// variants) on the wire against the real router. Frames are decoded here with independently
// configured codecs (cbor-x / msgpackr / JSON.parse), not with the router's serializers.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Decoder } from 'cbor-x';
import { Packr, Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import { connect } from '../helpers/client.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';

const cbor = new Decoder({ mapsAsObjects: true, int64AsNumber: true } as ConstructorParameters<typeof Decoder>[0]);
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const packr = new Packr({ useRecords: false });

type Msg = unknown[];
const ROLES = { subscriber: {}, publisher: {} };

/** Splits one WebSocket message of a (batched) subprotocol into WAMP messages, decoded here. */
function unframe(proto: string, data: Buffer): Msg[] {
  const [, , ser, batched] = proto.split('.');
  const one = (b: Buffer): Msg => (ser === 'json' ? JSON.parse(b.toString()) : ser === 'msgpack' ? unpackr.unpack(b) : cbor.decode(b)) as Msg;
  if (batched === undefined) return [one(data)];
  const out: Msg[] = [];
  if (ser === 'json') {
    assert.equal(data[data.length - 1], 0x18, 'every batched JSON message ends with 0x18');
    for (const part of data.toString('latin1').split('\x18').slice(0, -1)) out.push(one(Buffer.from(part, 'latin1')));
  } else {
    for (let off = 0; off < data.length; ) {
      const len = data.readUInt32BE(off);
      assert.ok(off + 4 + len <= data.length, 'a length prefix within the WebSocket message');
      out.push(one(data.subarray(off + 4, off + 4 + len)));
      off += 4 + len;
    }
  }
  return out;
}

/** Frames WAMP messages for a subprotocol; JSON batches use `sep` (0x18 or 0x1e). */
function frame(proto: string, msgs: Msg[], sep = 0x18): Buffer {
  const [, , ser, batched] = proto.split('.');
  if (batched === undefined) return ser === 'json' ? Buffer.from(JSON.stringify(msgs[0])) : packr.pack(msgs[0]);
  if (ser === 'json') return Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from(JSON.stringify(m)), Buffer.from([sep])])));
  return Buffer.concat(
    msgs.map((m) => {
      const body = packr.pack(m);
      const head = Buffer.alloc(4);
      head.writeUInt32BE(body.length);
      return Buffer.concat([head, body]);
    }),
  );
}

class Peer {
  readonly inbox = new Inbox<Msg>();
  readonly closed: Promise<{ code: number; reason: string }>;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer) => {
      for (const m of unframe(ws.protocol, d)) this.inbox.push(m);
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }
  static async open(url: string, protocols: string[]): Promise<Peer> {
    const ws = new WebSocket(url, protocols);
    const p = new Peer(ws);
    await within(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 5000, 'open');
    return p;
  }
  sendRaw(data: Buffer): void {
    this.ws.send(data, { binary: !this.ws.protocol.startsWith('wamp.2.json') });
  }
  async nextOf(type: number): Promise<Msg> {
    for (let i = 0; ; i++) {
      const items = await this.inbox.waitFor(i + 1);
      if (items[i]![0] === type) return items[i]!;
    }
  }
}

let r: TestRouter;
before(async () => {
  r = await startRouter();
});
after(() => r.stop());

const PROTOCOLS = ['wamp.2.json', 'wamp.2.msgpack', 'wamp.2.cbor', 'wamp.2.json.batched', 'wamp.2.msgpack.batched', 'wamp.2.cbor.batched'];

describe('negotiation', () => {
  test('all six subprotocols are offered by default; the client order wins', async () => {
    for (const p of PROTOCOLS) {
      const peer = await Peer.open(r.url, [p]);
      assert.equal(peer.ws.protocol, p);
      peer.ws.close();
    }
    const pref = await Peer.open(r.url, ['wamp.2.cbor.batched', 'wamp.2.json']);
    assert.equal(pref.ws.protocol, 'wamp.2.cbor.batched');
    pref.ws.close();
  });
});

describe('every subprotocol carries sessions, binary values and 53-bit ids', () => {
  for (const p of PROTOCOLS) {
    test(p, async () => {
      const sub = await Peer.open(r.url, [p]);
      // CBOR is written by the small independent writer below and read back with cbor-x.
      const send = (m: Msg) => {
        if (p.includes('cbor')) {
          const body = cborEncode(m);
          sub.sendRaw(p.endsWith('.batched') ? Buffer.concat([u32(body.length), body]) : body);
        } else sub.sendRaw(frame(p, [m]));
      };
      send([1, 'realm1', { roles: ROLES }]);
      const welcome = await sub.nextOf(2);
      assert.ok(Number.isSafeInteger(welcome[1]) && (welcome[1] as number) > 0);
      send([32, 1, {}, 'com.example.ser']);
      await sub.nextOf(33);
      const pub = await connect(r.url, 'msgpack');
      const bin = Uint8Array.from([0, 1, 2, 250]);
      await pub.session.publish('com.example.ser', [bin, 2 ** 53 - 1], { k: 'é' }, { acknowledge: true });
      const ev = await sub.nextOf(36);
      const got = (ev[4] as unknown[])[0];
      if (p.startsWith('wamp.2.json')) {
        // WAMP spec, "Binary support in JSON": "\u0000" + base64.
        assert.equal(got, `\u0000${Buffer.from(bin).toString('base64')}`);
      } else assert.deepEqual([...(got as Uint8Array)], [...bin], 'a binary value: msgpack bin / CBOR byte string');
      assert.equal((ev[4] as unknown[])[1], 2 ** 53 - 1);
      assert.deepEqual(ev[5], { k: 'é' });
      sub.ws.close();
      await pub.close();
    });
  }
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function cborEncode(m: Msg): Buffer {
  // A tiny independent CBOR writer for what these tests send (ints < 2^32, strings, lists, maps).
  const parts: Buffer[] = [];
  const head = (major: number, n: number) => {
    if (n < 24) parts.push(Buffer.from([(major << 5) | n]));
    else if (n < 256) parts.push(Buffer.from([(major << 5) | 24, n]));
    else if (n < 65536) parts.push(Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]));
    else parts.push(Buffer.concat([Buffer.from([(major << 5) | 26]), u32(n)]));
  };
  const w = (v: unknown): void => {
    if (typeof v === 'number') head(0, v);
    else if (typeof v === 'string') {
      const b = Buffer.from(v);
      head(3, b.length);
      parts.push(b);
    } else if (Array.isArray(v)) {
      head(4, v.length);
      v.forEach(w);
    } else {
      const e = Object.entries(v as Record<string, unknown>);
      head(5, e.length);
      for (const [k, x] of e) {
        w(k);
        w(x);
      }
    }
  };
  w(m);
  return Buffer.concat(parts);
}

describe('batches', () => {
  test('json.batched: one WebSocket message with SUBSCRIBE, SUBSCRIBE, PUBLISH (0x1e separators) is processed in order', async () => {
    const p = await Peer.open(r.url, ['wamp.2.json.batched']);
    // WAMP: nothing before WELCOME (authentication may take a while); then one batch of three.
    p.sendRaw(frame('wamp.2.json.batched', [[1, 'realm1', { roles: ROLES }]], 0x1e));
    await p.nextOf(2);
    p.sendRaw(
      frame(
        'wamp.2.json.batched',
        [
          [32, 1, {}, 'com.example.batch'],
          [32, 2, {}, 'com.example.batch2'],
          [16, 3, { acknowledge: true, exclude_me: false }, 'com.example.batch', ['in a batch']],
        ],
        0x1e,
      ),
    );
    await p.nextOf(17);
    const ev = await p.nextOf(36);
    assert.deepEqual(ev[4], ['in a batch']);
    const acks = p.inbox.items.filter((m) => m[0] === 33 || m[0] === 17).map((m) => [m[0], m[1]]);
    assert.deepEqual(acks, [[33, 1], [33, 2], [17, 3]], 'answered in the order of the batch');
    p.ws.close();
  });

  test('msgpack.batched: several length-prefixed messages in one WebSocket message are processed in order', async () => {
    const p = await Peer.open(r.url, ['wamp.2.msgpack.batched']);
    p.sendRaw(frame('wamp.2.msgpack.batched', [[1, 'realm1', { roles: ROLES }]]));
    await p.nextOf(2);
    p.sendRaw(
      frame('wamp.2.msgpack.batched', [
        [32, 1, {}, 'com.example.mb'],
        [32, 2, {}, 'com.example.mb2'],
        [16, 3, { acknowledge: true, exclude_me: false }, 'com.example.mb', [1, 'two', { three: 3 }]],
      ]),
    );
    await p.nextOf(17);
    const ev = await p.nextOf(36);
    const subscribed = p.inbox.items.find((m) => m[0] === 33 && m[1] === 1)!;
    assert.equal(ev[1], subscribed[2], 'the EVENT is for the first subscription of the batch');
    assert.deepEqual(ev[4], [1, 'two', { three: 3 }]);
    const acks = p.inbox.items.filter((m) => m[0] === 33 || m[0] === 17).map((m) => [m[0], m[1]]);
    assert.deepEqual(acks, [[33, 1], [33, 2], [17, 3]], 'answered in the order of the batch');
    p.ws.close();
  });

  for (const [proto, bad] of [
    ['wamp.2.json.batched', Buffer.from('[1,"realm1",{"roles":{"subscriber":{}}}]')],
    ['wamp.2.msgpack.batched', Buffer.from([0, 0, 0, 9, 0x91])],
  ] as const) {
    test(`${proto}: a malformed batch ends only that session (ABORT protocol_violation, 1002)`, async () => {
      const bystander = await connect(r.url, 'msgpack');
      const got = new Inbox<unknown>();
      await bystander.session.subscribe('com.example.by', (a) => got.push(a));
      const p = await Peer.open(r.url, [proto]);
      p.sendRaw(bad);
      const abort = await p.nextOf(3);
      assert.equal(abort[2], 'wamp.error.protocol_violation');
      assert.equal((await within(p.closed, 5000, 'close')).code, 1002);
      const pub = await connect(r.url, 'json');
      await pub.session.publish('com.example.by', ['still here'], {}, { acknowledge: true });
      await got.waitFor(1);
      await Promise.all([pub.close(), bystander.close()]);
    });
  }
});
