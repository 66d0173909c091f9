import { jsonSerializer } from './json.js';
import { msgpackSerializer } from './msgpack.js';
import type { Serializer, SerializerName } from './serializer.js';

export type { Serializer, SerializerName } from './serializer.js';

export const SERIALIZERS: Readonly<Record<SerializerName, Serializer>> = {
  json: jsonSerializer,
  msgpack: msgpackSerializer,
};

/** Serializers in the order Crosswire indexes them on the wire between threads. */
export const SERIALIZER_LIST: readonly Serializer[] = [jsonSerializer, msgpackSerializer];

export function serializerBySubprotocol(p: string): Serializer | undefined {
  return SERIALIZER_LIST.find((s) => s.subprotocol === p);
}
