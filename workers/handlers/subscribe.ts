/** SUBSCRIBE [32, Request, Options, Topic] (WAMP spec, "Subscribing and Unsubscribing"; "Pattern-based Subscription"). */
import type { Dict } from '../../src/shared/wamp/messages.js';
import type { Match } from '../match/uri-index.js';
import type { Session } from '../session.js';
import { authorizePattern, checkLength, checkPattern } from './checks.js';
import type { HandlerContext } from './context.js';

export function subscribe(realm: HandlerContext, s: Session, msg: unknown[]): void {
  const topic = msg[3] as string;
  const options = msg[2] as Dict;
  checkLength(realm, s, topic);
  const match = (options.match as Match | undefined) ?? 'exact';
  checkPattern(realm, topic, match, true);
  const filtered = authorizePattern(realm, s, msg, topic, match, 'subscribe');
  if (filtered === null) return;
  realm.broker.subscribe(s, msg[1] as number, options, topic, filtered);
}
