/**
 * The load generator's serializers: plain msgpackr and JSON, without the router's input checks
 * (the generator trusts what it receives and only needs speed). Wire-compatible with
 * src/shared/serializers: 64-bit integers from the router decode as numbers.
 */
import { Packr, Unpackr } from 'msgpackr';

export type SerName = 'json' | 'msgpack';
export const SER_NAMES: readonly SerName[] = ['json', 'msgpack'];

export interface Codec {
  readonly name: SerName;
  readonly subprotocol: string;
  readonly binary: boolean;
  encode(msg: unknown[]): Uint8Array | string;
  decode(data: Buffer, start: number, end: number): unknown[];
}

const packr = new Packr({ useRecords: false, variableMapSize: true, useBigIntExtension: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export const CODECS: Readonly<Record<SerName, Codec>> = {
  json: {
    name: 'json',
    subprotocol: 'wamp.2.json',
    binary: false,
    encode: (msg) => JSON.stringify(msg),
    decode: (data, start, end) => JSON.parse(data.toString('utf8', start, end)) as unknown[],
  },
  msgpack: {
    name: 'msgpack',
    subprotocol: 'wamp.2.msgpack',
    binary: true,
    encode: (msg) => packr.pack(msg),
    decode: (data, start, end) => unpackr.unpack(data.subarray(start, end)) as unknown[],
  },
};

/** The two payloads of the issue: `["hello", 42]` and one string of 1 KiB. */
export const PAYLOADS = { small: ['hello', 42], '1k': ['x'.repeat(1024)] } as const;
export type PayloadName = keyof typeof PAYLOADS;

