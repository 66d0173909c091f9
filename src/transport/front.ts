/**
 * "Accept with Node.js, hand to uWS": a front that accepts a transport's connections with Node's
 * own sockets and hands each one, as plaintext bytes, to a private uWebSockets.js listener that
 * serves the transport's routes as usual (WebSocket upgrade, WAMP, web paths). What Node learned
 * while accepting (for TLS: the verified client certificate and the Finished messages) travels
 * beside the bytes, never inside them, so that no client can forge it.
 *
 * Why: uWebSockets.js's TLS (uSockets + BoringSSL) requests and verifies a client certificate when
 * given CAs but never requires one (SSL_VERIFY_PEER without SSL_VERIFY_FAIL_IF_NO_PEER_CERT, and no
 * option for it), and hands neither the peer certificate nor the Finished messages to JavaScript.
 * Node's `tls` module does all three (`requestCert` + `rejectUnauthorized`, getPeerCertificate(),
 * getFinished()/getPeerFinished()). Only transports that need it pay for the extra hop
 * (frontNeeded, src/config/transport.ts); every other transport keeps uWS's own TLS.
 *
 * How the facts travel: the private listener is a unix socket in a fresh 0700 directory (only this
 * process's user can connect). For each accepted connection the front opens a connection to it and
 * first writes a PROXY protocol v2 header (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt,
 * which uWS parses at the start of a connection and reports with getProxiedRemoteAddress()) whose
 * IPv6 source address is 16 random bytes: a one-time key under which the front registered the
 * connection's facts on this (the main) thread. The upgrade handler looks the key up (FrontHandoff.peek)
 * and takes the facts with the upgrade (take). A client's own bytes come after the header uWS has
 * already consumed, so whatever a client sends (a PROXY header, an HTTP header of any name) is just
 * data: there is no header to strip and nothing a client can name. A connection that reaches the
 * private socket without a key the front registered (only a local process of the same user can)
 * finds no facts and is refused.
 *
 * The seam: FrontHandoff is the reusable half (a private uWS listener + the facts registry +
 * hand(socket, facts, head)); TlsFront is one acceptor built on it. Another acceptor (the
 * universal transport: RawSocket, WebSocket and HTTP on one port) accepts with
 * net.Server, reads the first bytes, keeps RawSocket for itself and calls hand() with those bytes
 * as `head` for anything HTTP.
 */
import { constants, createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type * as UWS from 'uWebSockets.js';
import { readDhparam } from '../config/dhparam.js';
import { reusePortSupported, type TlsConfig } from '../config/transport.js';
import type { TlsFacts } from '../shared/ipc/protocol.js';
import type { Logger } from '../shared/log.js';
import type { HttpResponse, TemplatedApp, us_listen_socket } from '../uws.js';

/** What the front knows about one accepted connection. */
export interface FrontFacts {
  /** The client's address as Node saw it (the private socket has none). */
  address: string;
  /** TLS facts, or null for a plaintext acceptor. */
  tls: TlsFacts | null;
}

/** PROXY protocol v2's 12-byte signature. */
const PROXY_V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A PROXY v2 header (PROXY command, TCP over IPv6) whose source address is `key`. */
function proxyHeader(key: Buffer): Buffer {
  const h = Buffer.alloc(16 + 36);
  PROXY_V2_SIGNATURE.copy(h, 0);
  h[12] = 0x21; // version 2, PROXY
  h[13] = 0x21; // AF_INET6, STREAM
  h.writeUInt16BE(36, 14); // two IPv6 addresses and two ports
  key.copy(h, 16); // source address: the key; destination address and ports: zero
  return h;
}

/**
 * The reusable half of a front: a private uWS listener on a unix socket and the facts of the
 * connections handed to it, by one-time key. Main thread only.
 */
export class FrontHandoff {
  #dir: string | null = null;
  /** The private socket's path (set by listen()). */
  path = '';
  readonly #facts = new Map<string, FrontFacts>();
  #socket: us_listen_socket | null = null;
  /** Handed-over connections still open (ended by stop()). */
  readonly #open = new Set<net.Socket>();

  constructor(
    readonly uws: typeof UWS,
    readonly app: TemplatedApp,
    readonly log: Logger,
  ) {}

  /** Starts the private listener. */
  listen(): Promise<void> {
    // mkdtemp creates the directory with mode 0700: nobody but this user reaches the socket.
    this.#dir = mkdtempSync(join(tmpdir(), 'crosswire-front-'));
    this.path = join(this.#dir, 'uws.sock');
    return new Promise((resolve, reject) => {
      this.app.listen_unix((ls) => {
        if (!ls) return reject(new Error(`cannot listen on the private unix socket ${this.path}`));
        this.#socket = ls;
        resolve();
      }, this.path);
    });
  }

  /**
   * Hands an accepted connection to uWS: registers `facts` under a fresh key, connects to the
   * private listener, writes the PROXY header with the key, then `head` (bytes the acceptor already
   * read) and pipes both ways until either side closes.
   */
  hand(client: net.Socket, facts: FrontFacts, head: Buffer | null = null): void {
    const key = randomBytes(16);
    const id = key.toString('hex');
    this.#facts.set(id, facts);
    const up = net.connect(this.path);
    this.#open.add(client);
    // Either side may end first (pipe() passes the end on). The client going away ends everything;
    // uWS closing its side lets what it wrote reach the client first (destroySoon: end, then destroy).
    const forget = () => {
      this.#facts.delete(id);
      this.#open.delete(client);
    };
    client.once('close', () => {
      forget();
      up.destroy();
    });
    up.once('close', () => {
      forget();
      client.destroySoon();
    });
    client.on('error', (e) => this.log.debug({ err: e.message, peer: facts.address }, 'front: client connection error'));
    up.on('error', (e) => this.log.debug({ err: e.message, peer: facts.address }, 'front: private connection error'));
    up.write(proxyHeader(key));
    if (head !== null && head.length > 0) up.write(head);
    client.pipe(up);
    up.pipe(client);
  }

  /** The facts of the connection `res` arrived on, or undefined (not handed over by this front). */
  peek(res: HttpResponse): FrontFacts | undefined {
    const addr = res.getProxiedRemoteAddress();
    if (addr.byteLength !== 16) return undefined;
    return this.#facts.get(Buffer.from(addr).toString('hex'));
  }

  /** The facts of `res`'s connection, removed: a connection is upgraded once. */
  take(res: HttpResponse): FrontFacts | undefined {
    const addr = res.getProxiedRemoteAddress();
    if (addr.byteLength !== 16) return undefined;
    const id = Buffer.from(addr).toString('hex');
    const f = this.#facts.get(id);
    this.#facts.delete(id);
    return f;
  }

  /** Facts registered and not yet taken (tests: the registry stays bounded). */
  get pending(): number {
    return this.#facts.size;
  }

  /**
   * Stops the private listener, ends the connections still handed over (the router closed its
   * WebSockets before: what is left are idle HTTP connections) and removes the directory.
   */
  stop(): void {
    for (const c of this.#open) c.destroy();
    if (this.#socket !== null) {
      this.uws.us_listen_socket_close(this.#socket);
      this.#socket = null;
    }
    if (this.#dir !== null) rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = null;
  }
}

const strings = (o: object | undefined): Record<string, string | string[]> =>
  Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => typeof v === 'string' || Array.isArray(v))) as Record<string, string | string[]>;

/** The TLS facts of an established connection (the certificate was verified against ca_certificates). */
export function tlsFacts(s: tls.TLSSocket): TlsFacts {
  const cert = s.getPeerCertificate();
  const hasCert = cert !== null && typeof cert === 'object' && Buffer.isBuffer(cert.raw);
  const sha = (alg: string, b: Buffer | undefined) => (b === undefined ? null : createHash(alg).update(b).digest('hex'));
  return {
    peerCert: hasCert
      ? {
          // Autobahn|Python's peer_cert fields: digests as upper-case hex pairs joined by ':'.
          sha1: cert.fingerprint,
          sha256: cert.fingerprint256,
          subject: strings(cert.subject),
          issuer: strings(cert.issuer),
          serial: cert.serialNumber,
          not_before: cert.valid_from,
          not_after: cert.valid_to,
        }
      : null,
    protocol: s.getProtocol() ?? '',
    // Crossbar (with Autobahn|Python's Twisted client) derives tls-unique from the server's Finished
    // message; RFC 5929 (and Python's ssl module, so Autobahn|Python's asyncio client) from the first
    // Finished of the handshake, the client's in a full one. Both are unique to this connection.
    tlsUnique: [sha('sha256', s.getFinished()), sha('sha256', s.getPeerFinished())].filter((x): x is string => x !== null),
  };
}

/** Node's `dhparam` TLS option for `endpoint.tls.dhparam` (checked: Node would silently drop a bad file), or none. */
export function dhparamOption(t: TlsConfig, transportId: string): { dhparam?: string } {
  return t.dhparam === null ? {} : { dhparam: readDhparam(t.dhparam, `transport ${transportId}: endpoint.tls.dhparam`).pem };
}

/** Node's TLS options for a Crossbar `tls` endpoint, or an error naming the key. */
export function secureOptions(t: TlsConfig, transportId: string): tls.TlsOptions {
  const read = (file: string, key: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`transport ${transportId}: endpoint.tls.${key}: cannot read ${file}: ${(e as Error).message}`);
    }
  };
  const nl = (p: string) => (p.endsWith('\n') ? p : `${p}\n`);
  const cas = t.caCertificates.map((f) => read(f, 'ca_certificates'));
  const options: tls.TlsOptions = {
    key: read(t.key, 'key'),
    cert: [read(t.certificate, 'certificate'), ...t.chainCertificates.map((f) => read(f, 'chain_certificates'))].map(nl).join(''),
    ciphers: t.ciphers,
    honorCipherOrder: true,
    minVersion: 'TLSv1.2', // as uSockets
    // Crossbar (Twisted CertificateOptions(verify=True, caCerts=…), requireCertificate=True): with
    // CAs, a client certificate is required and must chain to one of them, else the handshake fails.
    requestCert: cas.length > 0,
    rejectUnauthorized: cas.length > 0,
    ...(cas.length > 0 ? { ca: cas } : {}),
    // uWS gives a connection ~10 s to send its request; the TLS handshake gets as long.
    handshakeTimeout: 10_000,
    // A client that half-closes after its request still gets the answer (uWS closes then).
    allowHalfOpen: true,
    // As Crossbar (enableSessions=False, enableSessionTickets=False): no resumption, so every
    // connection has its own full handshake (certificate and Finished messages).
    secureOptions: constants.SSL_OP_NO_TICKET,
    // For the DHE suites of `ciphers` (Crossbar's default list has them); without, OpenSSL offers none.
    ...dhparamOption(t, transportId),
  };
  try {
    tls.createSecureContext(options);
  } catch (e) {
    throw new Error(
      `transport ${transportId}: endpoint.tls: Node.js could not build a TLS context (${(e as Error).message}): ` +
        'check that key and certificate are PEM and belong together, and that ciphers names at least one suite',
    );
  }
  return options;
}

/**
 * A TLS listener in Node whose connections go to `handoff` once their handshake succeeded, with
 * the verified client certificate and the channel ids as facts.
 */
export class TlsFront {
  readonly server: tls.Server;
  port = -1;

  constructor(
    tlsConfig: TlsConfig,
    readonly handoff: FrontHandoff,
    readonly transportId: string,
    readonly log: Logger,
  ) {
    this.server = tls.createServer(secureOptions(tlsConfig, transportId), (s) => {
      const address = s.remoteAddress;
      if (address === undefined) return void s.destroy(); // already gone
      s.setNoDelay(true);
      // The facts are those of this handshake: no TLS 1.2 renegotiation may change them later.
      s.disableRenegotiation();
      handoff.hand(s, { address, tls: tlsFacts(s) });
    });
    // A failed handshake (no certificate, one from another CA, not TLS at all) concerns that client only.
    this.server.on('tlsClientError', (e, s) => this.log.debug({ err: e.message, peer: s.remoteAddress }, 'TLS handshake failed'));
    // After listening: an accept error (EMFILE, say) is logged, never an uncaught 'error'.
    this.server.on('error', (e) => {
      if (this.port !== -1) this.log.warn({ err: e.message }, 'TLS listener error');
    });
  }

  /** Listens on the first port of `ports` that is free; resolves with it. */
  async listen(host: string, ports: number[], options: NodeListenOptions): Promise<number> {
    this.port = await listenNode(this.server, this.transportId, host, ports, options);
    return this.port;
  }

  /** Stops accepting (open connections carry on). */
  stop(): void {
    this.server.close();
  }
}

/** endpoint.shared (SO_REUSEPORT) and endpoint.backlog (the accept queue; null: Node's default, 511). */
export interface NodeListenOptions {
  shared: boolean;
  backlog: number | null;
}

/** Listens with a Node server on the first port of `ports` that is free; resolves with it. */
export function listenNode(server: net.Server, transportId: string, host: string, ports: number[], { shared, backlog }: NodeListenOptions): Promise<number> {
  if (shared && !reusePortSupported()) {
    return Promise.reject(
      new Error(`transport ${transportId}: endpoint.shared: SO_REUSEPORT on a port Node.js listens on (a universal transport, or one whose TLS Node.js terminates) needs Node.js >= 22.12 (this is ${process.version})`),
    );
  }
  return new Promise((resolve, reject) => {
    const next = (i: number) => {
      if (i >= ports.length) {
        const what = ports.length > 1 ? `any port of ${ports[0]}..${ports[ports.length - 1]}` : String(ports[0]);
        return reject(new Error(`transport ${transportId}: cannot listen on ${host}:${what} (address in use or not available)`));
      }
      const onError = () => next(i + 1);
      server.once('error', onError);
      server.listen({ host, port: ports[i], exclusive: true, ...(shared ? { reusePort: true } : {}), ...(backlog !== null ? { backlog } : {}) }, () => {
        server.off('error', onError);
        resolve((server.address() as net.AddressInfo).port);
      });
    };
    next(0);
  });
}

