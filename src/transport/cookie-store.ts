// The cookie store's records and the in-memory store that the file, database and NATS stores
// build on (src/transport/cookies.ts, cookies-nats.ts).

/** What is stored per tracking cookie (Crossbar's cookie store fields). */
export interface CookieRecord {
  id: string;
  /** ms since the epoch */
  created: number;
  /** seconds */
  max_age: number;
  authid: string | null;
  authrole: string | null;
  authmethod: string | null;
  authrealm: string | null;
  authextra: Record<string, unknown> | null;
}

/** True when the record has outlived its max_age at `now` (ms). */
export function expired(rec: CookieRecord, now: number): boolean {
  return rec.created + rec.max_age * 1000 <= now;
}

/**
 * A record worth keeping: the cookie authenticated someone by a method other than anonymous.
 * Anonymous and unauthenticated cookies are never stored: every cookieless connection would add
 * a record that nothing removes.
 */
export function authenticates(rec: CookieRecord): boolean {
  return rec.authid !== null && rec.authrole !== null && rec.authrealm !== null && rec.authmethod !== 'anonymous';
}

/**
 * A cookie store: the records of cookies that authenticated someone. Lookups are synchronous
 * (they happen inside the uWS upgrade callback).
 */
export interface CookieStore {
  get(id: string): CookieRecord | undefined;
  put(rec: CookieRecord): void;
  delete(id: string): void;
  /** Forgets expired records (and any that authenticate nothing); how many went. */
  purge(now: number): number;
  /** Records held. */
  readonly size: number;
  /** Every record held. */
  records(): Iterable<CookieRecord>;
  close(): Promise<void>;
}

export class MemoryStore implements CookieStore {
  readonly map = new Map<string, CookieRecord>();
  get(id: string): CookieRecord | undefined {
    return this.map.get(id);
  }
  put(rec: CookieRecord): void {
    this.map.set(rec.id, rec);
  }
  delete(id: string): void {
    this.map.delete(id);
  }
  purge(now: number): number {
    let n = 0;
    for (const rec of this.map.values()) {
      if (expired(rec, now) || !authenticates(rec)) {
        this.map.delete(rec.id);
        n++;
      }
    }
    return n;
  }
  get size(): number {
    return this.map.size;
  }
  records(): Iterable<CookieRecord> {
    return this.map.values();
  }
  async close(): Promise<void> {}
}
