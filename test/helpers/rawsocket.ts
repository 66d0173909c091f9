import net from 'node:net';
import tls from 'node:tls';
import { SERIALIZERS } from '../../src/shared/serializers/index.js';
import { deferred, Inbox, within } from './wait.js';

export type RsSerializer = 'json' | 'msgpack' | 'cbor';
export const RS_IDS: Record<RsSerializer, number> = { json: 1, msgpack: 2, cbor: 3 };

/** A frame as read off the wire: its type (0 message, 1 PING, 2 PONG) and payload. */
export interface RsFrame {
  type: number;
  payload: Buffer;
}

/**
 * A minimal WAMP-over-RawSocket client on a real socket, for malformed and oversize input and
 * for reading the router's exact bytes (the interop tests use Autobahn|Python's client).
 */
export class RawSocketClient {
  readonly socket: net.Socket;
  /** The router's 4-octet handshake reply. */
  readonly reply = deferred<Buffer>();
  readonly frames = new Inbox<RsFrame>();
  /** Resolves when the socket closed (true: by an error such as a reset). */
  readonly closed: Promise<boolean>;
  #buf = Buffer.alloc(0);
  #handshaken = false;
  ser: RsSerializer = 'json';

  constructor(socket: net.Socket) {
    this.socket = socket;
    const done = deferred<boolean>();
    this.closed = done.promise;
    let errored = false;
    socket.on('error', () => (errored = true));
    socket.on('close', () => done.resolve(errored));
    socket.on('data', (d: Buffer) => this.#data(d));
  }

  static connect(target: { port: number; host?: string } | { path: string }, useTls?: tls.ConnectionOptions): Promise<RawSocketClient> {
    return within(
      new Promise<RawSocketClient>((resolve, reject) => {
        const s =
          useTls !== undefined
            ? tls.connect({ ...(target as { port: number }), host: '127.0.0.1', ...useTls }, () => resolve(new RawSocketClient(s)))
            : 'path' in target
              ? net.connect(target.path, () => resolve(new RawSocketClient(s)))
              : net.connect(target.port, target.host ?? '127.0.0.1', () => resolve(new RawSocketClient(s)));
        s.once('error', reject);
      }),
      5000,
      'a RawSocket TCP connection',
    );
  }

  /** Sends the handshake for `ser` with length exponent `exp` and waits for the reply. */
  async handshake(ser: RsSerializer = 'json', exp = 15): Promise<Buffer> {
    this.ser = ser;
    this.socket.write(Buffer.from([0x7f, (exp << 4) | RS_IDS[ser], 0, 0]));
    return within(this.reply.promise, 5000, 'the RawSocket handshake reply');
  }

  #data(d: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, d]);
    if (!this.#handshaken) {
      if (this.#buf.length < 4) return;
      this.#handshaken = true;
      this.reply.resolve(this.#buf.subarray(0, 4));
      this.#buf = this.#buf.subarray(4);
    }
    while (this.#buf.length >= 4) {
      const b0 = this.#buf[0]!;
      const len = ((b0 & 0x08) << 21) | this.#buf.readUIntBE(1, 3);
      if (this.#buf.length < 4 + len) return;
      this.frames.push({ type: b0 & 0x07, payload: Buffer.from(this.#buf.subarray(4, 4 + len)) });
      this.#buf = this.#buf.subarray(4 + len);
    }
  }

  /** One frame: header (type, length) and payload. */
  static frame(type: number, payload: Uint8Array): Buffer {
    const h = Buffer.from([type, (payload.byteLength >> 16) & 0xff, (payload.byteLength >> 8) & 0xff, payload.byteLength & 0xff]);
    return Buffer.concat([h, payload]);
  }

  send(msg: unknown[]): void {
    const data = SERIALIZERS[this.ser].encode(msg);
    this.socket.write(RawSocketClient.frame(0, typeof data === 'string' ? Buffer.from(data) : data));
  }

  /** The WAMP messages received so far (frames of type 0, decoded). */
  messages(): unknown[][] {
    return this.frames.items.filter((f) => f.type === 0).map((f) => [...(SERIALIZERS[this.ser].decode(f.payload) as unknown[])]);
  }

  /** Waits for the n-th (1-based) WAMP message and returns it. */
  async message(n: number, ms = 5000): Promise<unknown[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = this.messages();
      if (m.length >= n) return m[n - 1]!;
      await this.frames.waitFor(this.frames.items.length + 1, Math.max(1, deadline - Date.now()));
    }
  }

  /** HELLO on realm1, anonymous; resolves with the WELCOME. */
  async join(realm = 'realm1', details: Record<string, unknown> = { roles: { caller: {}, callee: {}, publisher: {}, subscriber: {} } }): Promise<unknown[]> {
    const before = this.messages().length;
    this.send([1, realm, details]);
    return this.message(before + 1);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
