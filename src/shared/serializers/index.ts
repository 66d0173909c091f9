import { batched } from './batched.js';
import { cborSerializer } from './cbor.js';
import { jsonSerializer } from './json.js';
import { msgpackSerializer } from './msgpack.js';
import type { Serializer, SerializerName } from './serializer.js';

export type { Serializer, SerializerName } from './serializer.js';

/** The plain serializer of each config name. */
export const SERIALIZERS: Readonly<Record<SerializerName, Serializer>> = {
  json: jsonSerializer,
  msgpack: msgpackSerializer,
  cbor: cborSerializer,
};

/** The batched variant of each config name (a config name offers both, as in Crossbar.io). */
export const BATCHED: Readonly<Record<SerializerName, Serializer>> = {
  json: batched(jsonSerializer),
  msgpack: batched(msgpackSerializer),
  cbor: batched(cborSerializer),
};

/** Every serializer; a connection's index in this list keys the once-per-serializer encode cache. */
export const SERIALIZER_LIST: readonly Serializer[] = [
  jsonSerializer,
  msgpackSerializer,
  cborSerializer,
  BATCHED.json,
  BATCHED.msgpack,
  BATCHED.cbor,
];

export function serializerBySubprotocol(p: string): Serializer | undefined {
  return SERIALIZER_LIST.find((s) => s.subprotocol === p);
}
