import { peekJson } from '../wamp/peek.js';
import { attachJsonTail, encodeWithTail, type TailedMessage } from '../wamp/json-tail.js';
import { checkWampValue, containsBinary, MAX_DEPTH, type Serializer } from './serializer.js';

// WAMP spec, "Binary support in JSON": a byte string travels as a JSON string whose first
// character is U+0000, followed by the standard base64 (with padding) of the bytes.

// JSON.stringify calls Buffer#toJSON before the replacer sees the value, so the replacer looks
// at the holder's raw property (`this[key]`) rather than at `v`.
function binaryReplacer(this: Record<string, unknown>, key: string, v: unknown): unknown {
  const raw = this[key];
  if (raw instanceof Uint8Array) {
    return `\u0000${Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64')}`;
  }
  return v;
}

/** Replace every "\0<base64>" string in a decoded JSON value by its bytes (in place). */
function reviveBinary(v: unknown): unknown {
  if (typeof v === 'string') {
    return v.charCodeAt(0) === 0 ? new Uint8Array(Buffer.from(v.slice(1), 'base64')) : v;
  }
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = reviveBinary(v[i]);
  } else {
    const o = v as Record<string, unknown>;
    for (const k in o) o[k] = reviveBinary(o[k]);
  }
  return v;
}

/** JSON text of a value, byte strings as "\0<base64>". */
function stringify(v: unknown): string {
  return containsBinary(v) ? JSON.stringify(v, binaryReplacer) : JSON.stringify(v);
}

const ZEROS = ['', '0', '00', '000', '0000', '00000', '000000', '0000000'];
/** The last texts of large integers (registration and subscription ids repeat), by their low bits. */
const idKeys = new Float64Array(64);
const idTexts: string[] = new Array<string>(64).fill('0');

/**
 * The decimal text of a number as JSON.stringify writes it. WAMP ids are integers up to 2^53,
 * which V8 converts as doubles, slowly (a publication id is new every time, so its
 * number-to-string cache does not help): an integer ≥ 10^8 is written as two small-integer
 * halves, and the last few such texts are kept.
 */
export function numberText(n: number): string {
  if (!Number.isSafeInteger(n) || n < 1e8) return Number.isFinite(n) ? `${n}` : 'null';
  const k = n & 63;
  if (idKeys[k] === n) return idTexts[k]!;
  const hi = Math.floor(n / 1e8);
  const lo = `${n - hi * 1e8}`;
  const text = `${hi}${ZEROS[8 - lo.length]!}${lo}`;
  idKeys[k] = n;
  idTexts[k] = text;
  return text;
}

/** JSON text of one value of a message head (a number, a URI, a dict of options or details). */
function headValue(v: unknown): string {
  if (typeof v === 'number') return numberText(v);
  if (v === undefined) return 'null'; // as JSON.stringify writes an array element (never in a routed head)
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype) {
    for (const _ in v) return stringify(v);
    return '{}';
  }
  return stringify(v);
}

/** `[m0,m1,…,m(k-1)`: the JSON text of the first k elements of `msg`, without the closing bracket. */
function encodeHead(msg: readonly unknown[], k: number): string {
  let s = `[${headValue(msg[0])}`;
  for (let i = 1; i < k; i++) s += `,${headValue(msg[i])}`;
  return s;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The payload elements (Arguments, ArgumentsKw) of a message whose JSON tail (src/shared/wamp/
 * json-tail.ts) is `tail`, decoded as a JSON frame's are (byte strings revived). `tail` comes from
 * a frame this router decoded and checked already.
 */
export function decodeJsonTail(tail: string): unknown[] {
  const values = JSON.parse(`[${tail}]`) as unknown[];
  if (tail.includes('\\u0000')) reviveBinary(values);
  return values;
}

export const jsonSerializer: Serializer = {
  name: 'json',
  subprotocol: 'wamp.2.json',
  binary: false,
  batched: false,
  peek: peekJson,
  decode(data: Uint8Array): unknown {
    const text = utf8.decode(data);
    const msg: unknown = JSON.parse(text);
    // JSON.parse takes any depth, JSON.stringify and structured clone do not (some thousands of
    // levels): refused here like msgpack and CBOR do, walking only texts long enough to be that deep.
    if (text.length >= 2 * MAX_DEPTH) checkWampValue(msg, 0, 'JSON value');
    // A NUL character can only appear in JSON text as the escape \u0000, so this substring test
    // finds every candidate binary string; the walk runs only for the rare messages that have one.
    if (text.includes('\\u0000')) reviveBinary(msg);
    attachJsonTail(msg, text);
    return msg;
  },
  encode(msg: readonly unknown[]): string {
    return encodeWithTail(msg as TailedMessage, encodeHead) ?? stringify(msg);
  },
};
