/**
 * A lean WAMP-over-RawSocket client for load generation (WAMP spec, "RawSocket Transport"),
 * with the WebSocket client's interface (ws-client.ts): every frame queued during one
 * event-loop turn goes out in one write(), incoming frames are parsed without copying.
 */
import { connect, type Socket } from 'node:net';

const SLAB = 16 * 1024;
/** Handshake serializer ids by WebSocket subprotocol. */
const SER_IDS: Readonly<Record<string, number>> = { 'wamp.2.json': 1, 'wamp.2.msgpack': 2, 'wamp.2.cbor': 3 };

const dirty: RsClient[] = [];
let flushScheduled = false;
function flushAll(): void {
  flushScheduled = false;
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  dirty.length = 0;
}

export interface RsOptions {
  host: string;
  port: number;
  /** The WebSocket subprotocol of the codec (wamp.2.json, wamp.2.msgpack), mapped to its RawSocket id. */
  protocol: string;
  localAddress?: string;
  timeoutMs?: number;
}

export class RsClient {
  onMessage: (data: Buffer, start: number, end: number, binary: boolean) => void = () => {};
  /** Called once when the connection is gone (RawSocket has no close codes: 1000 after close(), else 1006). */
  onClose: (code: number, reason: string) => void = () => {};
  closed = false;
  #closing = false;
  #sock: Socket;
  #slab: Buffer | null = null;
  #start = 0;
  #pos = 0;
  #queued = false;
  #rest: Buffer | null = null;

  private constructor(sock: Socket) {
    this.#sock = sock;
  }

  static connect(o: RsOptions): Promise<RsClient> {
    const id = SER_IDS[o.protocol];
    if (id === undefined) return Promise.reject(new Error(`no RawSocket serializer for ${o.protocol}`));
    return new Promise((resolve, reject) => {
      const sock = connect({ host: o.host, port: o.port, localAddress: o.localAddress, noDelay: true });
      let head: Buffer = Buffer.alloc(0);
      const timer = setTimeout(() => fail(new Error(`RawSocket handshake timed out after ${o.timeoutMs ?? 10000} ms`)), o.timeoutMs ?? 10000);
      const fail = (e: Error): void => {
        clearTimeout(timer);
        sock.destroy();
        reject(e);
      };
      sock.once('error', fail);
      // Length exponent 15: messages up to 16 MiB.
      sock.once('connect', () => sock.write(Buffer.from([0x7f, 0xf0 | id, 0, 0])));
      const onData = (d: Buffer): void => {
        head = head.length === 0 ? d : Buffer.concat([head, d]);
        if (head.length < 4) return;
        sock.off('data', onData);
        if (head[0] !== 0x7f || (head[1]! & 0x0f) !== id) return fail(new Error(`RawSocket handshake refused: ${head.subarray(0, 4).toString('hex')}`));
        clearTimeout(timer);
        sock.off('error', fail);
        const c = new RsClient(sock);
        sock.on('data', (chunk: Buffer) => c.#onData(chunk));
        sock.on('error', () => {});
        sock.on('close', () => c.#gone());
        resolve(c);
        if (head.length > 4) c.#onData(head.subarray(4));
      };
      sock.on('data', onData);
    });
  }

  send(payload: Uint8Array | string, _binary: boolean): void {
    if (this.#closing) return;
    const n = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
    const at = this.#header(0, n);
    if (typeof payload === 'string') this.#slab!.write(payload, at, n, 'utf8');
    else this.#slab!.set(payload, at);
    this.#pos = at + n;
    this.#schedule();
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.flush();
    this.#sock.end();
  }

  destroy(): void {
    this.#sock.destroy();
  }

  flush(): void {
    this.#queued = false;
    if (this.#pos > this.#start && !this.#sock.destroyed) this.#sock.write(this.#slab!.subarray(this.#start, this.#pos));
    this.#start = this.#pos;
  }

  #schedule(): void {
    if (this.#queued) return;
    this.#queued = true;
    dirty.push(this);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushAll);
    }
  }

  #header(type: number, n: number): number {
    const need = n + 4;
    let slab = this.#slab;
    if (slab === null || this.#pos + need > slab.length) {
      const pending = this.#pos - this.#start;
      const next = Buffer.allocUnsafe(Math.max(SLAB, 2 * (pending + need)));
      if (slab !== null) slab.copy(next, 0, this.#start, this.#pos);
      this.#slab = slab = next;
      this.#start = 0;
      this.#pos = pending;
    }
    const p = this.#pos;
    slab[p] = type;
    slab[p + 1] = (n >>> 16) & 0xff;
    slab[p + 2] = (n >>> 8) & 0xff;
    slab[p + 3] = n & 0xff;
    return p + 4;
  }

  #onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.#rest !== null) {
      buf = Buffer.concat([this.#rest, chunk]);
      this.#rest = null;
    }
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
      else if (type === 1 && !this.#closing) {
        const h = this.#header(2, n);
        this.#slab!.set(buf.subarray(at, p), h);
        this.#pos = h + n;
        this.#schedule();
      }
      if (this.#closing) return;
    }
    if (p < len) this.#rest = buf.subarray(p);
  }

  #gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this.#closing ? 1000 : 1006, '');
  }
}
