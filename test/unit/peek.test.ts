// The main thread reads only the head of an established session's frame (src/shared/wamp/peek.ts) and
// forwards the bytes: a peek must agree with a full decode whenever it answers, and decline
// (-1) for anything else.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SERIALIZERS } from '../../src/shared/serializers/index.js';
import { peekCbor, peekJson, peekMsgpack, peeked } from '../../src/shared/wamp/peek.js';

const enc = new TextEncoder();
const json = (s: string) => enc.encode(s);
const hex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

function peek(f: (d: Uint8Array) => number, d: Uint8Array): [number, number] {
  peeked.id = -2;
  const t = f(d);
  return [t, t < 0 ? -2 : peeked.id];
}

describe('peek agrees with the codecs on what they encode', () => {
  const ids = [0, 1, 23, 24, 127, 128, 255, 256, 65535, 65536, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];
  const messages = (id: number): unknown[][] => [
    [48, id, {}, 'com.example.add', [1, 2]],
    [70, id, {}, ['x'.repeat(300)]],
    [16, id, { acknowledge: true }, 'com.example.topic', [], { a: 1 }],
    [8, 68, id, {}, 'wamp.error.x'],
    [6, {}, 'wamp.close.close_realm'],
    [32, id, {}, 'com.example.topic'],
  ];
  for (const [name, f] of [
    ['json', peekJson],
    ['msgpack', peekMsgpack],
    ['cbor', peekCbor],
  ] as const) {
    test(name, () => {
      const ser = SERIALIZERS[name];
      for (const id of ids) {
        for (const m of messages(id)) {
          const data = ser.encode(m);
          const bytes = typeof data === 'string' ? json(data) : data;
          const decoded = ser.decode(bytes) as unknown[];
          const expectedId = typeof decoded[1] === 'number' ? decoded[1] : -1;
          assert.deepEqual(peek(f, bytes), [decoded[0], expectedId], `${name} ${JSON.stringify(m).slice(0, 60)}`);
        }
      }
    });
  }
});

describe('json peek', () => {
  test('whitespace around the head is allowed', () => {
    assert.deepEqual(peek(peekJson, json(' [ 48 ,\n\t7 , {}, "p"]')), [48, 7]);
    assert.deepEqual(peek(peekJson, json('[6]')), [6, -1]);
  });
  test('a request id that is not a plain integer is not read (the frame is decoded on the main thread)', () => {
    for (const s of ['[48,7.0,{},"p"]', '[48,7e0,{},"p"]', '[48,-7,{},"p"]', '[48,07,{},"p"]', '[48,"7",{},"p"]', '[48,9007199254740993,{},"p"]', '[48,1']) {
      assert.deepEqual(peek(peekJson, json(s)), [48, -1], s);
    }
  });
  test('a type that is not a plain integer declines', () => {
    for (const s of ['[48.0,1]', '[048,1]', '[1000,1]', '{"a":1}', '[]', '"x"', '', '[ ', '[-1,2]', '[4e1,2]', '[48 1]']) {
      assert.equal(peekJson(json(s)), -1, s);
    }
  });
});

describe('msgpack peek', () => {
  test('every uint width of the id', () => {
    assert.deepEqual(peek(peekMsgpack, hex('94 30 05 80 a1 70')), [48, 5]);
    assert.deepEqual(peek(peekMsgpack, hex('94 30 cc ff 80 a1 70')), [48, 255]);
    assert.deepEqual(peek(peekMsgpack, hex('94 30 cd 01 00 80 a1 70')), [48, 256]);
    assert.deepEqual(peek(peekMsgpack, hex('94 30 ce ff ff ff ff 80 a1 70')), [48, 2 ** 32 - 1]);
    assert.deepEqual(peek(peekMsgpack, hex('94 30 cf 00 1f ff ff ff ff ff ff 80 a1 70')), [48, 2 ** 53 - 1]);
    // 2^53 and beyond is not a safe integer: not read.
    assert.deepEqual(peek(peekMsgpack, hex('94 30 cf 00 20 00 00 00 00 00 00 80 a1 70')), [48, -1]);
    // array16 and array32 heads
    assert.deepEqual(peek(peekMsgpack, hex('dc 00 04 30 07 80 a1 70')), [48, 7]);
    assert.deepEqual(peek(peekMsgpack, hex('dd 00 00 00 04 30 07 80 a1 70')), [48, 7]);
  });
  test('ids that are not unsigned integers are not read', () => {
    for (const h of ['94 30 ff 80 a1 70', '94 30 d0 05 80 a1 70', '94 30 cb 40 1c 00 00 00 00 00 00 80 a1 70', '94 30 a1 37 80 a1 70', '94 30 cd 01']) {
      assert.deepEqual(peek(peekMsgpack, hex(h)), [48, -1], h);
    }
  });
  test('anything but an array starting with a small positive integer declines', () => {
    for (const h of ['90', '80', 'a1 30', 'dc 00 00', 'dd 00 00 00 00', '94 cc 30 01', '94 d0 30 01', '91', 'c0']) {
      assert.equal(peekMsgpack(hex(h)), -1, h);
    }
  });
});

describe('cbor peek', () => {
  test('heads', () => {
    assert.deepEqual(peek(peekCbor, hex('84 18 30 05 a0 61 70')), [48, 5]);
    assert.deepEqual(peek(peekCbor, hex('84 18 30 1b 00 1f ff ff ff ff ff ff a0 61 70')), [48, 2 ** 53 - 1]);
    assert.deepEqual(peek(peekCbor, hex('9f 06 a0 61 70 ff')), [6, -1]);
    assert.deepEqual(peek(peekCbor, hex('98 04 18 30 19 01 00 a0 61 70')), [48, 256]);
    for (const h of ['80', 'a0', '84 20 01', '84 38 30 01', '9f ff', '98 00']) assert.equal(peekCbor(hex(h)), -1, h);
  });
});
