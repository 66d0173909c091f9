/**
 * A lean WAMP-over-RawSocket client for load generation (WAMP spec, "RawSocket Transport"),
 * with the WebSocket client's interface (ws-client.ts; batching in batched-client.ts):
 * incoming frames are parsed without copying.
 */
import { BatchedClient, type ConnectOptions } from './batched-client.js';

/** Handshake serializer ids by WebSocket subprotocol. */
const SER_IDS: Readonly<Record<string, number>> = { 'wamp.2.json': 1, 'wamp.2.msgpack': 2, 'wamp.2.cbor': 3 };

export interface RsOptions extends ConnectOptions {
  /** The WebSocket subprotocol of the codec (wamp.2.json, wamp.2.msgpack), mapped to its RawSocket id. */
  protocol: string;
}

/** RawSocket has no close codes: onClose gets 1000 after close(), else 1006. */
export class RsClient extends BatchedClient {
  static connect(o: RsOptions): Promise<RsClient> {
    const id = SER_IDS[o.protocol];
    if (id === undefined) return Promise.reject(new Error(`no RawSocket serializer for ${o.protocol}`));
    return BatchedClient.open(
      o,
      'RawSocket',
      // Length exponent 15: messages up to 16 MiB.
      (sock) => sock.write(Buffer.from([0x7f, 0xf0 | id, 0, 0])),
      (head) => {
        if (head.length < 4) return null;
        if (head[0] !== 0x7f || (head[1]! & 0x0f) !== id) return new Error(`RawSocket handshake refused: ${head.subarray(0, 4).toString('hex')}`);
        return 4;
      },
      (sock) => new RsClient(sock),
    );
  }

  send(payload: Uint8Array | string, _binary: boolean): void {
    if (this.closing) return;
    const n = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
    const at = this.#header(0, n);
    if (typeof payload === 'string') this.slab!.write(payload, at, n, 'utf8');
    else this.slab!.set(payload, at);
    this.pos = at + n;
    this.schedule();
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.closeCode = 1000;
    this.flush();
    this.sock.end();
  }

  #header(type: number, n: number): number {
    const slab = this.room(n + 4);
    const p = this.pos;
    slab[p] = type;
    slab[p + 1] = (n >>> 16) & 0xff;
    slab[p + 2] = (n >>> 8) & 0xff;
    slab[p + 3] = n & 0xff;
    return p + 4;
  }

  protected receive(chunk: Buffer): void {
    const buf = this.joinRest(chunk);
    const len = buf.length;
    let p = 0;
    while (p + 4 <= len) {
      const b0 = buf[p]!;
      const n = ((b0 & 0x08) << 21) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!;
      if (p + 4 + n > len) break;
      const at = p + 4;
      p = at + n;
      const type = b0 & 0x07;
      if (type === 0) this.onMessage(buf, at, p, true);
      else if (type === 1 && !this.closing) {
        const h = this.#header(2, n);
        this.slab!.set(buf.subarray(at, p), h);
        this.pos = h + n;
        this.schedule();
      }
      if (this.closing) return;
    }
    if (p < len) this.rest = buf.subarray(p);
  }
}
