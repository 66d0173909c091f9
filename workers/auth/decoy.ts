/**
 * Decoy principals, against principal enumeration. A static method asked for an authid it does
 * not know answers as it would for a known one: a CHALLENGE at once, shaped like a configured
 * principal's, then the same work and the same ABORT as a wrong secret at AUTHENTICATE. The decoy
 * is derived from the authid with a key hashed from the whole principal table (secrets included,
 * so nobody outside can compute it): the same authid gets the same salt, iterations and role on
 * every try, on every worker and after a restart, as a real principal would.
 */
import { createHash, createHmac } from 'node:crypto';

interface Table {
  key: Buffer;
  /** The configured authids, sorted (which principal a decoy imitates). */
  ids: string[];
}

const tables = new WeakMap<object, Table>();

function table(principals: Record<string, unknown>): Table {
  let t = tables.get(principals);
  if (t === undefined) {
    t = { key: createHash('sha256').update('crosswire decoy principal\0').update(JSON.stringify(principals)).digest(), ids: Object.keys(principals).sort() };
    tables.set(principals, t);
  }
  return t;
}

/** `n` bytes that only the table's key yields for (authid, purpose). */
export function decoyBytes(principals: Record<string, unknown>, authid: string, purpose: string, n = 32): Buffer {
  const { key } = table(principals);
  const parts: Buffer[] = [];
  for (let i = 0, have = 0; have < n; i++) {
    const b = createHmac('sha256', key).update(`${purpose}\0${i}\0${authid}`).digest();
    parts.push(b);
    have += b.length;
  }
  return Buffer.concat(parts).subarray(0, n);
}

/** The configured principal an unknown authid imitates (the same one each time), or undefined if none is configured. */
export function imitated<T>(principals: Record<string, T>, authid: string): T | undefined {
  const { ids } = table(principals);
  if (ids.length === 0) return undefined;
  return principals[ids[decoyBytes(principals, authid, 'imitated', 4).readUInt32BE(0) % ids.length]!];
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A string of the same kind and length as `like` (hex, base64 of as many bytes, or letters and digits), stable per authid. */
export function lookalike(principals: Record<string, unknown>, authid: string, purpose: string, like: string): string {
  if (/^[0-9a-f]+$/.test(like)) return decoyBytes(principals, authid, purpose, Math.ceil(like.length / 2)).toString('hex').slice(0, like.length);
  if (like.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(like)) {
    return decoyBytes(principals, authid, purpose, Buffer.from(like, 'base64').length).toString('base64');
  }
  const b = decoyBytes(principals, authid, purpose, like.length);
  let s = '';
  for (const x of b) s += ALNUM[x % ALNUM.length];
  return s;
}
