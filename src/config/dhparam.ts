/**
 * `endpoint.tls.dhparam`: finite-field Diffie-Hellman parameters in PEM, for the DHE cipher suites
 * (Crossbar.io loads the file with Twisted's DiffieHellmanParameters.fromFile and fails to start
 * if it cannot). A `DH PARAMETERS` block (PKCS #3 DHParameter: SEQUENCE { prime INTEGER, base
 * INTEGER, ... }, what `openssl dhparam` and `openssl genpkey -genparam -algorithm DH` write) or an
 * `X9.42 DH PARAMETERS` block (RFC 3279 DomainParameters: SEQUENCE { p, g, q, ... }, what
 * `openssl dhparam -dsaparam` writes); OpenSSL reads the first such block of the file.
 *
 * Checked here, not left to Node.js: Node's tls.createSecureContext({ dhparam }) silently discards
 * parameters OpenSSL cannot parse (Node 20: "Invalid dhparam is silently discarded and DHE is no
 * longer used"), so a wrong file would only show as clients failing their handshake.
 */
import { readFileSync } from 'node:fs';

/** Node.js refuses smaller primes ("DH parameter is less than 1024 bits"). */
export const DH_MIN_BITS = 1024;

const PEM = /-----BEGIN (X9\.42 )?DH PARAMETERS-----([A-Za-z0-9+/=\s]*)-----END \1DH PARAMETERS-----/;

/** The INTEGERs of a DER SEQUENCE (other elements skipped), or null if `der` is not one SEQUENCE. */
function derIntegers(der: Buffer): Buffer[] | null {
  let i = 0;
  const length = (): number | null => {
    const b = der[i++];
    if (b === undefined) return null;
    if (b < 0x80) return b;
    const n = b & 0x7f;
    if (n === 0 || n > 4) return null;
    let l = 0;
    for (let k = 0; k < n; k++) {
      const x = der[i++];
      if (x === undefined) return null;
      l = l * 256 + x;
    }
    return l;
  };
  if (der[i++] !== 0x30) return null;
  const seq = length();
  if (seq === null || i + seq !== der.length) return null;
  const ints: Buffer[] = [];
  while (i < der.length) {
    const tag = der[i++];
    const l = length();
    if (l === null || i + l > der.length) return null;
    if (tag === 0x02) ints.push(der.subarray(i, i + l));
    i += l;
  }
  return ints;
}

/** Bits of a non-negative DER INTEGER's value. */
function bits(n: Buffer): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  return i === n.length ? 0 : (n.length - i - 1) * 8 + (32 - Math.clz32(n[i]!));
}

/**
 * The PEM text of `text`'s DH parameters and their size, or why they are not usable: no DH
 * PARAMETERS block, not a DER sequence of a prime and a generator, or a prime under 1024 bits.
 */
export function parseDhparam(text: string): { pem: string; bits: number } | { problem: string } {
  const m = PEM.exec(text);
  if (m === null) return { problem: 'has no "-----BEGIN DH PARAMETERS-----" block (make one with `openssl dhparam -out dhparam.pem 2048`)' };
  const ints = derIntegers(Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64'));
  const [p, g] = ints ?? [];
  if (p === undefined || g === undefined || (p[0]! & 0x80) !== 0 || (p[p.length - 1]! & 1) === 0 || bits(g) < 2) {
    return { problem: 'is not DH parameters: its PEM block is not a sequence of an odd prime and a generator' };
  }
  const size = bits(p);
  if (size < DH_MIN_BITS) return { problem: `holds ${size}-bit DH parameters; Node.js's TLS needs at least ${DH_MIN_BITS} (2048 or more is recommended)` };
  return { pem: m[0], bits: size };
}

/**
 * Reads and checks a dhparam file. Throws an Error whose message starts with `at` (the key, as
 * the caller names it): `<at>: cannot read <file>: …` or `<at>: <file> is not …`.
 */
export function readDhparam(file: string, at: string, wrap: (message: string) => Error = (m) => new Error(m)): { pem: string; bits: number } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw wrap(`${at}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const r = parseDhparam(text);
  if ('problem' in r) throw wrap(`${at}: ${file} ${r.problem}`);
  return r;
}
