/** A WAMP serializer as negotiated by WebSocket subprotocol (WAMP spec, "WebSocket Transport"). */
export interface Serializer {
  /** Name used in config (`serializers: ["json", "msgpack"]`) and in metrics labels. */
  readonly name: SerializerName;
  /** The WebSocket subprotocol, e.g. `wamp.2.json`. */
  readonly subprotocol: string;
  /** Whether messages travel in binary WebSocket frames (false: text frames). */
  readonly binary: boolean;
  /** Decode one WebSocket message. Throws on malformed input. */
  decode(data: Uint8Array): unknown;
  /** Encode one WAMP message. The result stays valid (msgpackr never reuses the bytes it returned). */
  encode(msg: readonly unknown[]): string | Uint8Array;
}

export type SerializerName = 'json' | 'msgpack';

/** True when `v` (a decoded WAMP value) contains a byte string anywhere. */
export function containsBinary(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (v instanceof Uint8Array) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (containsBinary(v[i])) return true;
    return false;
  }
  for (const k in v) if (containsBinary((v as Record<string, unknown>)[k])) return true;
  return false;
}
