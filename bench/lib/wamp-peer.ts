/**
 * A raw WAMP peer for the load generators: the lean WebSocket client plus a codec. Setup steps
 * (join, register, subscribe) are promises; the hot path sets `onMsg` and calls `send`.
 */
import type { Codec } from './codec.js';
import { WsClient } from './ws-client.js';
import { RsClient } from './rs-client.js';
import { WsPackageClient } from './ws-package-client.js';

/**
 * Which client the generator uses: the lean WebSocket one (default), the `ws` package, or the
 * lean RawSocket one (rs-client.ts; the router's RawSocket transport, --transport rawsocket).
 */
export type ClientKind = 'lean' | 'ws' | 'rawsocket';
type AnyClient = Pick<WsClient, 'onMessage' | 'onClose' | 'closed' | 'send' | 'close' | 'destroy'>;

export const T = {
  HELLO: 1,
  WELCOME: 2,
  ABORT: 3,
  GOODBYE: 6,
  ERROR: 8,
  PUBLISH: 16,
  SUBSCRIBE: 32,
  SUBSCRIBED: 33,
  EVENT: 36,
  CALL: 48,
  RESULT: 50,
  REGISTER: 64,
  REGISTERED: 65,
  INVOCATION: 68,
  YIELD: 70,
} as const;

export const HELLO_DETAILS = { roles: { publisher: {}, subscriber: {}, caller: {}, callee: {} }, agent: 'crosswire-bench' };

/** The router answered a setup request with ERROR (or ABORT): `uri` says why. */
export class Refused extends Error {
  constructor(
    readonly uri: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Endpoint {
  host: string;
  port: number;
  path?: string;
  client?: ClientKind;
}

export class WampPeer {
  onMsg: (m: unknown[]) => void = () => {};
  /** When set, gets every message undecoded instead of `onMsg` (the fan-out subscribers' fast path). */
  onRaw: ((data: Buffer, start: number, end: number) => void) | null = null;
  onClose: (code: number, reason: string) => void = () => {};
  #waiter: ((m: unknown[]) => void) | null = null;

  private constructor(
    readonly ws: AnyClient,
    readonly codec: Codec,
  ) {
    ws.onMessage = (data, start, end) => {
      if (this.onRaw !== null && this.#waiter === null) return this.onRaw(data, start, end);
      const m = codec.decode(data, start, end);
      if (this.#waiter !== null) this.#waiter(m);
      else this.onMsg(m);
    };
    ws.onClose = (code, reason) => this.onClose(code, reason);
  }

  static async open(ep: Endpoint, codec: Codec, localAddress?: string): Promise<WampPeer> {
    const o = { host: ep.host, port: ep.port, path: ep.path, protocol: codec.subprotocol, localAddress };
    const ws = ep.client === 'ws' ? await WsPackageClient.connect(o) : ep.client === 'rawsocket' ? await RsClient.connect(o) : await WsClient.connect(o);
    return new WampPeer(ws, codec);
  }

  send(m: unknown[]): void {
    this.ws.send(this.codec.encode(m), this.codec.binary);
  }

  /** Sends a message already encoded for this peer's codec. */
  sendEncoded(data: Uint8Array | string): void {
    this.ws.send(data, this.codec.binary);
  }

  /** Sends `m` and resolves with the next message, or rejects after `ms` or on close. */
  request(m: unknown[], ms = 10000): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        reject(new Error(`no answer to message type ${String(m[0])} within ${ms} ms`));
      }, ms);
      const prevClose = this.onClose;
      this.onClose = (code, reason) => {
        clearTimeout(timer);
        this.#waiter = null;
        this.onClose = prevClose;
        reject(new Error(`connection closed (${code} ${reason}) while waiting for the answer to message type ${String(m[0])}`));
      };
      this.#waiter = (x) => {
        clearTimeout(timer);
        this.#waiter = null;
        this.onClose = prevClose;
        resolve(x);
      };
      this.send(m);
    });
  }

  /** HELLO → WELCOME; resolves with the session id. ABORT rejects with Refused. */
  async join(realm = 'realm1'): Promise<number> {
    const m = await this.request([T.HELLO, realm, HELLO_DETAILS]);
    if (m[0] === T.WELCOME) return m[1] as number;
    throw refusal(m, 'HELLO');
  }

  /** A request answered by `okType`; an ERROR answer rejects with Refused. */
  async expect(m: unknown[], okType: number): Promise<unknown[]> {
    const r = await this.request(m);
    if (r[0] === okType) return r;
    throw refusal(r, `message type ${String(m[0])}`);
  }
}

function refusal(m: unknown[], what: string): Refused {
  if (m[0] === T.ERROR) {
    const details = m[3] as { message?: string };
    return new Refused(String(m[4]), `${what} refused with ${String(m[4])}${details?.message ? `: ${details.message}` : ''}`);
  }
  if (m[0] === T.ABORT) {
    const details = m[1] as { message?: string };
    return new Refused(String(m[2]), `${what} aborted with ${String(m[2])}${details?.message ? `: ${details.message}` : ''}`);
  }
  return new Refused('', `${what}: unexpected answer ${JSON.stringify(m).slice(0, 200)}`);
}
