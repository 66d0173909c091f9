/**
 * A listening transport's `auth` (Crossbar.io's vocabulary, its docs' "Authentication"): every method's
 * config, validated key by key, with `${ENV}` secrets resolved at load time. The result is the
 * normalized form the realm workers get at startup (WorkerStartup.auth).
 */
import { REALM_NAME } from '../wamp/uris.js';

export interface DynamicAuth {
  type: 'dynamic';
  /** Procedure called as authenticator(realm, authid, details). */
  authenticator: string;
  /** Realm the authenticator is called on (null: the realm the client asked for). */
  'authenticator-realm': string | null;
}

export interface AnonymousStatic {
  type: 'static';
  role: string;
  /** Fixed authid (null: the client's, else a random one). */
  authid: string | null;
}

/** What every static principal shares: its role and, optionally, the realm it is admitted to. */
export interface PrincipalBase {
  role: string;
  realm: string | null;
}
export interface TicketPrincipal extends PrincipalBase {
  /** null: given as "${VAR}" with VAR unset (nobody can log in as this principal). */
  ticket: string | null;
}
export interface WampcraUser extends PrincipalBase {
  /** null: given as "${VAR}" with VAR unset (nobody can log in as this user). */
  secret: string | null;
  /** Salted secrets: all three present or none (Crossbar ≥ Feb 2025 rule). */
  salt: string | null;
  iterations: number | null;
  keylen: number | null;
}
export interface CryptosignPrincipal extends PrincipalBase {
  /** Ed25519 public keys, lower-case hex (64 characters). */
  authorized_keys: string[];
}
export interface TlsPrincipal extends PrincipalBase {
  /** SHA-1 of the client certificate (DER): upper-case hex pairs joined by ':', as Crossbar writes it. */
  'certificate-sha1': string;
}
export type ScramKdf = 'argon2id-13' | 'pbkdf2';
export interface ScramPrincipal extends PrincipalBase {
  kdf: ScramKdf;
  iterations: number;
  memory: number | null;
  salt: string;
  'stored-key': string;
  'server-key': string;
}

/**
 * How a salted WAMP-CRA `secret` is read: `derived_key` (Crossbar's docs and examples: the config
 * holds base64(PBKDF2(password)), the router never runs the KDF) or `password` (Crossbar's code
 * since Feb 2025: the router derives the key at every login, in the verification pool).
 */
export type SaltedSecret = 'derived_key' | 'password';

export interface TransportAuth {
  anonymous?: AnonymousStatic | DynamicAuth;
  ticket?: { type: 'static'; principals: Record<string, TicketPrincipal> } | DynamicAuth;
  wampcra?: ({ type: 'static'; users: Record<string, WampcraUser> } | DynamicAuth) & { salted_secret: SaltedSecret };
  cryptosign?: { type: 'static'; principals: Record<string, CryptosignPrincipal> } | DynamicAuth;
  scram?: { type: 'static'; principals: Record<string, ScramPrincipal> } | DynamicAuth;
  /** TLS client certificate authentication (Crossbar `tls`): needs endpoint.tls.ca_certificates. */
  tls?: { type: 'static'; principals: Record<string, TlsPrincipal> } | DynamicAuth;
  /** Crossbar's cookie authentication: `{}`, no options (Crossbar.io docs, "Cookie Authentication"); needs the transport's `cookie` tracking. */
  cookie?: Record<string, never>;
}
export type AuthMethodName = keyof TransportAuth;

export class AuthConfigError extends Error {
  override name = 'AuthConfigError';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const HEX64 = /^[0-9a-fA-F]{64}$/;
const URI = /^([^\s.#]+\.)*([^\s.#]+)$/;

function only(v: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) throw new AuthConfigError(`${path}.${k}: unknown key, or a feature Crosswire does not implement yet`);
  }
}

function str(v: unknown, path: string, what = 'a non-empty string'): string {
  if (typeof v !== 'string' || v === '') throw new AuthConfigError(`${path}: must be ${what}`);
  return v;
}

function optStr(v: unknown, path: string): string | null {
  return v === undefined || v === null ? null : str(v, path);
}

function posInt(v: unknown, path: string): number {
  if (!Number.isInteger(v) || (v as number) < 1) throw new AuthConfigError(`${path}: must be a positive integer`);
  return v as number;
}

/**
 * `${VARNAME}` → the variable's value (Crossbar allows this for tickets and WAMP-CRA secrets).
 * Unset (or empty): as Crossbar (checkconfig.maybe_from_env), a warning, and the principal
 * stays configured with no secret, so nobody can log in as it. A value that starts like a
 * reference but is not one (`${}`, `${1X}`, `${A-B}`, `${A`) is refused rather than taken as a literal.
 */
function secret(v: unknown, path: string, env: NodeJS.ProcessEnv, warnings: string[]): string | null {
  const s = str(v, path);
  if (!s.startsWith('${')) return s;
  const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(s);
  if (m === null) throw new AuthConfigError(`${path}: '${s}' is not an environment reference; write "\${NAME}" with NAME of letters, digits and _ (not starting with a digit)`);
  const value = env[m[1]!];
  if (value === undefined || value === '') {
    warnings.push(`${path}: environment variable ${m[1]} is not set: nobody can log in with this secret`);
    return null;
  }
  return value;
}

function principalBase(p: Record<string, unknown>, path: string): PrincipalBase {
  const realm = optStr(p.realm, `${path}.realm`);
  if (realm !== null && !REALM_NAME.test(realm)) throw new AuthConfigError(`${path}.realm: must match ${REALM_NAME}`);
  return { role: str(p.role, `${path}.role`), realm };
}

function table<T>(v: unknown, path: string, one: (p: Record<string, unknown>, path: string) => T): Record<string, T> {
  if (!isObject(v)) throw new AuthConfigError(`${path}: must be an object mapping authid to principal`);
  const out: Record<string, T> = {};
  for (const [authid, p] of Object.entries(v)) {
    const pp = `${path}.${authid}`;
    if (!isObject(p)) throw new AuthConfigError(`${pp}: must be an object`);
    out[authid] = one(p, pp);
  }
  return out;
}

function dynamic(c: Record<string, unknown>, path: string, extra: readonly string[] = []): DynamicAuth {
  only(c, ['type', 'authenticator', 'authenticator-realm', ...extra], path);
  const authenticator = str(c.authenticator, `${path}.authenticator`, 'a procedure URI');
  if (!URI.test(authenticator)) throw new AuthConfigError(`${path}.authenticator: '${authenticator}' is not a valid URI`);
  const realm = optStr(c['authenticator-realm'], `${path}.authenticator-realm`);
  return { type: 'dynamic', authenticator, 'authenticator-realm': realm };
}

function method(m: string, c: Record<string, unknown>, path: string, env: NodeJS.ProcessEnv, warnings: string[]): TransportAuth[AuthMethodName] {
  const type = c.type;
  if (type !== 'static' && type !== 'dynamic') {
    throw new AuthConfigError(`${path}.type: must be "static" or "dynamic"${type === 'function' ? ' ("function" authenticators are Python-only)' : ''}`);
  }
  switch (m) {
    case 'anonymous':
      if (type === 'dynamic') return dynamic(c, path);
      only(c, ['type', 'role', 'authid'], path);
      return { type, role: c.role === undefined ? 'anonymous' : str(c.role, `${path}.role`), authid: optStr(c.authid, `${path}.authid`) };
    case 'ticket':
      if (type === 'dynamic') return dynamic(c, path);
      only(c, ['type', 'principals'], path);
      return {
        type,
        principals: table(c.principals, `${path}.principals`, (p, pp) => {
          only(p, ['ticket', 'role', 'realm'], pp);
          return { ...principalBase(p, pp), ticket: secret(p.ticket, `${pp}.ticket`, env, warnings) };
        }),
      };
    case 'wampcra': {
      const salted = c.salted_secret ?? 'derived_key';
      if (salted !== 'derived_key' && salted !== 'password') {
        throw new AuthConfigError(`${path}.salted_secret: must be "derived_key" (default) or "password"`);
      }
      if (type === 'dynamic') return { ...dynamic(c, path, ['salted_secret']), salted_secret: salted };
      only(c, ['type', 'users', 'salted_secret'], path);
      const users = table(c.users, `${path}.users`, (p, pp) => {
        only(p, ['secret', 'role', 'realm', 'salt', 'iterations', 'keylen'], pp);
        const salt = optStr(p.salt, `${pp}.salt`);
        const iterations = p.iterations === undefined ? null : posInt(p.iterations, `${pp}.iterations`);
        const keylen = p.keylen === undefined ? null : posInt(p.keylen, `${pp}.keylen`);
        const given = [salt, iterations, keylen].filter((x) => x !== null).length;
        if (given !== 0 && given !== 3) throw new AuthConfigError(`${pp}: a salted secret needs all of salt, iterations and keylen`);
        return { ...principalBase(p, pp), secret: secret(p.secret, `${pp}.secret`, env, warnings), salt, iterations, keylen };
      });
      return { type, users, salted_secret: salted };
    }
    case 'cryptosign': {
      if (type === 'dynamic') return dynamic(c, path);
      if ('trustroots' in c) throw new AuthConfigError(`${path}.trustroots: certificate trustroots are not implemented (use principals)`);
      only(c, ['type', 'principals'], path);
      const owner = new Map<string, string>();
      const principals = table(c.principals, `${path}.principals`, (p, pp) => {
        only(p, ['authorized_keys', 'role', 'realm'], pp);
        const keys = p.authorized_keys;
        if (!Array.isArray(keys) || keys.length === 0) throw new AuthConfigError(`${pp}.authorized_keys: must be a non-empty list`);
        const hex = keys.map((k, i) => {
          if (typeof k !== 'string' || !HEX64.test(k)) throw new AuthConfigError(`${pp}.authorized_keys[${i}]: must be an Ed25519 public key in hex (64 characters)`);
          const lower = k.toLowerCase();
          const other = owner.get(lower);
          if (other !== undefined && other !== pp) throw new AuthConfigError(`${pp}.authorized_keys[${i}]: the key is also authorized for ${other}`);
          owner.set(lower, pp);
          return lower;
        });
        return { ...principalBase(p, pp), authorized_keys: hex };
      });
      return { type, principals };
    }
    case 'tls': {
      if (type === 'dynamic') return dynamic(c, path);
      only(c, ['type', 'principals'], path);
      const owner = new Map<string, string>();
      const principals = table(c.principals, `${path}.principals`, (p, pp) => {
        only(p, ['certificate-sha1', 'role', 'realm'], pp);
        const fp = certificateSha1(p['certificate-sha1'], `${pp}.certificate-sha1`);
        const other = owner.get(fp);
        if (other !== undefined) throw new AuthConfigError(`${pp}.certificate-sha1: the certificate is also the one of ${other}`);
        owner.set(fp, pp);
        return { ...principalBase(p, pp), 'certificate-sha1': fp };
      });
      return { type, principals };
    }
    case 'scram':
      if (type === 'dynamic') return dynamic(c, path);
      only(c, ['type', 'principals'], path);
      return { type, principals: table(c.principals, `${path}.principals`, (p, pp) => scramPrincipal(p, pp)) };
    default:
      throw new AuthConfigError(`${path}: unknown authentication method '${m}'`);
  }
}

/**
 * A certificate's SHA-1 fingerprint as Crossbar compares it (`openssl x509 -fingerprint -sha1`:
 * upper-case hex pairs joined by ':'); lower case and no colons are accepted and normalized.
 */
function certificateSha1(v: unknown, path: string): string {
  const hex = typeof v === 'string' ? v.replace(/:/g, '') : '';
  if (!/^[0-9a-fA-F]{40}$/.test(hex) || (typeof v === 'string' && v.includes(':') && !/^([0-9a-fA-F]{2}:){19}[0-9a-fA-F]{2}$/.test(v))) {
    throw new AuthConfigError(`${path}: must be the certificate's SHA-1 fingerprint, e.g. "B6:E5:E6:F2:2A:86:DB:3C:DC:9F:51:42:58:39:9B:14:92:5D:A1:EB" (openssl x509 -noout -fingerprint -sha1)`);
  }
  return hex.toUpperCase().match(/../g)!.join(':');
}

/** Crossbar's KDF names and the spec's: argon2id-13 / argon2id13, pbkdf2. */
export function scramKdf(v: unknown): ScramKdf | null {
  if (v === 'argon2id-13' || v === 'argon2id13') return 'argon2id-13';
  return v === 'pbkdf2' ? 'pbkdf2' : null;
}


/** A SCRAM principal (static config, or what a dynamic authenticator returns). */
export function scramPrincipal(p: Record<string, unknown>, path: string): ScramPrincipal {
  only(p, ['kdf', 'iterations', 'memory', 'salt', 'stored-key', 'server-key', 'role', 'realm'], path);
  const kdf = scramKdf(p.kdf);
  if (kdf === null) throw new AuthConfigError(`${path}.kdf: must be "argon2id-13" (or "argon2id13") or "pbkdf2"`);
  const memory = kdf === 'argon2id-13' ? posInt(p.memory, `${path}.memory`) : null;
  if (kdf === 'pbkdf2' && p.memory !== undefined) throw new AuthConfigError(`${path}.memory: only for argon2id-13`);
  const key = (k: 'stored-key' | 'server-key'): string => {
    const v = p[k];
    if (typeof v !== 'string' || !HEX64.test(v)) throw new AuthConfigError(`${path}.${k}: must be 32 bytes in hex (64 characters)`);
    return v.toLowerCase();
  };
  return {
    ...principalBase(p, path),
    kdf,
    iterations: posInt(p.iterations, `${path}.iterations`),
    memory,
    salt: str(p.salt, `${path}.salt`, 'the salt as sent to clients (base64)'),
    'stored-key': key('stored-key'),
    'server-key': key('server-key'),
  };
}

/**
 * Validates a transport's `auth` dict; `null` (no `auth`) is anonymous as role "anonymous".
 * What starts but needs saying (unset "${VAR}" secrets) is pushed to `warnings`.
 */
export function checkAuth(v: Record<string, unknown> | null, path: string, env: NodeJS.ProcessEnv, warnings: string[] = []): TransportAuth {
  if (v === null) return { anonymous: { type: 'static', role: 'anonymous', authid: null } };
  const out: Record<string, unknown> = {};
  if (Object.keys(v).length === 0) throw new AuthConfigError(`${path}: enables no method (remove it for anonymous access)`);
  for (const [m, c] of Object.entries(v)) {
    if (!isObject(c)) throw new AuthConfigError(`${path}.${m}: must be an object`);
    if (m === 'cookie') {
      // Crossbar: `cookie: {}` takes no options.
      only(c, [], `${path}.cookie`);
      out.cookie = {};
      continue;
    }
    out[m] = method(m, c, `${path}.${m}`, env, warnings);
  }
  return out as TransportAuth;
}

/** Every (role, realm, path) a transport's static config refers to, for cross-checks against the realms. */
export function staticRoles(auth: TransportAuth, path: string): { role: string; realm: string | null; path: string }[] {
  const refs: { role: string; realm: string | null; path: string }[] = [];
  for (const [m, c] of Object.entries(auth) as [AuthMethodName, NonNullable<TransportAuth[AuthMethodName]>][]) {
    if (m === 'cookie' || (c as { type: string }).type !== 'static') continue;
    if (m === 'anonymous') refs.push({ role: (c as AnonymousStatic).role, realm: null, path: `${path}.anonymous.role` });
    const principals = (c as { principals?: Record<string, PrincipalBase>; users?: Record<string, PrincipalBase> });
    const tableName = m === 'wampcra' ? 'users' : 'principals';
    for (const [authid, p] of Object.entries(principals[tableName] ?? {})) {
      refs.push({ role: p.role, realm: p.realm, path: `${path}.${m}.${tableName}.${authid}` });
    }
  }
  return refs;
}
