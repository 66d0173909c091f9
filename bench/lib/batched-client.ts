/**
 * What the lean load-generator clients (ws-client.ts, rs-client.ts) share: the connect and
 * handshake scaffolding, and the write batching — every frame queued during one event-loop turn
 * goes out in one write() per socket (one syscall), from a slab that grows as needed.
 */
import { connect, type Socket } from 'node:net';

const SLAB = 16 * 1024;

/** Clients with frames queued in this turn; flushed together on setImmediate. */
const dirty: BatchedClient[] = [];
let flushScheduled = false;
function flushAll(): void {
  flushScheduled = false;
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  dirty.length = 0;
}

export interface ConnectOptions {
  host: string;
  port: number;
  /** Local address to connect from (spreads many connections over more ephemeral port tuples). */
  localAddress?: string;
  timeoutMs?: number;
}

export abstract class BatchedClient {
  /** Called with each complete message, `data[start..end)`; valid only during the call. */
  onMessage: (data: Buffer, start: number, end: number, binary: boolean) => void = () => {};
  /** Called once when the connection is gone, with the close code and reason. */
  onClose: (code: number, reason: string) => void = () => {};
  closed = false;
  protected closing = false;
  protected closeCode = 1006;
  protected closeReason = '';
  protected readonly sock: Socket;
  protected slab: Buffer | null = null;
  protected start = 0;
  protected pos = 0;
  #queued = false;
  /** The start of a frame that the last chunk ended in. */
  protected rest: Buffer | null = null;

  protected constructor(sock: Socket) {
    this.sock = sock;
  }

  /**
   * Connects and runs a handshake: `hello` writes the request once connected; `answer` gets every
   * byte read so far and returns null (more needed), an Error (refused) or where the frames begin.
   */
  protected static open<C extends BatchedClient>(
    o: ConnectOptions,
    name: string,
    hello: (sock: Socket) => void,
    answer: (head: Buffer) => number | Error | null,
    make: (sock: Socket) => C,
  ): Promise<C> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: o.host, port: o.port, localAddress: o.localAddress, noDelay: true });
      let head: Buffer = Buffer.alloc(0);
      const ms = o.timeoutMs ?? 10000;
      const timer = setTimeout(() => fail(new Error(`${name} handshake timed out after ${ms} ms`)), ms);
      const fail = (e: Error): void => {
        clearTimeout(timer);
        sock.destroy();
        reject(e);
      };
      sock.once('error', fail);
      sock.once('connect', () => hello(sock));
      const onData = (d: Buffer): void => {
        head = head.length === 0 ? d : Buffer.concat([head, d]);
        const at = answer(head);
        if (at === null) return;
        sock.off('data', onData);
        if (at instanceof Error) return fail(at);
        clearTimeout(timer);
        sock.off('error', fail);
        const c = make(sock);
        sock.on('data', (chunk: Buffer) => c.receive(chunk));
        sock.on('error', () => {});
        sock.on('close', () => c.#gone());
        resolve(c);
        if (head.length > at) c.receive(head.subarray(at));
      };
      sock.on('data', onData);
    });
  }

  /** Parses frames from a chunk read from the socket. */
  protected abstract receive(chunk: Buffer): void;

  /** Drops the TCP connection without a close handshake. */
  destroy(): void {
    this.sock.destroy();
  }

  flush(): void {
    this.#queued = false;
    if (this.pos > this.start && !this.sock.destroyed) {
      // The written bytes are never touched again: later frames go after pos or into a new slab.
      this.sock.write(this.slab!.subarray(this.start, this.pos));
    }
    this.start = this.pos;
  }

  protected schedule(): void {
    if (this.#queued) return;
    this.#queued = true;
    dirty.push(this);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushAll);
    }
  }

  /** Makes room for `need` more bytes at `pos`, keeping what is queued; returns the slab. */
  protected room(need: number): Buffer {
    let slab = this.slab;
    if (slab === null || this.pos + need > slab.length) {
      const pending = this.pos - this.start;
      const next = Buffer.allocUnsafe(Math.max(SLAB, 2 * (pending + need)));
      if (slab !== null) slab.copy(next, 0, this.start, this.pos);
      this.slab = slab = next;
      this.start = 0;
      this.pos = pending;
    }
    return slab;
  }

  /** The chunk with the unfinished frame of the last one in front of it. */
  protected joinRest(chunk: Buffer): Buffer {
    if (this.rest === null) return chunk;
    const buf = Buffer.concat([this.rest, chunk]);
    this.rest = null;
    return buf;
  }

  #gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this.closeCode, this.closeReason);
  }
}
