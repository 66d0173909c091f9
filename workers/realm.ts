import { randomBytes } from 'node:crypto';
import type { RealmConfig, TransportInfo } from '../src/ipc/protocol.js';
import type { Logger } from '../src/log.js';
import { MsgType } from '../src/wamp/codes.js';
import { randomId } from '../src/wamp/ids.js';
import { checkClientMessage, type Dict, isDict, ProtocolViolation, WampError } from '../src/wamp/messages.js';
import { isReservedUri, isValidUri, Uri, type UriCheck } from '../src/wamp/uris.js';
import { RolePermissions } from './authorizer.js';
import { Broker } from './broker.js';
import { Dealer } from './dealer.js';
import type { Output } from './output.js';
import { Session, SessionState } from './session.js';

export const AGENT = 'Crosswire-0.1.0';

/** Exactly what this router implements; WELCOME announces this and nothing more. */
const ROUTER_ROLES = Object.freeze({
  broker: { features: { publisher_exclusion: true, publisher_identification: true } },
  dealer: { features: { caller_identification: true } },
});

const CLIENT_ROLES = new Set(['publisher', 'subscriber', 'caller', 'callee']);

/** WebSocket close codes Crosswire uses after an ABORT. */
export const CloseCode = { NORMAL: 1000, GOING_AWAY: 1001, PROTOCOL_ERROR: 1002, INTERNAL: 1011 } as const;

/** One realm: its sessions, broker and dealer. Lives in exactly one worker thread. */
export class Realm {
  readonly name: string;
  readonly uriCheck: UriCheck;
  readonly sessions = new Map<number, Session>();
  readonly broker: Broker;
  readonly dealer: Dealer;
  readonly roles = new Map<string, RolePermissions>();

  constructor(
    cfg: RealmConfig,
    readonly out: Output,
    readonly log: Logger,
    /** Unique session ids across every realm of the worker: connection → session table. */
    readonly sessionsByConn: Map<number, Session>,
  ) {
    this.name = cfg.name;
    this.uriCheck = cfg.options.uri_check;
    this.broker = new Broker(out);
    this.dealer = new Dealer(out);
    for (const r of cfg.roles) this.roles.set(r.name, new RolePermissions(r));
  }

  /** HELLO [1, Realm, Details] for this realm (WAMP spec, "Session Establishment"). */
  hello(connId: number, details: unknown, transport: TransportInfo): void {
    if (!isDict(details) || !isDict(details.roles)) {
      return this.#abortNew(connId, Uri.PROTOCOL_VIOLATION, 'HELLO.Details.roles must be a dict');
    }
    const roles = details.roles;
    const names = Object.keys(roles);
    if (names.length === 0 || !names.every((n) => CLIENT_ROLES.has(n) && isDict(roles[n]))) {
      return this.#abortNew(
        connId,
        Uri.PROTOCOL_VIOLATION,
        'HELLO.Details.roles must name at least one of publisher, subscriber, caller, callee, each with a dict',
      );
    }
    const methods = details.authmethods ?? ['anonymous'];
    if (!Array.isArray(methods) || !methods.every((m) => typeof m === 'string')) {
      return this.#abortNew(connId, Uri.PROTOCOL_VIOLATION, 'HELLO.Details.authmethods must be a list of strings');
    }
    const anonymous = transport.auth.anonymous;
    if (anonymous === undefined || !methods.includes('anonymous')) {
      return this.#abortNew(
        connId,
        Uri.NO_MATCHING_AUTH_METHOD,
        `none of the offered authmethods [${methods.join(', ')}] is enabled on this transport (enabled: anonymous)`,
      );
    }
    const permissions = this.roles.get(anonymous.role);
    if (permissions === undefined) {
      return this.#abortNew(connId, Uri.NO_SUCH_ROLE, `role '${anonymous.role}' does not exist on realm '${this.name}'`);
    }
    // Crossbar: with cookie tracking on, an anonymous session's authid is the cookie id.
    const authid = transport.cbtid ?? (typeof details.authid === 'string' && details.authid !== '' ? details.authid : anonymousAuthid());
    let id = randomId();
    while (this.sessions.has(id)) id = randomId();
    const s = new Session(id, connId, this, authid, anonymous.role, 'anonymous', 'static', permissions, roles, transport);
    this.sessions.set(id, s);
    this.sessionsByConn.set(connId, s);
    this.out.send(connId, [
      MsgType.WELCOME,
      id,
      {
        realm: this.name,
        authid,
        authrole: s.authrole,
        authmethod: s.authmethod,
        authprovider: s.authprovider,
        authextra: {},
        roles: ROUTER_ROLES,
        agent: AGENT,
      },
    ]);
    this.log.debug({ session: id, conn: connId, realm: this.name, authid }, 'session joined');
  }

  #abortNew(connId: number, reason: string, message: string): void {
    this.out.send(connId, [MsgType.ABORT, { message }, reason]);
    this.out.close(connId, reason === Uri.PROTOCOL_VIOLATION ? CloseCode.PROTOCOL_ERROR : CloseCode.NORMAL, reason);
  }

  /** One message from an established session. Errors become ERROR or ABORT for that session only. */
  dispatch(s: Session, msg: unknown[]): void {
    const type = msg[0] as number;
    if (s.state === SessionState.SHUTTING_DOWN) {
      // WAMP spec, "GOODBYE": after sending GOODBYE, only the peer's GOODBYE (or ABORT) matters.
      if (type === MsgType.GOODBYE || type === MsgType.ABORT) this.end(s, true);
      return;
    }
    try {
      checkClientMessage(msg);
      switch (type) {
        case MsgType.PUBLISH:
          return this.#publish(s, msg);
        case MsgType.SUBSCRIBE:
          return this.#subscribe(s, msg);
        case MsgType.UNSUBSCRIBE:
          return this.broker.unsubscribe(s, msg[1] as number, msg[2] as number);
        case MsgType.CALL:
          return this.#call(s, msg);
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
        case MsgType.CANCEL:
          throw new ProtocolViolation('CANCEL used, but call_canceling was not announced by this router');
        default:
          throw new ProtocolViolation(`unexpected message type ${type}`);
      }
    } catch (e) {
      this.#fail(s, msg, e);
    }
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

  /** Shutdown: every waiting caller gets an ERROR, then every session a GOODBYE. */
  shutdown(): void {
    for (const s of this.sessions.values()) this.dealer.failPendingCalls(s, 'the router is shutting down');
    for (const s of this.sessions.values()) this.goodbye(s, Uri.SYSTEM_SHUTDOWN, 'the router is shutting down');
  }

  /** Router-initiated GOODBYE (shutdown); the session ends when the peer answers. */
  goodbye(s: Session, reason: string, message: string): void {
    if (s.state !== SessionState.ESTABLISHED) return;
    this.out.send(s.connId, [MsgType.GOODBYE, { message }, reason]);
    s.state = SessionState.SHUTTING_DOWN;
  }

  /** The session is over: release everything it held. `detach` hands the connection back. */
  end(s: Session, detach: boolean): void {
    if (s.state === SessionState.CLOSED) return;
    s.state = SessionState.CLOSED;
    this.broker.leave(s);
    this.dealer.leave(s);
    this.sessions.delete(s.id);
    this.sessionsByConn.delete(s.connId);
    if (detach) this.out.detach(s.connId);
    this.log.debug({ session: s.id, realm: this.name }, 'session left');
  }

  #checkUri(uri: string, reservedOk: boolean): void {
    if (!isValidUri(uri, this.uriCheck)) throw new WampError(Uri.INVALID_URI, `invalid URI '${uri}' (uri_check: ${this.uriCheck})`);
    if (!reservedOk && isReservedUri(uri)) throw new WampError(Uri.INVALID_URI, `'${uri}': the wamp.* namespace is reserved`);
  }

  #publish(s: Session, msg: unknown[]): void {
    const topic = msg[3] as string;
    this.#checkUri(topic, false);
    const g = s.permissions.check(topic, 'publish');
    if (!g.allow) throw new WampError(Uri.NOT_AUTHORIZED, `not authorized to publish to '${topic}'`);
    this.broker.publish(s, msg, g.disclosePublisher || (msg[2] as Dict).disclose_me === true);
  }

  #subscribe(s: Session, msg: unknown[]): void {
    const topic = msg[3] as string;
    this.#checkUri(topic, true);
    if (!s.permissions.check(topic, 'subscribe').allow) {
      throw new WampError(Uri.NOT_AUTHORIZED, `not authorized to subscribe to '${topic}'`);
    }
    this.broker.subscribe(s, msg[1] as number, msg[2] as Dict, topic);
  }

  #call(s: Session, msg: unknown[]): void {
    const procedure = msg[3] as string;
    this.#checkUri(procedure, true);
    const g = s.permissions.check(procedure, 'call');
    if (!g.allow) throw new WampError(Uri.NOT_AUTHORIZED, `not authorized to call '${procedure}'`);
    this.dealer.call(s, msg, g.discloseCaller);
  }

  #register(s: Session, msg: unknown[]): void {
    const procedure = msg[3] as string;
    this.#checkUri(procedure, false);
    if (!s.permissions.check(procedure, 'register').allow) {
      throw new WampError(Uri.NOT_AUTHORIZED, `not authorized to register '${procedure}'`);
    }
    this.dealer.register(s, msg[1] as number, msg[2] as Dict, procedure);
  }
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** An anonymous authid in Crossbar's style: six groups of four base32 characters. */
function anonymousAuthid(): string {
  const b = randomBytes(24);
  let s = '';
  for (let i = 0; i < 24; i++) {
    if (i > 0 && i % 4 === 0) s += '-';
    s += CROCKFORD[b[i]! & 31];
  }
  return s;
}
