import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { msgpackSerializer } from '../../src/shared/serializers/msgpack.js';
import { jsonSerializer, numberText } from '../../src/shared/serializers/json.js';
import { elementEnd, pushTail, tailStart, type TailedMessage } from '../../src/shared/wamp/json-tail.js';

const LONG = 'x'.repeat(300);
const decode = (text: string): TailedMessage => jsonSerializer.decode(Buffer.from(text)) as TailedMessage;

/** A deterministic pseudo-random generator (xorshift32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/** Characters that matter to a scanner: quotes, backslashes, brackets, commas, non-ASCII, controls. */
const TRICKY = ['"', '\\', '[', ']', '{', '}', ',', ':', 'a', 'é', '\u2028', '\n', '\u0000', '😀', '\ud800', ' '];

function randomValue(r: () => number, depth: number): unknown {
  const pick = r();
  if (depth > 3 || pick < 0.35) {
    const kind = Math.floor(r() * 6);
    if (kind === 0) return Math.floor(r() * 2 ** 53);
    if (kind === 1) return (r() - 0.5) * 1e6;
    if (kind === 2) return r() < 0.5;
    if (kind === 3) return null;
    let s = '';
    const n = Math.floor(r() * 8);
    for (let i = 0; i < n; i++) s += TRICKY[Math.floor(r() * TRICKY.length)];
    return s;
  }
  if (pick < 0.7) {
    const a: unknown[] = [];
    const n = Math.floor(r() * 4);
    for (let i = 0; i < n; i++) a.push(randomValue(r, depth + 1));
    return a;
  }
  const o: Record<string, unknown> = {};
  const n = Math.floor(r() * 4);
  for (let i = 0; i < n; i++) o[`${TRICKY[Math.floor(r() * TRICKY.length)]}k${i}`] = randomValue(r, depth + 1);
  return o;
}

/** JSON text of `v` written with random blanks between tokens (JSON.stringify with an indent, then spaces). */
function randomlySpaced(v: unknown, r: () => number): string {
  const indent = [0, 1, 2, '\t'][Math.floor(r() * 4)]!;
  const text = JSON.stringify(v, null, indent);
  return (r() < 0.5 ? ' \n' : '') + text + (r() < 0.5 ? ' \r\n\t' : '');
}

describe('JSON payload tail', () => {
  test('a CALL keeps its payload text; INVOCATION built from it encodes with that text', () => {
    const text = `[48,1,{"timeout":5},"com.example.p",["${LONG}",1.50],{"a":"\\u0041"}]`;
    const call = decode(text);
    assert.equal(call.jsonTail, `["${LONG}",1.50],{"a":"\\u0041"}`);
    const inv: unknown[] = [68, 9, 2 ** 53, { caller: 3 }];
    pushTail(inv, call, 4);
    assert.deepEqual(inv.slice(4), [[LONG, 1.5], { a: 'A' }]);
    assert.equal(jsonSerializer.encode(inv), `[68,9,9007199254740992,{"caller":3},["${LONG}",1.50],{"a":"\\u0041"}]`);
  });

  test('each routed type has its own head length', () => {
    const cases: [string, number][] = [
      ['[70,5,{},["a"]]', 3],
      ['[16,5,{},"t",["a"]]', 4],
      ['[8,68,5,{},"com.example.error",["a"]]', 5],
      ['[48,5,{},"p",["a"]]', 4],
    ];
    for (const [text, k] of cases) {
      const m = decode(text);
      assert.equal(tailStart(m), k);
      assert.equal(m.jsonTail, '["a"]', text);
    }
  });

  test('a head in any valid form: blanks, escapes, other number forms, brackets and commas inside strings', () => {
    const cases: [string, string][] = [
      [' [48, 1 ,{ } , "p" , [1, 2] , {"k" : "v"} ] ', '[1, 2] , {"k" : "v"}'],
      ['[48,1,{},"p",\n\t["a"]\r\n]\n', '["a"]'],
      ['[48,1,{},"\\u0070",["a"]]', '["a"]'],
      ['[48,1.0,{},"p",["a"]]', '["a"]'],
      ['[48,1e0,{"x":"a\\"],[{,"},"p\\\\",["a"]]', '["a"]'],
      ['[48,1,{"x":[1,[2,{"y":"]"}]],"z":{}},"p",[]]', '[]'],
      ['[48,1,{"b":"\\u0000AAE="},"p",["c"]]', '["c"]'],
    ];
    for (const [text, tail] of cases) assert.equal(decode(text).jsonTail, tail, text);
  });

  test('no tail when the message has no payload or is not a routed type', () => {
    for (const text of ['[48,1,{"x":"a,b"},"p"]', '[32,1,{},"t,u"]', '[70,5,{"progress":true}]', '["x",1,2,3,4]', '[1,"realm1",{}]']) {
      assert.equal(decode(text).jsonTail, undefined, text);
    }
  });

  test('10,000 random messages in random formatting: the tail is the JSON text of exactly the payload', () => {
    const r = rng(0xc0ffee);
    const types = [
      [48, 4],
      [70, 3],
      [16, 4],
      [8, 5],
    ] as const;
    for (let n = 0; n < 10_000; n++) {
      const [type, k] = types[n % types.length]!;
      const msg: unknown[] = [type];
      for (let i = 1; i < k; i++) msg.push(randomValue(r, 1));
      const payload = 1 + Math.floor(r() * 2);
      for (let i = 0; i < payload; i++) msg.push(randomValue(r, 1));
      const text = randomlySpaced(msg, r);
      const m = decode(text);
      assert.ok(m.jsonTail !== undefined, text);
      assert.deepEqual(JSON.parse(`[${m.jsonTail}]`), JSON.parse(JSON.stringify(msg.slice(k))), text);
      // and the scanner agrees with where the head ends
      const comma = elementEnd(text, k);
      assert.deepEqual(JSON.parse(`${text.slice(0, comma)}]`), JSON.parse(JSON.stringify(msg.slice(0, k))), text);
    }
  });

  test('binary in the payload stays in its JSON form; msgpack receivers get the decoded bytes', () => {
    const m = decode(`[16,1,{},"t",["\\u0000AAE=","${LONG}"]]`);
    assert.ok((m[4] as unknown[])[0] instanceof Uint8Array);
    assert.equal(m.jsonTail, `["\\u0000AAE=","${LONG}"]`);
    const ev: unknown[] = [36, 2, 3, { publisher: 2 ** 40 }];
    pushTail(ev, m, 4);
    assert.equal(jsonSerializer.encode(ev), `[36,2,3,{"publisher":1099511627776},["\\u0000AAE=","${LONG}"]]`);
    const back = msgpackSerializer.decode(msgpackSerializer.encode(ev) as Uint8Array) as unknown[];
    assert.deepEqual([...((back[4] as unknown[])[0] as Uint8Array)], [0, 1]);
  });

  test('the head is written as JSON.stringify writes it (numbers, URIs, dicts with binary), or from the values', () => {
    const heads: unknown[][] = [
      [68, 1, 2 ** 53, {}],
      [68, 1, 2 ** 53 - 1, { caller: 123, caller_authid: 'ä"\\\n', procedure: 'a.b' }],
      [36, 5, 6, { b: new Uint8Array([0, 1]), nested: { x: [1, 'y'] } }],
      [8, 68, 3, {}, 'com.example.error'],
      [50, 0, {}],
      [50, -0, Object.create(null) as object],
      [36, 1, 2, undefined],
    ];
    for (const head of heads) {
      const msg: TailedMessage = [...head, ['p']];
      msg.jsonTail = '["p"]';
      const plain = jsonSerializer.encode([...head, ['p']]);
      assert.equal(jsonSerializer.encode(msg), plain, JSON.stringify(head.slice(0, 3)));
    }
  });

  test('numbers in a head are written as JSON.stringify writes them (ids up to 2^53 by halves, cached)', () => {
    const r = rng(7);
    const numbers = [0, -0, 1, 99_999_999, 1e8, 1e8 + 1, 2 ** 53, 2 ** 53 - 1, 2 ** 53 + 2, -1e9, 1.5, 1e21, 1e300, NaN, Infinity, -Infinity];
    for (let i = 0; i < 20_000; i++) numbers.push(Math.floor(r() * 2 ** 53) + 1, Math.floor(r() * 2 ** 32));
    for (const n of numbers) {
      assert.equal(numberText(n), JSON.stringify(n), String(n));
      assert.equal(numberText(n), JSON.stringify(n), `${n} again (cached)`);
    }
    // Two ids with the same low bits take each other's cache slot, never each other's text.
    assert.equal(numberText(2 ** 40 + 5), '1099511627781');
    assert.equal(numberText(2 ** 41 + 5), '2199023255557');
    assert.equal(numberText(2 ** 40 + 5), '1099511627781');
  });

  test('a message without a carried tail encodes as before', () => {
    assert.equal(jsonSerializer.encode([50, 1, {}, [LONG]]), JSON.stringify([50, 1, {}, [LONG]]));
  });
});
