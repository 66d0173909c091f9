import WebSocket from 'ws';
import { SERIALIZERS } from '../../src/shared/serializers/index.js';
import { within } from './wait.js';

export type RawSer = 'json' | 'msgpack' | 'cbor';

/** A bare WebSocket WAMP peer for frames a client library will not send. */
export class RawPeer {
  readonly ws: WebSocket;
  readonly received: unknown[][] = [];
  /** WebSocket payload bytes received and sent (for byte counters). */
  bytesIn = 0;
  bytesOut = 0;
  #waiters: { pred: (m: unknown[]) => boolean; resolve: (m: unknown[]) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;

  constructor(
    url: string,
    readonly ser: RawSer,
    options: WebSocket.ClientOptions = {},
  ) {
    this.ws = new WebSocket(url, [`wamp.2.${ser}`], options);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.bytesIn += data.length;
      const msg = (isBinary ? SERIALIZERS[this.ser === 'cbor' ? 'cbor' : 'msgpack'].decode(data) : JSON.parse(data.toString())) as unknown[];
      this.received.push(msg);
      this.#waiters = this.#waiters.filter((w) => {
        if (w.pred(msg)) {
          w.resolve(msg);
          return false;
        }
        return true;
      });
    });
  }

  /** `options`: ws client options, e.g. `{headers: {Cookie: …}}`. */
  static async open(url: string, ser: RawSer, options: WebSocket.ClientOptions = {}): Promise<RawPeer> {
    const p = new RawPeer(url, ser, options);
    await within(p.opened, 5000, 'the WebSocket to open');
    return p;
  }

  send(msg: unknown[]): void {
    const data = SERIALIZERS[this.ser].encode(msg);
    this.bytesOut += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    this.ws.send(data, { binary: this.ser !== 'json' });
  }

  /** The first message (already received or future) of the given WAMP type. */
  next(type: number, ms = 5000): Promise<unknown[]> {
    return this.nextOf([type], ms);
  }

  /** The first message (already received or future) of any of the given WAMP types. */
  nextOf(types: number[], ms = 5000): Promise<unknown[]> {
    const type = types.join(' or ');
    const seen = this.received.find((m) => types.includes(m[0] as number));
    if (seen) {
      this.received.splice(this.received.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return within(
      new Promise<unknown[]>((resolve) =>
        this.#waiters.push({
          pred: (m) => types.includes(m[0] as number),
          resolve: (m) => {
            this.received.splice(this.received.indexOf(m), 1);
            resolve(m);
          },
        }),
      ),
      ms,
      `a message of type ${type}`,
    );
  }

  /** HELLO and wait for WELCOME; returns the WELCOME. */
  async join(realm = 'realm1', details: Record<string, unknown> = { roles: { publisher: {}, subscriber: {}, caller: {}, callee: {} } }): Promise<unknown[]> {
    this.send([1, realm, details]);
    return this.next(2);
  }

  close(): void {
    this.ws.close();
  }
}
