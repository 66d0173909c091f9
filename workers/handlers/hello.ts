/** HELLO [1, Realm, Details] on a new connection (WAMP spec, "Session Establishment"). */
import type { TransportInfo } from '../../src/shared/ipc/protocol.js';
import { isDict } from '../../src/shared/wamp/messages.js';
import { Uri } from '../../src/shared/wamp/uris.js';
import type { AuthService } from '../auth/service.js';
import type { AuthRealm } from '../auth/types.js';

const CLIENT_ROLES = new Set(['publisher', 'subscriber', 'caller', 'callee']);

/** Checks HELLO.Details, then hands the connection to authentication, which ends in realm.join() or realm.abortNew(). */
export function hello(realm: AuthRealm, auth: AuthService, connId: number, details: unknown, transport: TransportInfo): void {
  if (!isDict(details) || !isDict(details.roles)) {
    return realm.abortNew(connId, Uri.PROTOCOL_VIOLATION, 'HELLO.Details.roles must be a dict');
  }
  const roles = details.roles;
  const names = Object.keys(roles);
  if (names.length === 0 || !names.every((n) => CLIENT_ROLES.has(n) && isDict(roles[n]))) {
    return realm.abortNew(
      connId,
      Uri.PROTOCOL_VIOLATION,
      'HELLO.Details.roles must name at least one of publisher, subscriber, caller, callee, each with a dict',
    );
  }
  const methods = details.authmethods ?? ['anonymous'];
  if (!Array.isArray(methods) || !methods.every((m) => typeof m === 'string')) {
    return realm.abortNew(connId, Uri.PROTOCOL_VIOLATION, 'HELLO.Details.authmethods must be a list of strings');
  }
  auth.hello(realm, connId, details, transport, methods);
}
