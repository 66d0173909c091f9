import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Files of a test PKI made with the openssl command line: root CA → intermediate → server; client certs. */
export interface Pki {
  dir: string;
  rootCert: string;
  interCert: string;
  serverKey: string;
  serverCert: string;
  clientKey: string;
  clientCert: string;
  strangerKey: string;
  strangerCert: string;
  /** DH parameters (RFC 7919's ffdhe2048 group, as `openssl genpkey -genparam` writes it: instant, unlike `openssl dhparam`). */
  dhparam: string;
  read(file: string): Buffer;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Makes a fresh PKI in a temporary directory (EC keys, but an RSA server key; and DH parameters). */
export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'crosswire-pki-'));
  const key = (name: string) => openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`], dir);
  const csr = (name: string, cn: string) => openssl(['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`], dir);
  writeFileSync(join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  writeFileSync(join(dir, 'server.ext'), 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  const sign = (name: string, ca: string, ext: string) =>
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', `${name}.crt`], dir);
  key('root');
  openssl(['req', '-x509', '-new', '-key', 'root.key', '-subj', '/CN=Crosswire Test Root', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'root.crt'], dir);
  key('inter');
  csr('inter', 'Crosswire Test Intermediate');
  sign('inter', 'root', 'ca.ext');
  // RSA: Crossbar's default cipher list (TLS 1.2) has only RSA key exchange suites.
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'server.key'], dir);
  csr('server', 'localhost');
  sign('server', 'inter', 'server.ext');
  key('client');
  csr('client', 'client1');
  sign('client', 'root', 'client.ext');
  key('stranger');
  openssl(['req', '-x509', '-new', '-key', 'stranger.key', '-subj', '/CN=stranger', '-days', '2', '-out', 'stranger.crt'], dir);
  openssl(['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'group:ffdhe2048', '-out', 'dhparam.pem'], dir);
  const f = (n: string) => join(dir, n);
  return {
    dir,
    rootCert: f('root.crt'),
    interCert: f('inter.crt'),
    serverKey: f('server.key'),
    serverCert: f('server.crt'),
    clientKey: f('client.key'),
    clientCert: f('client.crt'),
    strangerKey: f('stranger.key'),
    strangerCert: f('stranger.crt'),
    dhparam: f('dhparam.pem'),
    read: (file: string) => readFileSync(file),
  };
}
