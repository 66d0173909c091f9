/** YIELD [70, INVOCATION.Request, Options, Arguments?, ArgumentsKw?] (WAMP spec, "Calling and Invocations"). */
import type { Session } from '../session.js';
import type { HandlerContext } from './context.js';

export function yield_(realm: HandlerContext, s: Session, msg: unknown[]): void {
  realm.dealer.yield(s, msg);
}
