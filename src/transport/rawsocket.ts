import { lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { type TransportConfig, wsAuthKey } from '../config/load.js';
import type { RawSocketOptions } from '../config/transport.js';
import type { TransportInfo } from '../shared/ipc/protocol.js';
import type { Logger } from '../shared/log.js';
import { CloseCode } from '../shared/wamp/codes.js';
import { SERIALIZER_LIST, SERIALIZERS, type Serializer, type SerializerName } from '../shared/serializers/index.js';
import { secureOptions, tlsFacts } from './front.js';
import { type Conn, type ConnService, type ConnSocket, newConn, type ReadThrottle } from './connection.js';
import type { ConnHandler } from './ws-service.js';

/*
 * WAMP over RawSocket (WAMP spec, "RawSocket Transport"; https://wamp-proto.org/wamp_latest_ietf.html#name-rawsocket-transport).
 *
 * Opening handshake, 4 octets each way:
 *   client: 0x7F, LLLL SSSS, 0x00, 0x00   L: the client accepts messages up to 2^(9+L) octets,
 *                                          S: serializer (1 JSON, 2 MessagePack, 3 CBOR)
 *   router: 0x7F, LLLL SSSS, 0x00, 0x00   its own limit, and S echoed
 *       or: 0x7F, EEEE 0000, 0x00, 0x00   E: an error code (RsError), then the router closes
 * Then frames: a 4-octet header RRRR XTTT + 24-bit big-endian length (X is the 25th length bit),
 * TTT 0 a WAMP message, 1 PING, 2 PONG (echoing the PING's payload); R reserved (zero).
 *
 * uWebSockets.js has no raw TCP API, so these connections are Node `net`/`tls` sockets on the
 * main thread. Each one is a ConnSocket (connection.ts): the router sends, closes and throttles it
 * exactly as a WebSocket, so its sessions live in the same realm workers over the same IPC, with
 * the same flow control, send limits, metrics and drain.
 */

/** Handshake error codes (the spec's E). */
export const RsError = { SERIALIZER_UNSUPPORTED: 1, MAX_LENGTH_UNACCEPTABLE: 2, RESERVED_BITS: 3, MAX_CONNECTIONS: 4 } as const;

/** Frame types (the spec's TTT). */
export const RsFrame = { MESSAGE: 0, PING: 1, PONG: 2 } as const;

/** The serializer ids of the handshake (spec: 1 JSON, 2 MessagePack, 3 CBOR). */
export const RAWSOCKET_SERIALIZER_IDS: Readonly<Record<SerializerName, number>> = { json: 1, msgpack: 2, cbor: 3 };

/** How long a closing connection may take to read what it was sent before it is dropped. */
const CLOSE_GRACE_MS = 4000;

const ST_HANDSHAKE = 0;
const ST_OPEN = 1;
const ST_CLOSED = 2;

/** Node sockets stop and restart reading for real: flow control pauses a RawSocket client at once. */
const NODE_THROTTLE: ReadThrottle = {
  pause(s: ConnSocket): boolean {
    (s as RawSocketConn).pauseReading();
    return true;
  },
  resume(s: ConnSocket): void {
    (s as RawSocketConn).resumeReading();
  },
  failed: false,
};

/** A RawSocket transport's per-connection settings and counters (the router's Conn.service). */
export class RawSocketService implements ConnService {
  readonly info: Omit<TransportInfo, 'serIndex' | 'serializer' | 'peer' | 'cookieAnonAuthid' | 'cookieAuth' | 'secure' | 'tls' | 'component'>;
  readonly secure: boolean;
  readonly compress = false;
  readonly cookies = null;
  readonly throttle = NODE_THROTTLE;
  /** Established connections (for max_connections). */
  connections = 0;
  /** Serializers by handshake id. */
  readonly serializers = new Map<number, Serializer>();
  readonly rs: RawSocketOptions;
  /** RawSocket transports never carry the router components' private path. */
  readonly componentGate = null;

  constructor(
    readonly config: TransportConfig,
    readonly unix: boolean,
  ) {
    this.info = { type: 'rawsocket', transportId: config.id, authKey: wsAuthKey(config.id, null) };
    this.secure = config.endpoint.type === 'tcp' && config.endpoint.tls !== null;
    for (const n of config.serializers) this.serializers.set(RAWSOCKET_SERIALIZER_IDS[n], SERIALIZERS[n]);
    this.rs = config.rawsocket!;
  }

  /** Slow consumer: dropped (RawSocket has no close frame to carry a reason; the router logged it). */
  fail(c: Conn, _code: number, _reason: string): void {
    c.ws?.close();
  }
}

/**
 * One RawSocket connection: the handshake, the frame parser and the writer. Incoming frames are
 * checked against max_message_size from their header, before their payload is buffered.
 */
export class RawSocketConn implements ConnSocket {
  #state = ST_HANDSHAKE;
  #c: Conn | null = null;
  /** The largest message the peer accepts (its handshake's 2^(9+L)). */
  #peerMax = 0;
  /** Bytes of the unit being read (handshake, frame header or payload) that came in earlier chunks. */
  #parts: Buffer[] = [];
  #partBytes = 0;
  /** The frame whose payload is being read: its type, or -1 while a header is awaited. */
  #type = -1;
  #len = 0;
  #timer: NodeJS.Timeout | null = null;
  /** Messages sent inside cork(), written as one buffer when it ends. */
  #out: Uint8Array[] | null = null;
  #outBytes = 0;
  #frag: Uint8Array[] | null = null;
  #paused = false;
  /** A message larger than the peer accepts was to be sent: the connection is being dropped. */
  #doomed = false;

  constructor(
    readonly socket: net.Socket,
    readonly service: RawSocketService,
    readonly handler: ConnHandler,
    readonly peer: string,
    readonly log: Logger,
  ) {
    socket.setNoDelay(true);
    socket.on('data', this.#onData);
    socket.on('error', (err: Error) => this.log.debug({ err, peer }, 'rawsocket connection error'));
    socket.on('close', this.#onClose);
    const ms = service.rs.handshakeTimeout;
    if (ms > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        if (this.#state !== ST_HANDSHAKE) return;
        this.handler.refused('other', peer, { transport: service.config.id, reason: `no RawSocket handshake within ${ms} ms` });
        this.#state = ST_CLOSED;
        socket.destroy();
      }, ms);
      this.#timer.unref();
    }
  }

  // ---- reading ------------------------------------------------------------------------------

  #onData = (chunk: Buffer): void => {
    let off = 0;
    const n = chunk.length;
    while (off < n && this.#state !== ST_CLOSED) {
      if (this.#type < 0) {
        // A 4-octet unit: the handshake or a frame header.
        const need = 4 - this.#partBytes;
        if (n - off < need) return this.#keep(chunk, off);
        let h = chunk;
        let at = off;
        if (this.#partBytes > 0) {
          h = Buffer.concat([...this.#parts, chunk.subarray(off, off + need)], 4);
          at = 0;
          this.#parts = [];
          this.#partBytes = 0;
        }
        off += need;
        if (this.#state === ST_HANDSHAKE) this.#handshake(h[at]!, h[at + 1]!, h[at + 2]!, h[at + 3]!);
        else this.#header(h[at]!, h[at + 1]!, h[at + 2]!, h[at + 3]!);
      } else {
        const need = this.#len - this.#partBytes;
        if (n - off < need) return this.#keep(chunk, off);
        let payload: Uint8Array;
        if (this.#partBytes === 0) payload = chunk.subarray(off, off + need);
        else {
          payload = Buffer.concat([...this.#parts, chunk.subarray(off, off + need)], this.#len);
          this.#parts = [];
          this.#partBytes = 0;
        }
        off += need;
        const type = this.#type;
        this.#type = -1;
        this.#frame(type, payload);
      }
    }
  };

  /** The rest of a chunk, part of a unit still incomplete (bounded: a header, or a payload checked against max_message_size). */
  #keep(chunk: Buffer, off: number): void {
    const rest = chunk.subarray(off);
    this.#parts.push(rest);
    this.#partBytes += rest.length;
  }

  #handshake(magic: number, b1: number, r1: number, r2: number): void {
    const s = this.service;
    const transport = s.config.id;
    if (magic !== 0x7f) {
      // Not RawSocket (an HTTP request on the wrong port, say): no reply can be understood.
      this.handler.refused('other', this.peer, { transport, reason: `not a RawSocket handshake (first octet 0x${magic.toString(16)})` });
      this.#state = ST_CLOSED;
      this.socket.destroy();
      return;
    }
    if (r1 !== 0 || r2 !== 0) return this.#refuse(RsError.RESERVED_BITS, 'other', 'reserved handshake octets are not zero');
    const ser = s.serializers.get(b1 & 0x0f);
    if (ser === undefined) {
      return this.#refuse(RsError.SERIALIZER_UNSUPPORTED, 'subprotocol', `serializer ${b1 & 0x0f} is not offered (offered: ${[...s.serializers.keys()].join(', ')})`);
    }
    if (!this.handler.accepting()) return this.#refuse(RsError.MAX_CONNECTIONS, 'draining', 'the router is shutting down');
    const max = s.rs.maxConnections;
    if (max > 0 && s.connections >= max) return this.#refuse(RsError.MAX_CONNECTIONS, 'max_connections', `maximum number of connections (${max}) reached`);
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#peerMax = 2 ** (9 + (b1 >> 4));
    this.socket.write(Buffer.from([0x7f, (s.rs.lengthExponent << 4) | (b1 & 0x0f), 0, 0]));
    this.#state = ST_OPEN;
    s.connections++;
    const c = newConn(ser, SERIALIZER_LIST.indexOf(ser), this.peer, s);
    c.ws = this;
    if (this.socket instanceof tls.TLSSocket) c.tls = tlsFacts(this.socket);
    this.#c = c;
    this.handler.opened(c);
  }

  /** Answers the handshake with error `code` and closes. */
  #refuse(code: number, reason: Parameters<ConnHandler['refused']>[0], why: string): void {
    this.handler.refused(reason, this.peer, { transport: this.service.config.id, rawsocket_error: code, reason: why });
    this.#state = ST_CLOSED;
    this.socket.end(Buffer.from([0x7f, code << 4, 0, 0]));
    this.#dropLater();
  }

  #header(b0: number, b1: number, b2: number, b3: number): void {
    const c = this.#c!;
    const type = b0 & 0x07;
    const len = ((b0 & 0x08) << 21) | (b1 << 16) | (b2 << 8) | b3;
    if ((b0 & 0xf0) !== 0 || type > RsFrame.PONG) {
      return this.#drop(`RawSocket frame with reserved bits or type set (octet 0x${b0.toString(16)})`);
    }
    const max = this.service.rs.maxMessageSize;
    if (len > max) {
      // WAMP spec: a frame longer than announced fails the connection; checked before buffering.
      this.log.info({ conn: c.id, peer: this.peer, reason: 'message over max_message_size', size: len, limit: max }, 'message too big');
      this.handler.violation(c);
      this.#dropNow(c);
      return;
    }
    this.#type = type;
    this.#len = len;
    if (len === 0) {
      this.#type = -1;
      this.#frame(type, new Uint8Array(0));
    }
  }

  #frame(type: number, payload: Uint8Array): void {
    const c = this.#c!;
    if (type === RsFrame.MESSAGE) {
      // The router keeps or posts a copy; the chunk's memory is Node's.
      const data = payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.byteLength) as ArrayBuffer;
      this.handler.frame(c, data, c.ser.binary);
    } else if (type === RsFrame.PING) {
      // A client that sends PINGs and does not read its PONGs would grow the send buffer: bounded like messages (max_backpressure).
      if (this.socket.writableLength + 4 + payload.byteLength > this.service.config.ws.maxBackpressure) {
        this.log.warn({ conn: c.id, peer: this.peer, reason: 'PINGs while not reading the PONGs: send buffer limit exceeded' }, 'slow consumer closed');
        this.handler.slowConsumer(c);
        return this.#dropNow(c);
      }
      // WAMP spec: a PONG echoes the PING's payload, at once.
      this.#write(RsFrame.PONG, payload);
    }
    // PONG: Crosswire sends no PINGs of its own; an unsolicited PONG is ignored.
  }

  /** A framing violation: logged, counted and dropped (RawSocket has no close frame). */
  #drop(reason: string): void {
    const c = this.#c!;
    this.log.info({ conn: c.id, peer: this.peer, reason }, 'protocol violation');
    this.handler.violation(c);
    this.#dropNow(c);
  }

  #dropNow(c: Conn): void {
    if (c.ws === null) return;
    this.close();
  }

  // ---- flow control -------------------------------------------------------------------------

  pauseReading(): void {
    if (this.#state !== ST_OPEN) return;
    this.#paused = true;
    this.socket.pause();
  }

  resumeReading(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.socket.resume();
  }

  // ---- ConnSocket: writing --------------------------------------------------------------------

  send(message: string | Uint8Array, _isBinary?: boolean, _compress?: boolean): number {
    if (this.#state !== ST_OPEN || this.#doomed) return 2;
    const data = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
    if (data.byteLength > this.#peerMax) {
      this.#tooBigForPeer(data.byteLength);
      return 2;
    }
    if (this.#out !== null) {
      this.#out.push(data);
      this.#outBytes += 4 + data.byteLength;
      return 1;
    }
    this.#write(RsFrame.MESSAGE, data);
    return this.socket.writableLength === 0 ? 1 : 0;
  }

  cork(cb: () => void): this {
    if (this.#out !== null) {
      cb();
      return this;
    }
    this.#out = [];
    this.#outBytes = 0;
    try {
      cb();
    } finally {
      const out = this.#out;
      const total = this.#outBytes;
      this.#out = null;
      this.#outBytes = 0;
      if (out.length === 1 && this.#state === ST_OPEN) {
        // Fan-out: every recipient of an EVENT gets the same bytes (one view per serializer), framed once.
        const d = out[0]!;
        if (d !== lastPayload) {
          lastFrame = Buffer.allocUnsafe(total);
          lastFrame.set(d, frameHeader(lastFrame, 0, RsFrame.MESSAGE, d.byteLength));
          lastPayload = d;
        }
        this.socket.write(lastFrame!);
      } else if (out.length > 0 && this.#state === ST_OPEN) {
        // One buffer, one write: the headers written in place.
        const buf = Buffer.allocUnsafe(total);
        let at = 0;
        for (const d of out) {
          at = frameHeader(buf, at, RsFrame.MESSAGE, d.byteLength);
          buf.set(d, at);
          at += d.byteLength;
        }
        this.socket.write(buf);
      }
    }
    return this;
  }

  #write(type: number, data: Uint8Array): void {
    const buf = Buffer.allocUnsafe(4 + data.byteLength);
    buf.set(data, frameHeader(buf, 0, type, data.byteLength));
    this.socket.write(buf);
  }

  /**
   * The peer announced it takes nothing larger (its handshake's L): the message cannot be
   * delivered and must not be dropped silently, so the connection is dropped, after the current
   * batch (the router is writing to it now).
   */
  #tooBigForPeer(size: number): void {
    this.#doomed = true;
    const c = this.#c!;
    this.log.warn({ conn: c.id, peer: this.peer, size, peer_max: this.#peerMax }, 'outgoing message larger than the RawSocket peer accepts: closing');
    queueMicrotask(() => {
      if (this.#state === ST_OPEN) this.close();
    });
  }

  sendFirstFragment(message: Uint8Array): boolean {
    this.#frag = [message];
    return true;
  }

  sendFragment(message: Uint8Array): boolean {
    this.#frag?.push(message);
    return true;
  }

  /** RawSocket has no fragments: the pieces go out as one message. */
  sendLastFragment(message: Uint8Array): boolean {
    const parts = this.#frag ?? [];
    this.#frag = null;
    parts.push(message);
    return this.send(Buffer.concat(parts)) === 1;
  }

  ping(message: Uint8Array): number {
    if (this.#state !== ST_OPEN) return 2;
    this.#write(RsFrame.PING, message);
    return 1;
  }

  getBufferedAmount(): number {
    return this.#state === ST_CLOSED ? 0 : this.socket.writableLength + this.#outBytes;
  }

  // ---- ConnSocket: closing ----------------------------------------------------------------------

  /** Graceful: what was written goes out, then FIN. RawSocket carries no close code or reason. */
  end(code: number = CloseCode.NORMAL, _reason?: string): void {
    if (this.#state !== ST_OPEN) return;
    this.#state = ST_CLOSED;
    this.socket.end();
    this.#dropLater();
    this.#closed(code);
  }

  close(): void {
    if (this.#state === ST_CLOSED && this.#c === null) return;
    const was = this.#state;
    this.#state = ST_CLOSED;
    this.socket.destroy();
    if (was === ST_OPEN) this.#closed(CloseCode.ABNORMAL);
  }

  #onClose = (): void => {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const was = this.#state;
    this.#state = ST_CLOSED;
    if (was === ST_OPEN) this.#closed(CloseCode.ABNORMAL);
  };

  /** Reads on (discarding) so the peer's FIN is seen; drops the socket if the peer does not close in time. */
  #dropLater(): void {
    if (this.#paused) {
      this.#paused = false;
      this.socket.resume();
    }
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.socket.destroy();
    }, CLOSE_GRACE_MS);
    this.#timer.unref();
  }

  /** As uWS does for a WebSocket: the close handler runs before end()/close() return. */
  #closed(code: number): void {
    const c = this.#c;
    if (c === null) return;
    this.#c = null;
    this.#parts = [];
    this.#partBytes = 0;
    this.service.connections--;
    c.ws = null;
    this.handler.closed(c, code);
  }
}

/**
 * The last single message framed by a cork() and its frame: a fanned-out EVENT reaches every
 * recipient of a serializer as the same Uint8Array, so it is framed once. Frames are never
 * modified after they are written, so one Buffer can go to many sockets.
 */
let lastPayload: Uint8Array | null = null;
let lastFrame: Buffer | null = null;

/** Writes a frame header at `at`; returns where the payload goes. */
function frameHeader(buf: Buffer, at: number, type: number, len: number): number {
  buf[at] = type | ((len >>> 21) & 0x08);
  buf[at + 1] = (len >>> 16) & 0xff;
  buf[at + 2] = (len >>> 8) & 0xff;
  buf[at + 3] = len & 0xff;
  return at + 4;
}

/** A listening `rawsocket` transport: a Node net (or tls) server on its endpoint. */
export class RawSocketListener {
  readonly services: RawSocketService[];
  /** No TLS front (src/transport/front.ts): Node terminates a RawSocket transport's TLS itself. */
  readonly front = null;
  port = -1;
  readonly #service: RawSocketService;
  readonly #server: net.Server;
  #listening = false;

  constructor(
    readonly config: TransportConfig,
    readonly handler: ConnHandler,
    readonly log: Logger,
  ) {
    const ep = config.endpoint;
    this.#service = new RawSocketService(config, ep.type === 'unix');
    this.services = [this.#service];
    if (ep.type === 'tcp' && ep.tls !== null) {
      // The TLS settings of every transport whose TLS Node.js terminates (front.ts): as Crossbar, with
      // ca_certificates a client certificate they verify is required (the TLS handshake fails
      // without one), and no session resumption, so each connection's facts are its own handshake's.
      this.#server = tls.createServer(
        {
          ...secureOptions(ep.tls, config.id),
          handshakeTimeout: config.rawsocket!.handshakeTimeout > 0 ? config.rawsocket!.handshakeTimeout : 120_000,
          // RawSocket needs no half-open connection: the client's end ends ours.
          allowHalfOpen: false,
        },
        (s) => this.#secure(s),
      );
      this.#server.on('tlsClientError', (err, s) => {
        this.log.debug({ err, peer: s.remoteAddress }, 'TLS handshake failed');
      });
    } else {
      this.#server = net.createServer((s) => this.#accept(s));
    }
    this.#server.on('error', (err) => {
      if (this.#listening) this.log.error({ err }, 'rawsocket listener error');
    });
  }

  #secure(s: tls.TLSSocket): void {
    if (this.config.endpoint.type === 'tcp' && this.config.endpoint.tls!.caCertificates.length > 0 && !s.authorized) {
      this.handler.refused('other', `tcp:${s.remoteAddress ?? ''}`, { transport: this.config.id, reason: `client certificate not verified: ${String(s.authorizationError)}` });
      s.destroy();
      return;
    }
    // The facts (client certificate for auth.tls, tls-unique) are those of this handshake: no TLS 1.2 renegotiation may change them later.
    s.disableRenegotiation();
    this.#accept(s);
  }

  #accept(s: net.Socket): void {
    const peer = this.#service.unix ? 'unix' : `tcp:${s.remoteAddress ?? ''}`;
    new RawSocketConn(s, this.#service, this.handler, peer, this.log);
  }

  listen(): Promise<number> {
    const ep = this.config.endpoint;
    if (ep.type === 'unix') {
      let stat: import('node:fs').Stats | null;
      try {
        stat = lstatSync(ep.path);
      } catch {
        stat = null;
      }
      if (stat !== null && !stat.isSocket()) {
        return Promise.reject(new Error(`transport ${this.config.id}: endpoint.path: ${ep.path} exists and is not a socket; not replacing it`));
      }
      if (stat !== null) unlinkSync(ep.path);
      return this.#listen({ path: ep.path, ...(ep.backlog !== null ? { backlog: ep.backlog } : {}) }, `unix socket ${ep.path}`).then(() => -1);
    }
    const ports: number[] = [];
    if (ep.portRange !== null) for (let p = ep.portRange[0]; p <= ep.portRange[1]; p++) ports.push(p);
    else ports.push(this.config.port);
    const next = async (i: number): Promise<number> => {
      try {
        // endpoint.shared: SO_REUSEPORT (Node.js >= 22.12; buildConfig refuses it on older Node, which would ignore the option).
        await this.#listen(
          { host: this.config.host, port: ports[i]!, exclusive: true, ...(ep.shared ? { reusePort: true } : {}), ...(ep.backlog !== null ? { backlog: ep.backlog } : {}) },
          `${this.config.host}:${ports[i]}`,
        );
      } catch (e) {
        if (i + 1 < ports.length) return next(i + 1);
        if (ports.length > 1) throw new Error(`transport ${this.config.id}: cannot listen on ${this.config.host}:any port of ${ports[0]}..${ports[ports.length - 1]} (address in use or not available)`);
        throw e;
      }
      this.port = (this.#server.address() as net.AddressInfo).port;
      return this.port;
    };
    return next(0);
  }

  #listen(opts: net.ListenOptions, where: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const fail = (err: Error) => reject(new Error(`transport ${this.config.id}: cannot listen on ${where} (${err.message})`));
      this.#server.once('error', fail);
      this.#server.listen(opts, () => {
        this.#server.off('error', fail);
        this.#listening = true;
        resolve();
      });
    });
  }

  /** Stops accepting connections (open ones are untouched). */
  stopListening(): void {
    if (!this.#listening) return;
    this.#listening = false;
    this.#server.close();
    const ep = this.config.endpoint;
    if (ep.type === 'unix') {
      try {
        unlinkSync(ep.path);
      } catch {
        // already gone (Node removes it on close)
      }
    }
  }

  async close(): Promise<void> {}
}
