/**
 * One realm: its state (sessions, roles, broker, dealer) and the lifecycle of its sessions (join,
 * dispatch, GOODBYE, ABORT, end). What each message does is in workers/handlers/, the authorizer
 * hold/resume in workers/gate.ts, meta events in workers/meta-events.ts, WELCOME's features in
 * workers/welcome.ts. Everything else sees a realm through workers/services.ts.
 */
import type { RealmConfig, SessionStatsConfig, TransportInfo } from '../src/shared/ipc/protocol.js';
import type { Logger } from '../src/shared/log.js';
import { CloseCode, MsgType } from '../src/shared/wamp/codes.js';
import { type Dict, ProtocolViolation, WampError } from '../src/shared/wamp/messages.js';
import { Uri, type UriCheck } from '../src/shared/wamp/uris.js';
import { RolePermissions } from './authorizer.js';
import { DynamicRole } from './auth/dynamic-role.js';
import type { AuthService } from './auth/service.js';
import type { AuthRealm, Identity } from './auth/types.js';
import { Broker } from './broker.js';
import { Dealer } from './dealer.js';
import { EventStore } from './event-store.js';
import { AuthorizerGate } from './gate.js';
import type { HandlerContext } from './handlers/context.js';
import { hello } from './handlers/hello.js';
import { handle } from './handlers/index.js';
import { type Limits, maxCachedUri } from './limits.js';
import { MetaEvents } from './meta-events.js';
import type { Output } from './output.js';
import type { WillsBackplane } from './services.js';
import { type Permissions, Session, SessionState } from './session.js';
import { SessionStats } from './session-stats.js';
import { countAuth } from './stats.js';
import { AGENT, routerRoles } from './welcome.js';

export { AGENT };

/** How long a session may take to answer a router GOODBYE before its connection is closed. */
const GOODBYE_TIMEOUT_MS = 5000;

/** One realm: its sessions, broker and dealer. Lives in exactly one worker thread. */
export class Realm implements AuthRealm, HandlerContext {
  readonly name: string;
  readonly uriCheck: UriCheck;
  readonly metaApi: boolean;
  readonly sessions = new Map<number, Session>();
  readonly broker: Broker;
  readonly dealer: Dealer;
  readonly roles = new Map<string, Permissions>();
  /** What clients may make this realm hold (workers/limits.ts). */
  readonly limits: Limits;
  readonly gate: AuthorizerGate;
  readonly meta: MetaEvents;
  readonly #welcomeRoles: Dict;
  #goodbyeTimers = new Map<Session, NodeJS.Timeout>();
  /** In a cluster: told of sessions and testaments, for when this node dies (workers/cluster/wills.ts). */
  wills: WillsBackplane | null = null;
  /** Set by a graceful drain (drain.ts): no new calls are accepted. */
  draining = false;
  /** Crossbar's realm `stats` (wamp.session.on_stats); null: off. */
  readonly statsConfig: SessionStatsConfig | null;

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
    this.statsConfig = cfg.stats ?? null;
    this.meta = new MetaEvents(this);
    this.gate = new AuthorizerGate(this, auth);
    this.broker = new Broker(out, this.meta, cfg.history.length > 0 ? new EventStore(cfg.history, cfg.limits) : null, cfg.limits);
    this.dealer = new Dealer(out, this.meta, cfg.limits, cfg.callQueue);
    for (const r of cfg.roles) this.roles.set(r.name, r.authorizer !== undefined ? new DynamicRole(r) : new RolePermissions(r, maxCachedUri(cfg.limits)));
    this.#welcomeRoles = routerRoles(this.metaApi, cfg.history.length > 0);
  }

  /** HELLO [1, Realm, Details] for this realm (workers/handlers/hello.ts). */
  hello(connId: number, details: unknown, transport: TransportInfo): void {
    hello(this, this.auth, connId, details, transport);
  }

  /** An authenticated session joins: WELCOME (WAMP spec, "WELCOME"). */
  join(connId: number, id: number, details: Dict, transport: TransportInfo, who: Identity): void {
    const permissions = this.roles.get(who.role)!;
    const roles = details.roles as Record<string, unknown>;
    const s = new Session(id, connId, this, who.authid, who.role, who.method, who.provider, permissions, roles, transport);
    s.authextra = who.extra;
    countAuth(s.authmethod === 'wamp-scram' ? 'scram' : s.authmethod, 'success');
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
    this.meta.joined(s);
    // Counted from here on (WELCOME is encoded on the main thread); not for router-internal sessions (negative serIndex).
    if (this.statsConfig !== null && transport.serIndex >= 0) {
      const st = new SessionStats(s, this.statsConfig, this);
      s.stats = st;
      st.joined();
    }
  }

  /** ABORT a session that is not established yet, and close its connection. */
  abortNew(connId: number, reason: string, message: string): void {
    this.out.send(connId, [MsgType.ABORT, { message }, reason]);
    this.out.close(connId, reason === Uri.PROTOCOL_VIOLATION ? CloseCode.PROTOCOL_ERROR : CloseCode.NORMAL, reason);
  }

  /** One message from a session (workers/handlers/). Errors become ERROR or ABORT for that session only. */
  dispatch(s: Session, msg: unknown[]): void {
    if (s.state === SessionState.SHUTTING_DOWN) {
      // WAMP spec, "GOODBYE": after sending GOODBYE, only the peer's GOODBYE (or ABORT) matters.
      const type = msg[0] as number;
      if (type === MsgType.GOODBYE) this.end(s, true);
      else if (type === MsgType.ABORT) {
        this.end(s, false);
        this.out.close(s.connId, CloseCode.NORMAL, 'session aborted by peer');
      }
      return;
    }
    if (s.held !== null) {
      this.gate.hold(s, s.held, msg); // a dynamic authorizer is deciding an earlier message: keep the order
      return;
    }
    try {
      handle(this, s, msg);
    } catch (e) {
      this.fail(s, msg, e);
    }
  }

  /** Answers a message that failed: ERROR for a request, ABORT for a protocol violation or a bug. */
  fail(s: Session, msg: unknown[], e: unknown): void {
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
    if (!silent) this.meta.left(s);
    if (s.stats !== null) {
      s.stats.left(!silent);
      s.stats = null; // nothing more is counted (a GOODBYE reply after a router GOODBYE)
    }
  }
}
