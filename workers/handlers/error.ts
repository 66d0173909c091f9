/** ERROR [8, INVOCATION, INVOCATION.Request, Details, Error, Arguments?, ArgumentsKw?] from a callee (WAMP spec, "ERROR"). */
import { MsgType } from '../../src/shared/wamp/codes.js';
import { ProtocolViolation } from '../../src/shared/wamp/messages.js';
import type { Session } from '../session.js';
import type { HandlerContext } from './context.js';

export function error(realm: HandlerContext, s: Session, msg: unknown[]): void {
  if (msg[1] !== MsgType.INVOCATION) {
    throw new ProtocolViolation(`a client may send ERROR only for INVOCATION (68), got ${String(msg[1])}`);
  }
  realm.dealer.error(s, msg);
}
