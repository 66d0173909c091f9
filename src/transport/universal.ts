/**
 * The universal transport (src/config/universal.ts): one port for RawSocket, WebSocket and Web,
 * told apart by the first byte a client sends, as Crossbar's unisocket: 0x7F opens every RawSocket
 * handshake (WAMP spec, "RawSocket Transport"); an HTTP request starts with its method, a token of
 * upper-case letters in practice (RFC 9110 §9: GET, POST, …). Anything else is closed.
 *
 * Node's `net` (or `tls`, with the endpoint's tls) accepts every connection, as uWS has no raw
 * TCP API. A RawSocket connection stays in Node and becomes a RawSocketConn with the `rawsocket`
 * part's settings and auth (the same path as a rawsocket transport). An HTTP connection is handed,
 * with the byte(s) already read, to a private uWS app serving the `websocket` and `web` paths
 * (src/transport/front.ts FrontHandoff): the client's address and TLS facts travel beside the
 * bytes, keyed by random bytes, exactly as for the TLS front, so no client can forge them. The
 * cost is one extra hop through a unix socket for every HTTP and WebSocket byte (docs/universal.md).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { TransportConfig } from '../config/transport.js';
import type { TlsFacts } from '../shared/ipc/protocol.js';
import type { Logger } from '../shared/log.js';
import { type FrontHandoff, listenNode, type NodeListenOptions, secureOptions, tlsFacts } from './front.js';
import { RawSocketConn, RawSocketService } from './rawsocket.js';
import type { ConnHandler } from './ws-service.js';

/** The first byte of every RawSocket handshake. */
const RAWSOCKET_MAGIC = 0x7f;

/** Whether `b` can start an HTTP request line (a method: upper-case ASCII letters). */
const httpStart = (b: number): boolean => b >= 0x41 && b <= 0x5a;

export class UniversalFront {
  readonly server: net.Server;
  port = -1;
  /** The RawSocket part's service, or null (0x7F connections are closed). */
  readonly rawsocket: RawSocketService | null;
  /** Connections still waiting for their first byte (tests: stays bounded). */
  waiting = 0;

  constructor(
    readonly config: TransportConfig,
    readonly handoff: FrontHandoff,
    readonly handler: ConnHandler,
    readonly log: Logger,
  ) {
    const u = config.universal!;
    this.rawsocket = u.rawsocket !== null ? new RawSocketService(u.rawsocket, false) : null;
    const ep = config.endpoint;
    if (ep.type === 'tcp' && ep.tls !== null) {
      const server = tls.createServer(secureOptions(ep.tls, config.id), (s) => {
        // The facts are those of this handshake: no TLS 1.2 renegotiation may change them later.
        s.disableRenegotiation();
        this.#sniff(s, tlsFacts(s));
      });
      server.on('tlsClientError', (e, s) => this.log.debug({ err: e.message, peer: s.remoteAddress }, 'TLS handshake failed'));
      this.server = server;
    } else {
      // Half-open as the TLS front: a client that half-closes after its HTTP request still gets the answer.
      this.server = net.createServer({ allowHalfOpen: true }, (s) => this.#sniff(s, null));
    }
    this.server.on('error', (e) => {
      if (this.port !== -1) this.log.warn({ err: e.message }, 'universal listener error');
    });
  }

  /** Waits (bounded) for the first chunk and sends the connection where its first byte says. */
  #sniff(s: net.Socket, facts: TlsFacts | null): void {
    const address = s.remoteAddress;
    if (address === undefined) return void s.destroy(); // already gone
    s.setNoDelay(true);
    const peer = `tcp:${address}`;
    const ms = this.config.universal!.firstByteTimeout;
    let timer: NodeJS.Timeout | null = null;
    let waiting = true;
    this.waiting++;
    const done = () => {
      if (!waiting) return;
      waiting = false;
      this.waiting--;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      s.off('data', onData);
      s.off('close', done);
    };
    const refuse = (reason: string) => {
      done();
      this.handler.refused('other', peer, { transport: this.config.id, reason });
      s.destroy();
    };
    const onData = (chunk: Buffer) => {
      done();
      s.pause();
      const b = chunk[0]!;
      if (b === RAWSOCKET_MAGIC) {
        if (this.rawsocket === null) return refuse('RawSocket handshake, but this universal transport has no rawsocket part');
        // RawSocket needs no half-open connection: the client's end ends ours (as allowHalfOpen: false).
        s.once('end', () => s.end());
        s.unshift(chunk);
        new RawSocketConn(s, this.rawsocket, this.handler, peer, this.log);
        s.resume();
      } else if (httpStart(b)) {
        this.handoff.hand(s, { address, tls: facts }, chunk);
      } else {
        refuse(`first byte 0x${b.toString(16).padStart(2, '0')} is neither a RawSocket handshake (0x7F) nor the start of an HTTP request`);
      }
    };
    s.on('data', onData);
    s.once('close', done);
    s.on('error', (e) => this.log.debug({ err: e.message, peer }, 'universal: connection error'));
    if (ms > 0) {
      timer = setTimeout(() => {
        timer = null;
        refuse(`no first byte within ${ms} ms`);
      }, ms);
      timer.unref();
    }
  }

  /** Listens on the first port of `ports` that is free; resolves with it. */
  async listen(host: string, ports: number[], options: NodeListenOptions): Promise<number> {
    this.port = await listenNode(this.server, this.config.id, host, ports, options);
    return this.port;
  }

  /** Stops accepting (open connections carry on; those still silent are closed by their timer). */
  stop(): void {
    this.server.close();
  }
}
