/**
 * Reading the head of an encoded WAMP message without decoding it: the message type, and the
 * second element when it is a non-negative integer (a CALL's request id). The main thread peeks
 * at every frame of an established session and forwards the bytes to the realm worker, which
 * decodes them (src/router.ts); it only needs the type (metrics, GOODBYE) and a CALL's request id
 * (to answer it if the worker dies: session-track.ts).
 *
 * A peek returns the type, or -1 when the head is anything but the plain form (then the main
 * thread decodes the frame itself, as before). It never accepts what a decoder would read
 * differently: an answer ≥ 0 means a full decode of the same bytes yields a list whose first
 * element is that number (or fails as malformed), and `peeked.id` ≥ 0 means its second element
 * is that integer.
 */

/** The second element of the last peeked message when it is an integer in [0, 2^53), else -1. */
export const peeked = { id: -1 };

const TWO32 = 0x100000000;
/** 2^53 ÷ 2^32: a 64-bit integer's high word must be below this to be a safe integer. */
const HI_LIMIT = 0x200000;

/** msgpack: fixarray / array16 / array32, type a positive fixint, id a uint of any width. */
export function peekMsgpack(d: Uint8Array): number {
  const n = d.length;
  const a = d[0]!;
  let p: number;
  if (a >= 0x91 && a <= 0x9f) p = 1;
  else if (a === 0xdc) {
    if (n < 3 || (d[1]! | d[2]!) === 0) return -1;
    p = 3;
  } else if (a === 0xdd) {
    if (n < 5 || (d[1]! | d[2]! | d[3]! | d[4]!) === 0) return -1;
    p = 5;
  } else return -1;
  if (p >= n) return -1;
  const t = d[p]!;
  if (t > 0x7f) return -1;
  peeked.id = readId(d, p + 1, n, 0x7f, 0xcc);
  return t;
}

/** CBOR: a definite or indefinite array, type an unsigned integer, id an unsigned integer. */
export function peekCbor(d: Uint8Array): number {
  const n = d.length;
  const a = d[0]!;
  let p: number;
  if ((a >= 0x81 && a <= 0x97) || a === 0x9f) p = 1;
  else if (a === 0x98) {
    if (n < 2 || d[1] === 0) return -1;
    p = 2;
  } else return -1;
  if (p >= n) return -1;
  let t = d[p]!;
  if (t === 0x18) {
    if (p + 1 >= n) return -1;
    t = d[p + 1]!;
    // A non-preferred encoding (0x18 with a value below 24) is still the same number.
    p += 2;
  } else if (t <= 0x17) p += 1;
  else return -1;
  peeked.id = readId(d, p, n, 0x17, 0x18);
  return t;
}

/** JSON: `[` type `,` id `,`… with optional whitespace; numbers in their plain decimal form only. */
export function peekJson(d: Uint8Array): number {
  const n = d.length;
  let i = ws(d, 0, n);
  if (i >= n || d[i] !== 0x5b /* [ */) return -1;
  const t = plainInt(d, ws(d, i + 1, n), n, 3);
  if (t < 0) return -1;
  i = ws(d, numEnd, n);
  if (i >= n) return -1;
  peeked.id = -1;
  if (d[i] === 0x5d /* ] */) return t;
  if (d[i] !== 0x2c /* , */) return -1;
  const id = plainInt(d, ws(d, i + 1, n), n, 16);
  if (id < 0) return t;
  i = ws(d, numEnd, n);
  if (i < n && (d[i] === 0x2c || d[i] === 0x5d)) peeked.id = id;
  return t;
}

/** Where the last plainInt() stopped. */
let numEnd = 0;

/**
 * The JSON number at d[i] when it is a plain non-negative integer (digits only, no leading zero)
 * of at most `max` digits below 2^53, else -1; `numEnd` is set to where its digits stop.
 */
function plainInt(d: Uint8Array, i: number, n: number, max: number): number {
  const start = i;
  let v = 0;
  while (i < n) {
    const c = d[i]!;
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + (c - 0x30);
    i++;
  }
  numEnd = i;
  const k = i - start;
  return k === 0 || k > max || (k > 1 && d[start] === 0x30) || v > Number.MAX_SAFE_INTEGER ? -1 : v;
}

/**
 * An unsigned integer at d[p] as msgpack and CBOR write one: the byte itself up to `direct`, else
 * a tag for 1, 2, 4 or 8 following big-endian bytes (`tag1` … `tag1 + 3`). -1 for anything else,
 * a truncated one, or one of 2^53 or more.
 */
function readId(d: Uint8Array, p: number, n: number, direct: number, tag1: number): number {
  if (p >= n) return -1;
  const b = d[p]!;
  if (b <= direct) return b;
  switch (b - tag1) {
    case 0:
      return p + 1 < n ? d[p + 1]! : -1;
    case 1:
      return p + 2 < n ? (d[p + 1]! << 8) | d[p + 2]! : -1;
    case 2:
      return p + 4 < n ? u32(d, p + 1) : -1;
    case 3: {
      if (p + 8 >= n) return -1;
      const hi = u32(d, p + 1);
      return hi < HI_LIMIT ? hi * TWO32 + u32(d, p + 5) : -1;
    }
    default:
      return -1;
  }
}

function ws(d: Uint8Array, i: number, n: number): number {
  while (i < n) {
    const c = d[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

function u32(d: Uint8Array, p: number): number {
  return d[p]! * 0x1000000 + ((d[p + 1]! << 16) | (d[p + 2]! << 8) | d[p + 3]!);
}
