/**
 * WAMP-SCRAM (WAMP advanced profile draft, "WAMP-SCRAM"; RFC 5802 with SHA-256). The router
 * stores only StoredKey and ServerKey, so it never runs the KDF: checking a proof is one HMAC
 * and one SHA-256. Crossbar's flavour (authmethod `scram`, KDF `argon2id-13`, WELCOME
 * `scram_server_signature`, AuthMessage `c=` without channel binding — what Autobahn|Python
 * computes) and the spec's (`wamp-scram`, `argon2id13`, `verifier`, `c=biws`) are both spoken,
 * each to the client that offered it.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthConfigError, type ScramPrincipal, scramPrincipal, type TransportAuth } from '../../src/shared/config/auth.js';
import { Uri } from '../../src/shared/wamp/uris.js';
import { decoyBytes, imitated, lookalike } from './decoy.js';
import { askAuthenticator, dynamicIdentity, find, requireAuthid, wrongSecret } from './principal.js';
import { type Attempt, AuthFailure, type Identity, type Step } from './types.js';

export async function scram(a: Attempt, cfg: NonNullable<TransportAuth['scram']>): Promise<Step> {
  const spec = a.method === 'wamp-scram';
  const authid = requireAuthid(a);
  const clientNonce = a.authextra.nonce;
  if (typeof clientNonce !== 'string' || clientNonce === '' || /[,\s]/.test(clientNonce)) {
    throw new AuthFailure(Uri.AUTHENTICATION_FAILED, 'SCRAM needs HELLO.Details.authextra.nonce (base64)');
  }
  const cb = a.authextra.channel_binding;
  if (cb !== undefined && cb !== null) {
    throw new AuthFailure(Uri.AUTHENTICATION_FAILED, `channel binding '${String(cb)}' is not available: this transport is not TLS`, false);
  }
  let p: ScramPrincipal;
  let base: Identity;
  let known = true;
  if (cfg.type === 'dynamic') {
    const d = await askAuthenticator(a, cfg);
    base = dynamicIdentity(a, d);
    const { authid: _a, extra: _e, ...principal } = d;
    try {
      p = scramPrincipal(principal, 'the dynamic authenticator result');
    } catch (e) {
      if (e instanceof AuthConfigError) throw new AuthFailure(Uri.AUTHENTICATION_FAILED, e.message, false);
      throw e;
    }
  } else {
    // An unknown authid is challenged like a known one (a decoy), and fails like a wrong password.
    const found = find(cfg.principals, authid);
    known = found !== undefined;
    p = found ?? decoyPrincipal(cfg.principals, authid);
    base = { authid, role: p.role, realm: p.realm, method: a.method, provider: 'static', extra: {} };
  }
  const nonce = clientNonce + randomBytes(16).toString('base64');
  const challenge: Record<string, unknown> = {
    nonce,
    salt: p.salt,
    kdf: p.kdf === 'pbkdf2' ? 'pbkdf2' : spec ? 'argon2id13' : 'argon2id-13',
    iterations: p.iterations,
  };
  if (p.memory !== null) challenge.memory = p.memory;
  const authMessage = `n=${authid},r=${clientNonce},r=${nonce},s=${p.salt},i=${p.iterations},c=${spec ? 'biws' : ''},r=${nonce}`;
  const storedKey = Buffer.from(p['stored-key'], 'hex');
  const serverKey = Buffer.from(p['server-key'], 'hex');
  return {
    challenge,
    authenticate: async (signature): Promise<Identity> => {
      const proof = Buffer.from(signature, 'base64');
      if (proof.length !== 32) throw new AuthFailure(Uri.AUTHENTICATION_FAILED, 'the SCRAM proof must be 32 bytes in base64');
      // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); it must hash to StoredKey.
      const clientSignature = createHmac('sha256', storedKey).update(authMessage).digest();
      for (let i = 0; i < 32; i++) clientSignature[i]! ^= proof[i]!;
      const hashed = createHash('sha256').update(clientSignature).digest();
      if (!timingSafeEqual(hashed, storedKey) || !known) throw wrongSecret('SCRAM proof', known ? null : `no scram principal '${authid}'`);
      const serverSignature = createHmac('sha256', serverKey).update(authMessage).digest('base64');
      return { ...base, extra: { ...base.extra, [spec ? 'verifier' : 'scram_server_signature']: serverSignature } };
    },
  };
}

/**
 * What an unknown authid is challenged with: the KDF, iterations and memory of a configured
 * principal it imitates (Autobahn's argon2id defaults when none is configured), a salt of the same
 * size, and keys nobody knows.
 */
function decoyPrincipal(principals: Record<string, ScramPrincipal>, authid: string): ScramPrincipal {
  const like = imitated(principals, authid);
  return {
    role: like?.role ?? 'user',
    realm: null,
    kdf: like?.kdf ?? 'argon2id-13',
    iterations: like?.iterations ?? 4096,
    memory: like === undefined ? 512 : like.memory,
    salt: lookalike(principals, authid, 'salt', like?.salt ?? 'AAAAAAAAAAAAAAAAAAAAAA=='),
    'stored-key': decoyBytes(principals, authid, 'stored-key').toString('hex'),
    'server-key': decoyBytes(principals, authid, 'server-key').toString('hex'),
  };
}
