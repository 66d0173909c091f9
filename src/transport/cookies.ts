import { createHmac, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, openSync, readFileSync, renameSync, type WriteStream, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CookieConfig, CookieStoreConfig } from '../config/load.js';
import type { CookieAuth } from '../shared/ipc/protocol.js';
import type { Logger } from '../shared/log.js';
import { serialId } from '../shared/wamp/ids.js';
import { authenticates, type CookieRecord, type CookieStore, expired, MemoryStore } from './cookie-store.js';

export type { CookieAuth } from '../shared/ipc/protocol.js';
export type { CookieRecord, CookieStore } from './cookie-store.js';

/** Below this many lines the file store is not compacted at run time. */
const COMPACT_MIN_LINES = 256;

/**
 * Crossbar's `file` store: a JSON-lines file of records, replayed at startup (the last line of an
 * id wins; `{"id": …, "deleted": true}` removes it); `purge_on_startup` empties it. At startup
 * the file is rewritten with the live records only (expired ones dropped), and again whenever it
 * holds more than twice as many lines as live records (and at least COMPACT_MIN_LINES): its size
 * stays proportional to the records held. Appends go through a write stream, so a new connection
 * never waits for the disk; a compaction writes the file synchronously (amortised: at most one
 * per live-record count of writes).
 */
class FileStore extends MemoryStore {
  #out: WriteStream;
  #lines = 0;
  constructor(
    readonly filename: string,
    purge: boolean,
    now = Date.now(),
  ) {
    super();
    mkdirSync(dirname(filename), { recursive: true });
    let text = '';
    try {
      if (!purge) text = readFileSync(filename, 'utf8');
    } catch {
      // a new file
    }
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const rec = JSON.parse(line) as CookieRecord & { deleted?: boolean };
        if (typeof rec.id !== 'string') continue;
        if (rec.deleted === true) this.map.delete(rec.id);
        else this.map.set(rec.id, rec);
      } catch {
        // a torn last line after a crash: skipped
      }
    }
    super.purge(now);
    this.#out = this.#rewrite();
  }

  /** Writes the live records to a new file that replaces the old one; the stream appending to it. */
  #rewrite(): WriteStream {
    const tmp = `${this.filename}.tmp`;
    let text = '';
    for (const rec of this.map.values()) text += `${JSON.stringify(rec)}\n`;
    writeFileSync(tmp, text);
    renameSync(tmp, this.filename);
    this.#lines = this.map.size;
    // Opened synchronously: the stream is bound to this file, whatever replaces it later.
    return createWriteStream(this.filename, { fd: openSync(this.filename, 'a') });
  }

  #append(line: string): void {
    this.#out.write(line);
    if (++this.#lines >= COMPACT_MIN_LINES && this.#lines > 2 * this.map.size) this.#compact();
  }

  #compact(): void {
    // Writes still queued on the old stream go to the replaced file: the new one has them all.
    this.#out.end();
    this.#out = this.#rewrite();
  }

  override put(rec: CookieRecord): void {
    super.put(rec);
    this.#append(`${JSON.stringify(rec)}\n`);
  }
  override delete(id: string): void {
    if (!this.map.has(id)) return;
    super.delete(id);
    this.#append(`${JSON.stringify({ id, deleted: true })}\n`);
  }
  override purge(now: number): number {
    // Expired records need no line: a replay drops them too.
    const n = super.purge(now);
    if (this.#lines >= COMPACT_MIN_LINES && this.#lines > 2 * this.map.size) this.#compact();
    return n;
  }
  /** Lines in the file (for tests and metrics). */
  get lines(): number {
    return this.#lines;
  }
  override close(): Promise<void> {
    return new Promise((resolve) => this.#out.end(resolve));
  }
}

/** Crossbar's `database` store: an embedded LMDB environment (the lmdb package) in `path`. */
class DatabaseStore implements CookieStore {
  readonly #db: import('lmdb').RootDatabase<CookieRecord, string>;
  readonly #readonly: boolean;
  /** Written but not committed yet (null: deleted): lmdb's put() is asynchronous and get() sees only commits. */
  readonly #pending = new Map<string, CookieRecord | null>();
  constructor(lmdb: typeof import('lmdb'), s: Extract<CookieStoreConfig, { type: 'database' }>, now = Date.now()) {
    this.#readonly = s.readonly;
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
    this.purge(now);
  }
  get(id: string): CookieRecord | undefined {
    const p = this.#pending.get(id);
    if (p !== undefined) return p ?? undefined;
    return this.#db.get(id);
  }
  #write(id: string, rec: CookieRecord | null): void {
    if (this.#readonly) return;
    this.#pending.set(id, rec);
    void (rec === null ? this.#db.remove(id) : this.#db.put(id, rec)).then(() => {
      if (this.#pending.get(id) === rec) this.#pending.delete(id);
    });
  }
  put(rec: CookieRecord): void {
    this.#write(rec.id, rec);
  }
  delete(id: string): void {
    this.#write(id, null);
  }
  purge(now: number): number {
    if (this.#readonly) return 0;
    let n = 0;
    for (const { key, value } of this.#db.getRange()) {
      if (this.#pending.has(key)) continue;
      if (expired(value, now) || !authenticates(value)) {
        this.#write(key, null);
        n++;
      }
    }
    return n;
  }
  get size(): number {
    return this.#db.getCount();
  }
  *records(): Iterable<CookieRecord> {
    for (const rec of this.#pending.values()) if (rec !== null) yield rec;
    for (const { key, value } of this.#db.getRange()) if (!this.#pending.has(key)) yield value;
  }
  close(): Promise<void> {
    return this.#db.close();
  }
}

export async function openCookieStore(s: CookieStoreConfig, log?: Logger): Promise<CookieStore> {
  if (s.type === 'memory') return new MemoryStore();
  if (s.type === 'file') return new FileStore(s.filename, s.purgeOnStartup);
  if (s.type === 'nats') return (await import('./cookies-nats.js')).NatsCookieStore.open(s, log);
  return new DatabaseStore(await import('lmdb'), s);
}

/** How often expired cookies are forgotten. */
const PURGE_EVERY_MS = 10 * 60_000;

/**
 * Cookie tracking on one transport (Crossbar.io docs, "Cookie Tracking"): a connection that presents a cookie the
 * router issued (and that has not expired) keeps its id; any other gets a new random id and a
 * `Set-Cookie` in the 101 response, exactly as Crossbar writes it (no Path, no Domain).
 *
 * Bounded (docs/authentication.md): the store holds only cookies that authenticated someone (a WELCOME by any
 * method but anonymous or cookie), at most `cookie.max_per_principal` per principal (realm, authid): a
 * further login makes the cookie least recently logged in with forget its authentication. The
 * others are remembered in memory only, at most `cookie.max_anonymous` of them (the oldest is forgotten
 * first: its holder gets a new cookie on its next connection). Expired cookies are forgotten
 * every 10 minutes.
 */
export class CookieTracker {
  /** Key of the anonymous authids derived from cookies; per run. */
  readonly #key = randomBytes(32);
  /** Issued cookies the store does not hold: id → created (ms), oldest first. */
  readonly #anonymous = new Map<string, number>();
  /** Stored cookies by principal, least recently logged in with first. */
  #byPrincipal = new Map<string, Set<string>>();
  readonly #timer: NodeJS.Timeout;

  constructor(
    readonly config: CookieConfig,
    readonly store: CookieStore,
    public anonymousMax = config.maxAnonymous,
    public perPrincipalMax = config.maxPerPrincipal,
  ) {
    this.#index();
    this.#timer = setInterval(() => this.purge(), PURGE_EVERY_MS).unref();
  }

  /** Rebuilds #byPrincipal from the store (oldest first). */
  #index(): void {
    const recs = [...this.store.records()].sort((a, b) => a.created - b.created);
    this.#byPrincipal = new Map();
    for (const rec of recs) this.#indexed(rec);
  }

  #indexed(rec: CookieRecord): Set<string> {
    const k = principalKey(rec);
    let ids = this.#byPrincipal.get(k);
    if (ids === undefined) this.#byPrincipal.set(k, (ids = new Set()));
    ids.delete(rec.id);
    ids.add(rec.id);
    return ids;
  }

  #unindexed(rec: CookieRecord): void {
    const k = principalKey(rec);
    const ids = this.#byPrincipal.get(k);
    if (ids !== undefined && ids.delete(rec.id) && ids.size === 0) this.#byPrincipal.delete(k);
  }

  /** Cookies remembered in memory only (they authenticate nobody). */
  get anonymousCount(): number {
    return this.#anonymous.size;
  }

  /** Cookies the store holds (each authenticated someone). */
  get storedCount(): number {
    let n = 0;
    for (const ids of this.#byPrincipal.values()) n += ids.size;
    return n;
  }

  /** Cookies forgotten since the start, by why (for crosswire_cookies_forgotten_total). */
  readonly forgotten = { anonymous_limit: 0, principal_limit: 0, expired: 0 };

  /** The tracking id for a handshake with this Cookie header, and the Set-Cookie to send (or null). */
  track(cookieHeader: string, now = Date.now()): { id: string; setCookie: string | null } {
    const presented = cookieValue(cookieHeader, this.config.name);
    if (presented !== null && this.#known(presented, now)) return { id: presented, setCookie: null };
    const c = this.config;
    const id = randomBytes(Math.ceil((c.length * 3) / 4)).toString('base64').slice(0, c.length);
    this.#remember(id, now);
    let setCookie = `${c.name}=${id};max-age=${c.maxAge}`;
    if (c.secure) setCookie += ';Secure';
    if (c.httpStrict) setCookie += ';HttpOnly';
    if (c.sameSite !== null) setCookie += `;SameSite=${c.sameSite}`;
    return { id, setCookie };
  }

  /** An unexpired cookie this router issued (a presented cookie it did not issue is never adopted). */
  #known(id: string, now: number): boolean {
    const rec = this.store.get(id);
    if (rec !== undefined) return !expired(rec, now);
    const created = this.#anonymous.get(id);
    return created !== undefined && created + this.config.maxAge * 1000 > now;
  }

  #remember(id: string, created: number): void {
    this.#anonymous.delete(id);
    this.#anonymous.set(id, created);
    if (this.#anonymous.size > this.anonymousMax) {
      this.#anonymous.delete(this.#anonymous.keys().next().value!);
      this.forgotten.anonymous_limit++;
    }
  }

  /**
   * The authid of an anonymous session on a connection tracked with this cookie: stable per
   * cookie (while the router runs), opaque (a keyed hash: it does not reveal the cookie, which
   * admits whoever presents it once it authenticated). Crossbar uses the cookie itself.
   */
  anonymousAuthid(id: string): string {
    return serialId(createHmac('sha256', this.#key).update(id).digest());
  }

  /**
   * The authentication stored against this cookie, or null (unknown or expired cookie, none
   * stored, or logged out). Read on the main thread at each HELLO, for cookie authentication.
   */
  auth(id: string, now = Date.now()): CookieAuth | null {
    const rec = this.store.get(id);
    if (rec === undefined || expired(rec, now) || !authenticates(rec)) return null;
    return { authid: rec.authid, authrole: rec.authrole, authmethod: rec.authmethod, authrealm: rec.authrealm, authextra: rec.authextra };
  }

  /**
   * A WELCOME went out on a tracked connection: store its authentication against the cookie,
   * unless it authenticated nothing (anonymous) or was itself admitted by the cookie.
   */
  welcomed(id: string, details: unknown, now = Date.now()): void {
    const d = (typeof details === 'object' && details !== null ? details : {}) as Record<string, unknown>;
    if (d.authprovider === 'cookie') return;
    const str = (v: unknown) => (typeof v === 'string' ? v : null);
    const extra = d.authextra;
    const old = this.store.get(id);
    const rec: CookieRecord = {
      id,
      created: old?.created ?? this.#anonymous.get(id) ?? now,
      max_age: old?.max_age ?? this.config.maxAge,
      authid: str(d.authid),
      authrole: str(d.authrole),
      authmethod: str(d.authmethod),
      authrealm: str(d.realm),
      authextra: typeof extra === 'object' && extra !== null && !Array.isArray(extra) ? (extra as Record<string, unknown>) : null,
    };
    if (!authenticates(rec)) return;
    if (old !== undefined) this.#unindexed(old);
    this.store.put(rec);
    this.#anonymous.delete(id);
    const ids = this.#indexed(rec);
    // One principal cannot make the store hold more than perPrincipalMax cookies.
    while (ids.size > this.perPrincipalMax) {
      const oldest = ids.values().next().value!;
      ids.delete(oldest);
      const r = this.store.get(oldest);
      if (r === undefined) continue;
      this.store.delete(oldest);
      this.forgotten.principal_limit++;
      this.#remember(oldest, r.created);
    }
  }

  /** GOODBYE wamp.close.logout: the cookie authenticates nobody any more (it stays issued). */
  logout(id: string): void {
    const rec = this.store.get(id);
    if (rec === undefined) return;
    this.#unindexed(rec);
    this.store.delete(id);
    this.#remember(id, rec.created);
  }

  /** Forgets expired cookies, stored or not. */
  purge(now = Date.now()): void {
    const purged = this.store.purge(now);
    if (purged > 0) this.#index();
    this.forgotten.expired += purged;
    const ms = this.config.maxAge * 1000;
    for (const [id, created] of this.#anonymous) {
      if (created + ms > now) continue;
      this.#anonymous.delete(id);
      this.forgotten.expired++;
    }
  }

  close(): Promise<void> {
    clearInterval(this.#timer);
    return this.store.close();
  }
}

function principalKey(rec: CookieRecord): string {
  return `${rec.authrealm}\0${rec.authid}`;
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
