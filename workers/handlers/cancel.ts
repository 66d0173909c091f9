/** CANCEL [49, CALL.Request, Options] (WAMP spec, "Call Canceling"). */
import type { Dict } from '../../src/shared/wamp/messages.js';
import type { Session } from '../session.js';
import type { HandlerContext } from './context.js';

export function cancel(realm: HandlerContext, s: Session, msg: unknown[]): void {
  realm.dealer.cancel(s, msg[1] as number, msg[2] as Dict);
}
