import { peekCbor } from '../wamp/peek.js';
import { Decoder, Encoder } from 'cbor-x';
import { checkWampValue, mapNumbers, type Serializer } from './serializer.js';

// cbor-x (the msgpackr author's CBOR library) configured for WAMP's CBOR serializer:
// - no records, no structured clone, no packing: plain RFC 8949 values other peers can read;
// - a Uint8Array is a plain byte string (cbor-x would add tag 64 otherwise);
// - integers beyond 32 bits must be written as CBOR integers (0x1b / 0x3b): cbor-x writes any
//   number that does not fit 32 bits as a float, so they are handed over as BigInt;
// - 64-bit integers decode to plain numbers (ids are compared with ===);
// - byte strings are copied: uWS neuters the message buffer when its callback returns.

const encoder = new Encoder({ useRecords: false, structuredClone: false, pack: false, tagUint8Array: false, variableMapSize: true });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true, int64AsNumber: true, copyBuffers: true } as ConstructorParameters<typeof Decoder>[0]);

function isWide(n: number): boolean {
  return (n > 0xffffffff || n < -0x80000000) && n < 2 ** 64 && n >= -(2 ** 64) && Number.isInteger(n);
}

const widenInt = (n: number): unknown => (isWide(n) ? BigInt(n) : n);

export const cborSerializer: Serializer = {
  name: 'cbor',
  subprotocol: 'wamp.2.cbor',
  binary: true,
  batched: false,
  peek: peekCbor,
  decode(data: Uint8Array): unknown {
    const v: unknown = decoder.decode(data);
    checkWampValue(v, 0, 'CBOR tag or simple value');
    return v;
  },
  encode(msg: readonly unknown[]): Uint8Array {
    return encoder.encode(mapNumbers(msg, widenInt));
  },
};
