import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as UWS from 'uWebSockets.js';
import { readDhparam } from '../config/dhparam.js';
import type { TlsConfig } from '../config/load.js';
import type { TemplatedApp } from '../uws.js';

function read(file: string, key: string, transportId: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`transport ${transportId}: endpoint.tls.${key}: cannot read ${file}: ${(e as Error).message}`);
  }
}

/**
 * A uWS SSLApp for a Crossbar `tls` endpoint. uSockets takes one file per role, so the
 * certificate and `chain_certificates` are concatenated into one chain file and the
 * `ca_certificates` into one CA file (public material only; the key file is used as is) in a
 * private temporary directory that is removed once the app has loaded them. With a CA file
 * uSockets requests a client certificate and verifies one that is presented
 * (SSL_VERIFY_PEER, as Crossbar: a client without a certificate is still admitted).
 */
export function sslApp(uws: typeof UWS, tls: TlsConfig, transportId: string): TemplatedApp {
  const dir = mkdtempSync(join(tmpdir(), 'crosswire-tls-'));
  try {
    read(tls.key, 'key', transportId);
    // Not used (BoringSSL has no DHE; load.ts warns), but a file that is missing or not DH
    // parameters is refused as where Node.js applies it, and as Crossbar, which fails to start.
    if (tls.dhparam !== null) readDhparam(tls.dhparam, `transport ${transportId}: endpoint.tls.dhparam`);
    const chain = [read(tls.certificate, 'certificate', transportId), ...tls.chainCertificates.map((f) => read(f, 'chain_certificates', transportId))];
    const options: UWS.AppOptions = { key_file_name: tls.key, cert_file_name: join(dir, 'chain.pem'), ssl_ciphers: tls.ciphers };
    writeFileSync(options.cert_file_name as string, chain.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join(''), { mode: 0o600 });
    if (tls.caCertificates.length > 0) {
      const cas = tls.caCertificates.map((f) => read(f, 'ca_certificates', transportId));
      options.ca_file_name = join(dir, 'ca.pem');
      writeFileSync(options.ca_file_name as string, cas.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join(''), { mode: 0o600 });
    }
    try {
      return uws.SSLApp(options);
    } catch (e) {
      throw new Error(
        `transport ${transportId}: endpoint.tls: uWebSockets.js could not build a TLS context (${(e as Error).message}): ` +
          'check that key and certificate are PEM and belong together, and that ciphers names at least one suite BoringSSL has (no DHE)',
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
