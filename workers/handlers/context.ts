import type { AuthorizerGate } from '../gate.js';
import type { RealmServices } from '../services.js';

/**
 * What a message handler works with: the realm's services and its authorizer gate. A handler
 * validates, authorizes and routes one message, and throws WampError (answered with ERROR) or
 * ProtocolViolation (answered with ABORT) for that session only (Realm.fail).
 */
export interface HandlerContext extends RealmServices {
  readonly gate: AuthorizerGate;
}
