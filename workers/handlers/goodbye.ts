/** GOODBYE [6, Details, Reason] from the client (WAMP spec, "Session Closing"). */
import { MsgType } from '../../src/shared/wamp/codes.js';
import { Uri } from '../../src/shared/wamp/uris.js';
import type { Session } from '../session.js';
import type { HandlerContext } from './context.js';

export function goodbye(realm: HandlerContext, s: Session): void {
  // WAMP spec, "GOODBYE": answer with GOODBYE, then the session is closed.
  realm.out.send(s.connId, [MsgType.GOODBYE, {}, Uri.GOODBYE_AND_OUT]);
  realm.end(s, true);
}
