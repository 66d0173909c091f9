/** REGISTER [64, Request, Options, Procedure] (WAMP spec, "Registering and Unregistering"; "Shared Registration"). */
import { type Dict, WampError } from '../../src/shared/wamp/messages.js';
import { Uri } from '../../src/shared/wamp/uris.js';
import type { Match } from '../match/uri-index.js';
import type { Session } from '../session.js';
import { authorizePattern, checkLength, checkPattern } from './checks.js';
import type { HandlerContext } from './context.js';

export function register(realm: HandlerContext, s: Session, msg: unknown[]): void {
  const procedure = msg[3] as string;
  checkLength(realm, s, procedure);
  const options = msg[2] as Dict;
  const match = (options.match as Match | undefined) ?? 'exact';
  checkPattern(realm, procedure, match, false);
  const filtered = authorizePattern(realm, s, msg, procedure, match, 'register');
  if (filtered === null) return;
  if (filtered && options.force_reregister === true) {
    // Taking a registration over would cut its callees off procedures this role may not register.
    throw new WampError(Uri.NOT_AUTHORIZED, `force_reregister of '${procedure}' (match ${match}) needs the right to register all it matches`);
  }
  // In a cluster, a `single` registration is first claimed cluster-wide (workers/cluster/rpc.ts).
  if (realm.dealer.cluster !== null && !realm.dealer.cluster.admit(s, msg, filtered)) return;
  realm.dealer.register(s, msg[1] as number, options, procedure, filtered);
}
