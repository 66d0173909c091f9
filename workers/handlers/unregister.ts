/** UNREGISTER [66, Request, REGISTERED.Registration] (WAMP spec, "Registering and Unregistering"). */
import type { Session } from '../session.js';
import type { HandlerContext } from './context.js';

export function unregister(realm: HandlerContext, s: Session, msg: unknown[]): void {
  realm.dealer.unregister(s, msg[1] as number, msg[2] as number);
}
