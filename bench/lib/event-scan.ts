/**
 * Reads the leading integers of an EVENT's Arguments straight from the bytes, without decoding
 * the message. Subscribers are the load generator's bottleneck in fan-out (decoding costs more
 * than the router spends per delivery), so they scan every delivery for its sequence number
 * and fully decode only a sample (see bench/peers/pubsub.ts).
 *
 * The layout is the one the generator publishes: [36, Subscription|id, Publication|id, {},
 * [int, int?, …]] with empty Details. Anything else returns false and the caller decodes.
 */

/** msgpack: `out[0..n-1]` = the first `n` Arguments, or false if the layout differs. */
export function scanMsgpackEvent(b: Uint8Array, start: number, end: number, out: number[], n: number): boolean {
  let p = start;
  if (end - p < 8 || b[p] !== 0x95 || b[p + 1] !== 36) return false;
  p += 2;
  for (let i = 0; i < 2; i++) {
    p = skipInt(b, p);
    if (p < 0 || p >= end) return false;
  }
  if (b[p] !== 0x80) return false; // Details: an empty fixmap
  p++;
  const h = b[p]!;
  if ((h & 0xf0) === 0x90) p += 1;
  else if (h === 0xdc) p += 3;
  else return false;
  for (let i = 0; i < n; i++) {
    if (p >= end) return false;
    const x = b[p]!;
    if (x < 0x80) {
      out[i] = x;
      p += 1;
    } else if (x === 0xcc) {
      out[i] = b[p + 1]!;
      p += 2;
    } else if (x === 0xcd) {
      out[i] = (b[p + 1]! << 8) | b[p + 2]!;
      p += 3;
    } else if (x === 0xce) {
      out[i] = ((b[p + 1]! << 24) >>> 0) + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!);
      p += 5;
    } else return false;
  }
  return p <= end;
}

/** Skips one msgpack integer; returns the next position or -1. */
function skipInt(b: Uint8Array, p: number): number {
  const x = b[p]!;
  if (x < 0x80 || x >= 0xe0) return p + 1;
  switch (x) {
    case 0xcc:
    case 0xd0:
      return p + 2;
    case 0xcd:
    case 0xd1:
      return p + 3;
    case 0xce:
    case 0xd2:
      return p + 5;
    case 0xcf:
    case 0xd3:
      return p + 9;
    default:
      return -1;
  }
}

const COMMA = 0x2c;
const ZERO = 0x30;

/** JSON: the same, for `[36,<int>,<int>,{},[<int>,…` as JSON.stringify writes it. */
export function scanJsonEvent(b: Uint8Array, start: number, end: number, out: number[], n: number): boolean {
  let p = start;
  if (end - p < 12 || b[p] !== 0x5b || b[p + 1] !== 0x33 || b[p + 2] !== 0x36 || b[p + 3] !== COMMA) return false;
  p += 4;
  for (let i = 0; i < 2; i++) {
    while (p < end && b[p] !== COMMA) p++;
    p++;
  }
  // {},[
  if (p + 4 > end || b[p] !== 0x7b || b[p + 1] !== 0x7d || b[p + 2] !== COMMA || b[p + 3] !== 0x5b) return false;
  p += 4;
  for (let i = 0; i < n; i++) {
    let v = 0;
    const from = p;
    while (p < end) {
      const d = b[p]! - ZERO;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
      p++;
    }
    if (p === from || p >= end || (b[p] !== COMMA && b[p] !== 0x5d)) return false;
    out[i] = v;
    p++;
  }
  return true;
}
