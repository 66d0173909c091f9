import { type Dict, isDict } from '../../src/shared/wamp/messages.js';
import { Uri } from '../../src/shared/wamp/uris.js';
import { CallError } from './internal-caller.js';
import { type Attempt, AuthFailure, type Identity } from './types.js';

/**
 * A dynamic authenticator's answer (Crossbar: a role string, or a dict with `role` and optional
 * `authid`, `realm`, `extra`, plus method-specific keys) as a dict; errors become AuthFailures.
 */
export async function askAuthenticator(a: Attempt, cfg: { authenticator: string; 'authenticator-realm': string | null }, extra: Dict = {}): Promise<Dict> {
  let res: unknown;
  try {
    res = await a.callAuthenticator(cfg.authenticator, cfg['authenticator-realm'], extra);
  } catch (e) {
    if (e instanceof CallError && !e.byRouter) {
      // Crossbar: the authenticator's error URI (and its first argument as message) is the ABORT.
      throw new AuthFailure(e.uri, typeof e.args[0] === 'string' ? e.args[0] : `denied by the authenticator (${e.uri})`);
    }
    throw new AuthFailure(Uri.AUTHENTICATION_FAILED, `dynamic authenticator unavailable: ${(e as Error).message}`, false);
  }
  if (typeof res === 'string') return { role: res };
  if (!isDict(res)) throw new AuthFailure(Uri.AUTHENTICATION_FAILED, 'the dynamic authenticator returned neither a role nor a dict', false);
  return res;
}

/** The identity a dynamic principal dict describes. */
export function dynamicIdentity(a: Attempt, p: Dict, extra: Dict = {}): Identity {
  if (typeof p.role !== 'string' || p.role === '') throw new AuthFailure(Uri.AUTHENTICATION_FAILED, 'the dynamic authenticator returned no role', false);
  const authid = typeof p.authid === 'string' && p.authid !== '' ? p.authid : a.authid;
  if (authid === null) throw new AuthFailure(Uri.NO_SUCH_PRINCIPAL, 'no authid: neither HELLO nor the authenticator gave one');
  if (p.realm !== undefined && p.realm !== null && typeof p.realm !== 'string') {
    throw new AuthFailure(Uri.AUTHENTICATION_FAILED, 'the dynamic authenticator returned a realm that is not a string', false);
  }
  if (p.extra !== undefined && p.extra !== null && !isDict(p.extra)) {
    throw new AuthFailure(Uri.AUTHENTICATION_FAILED, 'the dynamic authenticator returned an extra that is not a dict', false);
  }
  return {
    authid,
    role: p.role,
    realm: typeof p.realm === 'string' ? p.realm : null,
    method: a.method,
    provider: 'dynamic',
    extra: { ...((p.extra as Dict | undefined) ?? {}), ...extra },
  };
}

/** HELLO.Details.authid, required by the method. */
export function requireAuthid(a: Attempt): string {
  if (a.authid === null) throw new AuthFailure(Uri.NO_SUCH_PRINCIPAL, `authmethod '${a.method}' needs HELLO.Details.authid`);
  return a.authid;
}

/** A static principal by authid, or undefined (own keys only: "__proto__" is nobody). */
export function find<T>(table: Record<string, T>, authid: string): T | undefined {
  return Object.hasOwn(table, authid) ? table[authid] : undefined;
}

/**
 * The ABORT of a static method's AUTHENTICATE that failed: the same for a wrong secret and for an
 * unknown principal (a decoy), so that neither the reply nor its timing tells them apart; the log
 * says which (`unknown`: why the principal is unknown; null: it is known).
 */
export function wrongSecret(what: string, unknown: string | null): AuthFailure {
  return new AuthFailure(Uri.AUTHENTICATION_FAILED, `unknown principal or wrong ${what}`, true, unknown ?? `wrong ${what}`);
}
