import type { TransportInfo } from '../../src/shared/ipc/protocol.js';
import { MsgType } from '../../src/shared/wamp/codes.js';
import { randomId } from '../../src/shared/wamp/ids.js';
import { type Dict, WampError } from '../../src/shared/wamp/messages.js';
import { Uri } from '../../src/shared/wamp/uris.js';
import { RolePermissions } from '../authorizer.js';
import { INTERNAL_BIT, Output } from '../output.js';
import type { RealmServices } from '../services.js';
import { Session } from '../session.js';

/**
 * The worker's Output, plus router-internal pseudo-connections: a message the dealer sends to a
 * negative connection id (the RESULT or ERROR of a router-originated CALL) goes to that
 * connection's sink in this thread instead of to the main thread.
 */
export class InternalOutput extends Output {
  #sinks = new Map<number, (msg: unknown[]) => void>();
  #next = -1;

  attach(sink: (msg: unknown[]) => void): number {
    const id = this.#next--;
    this.#sinks.set(id, sink);
    return id;
  }

  /** Ends a pseudo-connection: messages to it are dropped from now on. */
  release(id: number): void {
    this.#sinks.delete(id);
  }

  override send(connId: number, msg: unknown[]): void {
    if (connId < 0) this.#sinks.get(connId)?.(msg);
    else super.send(connId, msg);
  }

  /** An EVENT some router-internal sessions subscribe to (mask bit INTERNAL_BIT): theirs is handed over here. */
  override fanout(connIds: number[], msg: unknown[], mask: number): void {
    if ((mask & INTERNAL_BIT) !== 0) {
      const rest: number[] = [];
      for (const id of connIds) {
        if (id < 0) this.#sinks.get(id)?.(msg);
        else rest.push(id);
      }
      mask &= ~INTERNAL_BIT;
      if (rest.length === 0) return;
      connIds = rest;
    }
    super.fanout(connIds, msg, mask);
  }
}

/** A call's error as the callee (or the router) answered it. */
export class CallError extends Error {
  override name = 'CallError';
  constructor(
    readonly uri: string,
    readonly args: unknown[],
    /** true when the router itself failed the call (no callee, callee left, timeout). */
    readonly byRouter: boolean,
    message?: string,
  ) {
    super(message ?? (typeof args[0] === 'string' ? `${uri}: ${args[0]}` : uri));
  }
}

const TRUSTED = new RolePermissions({ name: 'trusted', 'allow-by-default': true });
const INTERNAL_TRANSPORT: TransportInfo = { type: 'websocket', serIndex: -1, transportId: 'internal', authKey: 'internal', serializer: 'none', peer: 'internal', cookieAnonAuthid: null, cookieAuth: null, secure: false, tls: null, component: null };

/**
 * The router's own caller on one realm (Crossbar's service session, role "trusted"): dynamic
 * authenticators and authorizers are CALLs routed through the realm's dealer like any other,
 * and their RESULT/ERROR comes back here.
 */
export class InternalCaller {
  readonly session: Session;
  #pending = new Map<number, { resolve: (v: unknown[]) => void; reject: (e: CallError) => void; timer: NodeJS.Timeout }>();
  #nextRequest = 1;

  constructor(
    readonly realm: RealmServices,
    out: InternalOutput,
    readonly timeoutMs: number,
  ) {
    const connId = out.attach((msg) => this.#answer(msg));
    this.session = new Session(randomId(), connId, realm, 'crosswire', 'trusted', 'trusted', 'crosswire', TRUSTED, { caller: {} }, INTERNAL_TRANSPORT);
  }

  /** CALL `procedure` with `args`; resolves with RESULT.Arguments. */
  call(procedure: string, args: unknown[]): Promise<unknown[]> {
    const request = this.#nextRequest++;
    try {
      this.realm.dealer.call(this.session, [MsgType.CALL, request, {}, procedure, args], false);
    } catch (e) {
      const uri = e instanceof WampError ? e.uri : Uri.INTERNAL_ERROR;
      return Promise.reject(new CallError(uri, [], true, `${procedure}: ${(e as Error).message}`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(request); // a late answer finds nothing and is dropped
        reject(new CallError(Uri.TIMEOUT, [], true, `${procedure} did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.#pending.set(request, { resolve, reject, timer });
    });
  }

  #answer(msg: unknown[]): void {
    const isResult = msg[0] === MsgType.RESULT;
    const request = (isResult ? msg[1] : msg[2]) as number;
    const p = this.#pending.get(request);
    if (p === undefined) return;
    this.#pending.delete(request);
    clearTimeout(p.timer);
    if (isResult) p.resolve((msg[3] as unknown[] | undefined) ?? []);
    else {
      const uri = msg[4] as string;
      const details = msg[3] as Dict;
      // The dealer's own ERRORs (callee left, shutdown) carry a message; a callee's carry its args.
      p.reject(new CallError(uri, (msg[5] as unknown[] | undefined) ?? [], uri === Uri.CANCELED, typeof details.message === 'string' ? details.message : undefined));
    }
  }
}
