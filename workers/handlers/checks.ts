/** Checks that more than one handler makes: URIs, their lengths, a pattern's authorization. */
import { WampError } from '../../src/shared/wamp/messages.js';
import { isReservedUri, isValidPattern, Uri } from '../../src/shared/wamp/uris.js';
import { RolePermissions } from '../authorizer.js';
import { overLimit } from '../limits.js';
import type { Match } from '../match/uri-index.js';
import type { Session } from '../session.js';
import type { HandlerContext } from './context.js';

/** A URI the realm would keep (a subscription's, a registration's) is at most max_uri_length long. */
export function checkLength(realm: HandlerContext, s: Session, uri: string): void {
  const max = realm.limits.max_uri_length;
  if (max > 0 && typeof uri === 'string' && uri.length > max) {
    throw overLimit(s, 'max_uri_length', `a URI of ${uri.length} characters is too long`, Uri.INVALID_URI);
  }
}

/** A SUBSCRIBE/REGISTER URI is valid for its match policy; wamp.* only where `reservedOk`. */
export function checkPattern(realm: HandlerContext, uri: string, match: Match, reservedOk: boolean): void {
  if (!isValidPattern(uri, match, realm.uriCheck)) {
    throw new WampError(Uri.INVALID_URI, `invalid URI '${uri}' (match ${match}, uri_check ${realm.uriCheck})`);
  }
  if (!reservedOk && (isReservedUri(uri) || (match !== 'exact' && 'wamp.'.startsWith(uri)))) {
    throw new WampError(Uri.INVALID_URI, `'${uri}': the wamp.* namespace is reserved`);
  }
}

/**
 * Whether the role lets the session SUBSCRIBE/REGISTER `uri` with `match`: throws
 * not_authorized if not; else true when each concrete URI must be checked at delivery (a
 * pattern the role covers only in part), false when all it matches is allowed. null: asked a
 * dynamic authorizer, the message will be dispatched again.
 *
 * A static role decides a pattern by what it matches (RolePermissions.coverage), not by the
 * pattern string. A dynamic authorizer is asked with the pattern and `match` (Crossbar's
 * call) and must grant the match explicitly (parseDecision); its grant covers the whole pattern.
 */
export function authorizePattern(
  realm: HandlerContext,
  s: Session,
  msg: unknown[],
  uri: string,
  match: Match,
  action: 'subscribe' | 'register',
): boolean | null {
  const p = s.permissions;
  const verb = action === 'subscribe' ? 'subscribe to' : 'register';
  if (match !== 'exact' && p instanceof RolePermissions) {
    const c = p.coverage(uri, match, action);
    if (c === 'none') throw new WampError(Uri.NOT_AUTHORIZED, `not authorized to ${verb} '${uri}' (match ${match}): the role allows nothing it matches`);
    return c === 'some';
  }
  const g = realm.gate.grant(s, msg, uri, action);
  if (g === null) return null;
  if (!g.allow) {
    const how = match === 'exact' ? '' : ` (match ${match}; an authorizer grants a pattern with {allow: true, match: '${match}'})`;
    throw new WampError(Uri.NOT_AUTHORIZED, `not authorized to ${verb} '${uri}'${how}`);
  }
  return false;
}
