import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { msgpackSerializer } from '../../src/serializers/msgpack.js';
import { jsonSerializer, restorePayload } from '../../src/serializers/json.js';
import { JSON_TAIL_MIN, leanForJson, pushTail, type TailedMessage } from '../../src/wamp/json-tail.js';

const LONG = 'x'.repeat(JSON_TAIL_MIN);
const decode = (text: string): TailedMessage => jsonSerializer.decode(Buffer.from(text)) as TailedMessage;

describe('JSON payload tail', () => {
  test('a canonical CALL keeps its payload text; INVOCATION built from it encodes with that text', () => {
    const text = `[48,1,{"timeout":5},"com.example.p",["${LONG}",1.50],{"a":"\\u0041"}]`;
    const call = decode(text);
    assert.equal(call.jsonTail, `["${LONG}",1.50],{"a":"\\u0041"}`);
    const inv: unknown[] = [68, 9, 10, { caller: 3 }];
    pushTail(inv, call, 4);
    assert.deepEqual(inv.slice(4), [[LONG, 1.5], { a: 'A' }]);
    assert.equal(jsonSerializer.encode(inv), `[68,9,10,{"caller":3},["${LONG}",1.50],{"a":"\\u0041"}]`);
  });

  test('each routed type has its own head length', () => {
    const cases: [string, number][] = [
      [`[70,5,{},["${LONG}"]]`, 3],
      [`[16,5,{},"t",["${LONG}"]]`, 4],
      [`[8,68,5,{},"com.example.error",["${LONG}"]]`, 5],
    ];
    for (const [text, k] of cases) {
      const m = decode(text);
      assert.equal(m.jsonTail, `["${LONG}"]`, text.slice(0, 20));
      assert.equal(m.length, k + 1);
    }
  });

  test('no tail when the head is not canonical, the frame is short, has no payload or trailing text', () => {
    for (const text of [
      ` [48,1,{},"p",["${LONG}"]]`,
      `[48, 1,{},"p",["${LONG}"]]`,
      `[48,1,{},"\\u0070",["${LONG}"]]`,
      `[48,1.0,{},"p",["${LONG}"]]`,
      `[48,1,{},"p",["${LONG}"]] `,
      `[48,1,{"x":"${LONG}"},"p"]`,
      `[32,1,{},"${LONG}"]`,
      '[48,1,{},"p",["short"]]',
    ]) {
      assert.equal(decode(text).jsonTail, undefined, text.slice(0, 24));
    }
  });

  test('binary in the payload stays in its JSON form; binary in the head disables the tail', () => {
    const m = decode(`[16,1,{},"t",["\\u0000AAE=","${LONG}"]]`);
    assert.ok((m[4] as unknown[])[0] instanceof Uint8Array);
    assert.equal(m.jsonTail, `["\\u0000AAE=","${LONG}"]`);
    const ev: unknown[] = [36, 2, 3, {}];
    pushTail(ev, m, 4);
    assert.deepEqual(JSON.parse(jsonSerializer.encode(ev) as string), [36, 2, 3, {}, ['\u0000AAE=', LONG]]);
    assert.equal(decode(`[16,1,{"b":"\\u0000AAE="},"t",["${LONG}"]]`).jsonTail, undefined);
  });

  test('a message without a carried tail encodes as before', () => {
    assert.equal(jsonSerializer.encode([50, 1, {}, [LONG]]), JSON.stringify([50, 1, {}, [LONG]]));
  });

  test('a payload left behind for JSON receivers is re-encoded from its text, and restored for others', () => {
    const call = decode(`[48,1,{},"p",["\\u0000AAE=","${LONG}",1.50],{"k":"v"}]`);
    const inv: unknown[] = [68, 9, 10, {}];
    pushTail(inv, call, 4);
    leanForJson(inv);
    assert.equal(inv.length, 4, 'the decoded payload is dropped');
    assert.equal(jsonSerializer.encode(inv), `[68,9,10,{},["\\u0000AAE=","${LONG}",1.50],{"k":"v"}]`);
    const restored = restorePayload(inv);
    assert.deepEqual(restored.slice(5), [{ k: 'v' }]);
    const args = restored[4] as unknown[];
    assert.ok(args[0] instanceof Uint8Array);
    assert.deepEqual([...(args[0] as Uint8Array)], [0, 1]);
    assert.deepEqual(args.slice(1), [LONG, 1.5]);
    const back = msgpackSerializer.decode(msgpackSerializer.encode(restored) as Uint8Array) as unknown[];
    assert.deepEqual([...((back[4] as unknown[])[0] as Uint8Array)], [0, 1], 'msgpack carries the bytes as bin');
    assert.deepEqual([back.slice(0, 4), (back[4] as unknown[]).slice(1), back[5]], [[68, 9, 10, {}], [LONG, 1.5], { k: 'v' }]);
    const plain = [50, 1, {}, ['x']];
    assert.equal(restorePayload(plain), plain, 'a message with its values is returned as is');
  });
});
