// JSON payload pass-through (src/shared/wamp/json-tail.ts): between JSON peers the payload of a
// routed message (CALL → INVOCATION, YIELD → RESULT, ERROR → ERROR, PUBLISH → EVENT) is the
// publisher's/caller's JSON text, byte for byte, while peers with another serializer get the
// decoded values. Checked on the wire with raw `ws` peers that keep each frame's text.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Packr, Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const packr = new Packr({ useRecords: false });

interface Frame {
  text: string;
  msg: unknown[];
}

/** A bare peer that keeps the exact text (JSON) or decodes independently (msgpack) each frame. */
class TextPeer {
  readonly inbox = new Inbox<Frame>();
  #read = 0;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer, binary: boolean) => {
      if (binary) return this.inbox.push({ text: '', msg: unpackr.unpack(d) as unknown[] });
      // wamp.2.json.batched: every message ends with 0x18.
      const texts = ws.protocol.endsWith('.batched') ? d.toString('utf8').split('\x18').slice(0, -1) : [d.toString('utf8')];
      for (const text of texts) this.inbox.push({ text, msg: JSON.parse(text) as unknown[] });
    });
  }
  static async open(url: string, proto: string): Promise<TextPeer> {
    const ws = new WebSocket(url, [proto]);
    await within(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 5000, 'open');
    return new TextPeer(ws);
  }
  /** Sends exactly this text (JSON) as a text frame. */
  sendText(text: string): void {
    this.ws.send(this.ws.protocol.endsWith('.batched') ? `${text}\x18` : text, { binary: false });
  }
  sendMsgpack(msg: unknown[]): void {
    this.ws.send(packr.pack(msg), { binary: true });
  }
  /** The next frame (in order) of WAMP type `type`; frames of other types before it are skipped. */
  async next(type: number): Promise<Frame> {
    for (;;) {
      const items = await this.inbox.waitFor(this.#read + 1);
      const f = items[this.#read++]!;
      if (f.msg[0] === type) return f;
    }
  }
  async join(roles: Record<string, unknown>): Promise<void> {
    this.sendText(JSON.stringify([1, 'realm1', { roles }]));
    await this.next(2);
  }
}

/** The text after the first `k` elements of a JSON array text `[e0,...,ek-1,TAIL]` as this test writes heads. */
function tailOf(text: string, k: number): string {
  const msg = JSON.parse(text) as unknown[];
  const head = JSON.stringify(msg.slice(0, k));
  assert.ok(text.startsWith(`${head.slice(0, -1)},`), `frame starts with the canonical head ${head}`);
  return text.slice(head.length, -1);
}

// A payload that JSON.stringify would NOT reproduce: a non-canonical number, escapes that decode
// to plain characters, a lone surrogate, an integer beyond 2^53, whitespace, a key order.
const PAYLOAD = `[1.50, "\\u0041\\u00e9", "\\ud800", 9007199254740993, {"z": 1, "a": [true, null]}, "${'p'.repeat(400)}"], {"k": "\\/"}`;

// The same without the lone surrogate (msgpack strings are UTF-8: a lone surrogate cannot cross).
const MP_PAYLOAD = PAYLOAD.replace('"\\ud800", ', '');

let r: TestRouter;
before(async () => {
  r = await startRouter();
});
after(() => r.stop());

describe('JSON payload pass-through', () => {
  test('CALL → INVOCATION and YIELD → RESULT carry the JSON text verbatim; a msgpack callee gets the values', async () => {
    const callee = await TextPeer.open(r.url, 'wamp.2.json');
    await callee.join({ callee: {} });
    callee.sendText('[64,1,{},"com.example.verbatim"]');
    await callee.next(65);
    const mpCallee = await TextPeer.open(r.url, 'wamp.2.msgpack');
    mpCallee.sendMsgpack([1, 'realm1', { roles: { callee: {} } }]);
    await mpCallee.next(2);
    const caller = await TextPeer.open(r.url, 'wamp.2.json');
    await caller.join({ caller: {} });

    caller.sendText(`[48,7,{},"com.example.verbatim",${PAYLOAD}]`);
    const inv = await callee.next(68);
    assert.equal(tailOf(inv.text, 4), PAYLOAD, 'INVOCATION payload is the caller text, byte for byte');
    const invId = inv.msg[1] as number;

    callee.sendText(`[70,${invId},{},${PAYLOAD}]`);
    const res = await caller.next(50);
    assert.deepEqual(res.msg.slice(0, 3), [50, 7, {}]);
    assert.equal(tailOf(res.text, 3), PAYLOAD, 'RESULT payload is the callee text, byte for byte');

    // The same call to a msgpack callee: decoded values, as JSON.parse reads them.
    mpCallee.sendMsgpack([64, 2, {}, 'com.example.mp']);
    await mpCallee.next(65);
    caller.sendText(`[48,8,{},"com.example.mp",${MP_PAYLOAD}]`);
    const mpInv = await mpCallee.next(68);
    assert.deepEqual(mpInv.msg.slice(4), JSON.parse(`[${MP_PAYLOAD}]`));
    for (const p of [callee, mpCallee, caller]) p.ws.close();
  });

  test('ERROR from a callee carries Arguments/ArgumentsKw verbatim', async () => {
    const callee = await TextPeer.open(r.url, 'wamp.2.json');
    await callee.join({ callee: {} });
    callee.sendText('[64,1,{},"com.example.fails"]');
    await callee.next(65);
    const caller = await TextPeer.open(r.url, 'wamp.2.json');
    await caller.join({ caller: {} });
    caller.sendText(`[48,3,{},"com.example.fails",["${'q'.repeat(300)}"]]`);
    const inv = await callee.next(68);
    callee.sendText(`[8,68,${inv.msg[1] as number},{},"com.example.error.bad",${PAYLOAD}]`);
    const err = await caller.next(8);
    assert.deepEqual(err.msg.slice(0, 5), [8, 48, 3, {}, 'com.example.error.bad']);
    assert.equal(tailOf(err.text, 5), PAYLOAD);
    callee.ws.close();
    caller.ws.close();
  });

  test('PUBLISH → EVENT: JSON subscribers get the text, msgpack subscribers the values, binary stays binary', async () => {
    const jsonSub = await TextPeer.open(r.url, 'wamp.2.json');
    await jsonSub.join({ subscriber: {} });
    jsonSub.sendText('[32,1,{},"com.example.pt"]');
    await jsonSub.next(33);
    const mpSub = await TextPeer.open(r.url, 'wamp.2.msgpack');
    mpSub.sendMsgpack([1, 'realm1', { roles: { subscriber: {} } }]);
    await mpSub.next(2);
    mpSub.sendMsgpack([32, 1, {}, 'com.example.pt']);
    await mpSub.next(33);
    const pub = await TextPeer.open(r.url, 'wamp.2.json');
    await pub.join({ publisher: {} });

    // WAMP spec, "Binary support in JSON": "\u0000" + base64 is a byte string.
    const withBinary = `["\\u0000AAEC/w==", ${MP_PAYLOAD.slice(1)}`;
    pub.sendText(`[16,1,{"acknowledge":true},"com.example.pt",${withBinary}]`);
    await pub.next(17);
    const ev = await jsonSub.next(36);
    assert.equal(tailOf(ev.text, 4), withBinary);
    const mpEv = await mpSub.next(36);
    const args = mpEv.msg[4] as unknown[];
    assert.ok(args[0] instanceof Uint8Array, 'msgpack subscriber gets a bin');
    assert.deepEqual([...(args[0] as Uint8Array)], [0, 1, 2, 255]);
    assert.deepEqual(args.slice(1), (JSON.parse(`[${MP_PAYLOAD}]`) as unknown[][])[0]);
    assert.deepEqual(mpEv.msg[5], { k: '/' });
    for (const p of [jsonSub, mpSub, pub]) p.ws.close();
  });

  test('a head in another valid form (blanks, escapes, 1.0) passes the payload text through all the same', async () => {
    const sub = await TextPeer.open(r.url, 'wamp.2.json');
    await sub.join({ subscriber: {} });
    sub.sendText('[32,1,{},"com.example.ws"]');
    await sub.next(33);
    const pub = await TextPeer.open(r.url, 'wamp.2.json');
    await pub.join({ publisher: {} });
    pub.sendText(`[16, 1.0, { "x" : "a\\"],[" }, "com.example.\\u0077s" ,\n ${PAYLOAD} ]`);
    const ev = await sub.next(36);
    assert.equal(tailOf(ev.text, 4), PAYLOAD);
    sub.ws.close();
    pub.ws.close();
  });

  test('EVENT to JSON-only subscribers (payload travels as text only) and to a late msgpack subscriber', async () => {
    const subs = [await TextPeer.open(r.url, 'wamp.2.json'), await TextPeer.open(r.url, 'wamp.2.json.batched')];
    for (const s of subs) {
      await s.join({ subscriber: {} });
      s.sendText('[32,1,{},"com.example.jo"]');
      await s.next(33);
    }
    const pub = await TextPeer.open(r.url, 'wamp.2.json');
    await pub.join({ publisher: {} });
    pub.sendText(`[16,1,{"acknowledge":true},"com.example.jo",${PAYLOAD}]`);
    await pub.next(17);
    for (const s of subs) assert.equal(tailOf((await s.next(36)).text, 4), PAYLOAD, s.ws.protocol);
    // A msgpack subscriber joins the topic: the next EVENT must reach it with the values.
    const mp = await TextPeer.open(r.url, 'wamp.2.msgpack');
    mp.sendMsgpack([1, 'realm1', { roles: { subscriber: {} } }]);
    await mp.next(2);
    mp.sendMsgpack([32, 1, {}, 'com.example.jo']);
    await mp.next(33);
    pub.sendText(`[16,2,{"acknowledge":true},"com.example.jo",${MP_PAYLOAD}]`);
    await pub.next(17);
    assert.deepEqual((await mp.next(36)).msg.slice(4), JSON.parse(`[${MP_PAYLOAD}]`));
    for (const s of subs) assert.equal(tailOf((await s.next(36)).text, 4), MP_PAYLOAD);
    for (const p of [...subs, mp, pub]) p.ws.close();
  });
});
