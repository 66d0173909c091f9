/** ABORT [3, Details, Reason] from the client on an established session (WAMP spec, "Session Closing"). */
import { CloseCode } from '../../src/shared/wamp/codes.js';
import type { Session } from '../session.js';
import type { HandlerContext } from './context.js';

export function abort(realm: HandlerContext, s: Session): void {
  realm.end(s, false);
  realm.out.close(s.connId, CloseCode.NORMAL, 'session aborted by peer');
}
