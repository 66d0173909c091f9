/**
 * TLS client certificate authentication (Crossbar's `tls` method): the certificate the client
 * presented in the TLS handshake, verified against the transport's ca_certificates by the TLS
 * front (src/transport/front.ts), names the principal. No CHALLENGE: the proof was the handshake.
 */
import type { TlsPrincipal, TransportAuth } from '../../src/shared/config/auth.js';
import { Uri } from '../../src/shared/wamp/uris.js';
import { askAuthenticator, dynamicIdentity } from './principal.js';
import { type Attempt, AuthFailure, type Step } from './types.js';

/** certificate-sha1 → authid, per static config (built once). */
const bySha1 = new WeakMap<object, Map<string, string>>();
function owner(principals: Record<string, TlsPrincipal>, sha1: string): string | undefined {
  let m = bySha1.get(principals);
  if (m === undefined) {
    m = new Map(Object.entries(principals).map(([authid, p]) => [p['certificate-sha1'], authid]));
    bySha1.set(principals, m);
  }
  return m.get(sha1);
}

export async function tlsCertificate(a: Attempt, cfg: NonNullable<TransportAuth['tls']>): Promise<Step> {
  const cert = a.transport.tls?.peerCert ?? null;
  if (cert === null) throw new AuthFailure(Uri.AUTHENTICATION_FAILED, 'client did not send a TLS client certificate', false);
  if (cfg.type === 'dynamic') {
    // Crossbar: authenticator(realm, authid, details) with the certificate in details.transport.peer_cert.
    return { identity: dynamicIdentity(a, await askAuthenticator(a, cfg)) };
  }
  // Crossbar: the principal whose certificate-sha1 the certificate has; its key is the authid
  // (whatever authid HELLO asked for).
  const authid = owner(cfg.principals, cert.sha1);
  if (authid === undefined) throw new AuthFailure(Uri.AUTHENTICATION_FAILED, `no principal has the TLS client certificate ${cert.sha1}`, false);
  const p = cfg.principals[authid]!;
  return { identity: { authid, role: p.role, realm: p.realm, method: 'tls', provider: 'static', extra: {} } };
}
