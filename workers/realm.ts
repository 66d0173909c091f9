import type { RealmConfig, TransportInfo } from '../src/shared/ipc/protocol.js';
import type { Logger } from '../src/shared/log.js';
import { VERSION } from '../src/shared/version.js';
import { CloseCode, MsgType } from '../src/shared/wamp/codes.js';
import { checkClientMessage, type Dict, isDict, ProtocolViolation, WampError } from '../src/shared/wamp/messages.js';
import { checkOptions } from '../src/shared/wamp/options.js';
import { isReservedUri, isValidPattern, isValidUri, Uri, type UriCheck } from '../src/shared/wamp/uris.js';
import { type Action, type Grant, type Permissions, RolePermissions } from './authorizer.js';
import { authorizerFailure, DynamicRole, parseDecision, sessionDetails } from './auth/dynamic-role.js';
import type { AuthService } from './auth/service.js';
import type { Identity } from './auth/types.js';
import { Broker, type BrokerEvents } from './broker.js';
import { Dealer, type DealerEvents } from './dealer.js';
import { EventStore } from './event-store.js';
import type { Match } from './match/uri-index.js';
import { frameBytes, keepFrameBytes, knownFrameBytes, type Limits, maxCachedUri, overLimit } from './limits.js';
import { callMeta, isMetaProcedure } from './meta.js';
import { clusterMeta, isClusterMeta } from './cluster/meta.js';
import type { Output } from './output.js';
import { RemoteSession } from './cluster/remote-session.js';
import type { WillsBackplane } from './cluster/wills.js';
import { Session, SessionState } from './session.js';
import { countAuth } from './stats.js';

export const AGENT = `Crosswire-${VERSION}`;

/** Exactly what this router implements; WELCOME announces this and nothing more. */
function routerRoles(meta: boolean, history: boolean) {
  const m = meta ? { session_meta_api: true, testament_meta_api: true } : {};
  return {
    broker: {
      features: {
        pattern_based_subscription: true,
        publisher_exclusion: true,
        publisher_identification: true,
        subscriber_blackwhite_listing: true,
        event_retention: true,
        payload_passthru_mode: true,
        ...(history && meta ? { event_history: true } : {}),
        ...(meta ? { session_meta_api: true, subscription_meta_api: true, subscription_revocation: true } : {}),
      },
    },
    dealer: {
      features: {
        caller_identification: true,
        pattern_based_registration: true,
        shared_registration: true,
        progressive_call_results: true,
        progressive_call_invocations: true,
        call_timeout: true,
        call_canceling: true,
        payload_passthru_mode: true,
        ...m,
        ...(meta ? { registration_meta_api: true, registration_revocation: true } : {}),
      },
    },
  };
}

const CLIENT_ROLES = new Set(['publisher', 'subscriber', 'caller', 'callee']);

/** Client messages that an ERROR answers (WAMP spec, "ERROR"). */
const ANSWERABLE = new Set<number>([MsgType.PUBLISH, MsgType.SUBSCRIBE, MsgType.UNSUBSCRIBE, MsgType.CALL, MsgType.REGISTER, MsgType.UNREGISTER]);

/** How long a session may take to answer a router GOODBYE before its connection is closed. */
const GOODBYE_TIMEOUT_MS = 5000;

/** One realm: its sessions, broker and dealer. Lives in exactly one worker thread. */
export class Realm implements BrokerEvents, DealerEvents {
  readonly name: string;
  readonly uriCheck: UriCheck;
  readonly metaApi: boolean;
  readonly sessions = new Map<number, Session>();
  readonly broker: Broker;
  readonly dealer: Dealer;
  readonly roles = new Map<string, Permissions>();
  /** What clients may make this realm hold (workers/limits.ts). */
  readonly limits: Limits;
  readonly #welcomeRoles: Dict;
  #goodbyeTimers = new Map<Session, NodeJS.Timeout>();
  /** In a cluster: told of sessions and testaments, for when this node dies (workers/cluster/wills.ts). */
  wills: WillsBackplane | null = null;
  /** Set by a graceful drain (drain.ts): no new calls are accepted. */
  draining = false;

  constructor(
    cfg: RealmConfig,
    readonly out: Output,
    readonly log: Logger,
    /** Every session of the worker by connection (a connection has at most one session). */
    readonly sessionsByConn: Map<number, Session>,
    /** The worker's authentication service (sessions being established, dynamic authorizers). */
    readonly auth: AuthService,
  ) {
    this.name = cfg.name;
    this.uriCheck = cfg.options.uri_check;
    this.metaApi = cfg.options.enable_meta_api;
    this.limits = cfg.limits;
    this.broker = new Broker(out, this, cfg.history.length > 0 ? new EventStore(cfg.history, cfg.limits) : null, cfg.limits);
    this.dealer = new Dealer(out, this, cfg.limits);
    for (const r of cfg.roles) this.roles.set(r.name, r.authorizer !== undefined ? new DynamicRole(r) : new RolePermissions(r, maxCachedUri(cfg.limits)));
    this.#welcomeRoles = routerRoles(this.metaApi, cfg.history.length > 0);
  }

  /** HELLO [1, Realm, Details] for this realm (WAMP spec, "Session Establishment"). */
  hello(connId: number, details: unknown, transport: TransportInfo): void {
    if (!isDict(details) || !isDict(details.roles)) {
      return this.abortNew(connId, Uri.PROTOCOL_VIOLATION, 'HELLO.Details.roles must be a dict');
    }
    const roles = details.roles;
    const names = Object.keys(roles);
    if (names.length === 0 || !names.every((n) => CLIENT_ROLES.has(n) && isDict(roles[n]))) {
      return this.abortNew(
        connId,
        Uri.PROTOCOL_VIOLATION,
        'HELLO.Details.roles must name at least one of publisher, subscriber, caller, callee, each with a dict',
      );
    }
    const methods = details.authmethods ?? ['anonymous'];
    if (!Array.isArray(methods) || !methods.every((m) => typeof m === 'string')) {
      return this.abortNew(connId, Uri.PROTOCOL_VIOLATION, 'HELLO.Details.authmethods must be a list of strings');
    }
    // Authentication (workers/auth/service.ts) ends in join() or abortNew().
    this.auth.hello(this, connId, details, transport, methods);
  }

  /** An authenticated session joins: WELCOME (WAMP spec, "WELCOME"). */
  join(connId: number, id: number, details: Dict, transport: TransportInfo, who: Identity): void {
    const permissions = this.roles.get(who.role)!;
    const roles = details.roles as Record<string, unknown>;
    const s = new Session(id, connId, this, who.authid, who.role, who.method, who.provider, permissions, roles, transport);
    s.authextra = who.extra;
    countAuth(s.authmethod === 'wamp-scram' ? 'scram' : s.authmethod, true);
    this.sessions.set(id, s);
    if (this.broker.backplane !== null) this.broker.backplane.sessionsChanged();
    if (this.wills !== null) this.wills.joined(s);
    this.sessionsByConn.set(connId, s);
    this.out.send(connId, [
      MsgType.WELCOME,
      id,
      {
        realm: this.name,
        authid: s.authid,
        authrole: s.authrole,
        authmethod: s.authmethod,
        authprovider: s.authprovider,
        authextra: s.authextra,
        roles: this.#welcomeRoles,
        agent: AGENT,
      },
    ]);
    this.log.debug({ session: id, conn: connId, realm: this.name, authid: s.authid, authmethod: s.authmethod }, 'session joined');
    if (this.metaApi && this.broker.mayReach('wamp.session.on_join')) this.broker.publishInternal('wamp.session.on_join', [s.details()]);
  }

  /** ABORT a session that is not established yet, and close its connection. */
  abortNew(connId: number, reason: string, message: string): void {
    this.out.send(connId, [MsgType.ABORT, { message }, reason]);
    this.out.close(connId, reason === Uri.PROTOCOL_VIOLATION ? CloseCode.PROTOCOL_ERROR : CloseCode.NORMAL, reason);
  }

  /** One message from a session. Errors become ERROR or ABORT for that session only. */
  dispatch(s: Session, msg: unknown[]): void {
    const type = msg[0] as number;
    if (s.state === SessionState.SHUTTING_DOWN) {
      // WAMP spec, "GOODBYE": after sending GOODBYE, only the peer's GOODBYE (or ABORT) matters.
      if (type === MsgType.GOODBYE) this.end(s, true);
      else if (type === MsgType.ABORT) {
        this.end(s, false);
        this.out.close(s.connId, CloseCode.NORMAL, 'session aborted by peer');
      }
      return;
    }
    if (s.held !== null) {
      this.#hold(s, s.held, msg); // a dynamic authorizer is deciding an earlier message: keep the order
      return;
    }
    try {
      checkClientMessage(msg);
      if (type !== MsgType.ERROR || msg[1] === MsgType.INVOCATION) checkOptions(type, msg[type === MsgType.ERROR ? 3 : 2] as Dict);
      switch (type) {
        case MsgType.PUBLISH:
          return this.#publish(s, msg);
        case MsgType.SUBSCRIBE:
          return this.#subscribe(s, msg);
        case MsgType.UNSUBSCRIBE:
          return this.broker.unsubscribe(s, msg[1] as number, msg[2] as number);
        case MsgType.CALL:
          return this.#call(s, msg);
        case MsgType.CANCEL:
          return this.dealer.cancel(s, msg[1] as number, msg[2] as Dict);
        case MsgType.REGISTER:
          return this.#register(s, msg);
        case MsgType.UNREGISTER:
          return this.dealer.unregister(s, msg[1] as number, msg[2] as number);
        case MsgType.YIELD:
          return this.dealer.yield(s, msg);
        case MsgType.ERROR:
          if (msg[1] !== MsgType.INVOCATION) {
            throw new ProtocolViolation(`a client may send ERROR only for INVOCATION (68), got ${String(msg[1])}`);
          }
          return this.dealer.error(s, msg);
        case MsgType.GOODBYE:
          // WAMP spec, "GOODBYE": answer with GOODBYE, then the session is closed.
          this.out.send(s.connId, [MsgType.GOODBYE, {}, Uri.GOODBYE_AND_OUT]);
          return this.end(s, true);
        case MsgType.ABORT:
          this.end(s, false);
          return this.out.close(s.connId, CloseCode.NORMAL, 'session aborted by peer');
        case MsgType.HELLO:
          throw new ProtocolViolation('HELLO received on an established session');
        case MsgType.AUTHENTICATE:
          throw new ProtocolViolation('AUTHENTICATE received on an established session');
        default:
          throw new ProtocolViolation(`unexpected message type ${type}`);
      }
    } catch (e) {
      this.#fail(s, msg, e);
    }
  }

  /**
   * Queues a message behind one a dynamic authorizer is deciding, within the session's
   * max_held_messages_per_session and max_held_bytes_per_session. Over them, a request is answered
   * with ERROR; a message no ERROR can answer (YIELD, ERROR, CANCEL, GOODBYE) ends the session.
   */
  #hold(s: Session, held: unknown[][], msg: unknown[]): void {
    const maxCount = this.limits.max_held_messages_per_session;
    const maxBytes = this.limits.max_held_bytes_per_session;
    let bytes = knownFrameBytes(msg);
    if (bytes < 0 && maxBytes > 0) bytes = frameBytes(msg, maxBytes);
    if (bytes >= 0) keepFrameBytes(msg, bytes);
    else bytes = 0;
    let err: WampError | null = null;
    if (maxCount > 0 && held.length >= maxCount) {
      err = overLimit(s, 'max_held_messages_per_session', `${held.length} messages of this session already wait for a dynamic authorizer`);
    } else if (maxBytes > 0 && s.heldBytes + bytes > maxBytes) {
      const big = bytes > maxBytes;
      err = overLimit(
        s,
        'max_held_bytes_per_session',
        big ? `a message of ${bytes} bytes cannot wait for a dynamic authorizer` : `${s.heldBytes} bytes of this session already wait for a dynamic authorizer`,
        big ? Uri.PAYLOAD_SIZE_EXCEEDED : Uri.LIMIT_EXCEEDED,
      );
    }
    if (err === null) {
      s.heldBytes += bytes;
      held.push(msg);
      return;
    }
    if (!ANSWERABLE.has(msg[0] as number)) return this.abort(s, err.uri, err.message, CloseCode.POLICY_VIOLATION);
    try {
      checkClientMessage(msg);
    } catch (e) {
      return this.#fail(s, msg, e);
    }
    this.#fail(s, msg, err);
  }

  #fail(s: Session, msg: unknown[], e: unknown): void {
    if (e instanceof WampError) {
      const type = msg[0] as number;
      if (type === MsgType.PUBLISH && (msg[2] as Dict).acknowledge !== true) return; // unacknowledged: nothing is sent
      const details: Dict = e.message !== e.uri ? { message: e.message } : {};
      this.out.send(s.connId, [MsgType.ERROR, type, msg[1], details, e.uri]);
    } else if (e instanceof ProtocolViolation) {
      this.log.info({ session: s.id, conn: s.connId, peer: s.transport.peer, reason: e.message }, 'protocol violation');
      this.abort(s, Uri.PROTOCOL_VIOLATION, e.message, CloseCode.PROTOCOL_ERROR);
    } else {
      this.log.error({ err: e, session: s.id, msgType: msg[0] }, 'internal error while routing a message');
      this.abort(s, Uri.INTERNAL_ERROR, 'internal router error', CloseCode.INTERNAL);
    }
  }

  /** ABORT an established session, drop its state and close its connection. */
  abort(s: Session, reason: string, message: string, code: number): void {
    this.out.send(s.connId, [MsgType.ABORT, { message }, reason]);
    this.end(s, false);
    this.out.close(s.connId, code, reason);
  }

  /**
   * Router-initiated GOODBYE (shutdown, meta kill). Nothing more is routed to the session; it
   * ends when the peer answers, or its connection is closed after GOODBYE_TIMEOUT_MS.
   */
  goodbye(s: Session, reason: string, message: string, silent = false): void {
    if (s.state !== SessionState.ESTABLISHED) return;
    this.out.send(s.connId, [MsgType.GOODBYE, message === '' ? {} : { message }, reason]);
    s.state = SessionState.SHUTTING_DOWN;
    this.#release(s, silent);
    const timer = setTimeout(() => {
      if (s.state !== SessionState.SHUTTING_DOWN) return;
      this.end(s, false);
      this.out.close(s.connId, CloseCode.GOING_AWAY, 'no GOODBYE reply');
    }, GOODBYE_TIMEOUT_MS);
    timer.unref();
    this.#goodbyeTimers.set(s, timer);
  }

  /** The session is over: release everything it held. `detach` hands the connection back. */
  end(s: Session, detach: boolean): void {
    if (s.state === SessionState.CLOSED) return;
    this.#release(s);
    s.state = SessionState.CLOSED;
    this.sessionsByConn.delete(s.connId);
    const timer = this.#goodbyeTimers.get(s);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.#goodbyeTimers.delete(s);
    }
    if (detach) this.out.detach(s.connId);
    this.log.debug({ session: s.id, realm: this.name }, 'session left');
  }

  /** Drops the session's routing state once; publishes on_leave and its testaments unless `silent`. */
  #release(s: Session, silent = false): void {
    if (!this.sessions.delete(s.id)) return;
    if (this.broker.backplane !== null) this.broker.backplane.sessionsChanged();
    if (this.wills !== null) this.wills.left(s);
    this.broker.leave(s);
    this.dealer.leave(s);
    if (this.metaApi && !silent) {
      if (this.broker.mayReach('wamp.session.on_leave')) this.broker.publishInternal('wamp.session.on_leave', [s.id, s.authid, s.authrole]);
      // WAMP spec, "Session Testament": detached-scope first, then destroyed (no resumption here).
      for (const scope of ['detached', 'destroyed'] as const) {
        for (const t of s.testaments) if (t.scope === scope) this.broker.publishInternal(t.topic, t.args, t.kwargs, t.options);
      }
    }
  }

  // ---- meta events (WAMP spec, "Subscription/Registration Meta API"); none for wamp.* URIs ----

  #metaEvent(topic: string, s: Session, uri: string, arg: unknown): void {
    if (s instanceof RemoteSession) return; // a callee on another node: its own node publishes these
    if (this.metaApi && !isReservedUri(uri) && this.broker.mayReach(topic)) this.broker.publishInternal(topic, [s.id, arg]);
  }
  created(s: Session, x: { topic?: string; procedure?: string; info(): Dict }): void {
    if ('topic' in x) this.#metaEvent('wamp.subscription.on_create', s, x.topic!, x.info());
    else this.#metaEvent('wamp.registration.on_create', s, x.procedure!, x.info());
  }
  subscribed(s: Session, sub: { id: number; topic: string }): void {
    this.#metaEvent('wamp.subscription.on_subscribe', s, sub.topic, sub.id);
  }
  unsubscribed(s: Session, sub: { id: number; topic: string }): void {
    this.#metaEvent('wamp.subscription.on_unsubscribe', s, sub.topic, sub.id);
  }
  registered(s: Session, reg: { id: number; procedure: string }): void {
    this.#metaEvent('wamp.registration.on_register', s, reg.procedure, reg.id);
  }
  unregistered(s: Session, reg: { id: number; procedure: string }): void {
    this.#metaEvent('wamp.registration.on_unregister', s, reg.procedure, reg.id);
  }
  deleted(s: Session, x: { id: number; topic?: string; procedure?: string }): void {
    if ('topic' in x) this.#metaEvent('wamp.subscription.on_delete', s, x.topic!, x.id);
    else this.#metaEvent('wamp.registration.on_delete', s, x.procedure!, x.id);
  }

  // ---- message handlers ------------------------------------------------------------------

  /** A URI the realm would keep (a subscription's, a registration's) is at most max_uri_length long. */
  #checkLength(s: Session, uri: string): void {
    const max = this.limits.max_uri_length;
    if (max > 0 && typeof uri === 'string' && uri.length > max) {
      throw overLimit(s, 'max_uri_length', `a URI of ${uri.length} characters is too long`, Uri.INVALID_URI);
    }
  }

  #checkUri(uri: string, match: Match, reservedOk: boolean): void {
    if (!isValidPattern(uri, match, this.uriCheck)) {
      throw new WampError(Uri.INVALID_URI, `invalid URI '${uri}' (match ${match}, uri_check ${this.uriCheck})`);
    }
    if (!reservedOk && (isReservedUri(uri) || (match !== 'exact' && 'wamp.'.startsWith(uri)))) {
      throw new WampError(Uri.INVALID_URI, `'${uri}': the wamp.* namespace is reserved`);
    }
  }

  /**
   * The role's decision for this request, or null after handing it to the role's dynamic
   * authorizer: the message is dispatched again (in order) once the answer is in.
   */
  #grant(s: Session, msg: unknown[], uri: string, action: Action): Grant | null {
    const options = msg[2] as Dict;
    const g = s.permissions.check(uri, action, s, options);
    if (g !== null) return g;
    const role = s.permissions as DynamicRole;
    const key = DynamicRole.key(s, uri, action, options);
    s.held = [];
    role.calls++;
    this.auth
      .caller(this)
      .call(role.authorizer, [sessionDetails(s), uri, action, options])
      .then((args) => parseDecision(args[0], action, options.match))
      .then(
        (d) => {
          // The cache is keyed by the URI: a decision on a longer one is used, not kept.
          if (d.cache && uri.length <= maxCachedUri(this.limits)) role.remember(key, d.grant);
          s.authzDecision = { key, grant: d.grant };
          this.#resume(s, msg);
        },
        (e: unknown) => {
          const err = authorizerFailure(e, role.authorizer);
          this.log.warn({ session: s.id, uri, action, err: err.message }, 'dynamic authorizer failed');
          this.#resume(s, msg, err);
        },
      );
    return null;
  }

  /** Replays a session's messages after its authorizer answered (or failed: `err`). */
  #resume(s: Session, msg: unknown[], err?: WampError): void {
    if (s.state === SessionState.CLOSED) return;
    const held = s.held ?? [];
    s.held = null;
    s.heldBytes = 0;
    if (err === undefined) this.dispatch(s, msg);
    else this.#fail(s, msg, err);
    s.authzDecision = null;
    for (const m of held) this.dispatch(s, m);
  }

  #publish(s: Session, msg: unknown[]): void {
    const topic = msg[3] as string;
    const options = msg[2] as Dict;
    if (!isValidUri(topic, this.uriCheck)) throw new WampError(Uri.INVALID_URI, `invalid URI '${topic}' (uri_check ${this.uriCheck})`);
    if (isReservedUri(topic)) throw new WampError(Uri.INVALID_URI, `'${topic}': the wamp.* namespace is reserved`);
    const g = this.#grant(s, msg, topic, 'publish');
    if (g === null) return;
    if (!g.allow) throw new WampError(Uri.NOT_AUTHORIZED, `not authorized to publish to '${topic}'`);
    if (options.ppt_scheme !== undefined && !s.has('publisher', 'payload_passthru_mode')) {
      throw new ProtocolViolation('ppt_scheme used without announcing payload_passthru_mode');
    }
    // As Crossbar: the publisher's role decides disclosure (`disclose.publisher`), not disclose_me.
    const publication = this.broker.publish(s, msg, g.disclosePublisher);
    if (options.acknowledge === true) this.out.send(s.connId, [MsgType.PUBLISHED, msg[1], publication]);
  }

  /**
   * Whether the role lets the session SUBSCRIBE/REGISTER `uri` with `match`: throws
   * not_authorized if not; else true when each concrete URI must be checked at delivery (a
   * pattern the role covers only in part), false when all it matches is allowed. null: asked a
   * dynamic authorizer, the message will be dispatched again.
   *
   * A static role decides a pattern by what it matches (RolePermissions.coverage), not by the
   * pattern string. A dynamic authorizer is asked with the pattern and `match` (Crossbar's
   * call) and must grant the match explicitly (parseDecision); its grant covers the whole pattern.
   */
  #authorize(s: Session, msg: unknown[], uri: string, match: Match, action: 'subscribe' | 'register'): boolean | null {
    const p = s.permissions;
    const verb = action === 'subscribe' ? 'subscribe to' : 'register';
    if (match !== 'exact' && p instanceof RolePermissions) {
      const c = p.coverage(uri, match, action);
      if (c === 'none') throw new WampError(Uri.NOT_AUTHORIZED, `not authorized to ${verb} '${uri}' (match ${match}): the role allows nothing it matches`);
      return c === 'some';
    }
    const g = this.#grant(s, msg, uri, action);
    if (g === null) return null;
    if (!g.allow) {
      const how = match === 'exact' ? '' : ` (match ${match}; an authorizer grants a pattern with {allow: true, match: '${match}'})`;
      throw new WampError(Uri.NOT_AUTHORIZED, `not authorized to ${verb} '${uri}'${how}`);
    }
    return false;
  }

  #subscribe(s: Session, msg: unknown[]): void {
    const topic = msg[3] as string;
    const options = msg[2] as Dict;
    this.#checkLength(s, topic);
    const match = (options.match as Match | undefined) ?? 'exact';
    this.#checkUri(topic, match, true);
    const filtered = this.#authorize(s, msg, topic, match, 'subscribe');
    if (filtered === null) return;
    this.broker.subscribe(s, msg[1] as number, options, topic, filtered);
  }

  #call(s: Session, msg: unknown[]): void {
    const procedure = msg[3] as string;
    // A procedure registered exactly passed the same check at REGISTER: the regex only for others.
    if (!this.dealer.registeredExactly(procedure) && !isValidUri(procedure, this.uriCheck)) {
      throw new WampError(Uri.INVALID_URI, `invalid URI '${procedure}' (uri_check ${this.uriCheck})`);
    }
    const g = this.#grant(s, msg, procedure, 'call');
    if (g === null) return;
    if (!g.allow) throw new WampError(Uri.NOT_AUTHORIZED, `not authorized to call '${procedure}'`);
    if (this.draining) throw new WampError(Uri.CANCELED, 'the router is shutting down: no new calls are accepted');
    if (this.metaApi && isMetaProcedure(procedure)) {
      const args = Array.isArray(msg[4]) ? (msg[4] as unknown[]) : [];
      const kwargs = isDict(msg[5]) ? msg[5] : {};
      // In a cluster, these answer for every node (docs/cluster.md): asynchronously.
      const backplane = this.broker.backplane;
      if (backplane !== null && isClusterMeta(procedure)) return clusterMeta(this, s, msg, procedure, args, kwargs, (p, a, k) => backplane.ask(p, a, k));
      const [rArgs, rKwargs] = callMeta(this, s, procedure, args, kwargs, msg);
      const result: unknown[] = [MsgType.RESULT, msg[1], {}, rArgs];
      if (rKwargs !== undefined) result.push(rKwargs);
      this.out.send(s.connId, result);
      return;
    }
    this.dealer.call(s, msg, g.discloseCaller);
  }

  #register(s: Session, msg: unknown[]): void {
    const procedure = msg[3] as string;
    this.#checkLength(s, procedure);
    const options = msg[2] as Dict;
    const match = (options.match as Match | undefined) ?? 'exact';
    this.#checkUri(procedure, match, false);
    const filtered = this.#authorize(s, msg, procedure, match, 'register');
    if (filtered === null) return;
    if (filtered && options.force_reregister === true) {
      // Taking a registration over would cut its callees off procedures this role may not register.
      throw new WampError(Uri.NOT_AUTHORIZED, `force_reregister of '${procedure}' (match ${match}) needs the right to register all it matches`);
    }
    // In a cluster, a `single` registration is first claimed cluster-wide (workers/cluster/rpc.ts).
    if (this.dealer.cluster !== null && !this.dealer.cluster.admit(s, msg, filtered)) return;
    this.dealer.register(s, msg[1] as number, options, procedure, filtered);
  }
}
