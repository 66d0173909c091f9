import type { Conn, ConnSocket } from './connection.js';

/**
 * uWS gets this multiple of max_backpressure as its own limit. Crosswire enforces
 * max_backpressure itself before each send (below), so uWS's limit never drops a message; it
 * only has to leave room for the close frame that tells a slow consumer why it is closed.
 */
export const UWS_BACKPRESSURE_FACTOR = 4;

/**
 * Sends a batch of encoded messages to one connection (inside the caller's cork). Returns -1
 * when the connection is a slow consumer: a message would take its unsent buffer past
 * `max_backpressure`. Then nothing more is sent and the caller closes it with 1008 + reason,
 * while the buffer is still small enough for uWS to queue the close frame behind the data.
 * The buffer is only looked at once it is non-empty (send() returned 0, or the caller saw it after
 * uncorking), so a connection that keeps up costs one send per message.
 *
 * Otherwise returns, for a connection still `pressured`, an upper bound of its unsent buffer (the
 * last reading plus what was queued after it), so the caller needs no further reading; else 0.
 */
export function sendAll(c: Conn, ws: ConnSocket, out: (string | Uint8Array)[]): number {
  const { compress, config } = c.service;
  const binary = c.ser.binary;
  const limit = config.ws.maxBackpressure;
  const frag = config.ws.autoFragmentSize;
  let seen = 0;
  for (let k = 0; k < out.length; k++) {
    const data = out[k]!;
    const size = typeof data === 'string' ? data.length : data.byteLength;
    if (c.pressured) {
      const buffered = ws.getBufferedAmount();
      if (buffered === 0) c.pressured = false;
      else if (buffered + size > limit) return -1;
      seen = buffered;
    }
    // A string's UTF-8 may take up to 3 bytes per unit.
    seen += typeof data === 'string' ? 3 * size : size;
    if (frag > 0 && size > frag / 3) sendFragmented(ws, data, binary, frag, compress);
    else if (ws.send(data, binary, compress) !== 1) c.pressured = true;
  }
  return c.pressured ? seen : 0;
}

/**
 * `auto_fragment_size`: one message as frames of at most `size` payload bytes. A text message
 * is cut on byte boundaries (RFC 6455 §5.6 lets a fragment end inside a UTF-8 sequence).
 * Fragmented messages go out uncompressed: uWS deflates fragment by fragment, which
 * permessage-deflate does not allow.
 */
function sendFragmented(ws: ConnSocket, data: string | Uint8Array, binary: boolean, size: number, compress: boolean): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (bytes.byteLength <= size) {
    ws.send(bytes, binary, compress);
    return;
  }
  ws.sendFirstFragment(bytes.subarray(0, size), binary, false);
  let off = size;
  for (; off + size < bytes.byteLength; off += size) ws.sendFragment(bytes.subarray(off, off + size), false);
  ws.sendLastFragment(bytes.subarray(off), false);
}
