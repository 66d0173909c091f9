/** PUBLISH [16, Request, Options, Topic, Arguments?, ArgumentsKw?] (WAMP spec, "Publishing and Events"). */
import { MsgType } from '../../src/shared/wamp/codes.js';
import { type Dict, ProtocolViolation, WampError } from '../../src/shared/wamp/messages.js';
import { isReservedUri, isValidUri, Uri } from '../../src/shared/wamp/uris.js';
import type { Session } from '../session.js';
import type { HandlerContext } from './context.js';

export function publish(realm: HandlerContext, s: Session, msg: unknown[]): void {
  const topic = msg[3] as string;
  const options = msg[2] as Dict;
  if (!isValidUri(topic, realm.uriCheck)) throw new WampError(Uri.INVALID_URI, `invalid URI '${topic}' (uri_check ${realm.uriCheck})`);
  if (isReservedUri(topic)) throw new WampError(Uri.INVALID_URI, `'${topic}': the wamp.* namespace is reserved`);
  const g = realm.gate.grant(s, msg, topic, 'publish');
  if (g === null) return;
  if (!g.allow) throw new WampError(Uri.NOT_AUTHORIZED, `not authorized to publish to '${topic}'`);
  if (options.ppt_scheme !== undefined && !s.has('publisher', 'payload_passthru_mode')) {
    throw new ProtocolViolation('ppt_scheme used without announcing payload_passthru_mode');
  }
  // As Crossbar: the publisher's role decides disclosure (`disclose.publisher`), not disclose_me.
  const publication = realm.broker.publish(s, msg, g.disclosePublisher);
  if (options.acknowledge === true) realm.out.send(s.connId, [MsgType.PUBLISHED, msg[1], publication]);
}
