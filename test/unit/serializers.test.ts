// Unit tests of the json and msgpack serializers against the official WAMP test vectors
// (test/vectors/wamp-testsuite, copied from wamp-proto/wamp-proto; see its SOURCE.md).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERIALIZERS } from '../../src/shared/serializers/index.js';
import type { Serializer, SerializerName } from '../../src/shared/serializers/index.js';

const { json, msgpack } = SERIALIZERS;

// ---- locating and reading the vectors ------------------------------------------------------

// From dist/test/unit/ (repo build) three levels up is the repo root; when compiled elsewhere
// (e.g. /tmp), fall back to the working directory, which is the repo root when tests run.
const VECTORS = [
  fileURLToPath(new URL('../../../test/vectors/wamp-testsuite/', import.meta.url)),
  join(process.cwd(), 'test/vectors/wamp-testsuite'),
].find((d) => existsSync(join(d, 'SCHEMA.json')));
if (VECTORS === undefined) throw new Error('WAMP test vectors not found (test/vectors/wamp-testsuite)');

interface Variant { bytes?: string; bytes_hex?: string; bytes_base64?: string }
interface Sample {
  description: string;
  serializers?: Partial<Record<string, Variant[]>>;
  expected_attributes?: Record<string, unknown>;
  wmsg?: unknown[]; // validation sample
}
interface Step { step: number; message: Record<string, unknown> & { type: string } }
interface VectorFile { samples?: Sample[]; sequence?: Step[] }

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : []))
    .sort();
}

const files = ['singlemessage', 'multisession'].flatMap((d) => walk(join(VECTORS, d))).map((path) => ({
  name: relative(VECTORS, path).split('\\').join('/'),
  vector: JSON.parse(readFileSync(path, 'utf8')) as VectorFile,
}));

// ---- helpers -------------------------------------------------------------------------------

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
/** Copy an encoder result to stable bytes (the msgpack buffer is reused by the next encode). */
const bytesOf = (out: string | Uint8Array): Uint8Array =>
  typeof out === 'string' ? new Uint8Array(Buffer.from(out, 'utf8')) : Uint8Array.from(out);

/** Deep copy in which every Buffer/Uint8Array becomes a plain Uint8Array, for deep equality. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return Uint8Array.from(v);
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, plain(e)]));
  }
  return v;
}
function assertSameMessage(actual: unknown, expected: unknown, message?: string): void {
  assert.deepStrictEqual(plain(actual), plain(expected), message);
}

/** Bytes of a vector variant; when it gives both `bytes` and `bytes_hex`, they must agree. */
function variantBytes(v: Variant): Uint8Array {
  const forms = [
    v.bytes !== undefined ? Buffer.from(v.bytes, 'utf8') : undefined,
    v.bytes_hex !== undefined ? Buffer.from(v.bytes_hex, 'hex') : undefined,
    v.bytes_base64 !== undefined ? Buffer.from(v.bytes_base64, 'base64') : undefined,
  ].filter((b) => b !== undefined);
  const first = forms[0];
  assert.ok(first, 'variant without bytes');
  for (const f of forms) assert.equal(f.toString('hex'), first.toString('hex'), 'the byte forms disagree');
  return new Uint8Array(first);
}

// WAMP message layouts (spec, "Message Definitions"): element i+1 of the array is fields[i].
// Field names follow the vectors' expected_attributes / multisession message keys.
const LAYOUT: Record<string, readonly [code: number, ...fields: string[]]> = {
  HELLO: [1, 'realm', 'details'], WELCOME: [2, 'session_id', 'details'], ABORT: [3, 'details', 'reason'],
  CHALLENGE: [4, 'method', 'extra'], AUTHENTICATE: [5, 'signature', 'extra'], GOODBYE: [6, 'details', 'reason'],
  ERROR: [8, 'request_type', 'request_id', 'details', 'error', 'args', 'kwargs'],
  PUBLISH: [16, 'request_id', 'options', 'topic', 'args', 'kwargs'], PUBLISHED: [17, 'request_id', 'publication_id'],
  SUBSCRIBE: [32, 'request_id', 'options', 'topic'], SUBSCRIBED: [33, 'request_id', 'subscription_id'],
  UNSUBSCRIBE: [34, 'request_id', 'subscription_id'], UNSUBSCRIBED: [35, 'request_id'],
  EVENT: [36, 'subscription_id', 'publication_id', 'details', 'args', 'kwargs'],
  CALL: [48, 'request_id', 'options', 'procedure', 'args', 'kwargs'], CANCEL: [49, 'request_id', 'options'],
  RESULT: [50, 'request_id', 'details', 'args', 'kwargs'], REGISTER: [64, 'request_id', 'options', 'procedure'],
  REGISTERED: [65, 'request_id', 'registration_id'], UNREGISTER: [66, 'request_id', 'registration_id'],
  UNREGISTERED: [67, 'request_id'], INVOCATION: [68, 'request_id', 'registration_id', 'details', 'args', 'kwargs'],
  INTERRUPT: [69, 'request_id', 'options'], YIELD: [70, 'request_id', 'options', 'args', 'kwargs'],
  EVENT_RECEIVED: [337, 'publication_id'],
};
const FIELDS_BY_CODE = new Map(Object.values(LAYOUT).map(([code, ...fields]) => [code, fields]));
const ALIASES: Record<string, string> = { subscription: 'subscription_id', publication: 'publication_id' };

/** Check a decoded message against a sample's expected_attributes. Unknown attributes fail. */
function checkAttributes(msg: unknown, attrs: Record<string, unknown>): void {
  assert.ok(Array.isArray(msg), 'a WAMP message is an array');
  assert.equal(msg[0], attrs['message_type'], 'message_type');
  const fields = FIELDS_BY_CODE.get(attrs['message_type'] as number);
  assert.ok(fields, `no layout for message type ${String(attrs['message_type'])}`);
  const at = (name: string): number => 1 + fields.indexOf(name);
  const payload = attrs['payload'];
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'message_type') continue;
    if (key === 'payload') {
      // Transparent payload (E2EE / passthru): the bytes take the place of Arguments.
      if (value !== null) assertSameMessage(msg[at('args')], fromHex(value as string), 'payload');
    } else if (key === 'roles') {
      assert.deepStrictEqual((msg[at('details')] as Record<string, unknown>)['roles'], value, 'roles');
    } else {
      const i = at(ALIASES[key] ?? key);
      assert.ok(i > 0, `unmapped expected attribute "${key}"`);
      // null args/kwargs: absent from the array (unless a payload holds the args slot).
      if (value === null) {
        if (payload === undefined || payload === null) assert.equal(msg[i], undefined, `${key} absent`);
      } else {
        assertSameMessage(msg[i], value, key);
      }
    }
  }
}

// ---- vector-driven tests -------------------------------------------------------------------

type Key = `${string}#${number} ${string}`;
/** Samples whose re-encoding cannot equal any listed variant, with a one-line reason, keyed
 *  like 'singlemessage/basic/hello.json#0 json encode'. None so far: every sample matches. */
const expectedMismatch: Partial<Record<Key, string>> = {};

const SERIALIZATION: SerializerName[] = ['json', 'msgpack', 'cbor'];
const checked: Record<SerializerName, number> = { json: 0, msgpack: 0, cbor: 0 };

for (const { name, vector } of files) {
  describe(name, () => {
    // Validation samples (test_category / wmsg / expected_error) test router-side message
    // validation, not the serializers: they are skipped here.
    vector.samples?.forEach((sample, index) => {
      const { serializers, expected_attributes: attrs } = sample;
      if (sample.wmsg !== undefined || serializers === undefined || attrs === undefined) return;
      const key = (what: string): Key => `${name}#${index} ${what}`;
      const decoded: Partial<Record<SerializerName, () => unknown>> = {};

      for (const s of SERIALIZATION) {
        const variants = (serializers[s] ?? []).map(variantBytes);
        if (variants.length === 0) continue;
        checked[s]++;
        const ser: Serializer = SERIALIZERS[s];
        const decodeAll = (): unknown[] => variants.map((b) => ser.decode(b));
        decoded[s] = () => decodeAll()[0];

        test(`#${index} ${s} decode: ${sample.description}`, () => {
          const msgs = decodeAll();
          for (const m of msgs) assertSameMessage(m, msgs[0], 'all variants decode to the same message');
          for (const m of msgs) checkAttributes(m, attrs);
          for (const b of variants) assertSameMessage(ser.decode(Buffer.from(b)), msgs[0], 'Buffer input');
        });

        const reason = expectedMismatch[key(`${s} encode`)];
        test(`#${index} ${s} encode matches a variant`, () => {
          const wanted = variants.map(hex);
          for (const m of decodeAll()) {
            const out = hex(bytesOf(ser.encode(m as unknown[])));
            if (reason === undefined) {
              assert.ok(wanted.includes(out), `encoded ${out}\nnot among variants:\n${wanted.join('\n')}`);
            } else {
              assert.ok(!wanted.includes(out), `stale expectedMismatch entry (${reason})`);
              assertSameMessage(ser.decode(fromHex(out)), m, 'mismatching bytes still decode back');
            }
          }
        });
      }

      // The decoded message of one serializer, re-encoded with the other, must decode to the same
      // message. msgpack output depends on the input type (a Buffer input gives Buffer bins), so
      // that direction runs from both a plain Uint8Array and a Buffer.
      const { json: fromJson, msgpack: fromMsgpack, cbor: fromCbor } = decoded;
      if (fromJson !== undefined && fromCbor !== undefined) {
        const cbBytes = variantBytes(serializers['cbor']?.[0] ?? {});
        const cbor = SERIALIZERS.cbor;
        test(`#${index} json<->cbor`, () => {
          assertSameMessage(cbor.decode(bytesOf(cbor.encode(fromJson() as unknown[]))), fromCbor());
          assertSameMessage(json.decode(bytesOf(json.encode(cbor.decode(cbBytes) as unknown[]))), fromJson());
        });
      }
      if (fromJson === undefined || fromMsgpack === undefined) return;
      const mpBytes = variantBytes(serializers['msgpack']?.[0] ?? {});
      const sources: [string, SerializerName, () => unknown][] = [
        ['json->msgpack', 'msgpack', fromJson],
        ['msgpack->json', 'json', () => msgpack.decode(mpBytes)],
        ['msgpack(Buffer)->json', 'json', () => msgpack.decode(Buffer.from(mpBytes))],
      ];
      for (const [what, to, source] of sources) {
        test(`#${index} ${what}`, () => {
          const src = source();
          const back = SERIALIZERS[to].decode(bytesOf(SERIALIZERS[to].encode(src as unknown[])));
          assertSameMessage(back, src);
          assertSameMessage(back, (to === 'json' ? fromJson : fromMsgpack)());
        });
      }
    });

    // Multi-session vectors carry no serialized bytes, only named fields per step: build each
    // message with LAYOUT and check that it round-trips through both serializers and across.
    vector.sequence?.forEach(({ step, message }) => {
      test(`step ${step} ${message.type} round-trips`, () => {
        const layout = LAYOUT[message.type];
        assert.ok(layout, `no layout for ${message.type}`);
        const [code, ...fields] = layout;
        for (const k of Object.keys(message)) assert.ok(k === 'type' || fields.includes(k), `unmapped field ${k}`);
        const msg: unknown[] = [code, ...fields.map((f) => message[f])];
        while (msg.length > 0 && msg[msg.length - 1] === undefined) msg.pop();
        const via = (s: Serializer, m: unknown): unknown[] => s.decode(bytesOf(s.encode(m as unknown[]))) as unknown[];
        for (const s of SERIALIZATION) assertSameMessage(via(SERIALIZERS[s], msg), msg);
        assertSameMessage(via(json, via(msgpack, msg)), msg);
        assertSameMessage(via(msgpack, via(json, msg)), msg);
      });
    });
  });
}

test('the vector walk found serialization samples for every serializer', (t) => {
  t.diagnostic(`samples checked: json=${checked.json} msgpack=${checked.msgpack} cbor=${checked.cbor}`);
  assert.ok(checked.json > 0 && checked.msgpack > 0 && checked.cbor > 0);
});

// ---- exact bytes ---------------------------------------------------------------------------

describe('msgpack integer widths', () => {
  const enc = (v: unknown): string => hex(bytesOf(msgpack.encode([v]))).slice(2); // drop fixarray 0x91

  test('WELCOME with a session id above 2^32 uses uint64 (0xcf)', () => {
    assert.equal(hex(bytesOf(msgpack.encode([2, 9129137332, {}]))), '9302cf00000002202394b480');
  });
  test('2^53 is uint64, -(2^40) is int64, 2^32 is uint64', () => {
    assert.equal(enc(2 ** 53), 'cf0020000000000000');
    assert.equal(enc(-(2 ** 40)), 'd3ffffff0000000000');
    assert.equal(enc(2 ** 32), 'cf0000000100000000');
    assert.equal(enc(-(2 ** 31) - 1), 'd3ffffffff7fffffff');
  });
  test('numbers below 2^32 use the compact forms', () => {
    const cases: [number, string][] = [
      [0, '00'], [127, '7f'], [128, 'cc80'], [255, 'ccff'], [256, 'cd0100'], [65535, 'cdffff'],
      [65536, 'ce00010000'], [2 ** 32 - 1, 'ceffffffff'], [-1, 'ff'], [-32, 'e0'], [-33, 'd0df'],
      [-129, 'd1ff7f'], [-32769, 'd2ffff7fff'], [-(2 ** 31), 'd280000000'],
    ];
    for (const [n, bytes] of cases) assert.equal(enc(n), bytes, String(n));
  });
  test('non-integers stay float64 (0xcb)', () => {
    assert.equal(enc(1.5), 'cb3ff8000000000000');
    assert.equal(enc(2 ** 40 + 0.5), 'cb4270000000000800');
  });
  test('uint64 / int64 on input decode to plain numbers', () => {
    const cases: [string, number][] = [
      ['cf00000002202394b4', 9129137332], ['cf0020000000000000', 2 ** 53], ['d3ffffff0000000000', -(2 ** 40)],
    ];
    for (const [bytes, n] of cases) {
      const v = msgpack.decode(fromHex(bytes));
      assert.equal(typeof v, 'number', bytes);
      assert.equal(v, n);
    }
    assert.deepStrictEqual(msgpack.decode(fromHex('9302cf00000002202394b480')), [2, 9129137332, {}]);
  });
  test('integral numbers beyond the 64-bit range keep their value', () => {
    for (const n of [2 ** 64, 1e20, -1e20, Number.MAX_VALUE]) {
      assert.deepStrictEqual(msgpack.decode(bytesOf(msgpack.encode([n]))), [n], String(n));
    }
  });
});

describe('binary values', () => {
  const bin = Uint8Array.from([1, 2, 3]);
  test('JSON encodes a Uint8Array as "\\u0000" + base64', () => {
    const text = json.encode([16, 1, {}, 'com.t', [bin]]);
    assert.equal(text, '[16,1,{},"com.t",["\\u0000AQID"]]');
    assert.ok(text.includes(String.raw`"\u0000AQID"`));
  });
  // Regression: JSON.stringify calls Buffer#toJSON before a replacer sees the value.
  test('JSON encodes a Buffer like a Uint8Array', () => {
    assert.equal(json.encode([Buffer.from(bin)]), '["\\u0000AQID"]');
  });
  test('JSON decodes "\\u0000" + base64 anywhere to bytes', () => {
    const m = json.decode(bytesOf('[16,1,{"x":"\\u0000AQID"},"com.t",["\\u0000AQID"],{"k":["\\u0000"]}]'));
    assertSameMessage(m, [16, 1, { x: bin }, 'com.t', [bin], { k: [new Uint8Array(0)] }]);
  });
  const publish = [16, 1, {}, 'com.t', [bin], { b: bin }];
  const publishHex = '96100180a5636f6d2e7491c40301020381a162c403010203';
  test('JSON "\\u0000base64" -> msgpack bin', () => {
    const viaJson = json.decode(bytesOf(json.encode(publish))) as unknown[];
    assert.equal(hex(bytesOf(msgpack.encode(viaJson))), publishHex);
  });
  for (const input of ['Uint8Array', 'Buffer'] as const) {
    test(`msgpack bin (${input} input) -> JSON "\\u0000base64"`, () => {
      const bytes = input === 'Buffer' ? Buffer.from(publishHex, 'hex') : fromHex(publishHex);
      const viaMsgpack = msgpack.decode(bytes) as unknown[];
      assertSameMessage(viaMsgpack, publish);
      assert.equal(json.encode(viaMsgpack), '[16,1,{},"com.t",["\\u0000AQID"],{"b":"\\u0000AQID"}]');
    });
  }
});

// ---- malformed input -----------------------------------------------------------------------

describe('malformed input throws', () => {
  const valid = bytesOf(msgpack.encode([2, 9129137332, {}]));
  const cases: [string, Serializer, Uint8Array][] = [
    ['json: truncated "[1,"', json, bytesOf('[1,')],
    ['json: invalid UTF-8 ff fe', json, Uint8Array.from([0xff, 0xfe])],
    ['json: invalid UTF-8 inside a string', json, Uint8Array.from([0x5b, 0x22, 0xc3, 0x28, 0x22, 0x5d])],
    ['json: empty input', json, new Uint8Array(0)],
    ['msgpack: first 3 bytes of a valid message', msgpack, valid.subarray(0, 3)],
    ['msgpack: truncated uint64', msgpack, valid.subarray(0, valid.length - 5)],
    ['msgpack: empty input', msgpack, new Uint8Array(0)],
  ];
  for (const [name, ser, bytes] of cases) test(name, () => assert.throws(() => ser.decode(bytes)));
});

describe('msgpack: only WAMP values are accepted', () => {
  const msgpack = SERIALIZERS.msgpack;
  // [16, 1, {}, "t", [X]]: a PUBLISH whose single argument is X.
  const publishWith = (x: string) => fromHex(`951001a0a17491${x}`.replace('a0', '80'));
  test('a plain PUBLISH decodes (the fixture is right)', () => {
    assert.deepStrictEqual(msgpack.decode(publishWith('2a')), [16, 1, {}, 't', [42]]);
  });
  for (const [name, x] of [
    ['the never-used byte 0xc1', 'c1'],
    ['msgpackr BigInt extension 0x42', 'd44205'],
    ['a timestamp extension (Date)', 'd6ff00000001'],
    ['a self-referencing list (msgpackr references)', 'd6690000000191d67000000001'],
  ] as const) {
    test(`refuses ${name}`, () => {
      assert.throws(() => msgpack.decode(publishWith(x)), /not a WAMP value|extension|nested deeper/);
    });
  }
  test('undefined (fixext 1 type 0, as msgpackr writes it) is absent: a map entry dropped, a list element nil', () => {
    // [16, 1, {a: undefined, b: 1}, "t", [undefined, [undefined]]]
    const m = msgpack.decode(fromHex('951001de0002a161d40000a16201a17492d4000091d40000')) as unknown[];
    assert.deepStrictEqual(m, [16, 1, { b: 1 }, 't', [null, [null]]]);
    assert.ok(!('a' in (m[2] as object)));
  });
  test('refuses nesting deeper than 1000 levels, accepts 999', () => {
    const nest = (n: number) => fromHex(`${'91'.repeat(n)}90`);
    assert.doesNotThrow(() => msgpack.decode(nest(999)));
    assert.throws(() => msgpack.decode(nest(1001)), /nested deeper than 1000/);
  });
  test('json refuses nesting deeper than 1000 levels too (JSON.stringify could not write it back), accepts 999', () => {
    const nest = (n: number, pad = '') => new TextEncoder().encode(`[16,1,{},"t",[${'['.repeat(n)}${pad}${']'.repeat(n)}]]`);
    assert.doesNotThrow(() => json.decode(nest(998)));
    assert.throws(() => json.decode(nest(1000)), /nested deeper than 1000/);
    // Shallow but long texts are not walked in vain: still decoded.
    assert.equal((json.decode(nest(1, '"x"'.padEnd(5000, ' '))) as unknown[]).length, 5);
  });
});
