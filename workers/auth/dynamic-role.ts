/**
 * Dynamic authorization (Crossbar's role `authorizer`, Crossbar.io docs, "Authorization"): the router calls
 * authorize(session, uri, action, options) on the role's realm and gets true/false or
 * {allow, disclose, cache}. Beyond Crossbar (its issue #212), answers with `cache: true` are
 * kept per session, URI, action and match policy, for `authorizer-cache-ttl` ms, at most
 * `authorizer-cache-size` of them per role (oldest first out).
 */
import type { RoleConfig } from '../../src/shared/ipc/protocol.js';
import { type Dict, isDict, WampError } from '../../src/shared/wamp/messages.js';
import { Uri } from '../../src/shared/wamp/uris.js';
import type { Action, Grant, Permissions, Session } from '../session.js';
import { CallError } from './internal-caller.js';

interface Cached {
  grant: Grant;
  expires: number;
}

export class DynamicRole implements Permissions {
  readonly name: string;
  readonly decidesPerSession = true;
  readonly authorizer: string;
  readonly #max: number;
  readonly #ttl: number;
  #cache = new Map<string, Cached>();
  /** Authorizer calls made and cache hits, for metrics and tests. */
  calls = 0;
  hits = 0;

  constructor(cfg: RoleConfig) {
    this.name = cfg.name;
    this.authorizer = cfg.authorizer!;
    this.#max = cfg['authorizer-cache-size'] ?? 10000;
    this.#ttl = cfg['authorizer-cache-ttl'] ?? 60000;
  }

  static key(s: Session, uri: string, action: Action, options: Dict): string {
    return `${s.id} ${action} ${typeof options.match === 'string' ? options.match : 'exact'} ${uri}`;
  }

  /** The decision for this request if one is known (the one just fetched, or a live cached one); else null. */
  check(uri: string, action: Action, s?: Session, options: Dict = {}): Grant | null {
    if (s === undefined) return null;
    const key = DynamicRole.key(s, uri, action, options);
    const fresh = s.authzDecision;
    if (fresh !== null && fresh.key === key) {
      s.authzDecision = null;
      return fresh.grant;
    }
    const c = this.#cache.get(key);
    if (c === undefined) return null;
    if (c.expires <= Date.now()) {
      this.#cache.delete(key);
      return null;
    }
    this.hits++;
    return c.grant;
  }

  /** Only a live cached decision for the concrete URI counts (see Permissions.receives). */
  receives(uri: string, action: 'subscribe' | 'register', s: Session): boolean {
    const c = this.#cache.get(DynamicRole.key(s, uri, action, {}));
    return c !== undefined && c.expires > Date.now() && c.grant.allow;
  }

  remember(key: string, grant: Grant): void {
    if (this.#max === 0) return;
    if (this.#cache.size >= this.#max) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.delete(key);
    this.#cache.set(key, { grant, expires: Date.now() + this.#ttl });
  }

  get cacheSize(): number {
    return this.#cache.size;
  }
}

/** The session as Crossbar hands it to an authorizer. */
export function sessionDetails(s: Session): Dict {
  return {
    session: s.id,
    authid: s.authid,
    authrole: s.authrole,
    authmethod: s.authmethod,
    authprovider: s.authprovider,
    authextra: s.authextra,
    transport: { type: s.transport.type, transport_id: s.transport.transportId, peer: s.transport.peer },
  };
}

/**
 * The authorizer's answer as a Grant (+ whether it may be cached); anything else is a failure.
 * A pattern request (`match` prefix or wildcard) is allowed only by an answer that names that
 * match: `{allow: true, match}`. A bare `true` may come from an authorizer that judged the pattern
 * as if it were one URI; it would then hand out every URI the pattern matches.
 */
export function parseDecision(res: unknown, action: Action, match: unknown = 'exact'): { grant: Grant; cache: boolean } {
  const pattern = match === 'prefix' || match === 'wildcard';
  const grant = (allow: boolean, disclose: boolean): Grant => ({
    allow,
    discloseCaller: allow && disclose && action === 'call',
    disclosePublisher: allow && disclose && action === 'publish',
  });
  if (typeof res === 'boolean') return { grant: grant(res && !pattern, false), cache: false };
  if (isDict(res) && typeof res.allow === 'boolean') {
    const extra = Object.keys(res).filter((k) => !['allow', 'disclose', 'cache', 'match'].includes(k));
    if (extra.length > 0) throw new WampError(Uri.AUTHORIZATION_FAILED, `the authorizer answered with unsupported key '${extra[0]}'`);
    if (res.match !== undefined && res.match !== 'exact' && res.match !== 'prefix' && res.match !== 'wildcard') {
      throw new WampError(Uri.AUTHORIZATION_FAILED, "the authorizer's match must be 'exact', 'prefix' or 'wildcard'");
    }
    return { grant: grant(res.allow && (!pattern || res.match === match), res.disclose === true), cache: res.cache === true };
  }
  throw new WampError(Uri.AUTHORIZATION_FAILED, 'the authorizer must answer true, false or {allow, disclose, cache}');
}

/** An authorizer call that did not produce a decision. */
export function authorizerFailure(e: unknown, procedure: string): WampError {
  if (e instanceof WampError) return e;
  const why = e instanceof CallError ? e.message : String(e);
  return new WampError(Uri.AUTHORIZATION_FAILED, `authorizer '${procedure}' failed: ${why}`);
}
