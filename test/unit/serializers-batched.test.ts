// The batched serializer variants and the CBOR serializer, against the WAMP test vectors
// (test/vectors/wamp-testsuite) and hand-checked bytes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BATCHED, SERIALIZERS, type SerializerName } from '../../src/shared/serializers/index.js';
import type { TailedMessage } from '../../src/shared/wamp/json-tail.js';

const hex = (b: string | Uint8Array) => Buffer.from(typeof b === 'string' ? Buffer.from(b, 'utf8') : b).toString('hex');
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const VECTORS = fileURLToPath(new URL('../../../test/vectors/wamp-testsuite/singlemessage/basic/', import.meta.url));

/** The first variant of each serializer in a vector file's first sample. */
function vector(file: string): Record<'json' | 'msgpack' | 'cbor', Uint8Array> {
  const v = JSON.parse(readFileSync(`${VECTORS}${file}`, 'utf8')) as { samples: { serializers: Record<string, { bytes_hex: string }[]> }[] };
  const s = v.samples[0]!.serializers;
  return { json: fromHex(s.json![0]!.bytes_hex), msgpack: fromHex(s.msgpack![0]!.bytes_hex), cbor: fromHex(s.cbor![0]!.bytes_hex) };
}

describe('subprotocols', () => {
  test('every config name offers a plain and a batched variant', () => {
    for (const n of ['json', 'msgpack', 'cbor'] as SerializerName[]) {
      assert.equal(SERIALIZERS[n].subprotocol, `wamp.2.${n}`);
      assert.equal(BATCHED[n].subprotocol, `wamp.2.${n}.batched`);
      assert.equal(BATCHED[n].binary, SERIALIZERS[n].binary);
      assert.deepEqual([SERIALIZERS[n].batched, BATCHED[n].batched], [false, true]);
    }
  });
});

describe('wamp.2.json.batched', () => {
  const ser = BATCHED.json;
  test('encode: the message followed by 0x18, as Autobahn writes it', () => {
    assert.equal(hex(ser.encode([6, {}, 'wamp.close.normal'])), `${hex('[6,{},"wamp.close.normal"]')}18`);
  });
  test('decode: vector messages separated by 0x18 and by 0x1e, in order', () => {
    const hello = vector('hello.json').json;
    const goodbye = vector('goodbye.json').json;
    const batch = Buffer.concat([hello, Buffer.from([0x18]), goodbye, Buffer.from([0x1e]), hello, Buffer.from([0x18])]);
    const msgs = ser.decode(batch) as unknown[][];
    assert.deepEqual(msgs.map((m) => m[0]), [1, 6, 1]);
    assert.deepEqual(msgs[0], SERIALIZERS.json.decode(hello));
  });
  test('decode: a batch of one; binary values inside are revived', () => {
    const [msg, ...rest] = ser.decode(Buffer.from('[16,1,{},"t",["\\u0000AQID"]]\x18')) as TailedMessage[];
    assert.equal(rest.length, 0);
    // (the payload's JSON text travels with it: src/shared/wamp/json-tail.ts)
    assert.equal(msg!.jsonTail, '["\\u0000AQID"]');
    assert.deepEqual([...msg!], [16, 1, {}, 't', [Uint8Array.from([1, 2, 3])]]);
  });
  for (const [name, text] of [
    ['a missing last separator', '[6,{},"x"]'],
    ['two separators in a row', '[6,{},"x"]\x18\x18'],
    ['an empty batch', ''],
    ['malformed JSON inside', '[6,{},"x"]\x18[6,\x18'],
  ] as const) {
    test(`decode refuses ${name}`, () => assert.throws(() => ser.decode(Buffer.from(text))));
  }
});

for (const name of ['msgpack', 'cbor'] as const) {
  describe(`wamp.2.${name}.batched`, () => {
    const ser = BATCHED[name];
    test('encode: 4-byte big-endian length, then the message', () => {
      const plain = SERIALIZERS[name].encode([6, {}, 'wamp.close.normal']) as Uint8Array;
      const out = ser.encode([6, {}, 'wamp.close.normal']) as Uint8Array;
      assert.equal(hex(out), `${plain.byteLength.toString(16).padStart(8, '0')}${hex(plain)}`);
    });
    test('decode: several length-prefixed vector messages, in order', () => {
      const parts = [vector('hello.json')[name], vector('goodbye.json')[name], vector('publish.json')[name]];
      const batch = Buffer.concat(parts.flatMap((p) => [Buffer.from(new Uint8Array(new Uint32Array([0]).buffer)).fill(0).map((_, i) => (p.byteLength >>> (8 * (3 - i))) & 0xff), Buffer.from(p)]));
      const msgs = ser.decode(batch) as unknown[][];
      assert.deepEqual(msgs.map((m) => m[0]), [1, 6, 16]);
      assert.deepEqual(msgs[2], SERIALIZERS[name].decode(parts[2]!));
    });
    for (const [what, bytes] of [
      ['a truncated length', '000000'],
      ['a length past the end', '0000000a8106'],
      ['a zero length', '00000000'],
      ['an empty batch', ''],
    ] as const) {
      test(`decode refuses ${what}`, () => assert.throws(() => ser.decode(fromHex(bytes))));
    }
  });
}

describe('cbor', () => {
  const cbor = SERIALIZERS.cbor;
  test('integers beyond 32 bits are CBOR integers (0x1b / 0x3b), never floats', () => {
    assert.equal(hex(cbor.encode([2, 9129137332, {}])), '83021b00000002202394b4a0');
    assert.equal(hex(cbor.encode([2 ** 53])), '811b0020000000000000');
    assert.equal(hex(cbor.encode([-(2 ** 40)])), '813b000000ffffffffff');
    assert.equal(hex(cbor.encode([1.5])), '81fb3ff8000000000000');
    assert.deepEqual(cbor.decode(fromHex('83021b00000002202394b4a0')), [2, 9129137332, {}]);
  });
  test('byte strings: no tag 64 on output; copied on input (the source buffer may be reused)', () => {
    assert.equal(hex(cbor.encode([Uint8Array.from([1, 2, 3])])), '8143010203');
    const src = fromHex('8143010203');
    const [bytes] = cbor.decode(src) as [Uint8Array];
    src.fill(0);
    assert.deepEqual([...bytes], [1, 2, 3]);
  });
  test('binary crosses to JSON as "\\u0000" + base64 and back', () => {
    const m = cbor.decode(fromHex('851001a061748143010203')) as unknown[];
    assert.equal(SERIALIZERS.json.encode(m), '[16,1,{},"t",["\\u0000AQID"]]');
  });
  test('undefined (simple value 23) is absent: a map entry dropped, a list element nil', () => {
    // [16, 1, {a: undefined, b: 1}, "t", [undefined]]
    assert.deepStrictEqual(cbor.decode(fromHex('851001a26161f7616201617481f7')), [16, 1, { b: 1 }, 't', [null]]);
  });
  for (const [what, bytes] of [
    ['a date (tag 1)', '81c11a00000001'],
    ['a bignum beyond 64 bits (tag 2)', '81c249010000000000000000'],
    ['truncated input', '83021b000000'],
  ] as const) {
    test(`refuses ${what}`, () => assert.throws(() => cbor.decode(fromHex(bytes))));
  }
});
