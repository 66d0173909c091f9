import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { deferred, within } from './wait.js';

/** One WebSocket frame as it came off the wire. */
export interface WireFrame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  payload: Buffer;
}

/**
 * A WebSocket client written against the bytes, for what `ws` hides: the raw HTTP response,
 * single frames (fragments, pings, close frames, RSV1), and whether the server closed with a
 * close frame or dropped TCP. Connects to 127.0.0.1 or a unix socket path.
 */
export class WireClient {
  readonly socket: net.Socket;
  /** The HTTP response head (status line and headers), once received. */
  readonly response = deferred<{ status: number; headers: Record<string, string>; head: string }>();
  readonly frames: WireFrame[] = [];
  readonly ended = deferred<void>();
  #buf = Buffer.alloc(0);
  #headDone = false;
  #waiters: { pred: (f: WireFrame) => boolean; resolve: (f: WireFrame) => void }[] = [];

  constructor(target: { port: number } | { path: string }, request: string, opts: { autoPong?: boolean } = {}) {
    this.socket = 'port' in target ? net.connect({ port: target.port, host: '127.0.0.1', allowHalfOpen: true }) : net.connect({ path: target.path, allowHalfOpen: true });
    this.socket.on('error', () => {});
    this.socket.on('close', () => this.ended.resolve());
    this.socket.on('end', () => this.ended.resolve());
    this.socket.on('connect', () => this.socket.write(request));
    this.socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      if (!this.#headDone) {
        const end = this.#buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = this.#buf.subarray(0, end).toString('latin1');
        this.#buf = this.#buf.subarray(end + 4);
        this.#headDone = true;
        const [statusLine, ...lines] = head.split('\r\n');
        const headers: Record<string, string> = {};
        for (const l of lines) {
          const i = l.indexOf(':');
          headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        this.response.resolve({ status: Number(statusLine!.split(' ')[1]), headers, head });
      }
      this.#parse(opts.autoPong ?? true);
    });
  }

  /** GET upgrade request text with the usual headers; `extra` adds or replaces headers ('' removes). */
  static request(path: string, extra: Record<string, string> = {}): string {
    const h: Record<string, string> = {
      Host: '127.0.0.1',
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Protocol': 'wamp.2.json',
      ...extra,
    };
    return `GET ${path} HTTP/1.1\r\n${Object.entries(h)
      .filter(([, v]) => v !== '')
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`;
  }

  static async open(target: { port: number } | { path: string }, extra: Record<string, string> = {}, opts: { autoPong?: boolean } = {}): Promise<WireClient> {
    const c = new WireClient(target, WireClient.request('/ws', extra), opts);
    const r = await within(c.response.promise, 5000, 'the HTTP response to the upgrade');
    if (r.status !== 101) throw new Error(`upgrade refused: ${r.head}`);
    return c;
  }

  #parse(autoPong: boolean): void {
    for (;;) {
      const b = this.#buf;
      if (b.length < 2) return;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (b.length < off + len) return;
      const f: WireFrame = { fin: (b[0]! & 0x80) !== 0, rsv1: (b[0]! & 0x40) !== 0, opcode: b[0]! & 0x0f, payload: Buffer.from(b.subarray(off, off + len)) };
      this.#buf = b.subarray(off + len);
      this.frames.push(f);
      if (f.opcode === 0x9 && autoPong) this.send(0xa, f.payload);
      this.#waiters = this.#waiters.filter((w) => {
        if (w.pred(f)) {
          w.resolve(f);
          return false;
        }
        return true;
      });
    }
  }

  /** Sends one masked frame. */
  send(opcode: number, payload: Buffer | string, fin = true): void {
    const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const mask = randomBytes(4);
    const masked = Buffer.from(p.map((x, i) => x ^ mask[i % 4]!));
    let head: Buffer;
    if (p.length < 126) head = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | p.length]);
    else if (p.length < 65536) {
      head = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, 0, 0]);
      head.writeUInt16BE(p.length, 2);
    } else {
      head = Buffer.alloc(10);
      head[0] = (fin ? 0x80 : 0) | opcode;
      head[1] = 0x80 | 127;
      head.writeBigUInt64BE(BigInt(p.length), 2);
    }
    this.socket.write(Buffer.concat([head, mask, masked]));
  }

  /** The first frame (already received or future) matching `pred`. */
  next(pred: (f: WireFrame) => boolean, ms = 5000, what = 'a frame'): Promise<WireFrame> {
    const seen = this.frames.find(pred);
    if (seen) return Promise.resolve(seen);
    const d = deferred<WireFrame>();
    this.#waiters.push({ pred, resolve: d.resolve });
    return within(d.promise, ms, what);
  }

  /** Close frame payload → code and reason. */
  static closeOf(f: WireFrame): { code: number; reason: string } {
    return f.payload.length >= 2 ? { code: f.payload.readUInt16BE(0), reason: f.payload.subarray(2).toString() } : { code: 1005, reason: '' };
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Sends one raw HTTP request and resolves with the status and headers of the response. */
export async function rawHttp(port: number, request: string): Promise<{ status: number; headers: Record<string, string> }> {
  const c = new WireClient({ port }, request);
  try {
    return await within(c.response.promise, 5000, 'an HTTP response');
  } finally {
    c.destroy();
  }
}
