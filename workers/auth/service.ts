/**
 * The authentication state machine of one realm worker (WAMP spec, "Session Establishment" and
 * advanced profile "Authentication"): HELLO → [CHALLENGE → AUTHENTICATE] → WELCOME | ABORT.
 * A session being authenticated is "pending": the main thread already routes its frames to this
 * worker, which hands them here until the session is established or aborted.
 */
import { createHash } from 'node:crypto';
import type { AuthMethodName, TransportAuth } from '../../src/shared/config/auth.js';
import type { AuthOptions, TransportInfo } from '../../src/shared/ipc/protocol.js';
import type { Logger } from '../../src/shared/log.js';
import { CloseCode, MsgType } from '../../src/shared/wamp/codes.js';
import { randomId } from '../../src/shared/wamp/ids.js';
import { type Dict, isDict } from '../../src/shared/wamp/messages.js';
import { Uri } from '../../src/shared/wamp/uris.js';

import { cryptosign } from './cryptosign.js';
import { InternalCaller, type InternalOutput } from './internal-caller.js';
import { anonymous, ticket, wampcra } from './methods.js';
import { VerifyPool } from './pool.js';
import { scram } from './scram.js';
import { Throttle } from './throttle.js';
import { tlsCertificate } from './tls.js';
import { type Attempt, AuthFailure, type AuthRealm, type Identity, type Step } from './types.js';
import type { RealmServices } from '../services.js';
import { countAuth } from '../stats.js';

/**
 * Cookie authentication (Crossbar.io docs, "Cookie Tracking", "Cookie Authentication"): no CHALLENGE; the identity the main thread read from
 * the cookie store at HELLO, reported as Crossbar does: the original authmethod, authprovider "cookie".
 */
function cookieIdentity(a: Attempt): Identity {
  const c = a.transport.cookieAuth!;
  return { authid: c.authid!, role: c.authrole!, realm: null, method: c.authmethod ?? 'cookie', provider: 'cookie', extra: c.authextra ?? {} };
}

/** A peer-chosen string as it goes into a log line: at most 256 characters, longer ones marked. */
export function clipForLog(v: string | null): string | null {
  if (v === null || v.length <= 256) return v;
  return `${v.slice(0, 256)}… (${v.length} characters)`;
}

const THROTTLED = 'too many failed authentication attempts from this address or for this authid; try again later';

/** One authentication in progress. */
class Pending {
  /** The continuation waiting for AUTHENTICATE (null: none expected now). */
  step: ((signature: string, extra: Dict) => Promise<Identity>) | null = null;
  done = false;
  /** A failure of this attempt was counted by the throttle (once per attempt). */
  counted = false;
  /** A step of this attempt waits for the throttle (a step of the same key in flight). */
  queued = false;
  timer: NodeJS.Timeout | null = null;
  constructor(
    readonly connId: number,
    readonly realm: AuthRealm,
    readonly hello: Dict,
    readonly transport: TransportInfo,
    readonly method: string,
    readonly authid: string | null,
    readonly sessionId: number,
    /** What the brute-force throttle counts this attempt against: its peer, and its authid. */
    readonly keys: readonly string[],
  ) {}
}

/**
 * The throttle keys of an attempt: the peer address, and the authid a guess is about (if any; the
 * same on every realm, since a principal may be admitted to any realm that asks for it). The
 * authid is the client's string, of any length: the table keeps its digest.
 */
function throttleKeys(peer: string, method: string, authid: string | null): string[] {
  const keys = [`peer\0${peer}`];
  if (authid !== null && method !== 'anonymous' && method !== 'cookie') keys.push(`authid\0${createHash('sha256').update(authid).digest('base64')}`);
  return keys;
}

/** Counters for the metrics endpoint: plain numbers, only ever incremented. */
export interface AuthCounters {
  started: number;
  welcomed: number;
  failed: number;
  timedOut: number;
  throttled: number;
  noMethod: number;
  protocolViolations: number;
}

export class AuthService {
  readonly counters: AuthCounters = { started: 0, welcomed: 0, failed: 0, timedOut: 0, throttled: 0, noMethod: 0, protocolViolations: 0 };
  readonly pool: VerifyPool;
  readonly throttle: Throttle;
  #pending = new Map<number, Pending>();
  /** Attempts waiting for one of the same throttle key to be decided, by that key (FIFO). */
  #waiting = new Map<string, (() => string | null)[]>();
  #callers = new Map<RealmServices, InternalCaller>();

  constructor(
    readonly transports: Record<string, TransportAuth>,
    readonly options: AuthOptions,
    readonly realms: Map<string, AuthRealm>,
    readonly out: InternalOutput,
    readonly log: Logger,
  ) {
    this.pool = new VerifyPool(options.threads);
    this.throttle = new Throttle(options.maxFailures, options.failureWindow);
  }

  /** The router's own caller on `realm` (dynamic authenticators and authorizers). */
  caller(realm: RealmServices): InternalCaller {
    let c = this.#callers.get(realm);
    if (c === undefined) {
      c = new InternalCaller(realm, this.out, this.options.timeout);
      this.#callers.set(realm, c);
    }
    return c;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** HELLO with valid roles: pick the method (client's order) and start it. */
  hello(realm: AuthRealm, connId: number, details: Dict, transport: TransportInfo, methods: string[]): void {
    this.counters.started++;
    // Only the main thread sets it (router.ts #hello, the private component socket); absent is none.
    if ((transport.component ?? null) !== null) return this.#component(realm, connId, details, transport);
    const auth = this.transports[transport.authKey] ?? {};
    // WAMP spec, "Authentication": the router uses the first method in the client's list it supports.
    // `cookie` applies only when the cookie already authenticated on this realm; else it is skipped.
    const usable = (m: string): boolean =>
      // Own keys only: a client's "constructor" or "__proto__" is no method.
      m === 'cookie' ? 'cookie' in auth && transport.cookieAuth !== null && transport.cookieAuth.authrealm === realm.name : Object.hasOwn(auth, m === 'wamp-scram' ? 'scram' : m);
    const method = methods.find(usable);
    if (method === undefined) {
      this.counters.noMethod++;
      countAuth('none', 'failure');
      const cookieNote = methods.includes('cookie') && 'cookie' in auth ? '; cookie: this connection\'s cookie has not authenticated on this realm' : '';
      return realm.abortNew(
        connId,
        Uri.NO_MATCHING_AUTH_METHOD,
        `none of the offered authmethods [${methods.join(', ')}] is enabled on this transport (enabled: ${Object.keys(auth).join(', ')})${cookieNote}`,
      );
    }
    // Crossbar: with cookie tracking on, an anonymous session's authid is the cookie id. Crosswire:
    // an id derived from it (the cookie itself would be handed to others as the authid).
    const authid =
      method === 'cookie'
        ? transport.cookieAuth!.authid
        : method === 'anonymous' && transport.cookieAnonAuthid !== null
          ? transport.cookieAnonAuthid
          : typeof details.authid === 'string' && details.authid !== ''
            ? details.authid
            : null;
    const keys = throttleKeys(transport.peer, method, authid);
    if (this.throttle.blocked(keys)) {
      this.counters.throttled++;
      countAuth(method === 'wamp-scram' ? 'scram' : method, 'blocked');
      // debug, not info: a blocked peer that keeps trying must not flood the log (its failures were logged).
      this.log.debug({ conn: connId, peer: transport.peer, realm: realm.name, authid: clipForLog(authid) }, 'authentication refused: too many failed attempts');
      return realm.abortNew(connId, Uri.AUTHENTICATION_FAILED, THROTTLED);
    }
    const p = new Pending(connId, realm, details, transport, method, authid, randomId(), keys);
    this.#pending.set(connId, p);
    p.timer = setTimeout(() => {
      this.counters.timedOut++;
      const message = `authentication did not complete within ${this.options.timeout} ms`;
      // Waiting for the throttle, its guess was never decided: no failure of the key (honest logins
      // queued behind slow checks must not block their address), and counted apart (overload).
      if (p.queued) this.#fail(p, new AuthFailure(Uri.AUTHENTICATION_FAILED, message, false, `${message} (waiting for the brute-force throttle)`), 'throttle_timeout');
      else this.#fail(p, new AuthFailure(Uri.AUTHENTICATION_FAILED, message));
    }, this.options.timeout);
    const a = this.#attempt(p, isDict(details.authextra) ? details.authextra : {});
    this.#run(p, () => this.#start(a, (method === 'wamp-scram' ? 'scram' : method) as AuthMethodName, auth));
  }

  /**
   * A router component on its private socket: the main thread used up its one-time token and
   * set the identity (src/container/gate.ts); the session joins with it, as Crossbar adds its
   * router components with a trusted role (no authmethod of the client's is consulted).
   */
  #component(realm: AuthRealm, connId: number, details: Dict, transport: TransportInfo): void {
    const c = transport.component!;
    if (!realm.roles.has(c.role)) {
      countAuth('none', 'failure');
      return realm.abortNew(connId, Uri.NO_SUCH_ROLE, `role '${c.role}' does not exist on realm '${realm.name}'`);
    }
    this.counters.welcomed++;
    realm.join(connId, randomId(), details, transport, { authid: c.authid, role: c.role, realm: null, method: 'trusted', provider: 'component', extra: {} });
  }

  #start(a: Attempt, m: AuthMethodName, auth: TransportAuth): Promise<Step> {
    switch (m) {
      case 'anonymous':
        return anonymous(a, auth.anonymous!);
      case 'ticket':
        return ticket(a, auth.ticket!);
      case 'wampcra':
        return wampcra(a, auth.wampcra!, this.pool);
      case 'cryptosign':
        return cryptosign(a, auth.cryptosign!, this.pool);
      case 'scram':
        return scram(a, auth.scram!);
      case 'tls':
        return tlsCertificate(a, auth.tls!);
      case 'cookie':
        return Promise.resolve({ identity: cookieIdentity(a) });
    }
  }

  #attempt(p: Pending, authextra: Dict): Attempt {
    return {
      realm: p.realm,
      method: p.method,
      authid: p.authid,
      authextra,
      sessionId: p.sessionId,
      transport: p.transport,
      callAuthenticator: (procedure, realmName, extra = {}) => {
        const name = realmName ?? p.realm.name;
        const target = this.realms.get(name);
        if (target === undefined) return Promise.reject(new Error(`authenticator realm '${name}' is not served by this worker thread`));
        // Crossbar: authenticator(realm, authid, details).
        const details: Dict = {
          session: p.sessionId,
          authmethod: p.method,
          authextra,
          transport: {
            type: p.transport.type,
            transport_id: p.transport.transportId,
            peer: p.transport.peer,
            serializer: p.transport.serializer,
            // Crossbar's transport details: the verified client certificate (Autobahn|Python's peer_cert) or null.
            peer_cert: p.transport.tls?.peerCert ?? null,
          },
          ...extra,
        };
        return this.caller(target)
          .call(procedure, [p.realm.name, p.authid, details])
          .then((args) => args[0]);
      },
    };
  }

  /**
   * Runs one step of `p`; its outcome is a CHALLENGE, a WELCOME or an ABORT. A step decides a
   * guess, so it is admitted by the throttle first (parallel connections must not get
   * more guesses decided than `auth_max_failures`): refused when its peer or authid has too many
   * failures, queued while failures plus steps in flight reach the limit. Returns the key it
   * waits on, or null.
   */
  #run(p: Pending, step: () => Promise<Step | Identity>): string | null {
    if (p.done) return null;
    const admit = this.throttle.acquire(p.keys);
    if (admit === 'blocked') {
      this.counters.throttled++;
      this.#finish(p);
      countAuth(p.method === 'wamp-scram' ? 'scram' : p.method, 'blocked');
      this.log.debug({ conn: p.connId, peer: p.transport.peer, realm: p.realm.name, authid: clipForLog(p.authid) }, 'authentication refused: too many failed attempts');
      p.realm.abortNew(p.connId, Uri.AUTHENTICATION_FAILED, THROTTLED);
      return null;
    }
    if (admit !== 'ok') {
      let q = this.#waiting.get(admit.busy);
      if (q === undefined) this.#waiting.set(admit.busy, (q = []));
      p.queued = true;
      q.push(() => {
        p.queued = false;
        return this.#run(p, step);
      });
      return admit.busy;
    }
    step().then(
      (r) => {
        this.#decided(p);
        if (p.done) return; // the connection went away, or timed out, meanwhile
        if ('challenge' in r) {
          p.step = r.authenticate;
          p.realm.out.send(p.connId, [MsgType.CHALLENGE, p.method, r.challenge]);
        } else this.#welcome(p, 'identity' in r ? r.identity : r);
      },
      (e: unknown) => {
        // Counted before the waiting attempts are resumed, so that none of them is admitted past the
        // limit; and even when the connection is gone (closing it must not make a guess free).
        if (e instanceof AuthFailure && e.counts) this.#count(p);
        this.#decided(p);
        if (!p.done) this.#fail(p, e);
      },
    );
    return null;
  }

  /** A step of `p` is decided: its throttle slot is free; attempts waiting for it are resumed. */
  #decided(p: Pending): void {
    this.throttle.release(p.keys);
    for (const k of p.keys) {
      const q = this.#waiting.get(k);
      if (q === undefined) continue;
      // Resume in order until one has to wait on this key again (it re-queued itself at the end).
      while (q.length > 0) if (q.shift()!() === k) break;
      if (q.length === 0 && this.#waiting.get(k) === q) this.#waiting.delete(k);
    }
  }

  #welcome(p: Pending, id: Identity): void {
    const name = id.realm ?? p.realm.name;
    const target = this.realms.get(name);
    if (target === undefined) {
      return this.#fail(p, new AuthFailure(Uri.NO_SUCH_REALM, `the principal belongs to realm '${name}', which is not served by this worker thread`, false));
    }
    if (!target.roles.has(id.role)) {
      return this.#fail(p, new AuthFailure(Uri.NO_SUCH_ROLE, `role '${id.role}' does not exist on realm '${name}'`, false));
    }
    this.#finish(p);
    this.counters.welcomed++;
    target.join(p.connId, p.sessionId, p.hello, p.transport, id);
  }

  #finish(p: Pending): void {
    p.done = true;
    if (p.timer !== null) clearTimeout(p.timer);
    this.#pending.delete(p.connId);
  }

  #count(p: Pending): void {
    if (p.counted) return;
    p.counted = true;
    this.throttle.fail(p.keys);
  }

  #fail(p: Pending, e: unknown, result: 'failure' | 'throttle_timeout' = 'failure'): void {
    this.#finish(p);
    let f: AuthFailure;
    if (e instanceof AuthFailure) f = e;
    else {
      this.log.error({ err: e, conn: p.connId }, 'internal error during authentication');
      f = new AuthFailure(Uri.INTERNAL_ERROR, 'internal router error', false);
    }
    const peer = p.transport.peer;
    this.counters.failed++;
    countAuth(p.method === 'wamp-scram' ? 'scram' : p.method, result);
    this.log.info({ conn: p.connId, peer, realm: p.realm.name, authmethod: p.method, authid: clipForLog(p.authid), reason: f.uri, message: clipForLog(f.detail ?? f.message) }, 'authentication failed');
    if (!f.counts) return p.realm.abortNew(p.connId, f.uri, f.message);
    this.#count(p);
    // Brute-force hygiene: a guess costs the guesser time.
    const delay = this.options.failDelay;
    if (delay === 0) return p.realm.abortNew(p.connId, f.uri, f.message);
    setTimeout(() => p.realm.abortNew(p.connId, f.uri, f.message), delay).unref();
  }

  /** A frame of a connection whose session is not established; false if none is pending. */
  frame(connId: number, msg: unknown[]): boolean {
    const p = this.#pending.get(connId);
    if (p === undefined) return false;
    const type = msg[0];
    if (type === MsgType.AUTHENTICATE) {
      if (msg.length !== 3 || typeof msg[1] !== 'string' || !isDict(msg[2])) {
        return this.#violation(p, 'AUTHENTICATE must be [5, Signature|string, Extra|dict]');
      }
      const step = p.step;
      if (step === null) return this.#violation(p, 'AUTHENTICATE without a CHALLENGE to answer');
      p.step = null;
      const signature = msg[1];
      const extra = msg[2];
      this.#run(p, () => step(signature, extra));
      return true;
    }
    if (type === MsgType.ABORT) {
      this.#finish(p);
      this.log.info({ conn: connId, peer: p.transport.peer, reason: msg[2] }, 'client aborted its authentication');
      p.realm.out.close(connId, CloseCode.NORMAL, 'session aborted by peer');
      return true;
    }
    // WAMP spec, "Session States": any other message while establishing fails the session.
    return this.#violation(p, `message type ${String(type)} before the session is established`);
  }

  #violation(p: Pending, message: string): true {
    this.#finish(p);
    this.counters.protocolViolations++;
    this.log.info({ conn: p.connId, peer: p.transport.peer, reason: message }, 'protocol violation');
    p.realm.abortNew(p.connId, Uri.PROTOCOL_VIOLATION, message);
    return true;
  }

  /** The connection went away. */
  /** The serializer index of a connection whose session is being established here, else undefined. */
  serIndexOf(connId: number): number | undefined {
    return this.#pending.get(connId)?.transport.serIndex;
  }

  closed(connId: number): void {
    const p = this.#pending.get(connId);
    if (p !== undefined) this.#finish(p);
  }

  /** Router shutdown: pending authentications are aborted. */
  shutdown(): void {
    for (const p of [...this.#pending.values()]) {
      this.#finish(p);
      p.realm.abortNew(p.connId, Uri.SYSTEM_SHUTDOWN, 'the router is shutting down');
    }
  }
}
