/** Client-side credentials for the authentication tests: what a real client computes. */
import { createHash, createHmac, generateKeyPairSync, pbkdf2Sync } from 'node:crypto';
import { argon2id } from 'hash-wasm';

export interface Ed25519Key {
  /** hex, as in authorized_keys and authextra.pubkey */
  pubkey: string;
  /** tweetnacl's key pair shape, as AutobahnJS's auth_cryptosign.sign_challenge takes it */
  pkey: { publicKey: Uint8Array; secretKey: Uint8Array };
}

export function ed25519Key(): Ed25519Key {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const pub = Buffer.from(jwk.x!, 'base64url');
  const seed = Buffer.from(jwk.d!, 'base64url');
  return { pubkey: pub.toString('hex'), pkey: { publicKey: new Uint8Array(pub), secretKey: new Uint8Array(Buffer.concat([seed, pub])) } };
}

export interface ScramCredential {
  kdf: 'argon2id-13' | 'pbkdf2';
  iterations: number;
  memory?: number;
  salt: string;
  'stored-key': string;
  'server-key': string;
}

/**
 * SaltedPassword as Autobahn|Python computes it: argon2id-13 → the unpadded base64 text of the
 * raw 32-byte hash (salt base64-decoded); pbkdf2 → the raw 32 bytes (salt base64-decoded).
 */
export async function saltedPassword(password: string, kdf: 'argon2id-13' | 'pbkdf2', salt: string, iterations: number, memory = 0): Promise<Buffer> {
  const saltBytes = Buffer.from(salt, 'base64');
  if (kdf === 'pbkdf2') return pbkdf2Sync(password, saltBytes, iterations, 32, 'sha256');
  const raw = await argon2id({ password, salt: saltBytes, parallelism: 1, iterations, memorySize: memory, hashLength: 32, outputType: 'binary' });
  return Buffer.from(Buffer.from(raw).toString('base64').replace(/=+$/, ''), 'ascii');
}

export async function scramCredential(password: string, kdf: 'argon2id-13' | 'pbkdf2', salt: string, iterations: number, memory?: number): Promise<ScramCredential> {
  const sp = await saltedPassword(password, kdf, salt, iterations, memory);
  const clientKey = createHmac('sha256', sp).update('Client Key').digest();
  return {
    kdf,
    iterations,
    ...(memory === undefined ? {} : { memory }),
    salt,
    'stored-key': createHash('sha256').update(clientKey).digest('hex'),
    'server-key': createHmac('sha256', sp).update('Server Key').digest('hex'),
  };
}

/** The SCRAM client's answer to a CHALLENGE: base64 ClientProof and the expected server signature. */
export async function scramProof(
  password: string,
  authid: string,
  clientNonce: string,
  extra: { nonce: string; salt: string; kdf: string; iterations: number; memory?: number },
  spec = false,
): Promise<{ proof: string; serverSignature: string }> {
  const kdf = extra.kdf === 'pbkdf2' ? 'pbkdf2' : 'argon2id-13';
  const sp = await saltedPassword(password, kdf, extra.salt, extra.iterations, extra.memory);
  const authMessage = `n=${authid},r=${clientNonce},r=${extra.nonce},s=${extra.salt},i=${extra.iterations},c=${spec ? 'biws' : ''},r=${extra.nonce}`;
  const clientKey = createHmac('sha256', sp).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const sig = createHmac('sha256', storedKey).update(authMessage).digest();
  for (let i = 0; i < 32; i++) sig[i]! ^= clientKey[i]!;
  const serverKey = createHmac('sha256', sp).update('Server Key').digest();
  return { proof: sig.toString('base64'), serverSignature: createHmac('sha256', serverKey).update(authMessage).digest('base64') };
}
