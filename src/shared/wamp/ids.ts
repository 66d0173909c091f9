import { getRandomValues } from 'node:crypto';

/** 2^53: the largest WAMP id (WAMP spec, "IDs"). */
export const MAX_ID = 2 ** 53;

const POOL = 1024;
const pool = new Uint32Array(POOL * 2);
let next = POOL; // exhausted: fill on first use

/**
 * A random global-scope id, uniformly drawn from [1, 2^53] (WAMP spec: session and
 * publication ids). Random words are drawn from the CSPRNG in blocks so that a publish does
 * not pay for a crypto call each time.
 */
export function randomId(): number {
  if (next === POOL) {
    getRandomValues(pool);
    next = 0;
  }
  const hi = pool[next * 2]! & 0x1fffff; // 21 bits
  const lo = pool[next * 2 + 1]!; // 32 bits
  next++;
  return hi * 0x100000000 + lo + 1; // [1, 2^53]
}

/** Valid id for a request/subscription/registration/session: integer in [min, 2^53]. */
export function isId(v: unknown, min = 1): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= MAX_ID;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/**
 * An authid in Crossbar's anonymous style from 24 bytes (random, or a keyed hash): six groups
 * of four Crockford base32 characters, e.g. `QWKN-EVF9-STW3-UUJ6-67KF-9UG4`.
 */
export function serialId(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 24; i++) {
    if (i > 0 && i % 4 === 0) s += '-';
    s += CROCKFORD[bytes[i]! & 31];
  }
  return s;
}
