/** WAMP-Cryptosign (WAMP advanced profile, "WAMP-Cryptosign"): Ed25519 challenge–response. */
import { randomBytes } from 'node:crypto';
import type { CryptosignPrincipal, TransportAuth } from '../../src/shared/config/auth.js';
import { Uri } from '../../src/shared/wamp/uris.js';
import type { VerifyPool } from './pool.js';
import { askAuthenticator, dynamicIdentity, find, wrongSecret } from './principal.js';
import { type Attempt, AuthFailure, type Identity, type Step } from './types.js';

const HEX64 = /^[0-9a-fA-F]{64}$/;

/** authorized key (hex) → authid, per static config (built once). */
const byKey = new WeakMap<object, Map<string, string>>();
function keyOwner(principals: Record<string, CryptosignPrincipal>, pubkey: string): string | undefined {
  let m = byKey.get(principals);
  if (m === undefined) {
    m = new Map();
    for (const [authid, p] of Object.entries(principals)) for (const k of p.authorized_keys) m.set(k, authid);
    byKey.set(principals, m);
  }
  return m.get(pubkey);
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ (b[i] ?? 0);
  return out;
}

export async function cryptosign(a: Attempt, cfg: NonNullable<TransportAuth['cryptosign']>, pool: VerifyPool): Promise<Step> {
  const x = a.authextra;
  if (typeof x.pubkey !== 'string' || !HEX64.test(x.pubkey)) {
    throw new AuthFailure(Uri.AUTHENTICATION_FAILED, 'cryptosign needs HELLO.Details.authextra.pubkey: an Ed25519 public key in hex');
  }
  // Channel binding (WAMP spec, "TLS Channel Binding"): the client signs challenge XOR channel id, so a
  // signature made for one TLS connection is worthless on another.
  const binding = x.channel_binding ?? null;
  let channelIds: Buffer[] | null = null;
  if (binding !== null) {
    if (binding !== 'tls-unique') throw new AuthFailure(Uri.AUTHENTICATION_FAILED, `channel binding '${String(binding)}' is not supported (only 'tls-unique')`, false);
    const ids = a.transport.tls?.tlsUnique ?? [];
    if (ids.length === 0) {
      throw new AuthFailure(
        Uri.AUTHENTICATION_FAILED,
        a.transport.secure
          ? "channel binding 'tls-unique' is not available on this transport: its TLS is terminated by uWebSockets.js, which does not expose the TLS Finished messages (transports with ca_certificates or auth.tls have it)"
          : "channel binding 'tls-unique' is not available: this transport is not TLS",
        false,
      );
    }
    channelIds = ids.map((h) => Buffer.from(h, 'hex'));
  }
  if (x.challenge !== undefined && x.challenge !== null) {
    throw new AuthFailure(Uri.AUTHENTICATION_FAILED, 'router authentication (authextra.challenge) is not supported: the router has no signing key', false);
  }
  if (x.trustroot !== undefined && x.trustroot !== null) {
    throw new AuthFailure(Uri.AUTHENTICATION_FAILED, 'trustroots (certificate chains) are not supported', false);
  }
  const pubkey = x.pubkey.toLowerCase();
  /** null: an unknown principal or key, challenged like a known one and failed like a wrong signature. */
  let identity: Identity | null;
  let unknown: string | null = null;
  if (cfg.type === 'dynamic') {
    const p = await askAuthenticator(a, cfg);
    if (typeof p.pubkey !== 'string' || p.pubkey.toLowerCase() !== pubkey) {
      throw new AuthFailure(Uri.AUTHENTICATION_FAILED, 'the dynamic authenticator did not confirm this public key');
    }
    const { pubkey: _omit, ...rest } = p;
    identity = dynamicIdentity(a, rest);
  } else {
    // The authid may be left out: the key names the principal (WAMP spec, "WAMP-Cryptosign").
    const authid = a.authid ?? keyOwner(cfg.principals, pubkey);
    const p = authid === undefined ? undefined : find(cfg.principals, authid);
    if (p === undefined) unknown = authid === undefined ? 'no cryptosign principal has this public key' : `no cryptosign principal '${authid}'`;
    else if (!p.authorized_keys.includes(pubkey)) unknown = `the public key is not authorized for '${authid}'`;
    identity = unknown === null ? { authid: authid!, role: p!.role, realm: p!.realm, method: 'cryptosign', provider: 'static', extra: {} } : null;
  }
  const challenge = randomBytes(32);
  return {
    challenge: { challenge: challenge.toString('hex'), channel_binding: binding },
    authenticate: async (signature): Promise<Identity> => {
      // AUTHENTICATE carries hex(signature(64) ‖ signed message(32)); a bare signature is accepted too.
      if (!/^[0-9a-fA-F]*$/.test(signature) || (signature.length !== 192 && signature.length !== 128)) {
        throw new AuthFailure(Uri.AUTHENTICATION_FAILED, 'the cryptosign signature must be 64 or 96 bytes in hex');
      }
      const raw = Buffer.from(signature, 'hex');
      // What the client must have signed: the challenge, or with channel binding the challenge XOR
      // this connection's channel id (tlsFacts: either accepted form).
      const expected = channelIds === null ? [challenge] : channelIds.map((id) => xor(challenge, id));
      const signed = raw.length === 96 ? expected.filter((m) => m.equals(raw.subarray(64))) : expected;
      if (signed.length === 0) {
        throw new AuthFailure(Uri.AUTHENTICATION_FAILED, channelIds === null ? 'the signed message is not the challenge' : 'the signed message is not the challenge bound to this TLS channel');
      }
      // Verified for an unknown key too: the same work, then the same ABORT.
      let valid = false;
      for (const m of signed) if (!valid) valid = await pool.ed25519(pubkey, m, raw.subarray(0, 64));
      if (!valid || identity === null) throw wrongSecret('cryptosign signature', unknown);
      return { ...identity, extra: { ...identity.extra, pubkey } };
    },
  };
}

