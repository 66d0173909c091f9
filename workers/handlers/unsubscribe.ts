/** UNSUBSCRIBE [34, Request, SUBSCRIBED.Subscription] (WAMP spec, "Subscribing and Unsubscribing"). */
import type { Session } from '../session.js';
import type { HandlerContext } from './context.js';

export function unsubscribe(realm: HandlerContext, s: Session, msg: unknown[]): void {
  realm.broker.unsubscribe(s, msg[1] as number, msg[2] as number);
}
