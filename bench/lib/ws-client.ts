/**
 * A lean WebSocket client for load generation (RFC 6455, client side), on a plain TCP socket.
 *
 * Why not `ws`: the generator must be faster than the router it measures. This client writes
 * every frame queued during one event-loop turn with one `write()` per socket (one syscall;
 * batched-client.ts), parses incoming frames without copying the payload, and does no UTF-8 validation or
 * per-message event emitting. See docs/performance.md for the measured difference.
 *
 * Masking: client frames carry the mask bit and a masking key, as RFC 6455 §5.3 requires, but
 * the key is all zeros, so masking the payload is a copy. The key's purpose (§10.3) is to keep
 * intermediaries from reading attacker-chosen bytes; there are none on loopback, and the server
 * unmasks every byte whatever the key is, so the server's work is unchanged.
 */
import { randomBytes, createHash } from 'node:crypto';
import { BatchedClient, type ConnectOptions } from './batched-client.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Opcodes (RFC 6455 §5.2). */
const OpCode = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

export interface WsOptions extends ConnectOptions {
  path?: string;
  protocol: string;
}

export class WsClient extends BatchedClient {
  #frag: Buffer[] | null = null;
  #fragBinary = false;

  /** Opens the TCP connection and completes the HTTP upgrade; rejects on any failure. */
  static connect(o: WsOptions): Promise<WsClient> {
    const key = randomBytes(16).toString('base64');
    return BatchedClient.open(
      o,
      'WebSocket',
      (sock) =>
        sock.write(
          `GET ${o.path ?? '/ws'} HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${o.protocol}\r\n\r\n`,
        ),
      (head) => {
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return null;
        const lines = head.toString('latin1', 0, end).split('\r\n');
        const headers = new Map<string, string>();
        for (const l of lines.slice(1)) {
          const c = l.indexOf(':');
          if (c > 0) headers.set(l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim());
        }
        const accept = createHash('sha1').update(key + GUID).digest('base64');
        if (!/^HTTP\/1\.1 101/.test(lines[0]!)) return new Error(`upgrade refused: ${lines[0]}`);
        if (headers.get('sec-websocket-accept') !== accept) return new Error('bad Sec-WebSocket-Accept');
        if (headers.get('sec-websocket-protocol') !== o.protocol) {
          return new Error(`server chose subprotocol '${headers.get('sec-websocket-protocol') ?? ''}', not '${o.protocol}'`);
        }
        return end + 4;
      },
      (sock) => new WsClient(sock),
    );
  }

  /** Queues one message; everything queued in this turn goes out in one write. */
  send(payload: Uint8Array | string, binary: boolean): void {
    if (this.closing) return;
    if (typeof payload === 'string') {
      const n = Buffer.byteLength(payload);
      const at = this.#header(binary ? OpCode.BINARY : OpCode.TEXT, n);
      this.slab!.write(payload, at, n, 'utf8');
      this.pos = at + n;
    } else {
      const n = payload.byteLength;
      const at = this.#header(binary ? OpCode.BINARY : OpCode.TEXT, n);
      this.slab!.set(payload, at);
      this.pos = at + n;
    }
    this.schedule();
  }

  /** Sends a close frame; the server answers and closes the TCP connection. */
  close(code = 1000): void {
    if (this.closing) return;
    this.closing = true;
    const at = this.#header(OpCode.CLOSE, 2);
    this.slab!.writeUInt16BE(code, at);
    this.pos = at + 2;
    this.flush();
    this.sock.end();
  }

  /** Reserves header + payload space and writes a masked frame header; returns the payload offset. */
  #header(opcode: number, n: number): number {
    const slab = this.room(n + 14);
    let p = this.pos;
    slab[p++] = 0x80 | opcode;
    if (n < 126) slab[p++] = 0x80 | n;
    else if (n < 65536) {
      slab[p++] = 0x80 | 126;
      slab.writeUInt16BE(n, p);
      p += 2;
    } else {
      slab[p++] = 0x80 | 127;
      slab.writeUInt32BE(Math.floor(n / 2 ** 32), p);
      slab.writeUInt32BE(n >>> 0, p + 4);
      p += 8;
    }
    // Masking key 0,0,0,0 (see the file comment): the payload goes out as is.
    slab.writeUInt32BE(0, p);
    return p + 4;
  }

  protected receive(chunk: Buffer): void {
    const buf = this.joinRest(chunk);
    const len = buf.length;
    let p = 0;
    while (p + 2 <= len) {
      const b0 = buf[p]!;
      const b1 = buf[p + 1]!;
      let n = b1 & 0x7f;
      let h = 2;
      if (n === 126) {
        if (p + 4 > len) break;
        n = buf.readUInt16BE(p + 2);
        h = 4;
      } else if (n === 127) {
        if (p + 10 > len) break;
        n = buf.readUInt32BE(p + 2) * 2 ** 32 + buf.readUInt32BE(p + 6);
        h = 10;
      }
      if (b1 & 0x80) h += 4; // a server must not mask (RFC 6455 §5.1); tolerated, key skipped below
      if (p + h + n > len) break;
      const at = p + h;
      if (b1 & 0x80) for (let i = 0; i < n; i++) buf[at + i]! ^= buf[at - 4 + (i & 3)]!;
      p = at + n;
      const op = b0 & 0x0f;
      // Data frames (the hot path) go out without allocating a view.
      if (b0 & 0x80 && (op === OpCode.TEXT || op === OpCode.BINARY)) this.onMessage(buf, at, p, op === OpCode.BINARY);
      else this.#frame(b0 & 0x80, op, buf.subarray(at, p));
      if (this.closing) return;
    }
    if (p < len) this.rest = buf.subarray(p);
  }

  /** Control frames and fragments (unfragmented data frames are handled in receive). */
  #frame(fin: number, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case OpCode.TEXT:
      case OpCode.BINARY:
        this.#frag = [Buffer.from(payload)];
        this.#fragBinary = opcode === OpCode.BINARY;
        return;
      case OpCode.CONT:
        if (this.#frag === null) return;
        this.#frag.push(Buffer.from(payload));
        if (fin) {
          const whole = Buffer.concat(this.#frag);
          this.#frag = null;
          this.onMessage(whole, 0, whole.length, this.#fragBinary);
        }
        return;
      case OpCode.PING: {
        if (this.closing) return;
        const at = this.#header(OpCode.PONG, payload.length);
        this.slab!.set(payload, at);
        this.pos = at + payload.length;
        this.schedule();
        return;
      }
      case OpCode.CLOSE:
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.closeReason = payload.length > 2 ? payload.toString('utf8', 2) : '';
        this.close(this.closeCode === 1005 ? 1000 : this.closeCode);
        return;
      default:
        return;
    }
  }
}
