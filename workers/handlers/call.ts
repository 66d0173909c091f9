/** CALL [48, Request, Options, Procedure, Arguments?, ArgumentsKw?] (WAMP spec, "Calling and Invocations"; meta procedures). */
import { MsgType } from '../../src/shared/wamp/codes.js';
import { type Dict, isDict, WampError } from '../../src/shared/wamp/messages.js';
import { isValidUri, Uri } from '../../src/shared/wamp/uris.js';
import { clusterMeta, isClusterMeta } from '../cluster/meta.js';
import { callMeta, isMetaProcedure } from '../meta.js';
import type { Session } from '../session.js';
import type { HandlerContext } from './context.js';

export function call(realm: HandlerContext, s: Session, msg: unknown[]): void {
  const procedure = msg[3] as string;
  // A procedure registered exactly passed the same check at REGISTER: the regex only for others.
  if (!realm.dealer.registeredExactly(procedure) && !isValidUri(procedure, realm.uriCheck)) {
    throw new WampError(Uri.INVALID_URI, `invalid URI '${procedure}' (uri_check ${realm.uriCheck})`);
  }
  const g = realm.gate.grant(s, msg, procedure, 'call');
  if (g === null) return;
  if (!g.allow) throw new WampError(Uri.NOT_AUTHORIZED, `not authorized to call '${procedure}'`);
  if (realm.draining) throw new WampError(Uri.CANCELED, 'the router is shutting down: no new calls are accepted');
  if (realm.metaApi && isMetaProcedure(procedure)) {
    const args = Array.isArray(msg[4]) ? (msg[4] as unknown[]) : [];
    const kwargs = isDict(msg[5]) ? msg[5] : {};
    // In a cluster, these answer for every node (docs/cluster.md): asynchronously.
    const backplane = realm.broker.backplane;
    if (backplane !== null && isClusterMeta(procedure)) return clusterMeta(realm, s, msg, procedure, args, kwargs, (p, a, k) => backplane.ask(p, a, k));
    const [rArgs, rKwargs] = callMeta(realm, s, procedure, args, kwargs, msg);
    const result: unknown[] = [MsgType.RESULT, msg[1], {}, rArgs];
    if (rKwargs !== undefined) result.push(rKwargs as Dict);
    realm.out.send(s.connId, result);
    return;
  }
  realm.dealer.call(s, msg, g.discloseCaller);
}
