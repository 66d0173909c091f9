/**
 * anonymous, ticket and WAMP-CRA (WAMP advanced profile, "Authentication Methods";
 * Crossbar's static and dynamic variants, Crossbar.io docs, "Authentication").
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AnonymousStatic, DynamicAuth, TransportAuth, WampcraUser } from '../../src/shared/config/auth.js';
import { serialId } from '../../src/shared/wamp/ids.js';
import type { Dict } from '../../src/shared/wamp/messages.js';
import { Uri } from '../../src/shared/wamp/uris.js';
import type { VerifyPool } from './pool.js';
import { decoyBytes, imitated, lookalike } from './decoy.js';
import { askAuthenticator, dynamicIdentity, find, requireAuthid, wrongSecret } from './principal.js';
import { type Attempt, AuthFailure, type Identity, type Step } from './types.js';

/** Compares secrets in constant time (whatever their lengths). */
export function sameSecret(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export async function anonymous(a: Attempt, cfg: AnonymousStatic | DynamicAuth): Promise<Step> {
  if (cfg.type === 'dynamic') {
    const p = await askAuthenticator(a, cfg);
    return { identity: dynamicIdentity({ ...a, authid: a.authid ?? anonymousAuthid() }, p) };
  }
  const authid = cfg.authid ?? a.authid ?? anonymousAuthid();
  return { identity: { authid, role: cfg.role, realm: null, method: 'anonymous', provider: 'static', extra: {} } };
}

export async function ticket(a: Attempt, cfg: NonNullable<TransportAuth['ticket']>): Promise<Step> {
  if (cfg.type === 'dynamic') {
    return {
      // WAMP spec, "Ticket-based Authentication": CHALLENGE.Extra is {}; the ticket comes back in AUTHENTICATE.
      challenge: {},
      authenticate: async (signature) => dynamicIdentity(a, await askAuthenticator(a, cfg, { ticket: signature })),
    };
  }
  const authid = requireAuthid(a);
  // An unknown authid is challenged like a known one (a decoy ticket), and fails like a wrong ticket.
  const p = find(cfg.principals, authid);
  const expected = p?.ticket ?? decoyBytes(cfg.principals, authid, 'ticket').toString('base64');
  return {
    challenge: {},
    authenticate: async (signature): Promise<Identity> => {
      // A null ticket ("${VAR}" unset at startup) matches nothing, after the same comparison.
      const right = sameSecret(signature, expected);
      if (!right || p === undefined || p.ticket === null) {
        throw wrongSecret('ticket', p === undefined ? `no ticket principal '${authid}'` : p.ticket === null ? `the ticket of '${authid}' is unset` : null);
      }
      return { authid, role: p.role, realm: p.realm, method: 'ticket', provider: 'static', extra: {} };
    },
  };
}

/** WAMP-CRA: HMAC-SHA256 over a JSON challenge; salted secrets per the config's `salted_secret`. */
export async function wampcra(a: Attempt, cfg: NonNullable<TransportAuth['wampcra']>, pool: VerifyPool): Promise<Step> {
  let user: WampcraUser;
  let authid: string;
  let provider: 'static' | 'dynamic';
  let extra: Dict = {};
  let known = true;
  if (cfg.type === 'dynamic') {
    const p = await askAuthenticator(a, cfg);
    const id = dynamicIdentity(a, p);
    if (typeof p.secret !== 'string' || p.secret === '') throw new AuthFailure(Uri.AUTHENTICATION_FAILED, 'the dynamic authenticator returned no secret', false);
    const num = (k: string): number | null => (Number.isInteger(p[k]) && (p[k] as number) > 0 ? (p[k] as number) : null);
    user = { secret: p.secret, role: id.role, realm: id.realm, salt: typeof p.salt === 'string' ? p.salt : null, iterations: num('iterations'), keylen: num('keylen') };
    if (user.salt !== null) {
      // Autobahn's defaults when a salt comes without parameters (WAMP spec, "Salted Secrets").
      user.iterations ??= 1000;
      user.keylen ??= 32;
    }
    authid = id.authid;
    extra = id.extra;
    provider = 'dynamic';
  } else {
    authid = requireAuthid(a);
    const found = find(cfg.users, authid);
    known = found !== undefined;
    user = found ?? decoyUser(cfg.users, authid);
    provider = 'static';
  }
  // WAMP spec, "WAMP-CRA": the challenge is a JSON string naming the session it admits.
  const challenge = JSON.stringify({
    authid,
    authrole: user.role,
    authmethod: 'wampcra',
    authprovider: provider,
    session: a.sessionId,
    nonce: randomBytes(48).toString('base64'),
    timestamp: new Date().toISOString(),
  });
  const salted = user.salt !== null;
  const challengeExtra: Dict = salted ? { challenge, salt: user.salt, iterations: user.iterations, keylen: user.keylen } : { challenge };
  return {
    challenge: challengeExtra,
    authenticate: async (signature): Promise<Identity> => {
      // A null secret ("${VAR}" unset at startup) admits nobody; the client still got a challenge, as for any user.
      if (user.secret === null) throw wrongSecret('WAMP-CRA signature', `the secret of '${authid}' is unset`);
      const secret = user.secret;
      // derived_key: `secret` already is base64(PBKDF2(password)); password: derive it now, off this thread.
      const key = salted && cfg.salted_secret === 'password' ? await pool.pbkdf2(secret, user.salt!, user.iterations!, user.keylen!) : secret;
      const expected = createHmac('sha256', key).update(challenge).digest();
      const given = Buffer.from(signature, 'base64');
      if (given.length !== expected.length || !timingSafeEqual(given, expected) || !known) {
        throw wrongSecret('WAMP-CRA signature', known ? null : `no wampcra user '${authid}'`);
      }
      return { authid, role: user.role, realm: user.realm, method: 'wampcra', provider, extra };
    },
  };
}

/**
 * What an unknown WAMP-CRA authid is challenged with: the role, salting and PBKDF2 parameters of
 * a configured user it imitates, a salt of the same kind, and a secret nobody knows.
 */
function decoyUser(users: Record<string, WampcraUser>, authid: string): WampcraUser {
  const like = imitated(users, authid);
  const salted = like !== undefined && like.salt !== null;
  return {
    secret: decoyBytes(users, authid, 'secret').toString('base64'),
    role: like?.role ?? 'user',
    realm: null,
    salt: salted ? lookalike(users, authid, 'salt', like.salt!) : null,
    iterations: salted ? like.iterations : null,
    keylen: salted ? like.keylen : null,
  };
}

/** An anonymous authid in Crossbar's style: six groups of four base32 characters. */
export function anonymousAuthid(): string {
  return serialId(randomBytes(24));
}
