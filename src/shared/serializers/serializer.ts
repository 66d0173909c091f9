/** A WAMP serializer as negotiated by WebSocket subprotocol (WAMP spec, "WebSocket Transport"). */
export interface Serializer {
  /** Name used in config (`serializers: ["json", "msgpack"]`) and in metrics labels. */
  readonly name: SerializerName;
  /** The WebSocket subprotocol, e.g. `wamp.2.json`. */
  readonly subprotocol: string;
  /** Whether messages travel in binary WebSocket frames (false: text frames). */
  readonly binary: boolean;
  /** A batched variant (`wamp.2.json.batched`, ...): decode() returns the list of messages. */
  readonly batched: boolean;
  /** Decode one WebSocket message (batched: into the list of WAMP messages it carries). Throws on malformed input. */
  decode(data: Uint8Array): unknown;
  /** Encode one WAMP message. The result stays valid (msgpackr never reuses the bytes it returned). */
  encode(msg: readonly unknown[]): string | Uint8Array;
  /**
   * The message type of an encoded message without decoding it (and its request id in
   * `peeked.id`: src/shared/wamp/peek.ts), or -1 when the head is not in the plain form. Absent for the
   * batched variants (their frames are decoded on the main thread).
   */
  readonly peek?: (data: Uint8Array) => number;
}

/** Names in config; each stands for its plain and its batched variant, as in Crossbar.io. */
export type SerializerName = 'json' | 'msgpack' | 'cbor';

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

/** Deeper than this is refused on input (and some thousands of levels could not cross threads). */
export const MAX_DEPTH = 1000;

/**
 * A binary codec may decode extension types or tags (BigInt, Date, Map, Set, references,
 * records, undefined) into JS values that are not WAMP values, and references can even build
 * cycles. A message must hold only nil, bool, number, str, bin, array and map, so everything
 * else is refused on the way in: one walk of the decoded value.
 *
 * Except `undefined`, which JavaScript clients send for an option they leave unset (wampy's
 * msgpack encoder writes it as fixext 1 type 0, `d4 00 00`; cbor-x as simple value 23, `f7`):
 * it is read as absent, in place: a map entry is dropped, an array element becomes nil.
 */
export function checkWampValue(v: unknown, depth: number, what: string): void {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
      return;
    case 'object': {
      if (v === null || v instanceof Uint8Array) return;
      if (depth >= MAX_DEPTH) throw new Error(`nested deeper than ${MAX_DEPTH} levels`);
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          if (v[i] === undefined) v[i] = null;
          else checkWampValue(v[i], depth + 1, what);
        }
        return;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw new Error(`a ${what} is not a WAMP value`);
      const o = v as Record<string, unknown>;
      for (const k in o) {
        if (o[k] === undefined) delete o[k];
        else checkWampValue(o[k], depth + 1, what);
      }
      return;
    }
    default:
      throw new Error(`a ${typeof v} (from a ${what}) is not a WAMP value`);
  }
}

/**
 * Copy-on-write walk that replaces every number for which `f` returns something else (the
 * binary serializers use it to mark integers beyond 32 bits). Returns `v` itself when nothing
 * changed, so the common message costs a walk and no allocation.
 */
export function mapNumbers(v: unknown, f: (n: number) => unknown): unknown {
  if (typeof v === 'number') return f(v);
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const e = v[i];
      const w = mapNumbers(e, f);
      if (w !== e) (out ??= v.slice())[i] = w;
    }
    return out ?? v;
  }
  let out: Record<string, unknown> | undefined;
  const o = v as Record<string, unknown>;
  for (const k in o) {
    const e = o[k];
    const w = mapNumbers(e, f);
    if (w !== e) (out ??= { ...o })[k] = w;
  }
  return out ?? v;
}
