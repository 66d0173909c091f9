import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, type WriteStream, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CookieConfig, CookieStoreConfig } from '../config/load.js';

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

export type CookieAuth = Pick<CookieRecord, 'authid' | 'authrole' | 'authmethod' | 'authrealm' | 'authextra'>;

/** A cookie store. Lookups are synchronous (they happen inside the uWS upgrade callback). */
export interface CookieStore {
  get(id: string): CookieRecord | undefined;
  put(rec: CookieRecord): void;
  close(): Promise<void>;
}

class MemoryStore implements CookieStore {
  readonly map = new Map<string, CookieRecord>();
  get(id: string): CookieRecord | undefined {
    return this.map.get(id);
  }
  put(rec: CookieRecord): void {
    this.map.set(rec.id, rec);
  }
  async close(): Promise<void> {}
}

/**
 * Crossbar's `file` store: an append-only JSON-lines file of records, replayed at startup (the
 * last line of an id wins); `purge_on_startup` empties it. Appends go through a write stream,
 * so a new connection never waits for the disk.
 */
class FileStore extends MemoryStore {
  readonly #out: WriteStream;
  constructor(filename: string, purge: boolean) {
    super();
    mkdirSync(dirname(filename), { recursive: true });
    if (purge) writeFileSync(filename, '');
    let text = '';
    try {
      text = readFileSync(filename, 'utf8');
    } catch {
      // a new file
    }
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const rec = JSON.parse(line) as CookieRecord;
        if (typeof rec.id === 'string') this.map.set(rec.id, rec);
      } catch {
        // a torn last line after a crash: skipped
      }
    }
    this.#out = createWriteStream(filename, { flags: 'a' });
  }
  override put(rec: CookieRecord): void {
    super.put(rec);
    this.#out.write(`${JSON.stringify(rec)}\n`);
  }
  override close(): Promise<void> {
    return new Promise((resolve) => this.#out.end(resolve));
  }
}

/** Crossbar's `database` store: an embedded LMDB environment (the lmdb package) in `path`. */
class DatabaseStore implements CookieStore {
  readonly #db: import('lmdb').RootDatabase<CookieRecord, string>;
  /** Written but not committed yet: lmdb's put() is asynchronous and get() sees only commits. */
  readonly #pending = new Map<string, CookieRecord>();
  constructor(lmdb: typeof import('lmdb'), s: Extract<CookieStoreConfig, { type: 'database' }>) {
    if (!s.readonly) mkdirSync(s.path, { recursive: true });
    this.#db = lmdb.open<CookieRecord, string>({
      path: s.path,
      noSubdir: false,
      mapSize: s.maxsize,
      readOnly: s.readonly,
      noSync: !s.sync,
      encoding: 'json',
    });
    if (s.purgeOnStartup && !s.readonly) this.#db.clearSync();
  }
  get(id: string): CookieRecord | undefined {
    return this.#pending.get(id) ?? this.#db.get(id);
  }
  put(rec: CookieRecord): void {
    this.#pending.set(rec.id, rec);
    void this.#db.put(rec.id, rec).then(() => {
      if (this.#pending.get(rec.id) === rec) this.#pending.delete(rec.id);
    });
  }
  close(): Promise<void> {
    return this.#db.close();
  }
}

export async function openCookieStore(s: CookieStoreConfig): Promise<CookieStore> {
  if (s.type === 'memory') return new MemoryStore();
  if (s.type === 'file') return new FileStore(s.filename, s.purgeOnStartup);
  return new DatabaseStore(await import('lmdb'), s);
}

/**
 * Cookie tracking on one transport (crossbar.md §4): a connection that presents a cookie the
 * store knows (and that has not expired) keeps its id; any other gets a new random id and a
 * `Set-Cookie` in the 101 response, exactly as Crossbar writes it (no Path, no Domain).
 */
export class CookieTracker {
  constructor(
    readonly config: CookieConfig,
    readonly store: CookieStore,
  ) {}

  /** The tracking id for a handshake with this Cookie header, and the Set-Cookie to send (or null). */
  track(cookieHeader: string, now = Date.now()): { id: string; setCookie: string | null } {
    const presented = cookieValue(cookieHeader, this.config.name);
    if (presented !== null) {
      const rec = this.store.get(presented);
      if (rec !== undefined && rec.created + rec.max_age * 1000 > now) return { id: presented, setCookie: null };
    }
    const c = this.config;
    const id = randomBytes(Math.ceil((c.length * 3) / 4)).toString('base64').slice(0, c.length);
    this.store.put({ id, created: now, max_age: c.maxAge, authid: null, authrole: null, authmethod: null, authrealm: null, authextra: null });
    let setCookie = `${c.name}=${id};max-age=${c.maxAge}`;
    if (c.secure) setCookie += ';Secure';
    if (c.httpStrict) setCookie += ';HttpOnly';
    if (c.sameSite !== null) setCookie += `;SameSite=${c.sameSite}`;
    return { id, setCookie };
  }

  /** Remembers who authenticated with this cookie (Crossbar stores it for cookie authentication). */
  setAuth(id: string, auth: CookieAuth): void {
    const rec = this.store.get(id);
    if (rec !== undefined) this.store.put({ ...rec, ...auth });
  }

  /**
   * The authentication stored against this cookie, or null (unknown or expired cookie, none
   * stored, or logged out). Read on the main thread at each HELLO, for cookie authentication.
   */
  auth(id: string, now = Date.now()): CookieAuth | null {
    const rec = this.store.get(id);
    if (rec === undefined || rec.created + rec.max_age * 1000 <= now) return null;
    if (rec.authid === null || rec.authrole === null || rec.authrealm === null) return null;
    return { authid: rec.authid, authrole: rec.authrole, authmethod: rec.authmethod, authrealm: rec.authrealm, authextra: rec.authextra };
  }

  /** A WELCOME went out on a tracked connection: store its authentication against the cookie. */
  welcomed(id: string, details: unknown): void {
    const d = (typeof details === 'object' && details !== null ? details : {}) as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === 'string' ? v : null);
    const extra = d.authextra;
    this.setAuth(id, {
      authid: str(d.authid),
      authrole: str(d.authrole),
      authmethod: str(d.authmethod),
      authrealm: str(d.realm),
      authextra: typeof extra === 'object' && extra !== null && !Array.isArray(extra) ? (extra as Record<string, unknown>) : null,
    });
  }
}

/** The value of cookie `name` in a Cookie header, or null. */
export function cookieValue(header: string, name: string): string | null {
  if (header === '') return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
