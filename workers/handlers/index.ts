/**
 * One handler per WAMP message type a router receives from an established session (as Aedes's
 * lib/handlers/): each validates, authorizes (through the realm's AuthorizerGate) and routes
 * to the broker or dealer. HELLO (handlers/hello.ts) comes before a session exists, AUTHENTICATE
 * goes to workers/auth/service.ts.
 */
import { MsgType } from '../../src/shared/wamp/codes.js';
import { checkClientMessage, type Dict, ProtocolViolation } from '../../src/shared/wamp/messages.js';
import { checkOptions } from '../../src/shared/wamp/options.js';
import type { Session } from '../session.js';
import { abort } from './abort.js';
import { call } from './call.js';
import { cancel } from './cancel.js';
import type { HandlerContext } from './context.js';
import { error } from './error.js';
import { goodbye } from './goodbye.js';
import { publish } from './publish.js';
import { register } from './register.js';
import { subscribe } from './subscribe.js';
import { unregister } from './unregister.js';
import { unsubscribe } from './unsubscribe.js';
import { yield_ } from './yield.js';

/** Checks a message's shape and options, then runs its handler. Throws WampError or ProtocolViolation. */
export function handle(realm: HandlerContext, s: Session, msg: unknown[]): void {
  const type = msg[0] as number;
  checkClientMessage(msg);
  if (type !== MsgType.ERROR || msg[1] === MsgType.INVOCATION) checkOptions(type, msg[type === MsgType.ERROR ? 3 : 2] as Dict);
  switch (type) {
    case MsgType.PUBLISH:
      return publish(realm, s, msg);
    case MsgType.SUBSCRIBE:
      return subscribe(realm, s, msg);
    case MsgType.UNSUBSCRIBE:
      return unsubscribe(realm, s, msg);
    case MsgType.CALL:
      return call(realm, s, msg);
    case MsgType.CANCEL:
      return cancel(realm, s, msg);
    case MsgType.REGISTER:
      return register(realm, s, msg);
    case MsgType.UNREGISTER:
      return unregister(realm, s, msg);
    case MsgType.YIELD:
      return yield_(realm, s, msg);
    case MsgType.ERROR:
      return error(realm, s, msg);
    case MsgType.GOODBYE:
      return goodbye(realm, s);
    case MsgType.ABORT:
      return abort(realm, s);
    case MsgType.HELLO:
      throw new ProtocolViolation('HELLO received on an established session');
    case MsgType.AUTHENTICATE:
      throw new ProtocolViolation('AUTHENTICATE received on an established session');
    default:
      throw new ProtocolViolation(`unexpected message type ${type}`);
  }
}
