/**
 * The authorizer gate: a request's decision from the session's role, or, for a role with a
 * dynamic authorizer that has no decision yet, the request held while the authorizer is called
 * (Crossbar.io docs, "Authorization"). The session's later messages wait behind it, in order,
 * within bounds, and are replayed once the answer is in.
 */
import { CloseCode, MsgType } from '../src/shared/wamp/codes.js';
import { checkClientMessage, type Dict, type WampError } from '../src/shared/wamp/messages.js';
import { Uri } from '../src/shared/wamp/uris.js';
import { authorizerFailure, DynamicRole, parseDecision, sessionDetails } from './auth/dynamic-role.js';
import type { AuthService } from './auth/service.js';
import { frameBytes, keepFrameBytes, knownFrameBytes, maxCachedUri, overLimit } from './limits.js';
import type { RealmServices } from './services.js';
import { type Action, type Grant, type Session, SessionState } from './session.js';

/** Client messages that an ERROR answers (WAMP spec, "ERROR"). */
const ANSWERABLE = new Set<number>([MsgType.PUBLISH, MsgType.SUBSCRIBE, MsgType.UNSUBSCRIBE, MsgType.CALL, MsgType.REGISTER, MsgType.UNREGISTER]);

export class AuthorizerGate {
  constructor(
    readonly realm: RealmServices,
    readonly auth: AuthService,
  ) {}

  /**
   * The role's decision for this request, or null after handing it to the role's dynamic
   * authorizer: the message is dispatched again (in order) once the answer is in.
   */
  grant(s: Session, msg: unknown[], uri: string, action: Action): Grant | null {
    const options = msg[2] as Dict;
    const g = s.permissions.check(uri, action, s, options);
    if (g !== null) return g;
    const role = s.permissions as DynamicRole;
    const key = DynamicRole.key(s, uri, action, options);
    s.held = [];
    role.calls++;
    this.auth
      .caller(this.realm)
      .call(role.authorizer, [sessionDetails(s), uri, action, options])
      .then((args) => parseDecision(args[0], action, options.match))
      .then(
        (d) => {
          // The cache is keyed by the URI: a decision on a longer one is used, not kept.
          if (d.cache && uri.length <= maxCachedUri(this.realm.limits)) role.remember(key, d.grant);
          s.authzDecision = { key, grant: d.grant };
          this.#resume(s, msg);
        },
        (e: unknown) => {
          const err = authorizerFailure(e, role.authorizer);
          this.realm.log.warn({ session: s.id, uri, action, err: err.message }, 'dynamic authorizer failed');
          this.#resume(s, msg, err);
        },
      );
    return null;
  }

  /**
   * Queues a message behind one a dynamic authorizer is deciding, within the session's
   * max_held_messages_per_session and max_held_bytes_per_session. Over them, a request is answered
   * with ERROR; a message no ERROR can answer (YIELD, ERROR, CANCEL, GOODBYE) ends the session.
   */
  hold(s: Session, held: unknown[][], msg: unknown[]): void {
    const { limits } = this.realm;
    const maxCount = limits.max_held_messages_per_session;
    const maxBytes = limits.max_held_bytes_per_session;
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
    if (!ANSWERABLE.has(msg[0] as number)) return this.realm.abort(s, err.uri, err.message, CloseCode.POLICY_VIOLATION);
    try {
      checkClientMessage(msg);
    } catch (e) {
      return this.realm.fail(s, msg, e);
    }
    this.realm.fail(s, msg, err);
  }

  /** Replays a session's messages after its authorizer answered (or failed: `err`). */
  #resume(s: Session, msg: unknown[], err?: WampError): void {
    if (s.state === SessionState.CLOSED) return;
    const held = s.held ?? [];
    s.held = null;
    s.heldBytes = 0;
    if (err === undefined) this.realm.dispatch(s, msg);
    else this.realm.fail(s, msg, err);
    s.authzDecision = null;
    for (const m of held) this.realm.dispatch(s, m);
  }
}
