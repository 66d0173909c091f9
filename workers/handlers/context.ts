import type { AuthorizerGate } from '../gate.js';
import type { Session } from '../session.js';
import type { RealmServices } from '../services.js';

/** What a message handler works with: the realm's services and its authorizer gate. */
export interface HandlerContext extends RealmServices {
  readonly gate: AuthorizerGate;
}

/** A handler of one WAMP message type from an established session: validate → authorize → route. Throws WampError or ProtocolViolation. */
export type Handler = (realm: HandlerContext, s: Session, msg: unknown[]) => void;
