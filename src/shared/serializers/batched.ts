import type { Serializer } from './serializer.js';

/**
 * The batched variants of a serializer (WAMP spec, "Batched WebSocket transport"): one
 * WebSocket message carries one or more WAMP messages. decode() returns the list of messages.
 *
 * - `wamp.2.json.batched`: every message is followed by a one-byte separator. Autobahn and
 *   Crossbar.io write 0x18 (Python's b"\30" is octal), the spec text says 0x1e: Crosswire
 *   writes 0x18 like Autobahn and accepts both. Neither byte can occur inside JSON text
 *   (control characters in strings must be escaped) or inside a UTF-8 multi-byte sequence.
 * - binary serializers (`wamp.2.msgpack.batched`, `wamp.2.cbor.batched`): every message is
 *   preceded by its length as a 4-byte big-endian unsigned integer.
 *
 * Crosswire sends every outgoing message as its own WebSocket message (a batch of one): the
 * same bytes go to every recipient of a fan-out, so nothing is re-encoded per connection.
 */
export function batched(inner: Serializer): Serializer {
  return inner.binary ? lengthPrefixed(inner) : separated(inner);
}

const SEP_OUT = '\x18';

function separated(inner: Serializer): Serializer {
  return {
    name: inner.name,
    subprotocol: `${inner.subprotocol}.batched`,
    binary: false,
    batched: true,
    decode(data: Uint8Array): unknown {
      const msgs: unknown[] = [];
      let start = 0;
      for (let i = 0; i < data.length; i++) {
        const b = data[i];
        if (b !== 0x18 && b !== 0x1e) continue;
        if (i === start) throw new Error('empty message in a batch (two separators in a row)');
        msgs.push(inner.decode(data.subarray(start, i)));
        start = i + 1;
      }
      if (start < data.length) throw new Error('the last message of a batch is not followed by a separator (0x18 or 0x1e)');
      if (msgs.length === 0) throw new Error('empty batch');
      return msgs;
    },
    encode(msg: readonly unknown[]): string {
      return (inner.encode(msg) as string) + SEP_OUT;
    },
  };
}

function lengthPrefixed(inner: Serializer): Serializer {
  return {
    name: inner.name,
    subprotocol: `${inner.subprotocol}.batched`,
    binary: true,
    batched: true,
    decode(data: Uint8Array): unknown {
      const msgs: unknown[] = [];
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      let off = 0;
      while (off < data.length) {
        if (off + 4 > data.length) throw new Error('truncated length prefix in a batch');
        const len = view.getUint32(off);
        off += 4;
        if (len === 0 || off + len > data.length) throw new Error(`a batched message of ${len} bytes does not fit the ${data.length - off} bytes left`);
        msgs.push(inner.decode(data.subarray(off, off + len)));
        off += len;
      }
      if (msgs.length === 0) throw new Error('empty batch');
      return msgs;
    },
    encode(msg: readonly unknown[]): Uint8Array {
      const body = inner.encode(msg) as Uint8Array;
      const out = new Uint8Array(4 + body.byteLength);
      new DataView(out.buffer).setUint32(0, body.byteLength);
      out.set(body, 4);
      return out;
    },
  };
}
