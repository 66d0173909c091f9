import { peekMsgpack } from '../wamp/peek.js';
import { Packr, Unpackr, addExtension } from 'msgpackr';
import { checkWampValue, mapNumbers, type Serializer } from './serializer.js';

export { MAX_DEPTH } from './serializer.js';

// msgpackr's defaults are not WAMP's (see the design notes):
// - records (msgpackr's own structure extension) must be off: other peers cannot read them;
// - 64-bit integers must decode as plain numbers, never BigInt (ids are compared with ===);
// - integers beyond 32 bits must be *written* as msgpack integers: msgpackr writes any number
//   that does not fit 32 bits as float64, and WAMP ids go up to 2^53. Those numbers are wrapped
//   in WideInt before packing, and the extension below writes them as uint64 (0xcf) or
//   int64 (0xd3) without any extension header.

/** A number outside the 32-bit range that must be written as a msgpack 64-bit integer. */
class WideInt {
  constructor(readonly value: number) {}
}

addExtension({
  Class: WideInt,
  type: 0x7f, // never written: pack() below returns nothing, so no extension header is emitted
  pack(v: WideInt, allocateForWrite: (size: number) => { target: Uint8Array; targetView: DataView; position: number }) {
    const { target, targetView, position } = allocateForWrite(9);
    // Two 32-bit halves, no BigInt (a BigInt per wide id shows in the worker's profile):
    // v = hi·2^32 + lo exactly, lo in [0, 2^32), hi the high word (signed for int64).
    const n = v.value;
    const hi = Math.floor(n / 0x100000000);
    const lo = n - hi * 0x100000000;
    target[position] = n >= 0 ? 0xcf : 0xd3;
    if (n >= 0) targetView.setUint32(position + 1, hi);
    else targetView.setInt32(position + 1, hi);
    targetView.setUint32(position + 5, lo);
    return undefined;
  },
  unpack() {
    throw new Error('unexpected msgpack extension type 0x7f');
  },
} as never);

/** Integral, outside 32 bits, and inside what a 64-bit integer holds (beyond that: float64). */
function isWide(n: number): boolean {
  return (n > 0xffffffff || n < -0x80000000) && n < 2 ** 64 && n >= -(2 ** 63) && Number.isInteger(n);
}

const widenInt = (n: number): unknown => (isWide(n) ? new WideInt(n) : n);

const packr = new Packr({ useRecords: false, variableMapSize: true, useBigIntExtension: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', copyBuffers: true });

export const msgpackSerializer: Serializer = {
  name: 'msgpack',
  subprotocol: 'wamp.2.msgpack',
  binary: true,
  batched: false,
  peek: peekMsgpack,
  decode(data: Uint8Array): unknown {
    const v: unknown = unpackr.unpack(data);
    checkWampValue(v, 0, 'msgpack extension type');
    return v;
  },
  encode(msg: readonly unknown[]): Uint8Array {
    return packr.pack(mapNumbers(msg, widenInt));
  },
};
