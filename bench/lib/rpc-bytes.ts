/**
 * The rpc load generator's byte-level fast paths, the same for JSON and msgpack, so the
 * generator's own cost stays well below the router's (on a 2-core machine every µs the generator
 * spends is taken from the router) and does not differ between serializers:
 * - a CALL is its constant bytes (`{}`, procedure, payload) encoded once, plus the request id;
 * - a reply that is byte for byte the expected one is accounted for without decoding it (the
 *   caller compares every byte of it: a stronger check than decoding and comparing a sample);
 * - the callee answers an INVOCATION [68, id, reg, {}, args…] with YIELD [70, id, {}, args…] by
 *   copying the bytes of id and args.
 * Anything that does not have the expected layout returns undefined/0 and the caller decodes it.
 */
import type { Codec } from './codec.js';

const CALL = 48;
const YIELD = 70;
const INVOCATION = 68;

/** msgpack: the encoding of a non-negative integer as msgpackr writes it. */
function packUint(n: number): number[] {
  if (n < 0x80) return [n];
  if (n < 0x100) return [0xcc, n];
  if (n < 0x10000) return [0xcd, n >> 8, n & 0xff];
  if (n < 0x100000000) return [0xce, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  throw new RangeError('request id out of range');
}

/** msgpack: the end of the unsigned integer at `p` (or -1), and its value in `out[0]`. */
function readUint(b: Uint8Array, p: number, end: number, out: number[]): number {
  const x = b[p]!;
  if (x < 0x80) {
    out[0] = x;
    return p + 1;
  }
  if (x === 0xcc && p + 2 <= end) {
    out[0] = b[p + 1]!;
    return p + 2;
  }
  if (x === 0xcd && p + 3 <= end) {
    out[0] = (b[p + 1]! << 8) | b[p + 2]!;
    return p + 3;
  }
  if (x === 0xce && p + 5 <= end) {
    out[0] = b[p + 1]! * 2 ** 24 + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!);
    return p + 5;
  }
  if (x === 0xcf && p + 9 <= end) {
    let v = 0;
    for (let i = 1; i <= 8; i++) v = v * 256 + b[p + i]!;
    out[0] = v;
    return p + 9;
  }
  return -1;
}

/** JSON: the end of the decimal digits at `p` (or -1), and their value in `out[0]`. */
function readDigits(b: Uint8Array, p: number, end: number, out: number[]): number {
  let v = 0;
  const from = p;
  while (p < end && b[p]! >= 0x30 && b[p]! <= 0x39) v = v * 10 + b[p++]! - 0x30;
  out[0] = v;
  return p > from ? p : -1;
}

export interface RpcBytes {
  /** The CALL [48, id, {}, procedure, payload], encoded. */
  call(id: number): Uint8Array | string;
  /**
   * The request id of a reply [type, id, …rest] whose bytes after the id are exactly `rest`
   * (encoded with restOf), or 0 when the reply looks different in any way.
   */
  replyId(data: Uint8Array, start: number, end: number): number;
  /** YIELD [70, id, {}, args…] for an INVOCATION [68, id, reg, {}, args…], or undefined. */
  yieldFor(data: Uint8Array, start: number, end: number): Uint8Array | undefined;
}

/**
 * `replyType` and `rest`: the reply the caller expects, e.g. RESULT [50, id, {}, payload]
 * (rest = [{}, payload]) or, from the echo server, the CALL itself.
 */
export function rpcBytes(codec: Codec, procedure: string, payload: readonly unknown[], replyType: number, rest: readonly unknown[]): RpcBytes {
  const scratch = [0];
  if (codec.name === 'json') {
    const enc = new TextEncoder();
    const callHead = `[${CALL},`;
    const callTail = `,{},${JSON.stringify(procedure)},${JSON.stringify(payload)}]`;
    const replyHead = enc.encode(`[${replyType},`);
    const replyRest = enc.encode(`,${JSON.stringify(rest).slice(1)}`);
    const invHead = enc.encode(`[${INVOCATION},`);
    const yieldHead = enc.encode(`[${YIELD},`);
    const empty = enc.encode(',{},');
    return {
      call: (id) => callHead + id + callTail,
      replyId(b, start, end) {
        if (end - start <= replyHead.length + replyRest.length || !startsWith(b, start, replyHead)) return 0;
        const p = readDigits(b, start + replyHead.length, end, scratch);
        return p > 0 && equalAt(b, p, end, replyRest) ? scratch[0]! : 0;
      },
      yieldFor(b, start, end) {
        if (!startsWith(b, start, invHead)) return undefined;
        const idFrom = start + invHead.length;
        const idEnd = readDigits(b, idFrom, end, scratch);
        if (idEnd < 0 || b[idEnd] !== 0x2c) return undefined;
        const regEnd = readDigits(b, idEnd + 1, end, scratch);
        if (regEnd < 0 || !startsWith(b, regEnd, empty)) return undefined;
        const args = regEnd + empty.length;
        const out = new Uint8Array(yieldHead.length + (idEnd - idFrom) + empty.length + (end - args));
        out.set(yieldHead, 0);
        out.set(b.subarray(idFrom, idEnd), yieldHead.length);
        out.set(empty, yieldHead.length + idEnd - idFrom);
        out.set(b.subarray(args, end), yieldHead.length + idEnd - idFrom + empty.length);
        return out;
      },
    };
  }
  // [{}, procedure, payload] packed is an array header (1 byte: 0x93) + the three elements.
  const callConst = (codec.encode([{}, procedure, payload]) as Uint8Array).subarray(1);
  const restPacked = codec.encode([...rest]) as Uint8Array;
  const replyRest = restPacked.subarray(1); // without its array header (fixarray, < 16 elements)
  const replyArr = 0x90 + 2 + rest.length;
  return {
    call(id) {
      const idb = packUint(id);
      const out = new Uint8Array(2 + idb.length + callConst.length);
      out[0] = 0x95;
      out[1] = CALL;
      out.set(idb, 2);
      out.set(callConst, 2 + idb.length);
      return out;
    },
    replyId(b, start, end) {
      if (end - start < 3 || b[start] !== replyArr || b[start + 1] !== replyType) return 0;
      const p = readUint(b, start + 2, end, scratch);
      return p > 0 && equalAt(b, p, end, replyRest) ? scratch[0]! : 0;
    },
    yieldFor(b, start, end) {
      if (end - start < 5 || b[start] !== 0x95 || b[start + 1] !== INVOCATION) return undefined;
      const idFrom = start + 2;
      const idEnd = readUint(b, idFrom, end, scratch);
      if (idEnd < 0) return undefined;
      const regEnd = readUint(b, idEnd, end, scratch);
      if (regEnd < 0 || b[regEnd] !== 0x80) return undefined;
      const args = regEnd + 1;
      const out = new Uint8Array(2 + (idEnd - idFrom) + 1 + (end - args));
      out[0] = 0x94;
      out[1] = YIELD;
      out.set(b.subarray(idFrom, idEnd), 2);
      out[2 + idEnd - idFrom] = 0x80;
      out.set(b.subarray(args, end), 3 + idEnd - idFrom);
      return out;
    },
  };
}

function startsWith(b: Uint8Array, at: number, prefix: Uint8Array): boolean {
  if (b.length - at < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[at + i] !== prefix[i]) return false;
  return true;
}

/** b[at..end) equals `expected` exactly. */
function equalAt(b: Uint8Array, at: number, end: number, expected: Uint8Array): boolean {
  return end - at === expected.length && Buffer.from(b.buffer, b.byteOffset + at, end - at).equals(expected);
}

/**
 * A publisher's message as bytes: PUBLISH [16, request, {}, topic, [ints…, payload…]] to the
 * router, or the EVENT [36, 1, request, {}, [ints…, payload…]] itself to the limit server. The
 * constant parts are encoded once; per message only the request id and the leading integers
 * (publisher index, sequence number) are written. Same bytes as the codec would produce.
 */
export function publicationBytes(codec: Codec, router: boolean, topic: string, payload: readonly unknown[], ints: number): (request: number, values: readonly number[]) => Uint8Array | string {
  if (codec.name === 'json') {
    const head = router ? `[16,` : `[36,1,`;
    const mid = router ? `,{},${JSON.stringify(topic)},[` : `,{},[`;
    const rest = payload.length === 0 ? ']]' : `,${JSON.stringify(payload).slice(1, -1)}]]`;
    return (request, values) => {
      let s = head + request + mid;
      for (let i = 0; i < ints; i++) s += i === 0 ? values[i] : `,${values[i]}`;
      return s + rest;
    };
  }
  // [ints…, payload…] is a fixarray (< 16 elements); the payload's packed elements follow the integers.
  const payloadBytes = (codec.encode([...payload]) as Uint8Array).subarray(1);
  const topicBytes = (codec.encode([topic]) as Uint8Array).subarray(1);
  const argsHeader = 0x90 + ints + payload.length;
  return (request, values) => {
    const parts: number[] = router ? [0x95, 16, ...packUint(request), 0x80] : [0x95, 36, 1, ...packUint(request), 0x80];
    const head = router ? [...parts, ...topicBytes, argsHeader] : [...parts, argsHeader];
    for (let i = 0; i < ints; i++) head.push(...packUint(values[i]!));
    const out = new Uint8Array(head.length + payloadBytes.length);
    out.set(head, 0);
    out.set(payloadBytes, head.length);
    return out;
  };
}
