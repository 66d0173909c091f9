import type { WebSocket } from '../uws.js';
import type { Conn } from './connection.js';

/**
 * `auto_fragment_size`: sends one message as frames of at most `size` payload bytes. A text
 * message is cut on byte boundaries (RFC 6455 §5.6 allows a fragment to end inside a UTF-8
 * sequence). Fragmented messages go out uncompressed: uWS deflates fragment by fragment,
 * which permessage-deflate does not allow. Returns true when the send buffer passed
 * max_backpressure (the caller treats the connection as a slow consumer), like send() === 2.
 */
export function sendFragmented(ws: WebSocket<Conn>, data: string | Uint8Array, binary: boolean, size: number, compress: boolean): boolean {
  // A string of n UTF-16 units is at most 3n UTF-8 bytes: most messages need no encoding here.
  if (typeof data === 'string' ? data.length * 3 <= size : data.byteLength <= size) return ws.send(data, binary, compress) === 2;
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (bytes.byteLength <= size) return ws.send(bytes, binary, compress) === 2;
  const max = ws.getUserData().listener.config.ws.maxBackpressure;
  if (ws.getBufferedAmount() > max) return true;
  ws.sendFirstFragment(bytes.subarray(0, size), binary, false);
  let off = size;
  for (; off + size < bytes.byteLength; off += size) ws.sendFragment(bytes.subarray(off, off + size), false);
  ws.sendLastFragment(bytes.subarray(off), false);
  return false;
}
