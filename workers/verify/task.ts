/**
 * The verification pool's task (runs in Piscina threads, never on the main thread or a realm
 * worker): the CPU-heavy parts of a login. Inputs and outputs are plain values so they clone cheaply.
 */
import { createPublicKey, pbkdf2Sync, verify } from 'node:crypto';

export type VerifyTask =
  /** Ed25519 (RFC 8032) signature of `message` by the raw 32-byte public key `pubkey` (hex). */
  | { op: 'ed25519'; pubkey: string; message: Uint8Array; signature: Uint8Array }
  /** WAMP-CRA salted key: base64(PBKDF2-HMAC-SHA256(password, salt, iterations, keylen)) (WAMP spec, "WAMP-CRA"). */
  | { op: 'pbkdf2'; password: string; salt: string; iterations: number; keylen: number };

export function runTask(t: VerifyTask): boolean | string {
  switch (t.op) {
    case 'ed25519': {
      const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(t.pubkey, 'hex').toString('base64url') }, format: 'jwk' });
      return verify(null, t.message, key, t.signature);
    }
    case 'pbkdf2':
      return pbkdf2Sync(t.password, t.salt, t.iterations, t.keylen, 'sha256').toString('base64');
  }
}

export default runTask;
