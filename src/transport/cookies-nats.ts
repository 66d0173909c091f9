/**
 * The `nats` cookie store (docs/cluster.md): the records of cookies that authenticated someone, in
 * a JetStream key-value bucket shared by every node of a cluster
 * (https://docs.nats.io/nats-concepts/jetstream/key-value-store), so that a cookie that logged in
 * on one node is accepted on any other: no sticky sessions needed.
 *
 * Lookups stay synchronous (the uWS upgrade callback): the store is a memory store kept up to date
 * by a watch of the bucket (its current records first, then every change); a put or delete goes to
 * memory at once and to the bucket asynchronously. Bounded: the bucket holds at most `maxsize`
 * bytes (a put past it is refused by NATS and logged; the record stays on its node) and forgets a
 * record `max_age` seconds (the cookie's) after it was written.
 *
 * This is the one NATS connection of the main thread: it carries logins and logouts, never a WAMP
 * message. Until it is connected the store works as a memory store of this node.
 */
import type { KV, KvEntry, NatsConnection, QueuedIterator } from 'nats';
import type { CookieStoreConfig } from '../config/load.js';
import type { Logger } from '../shared/log.js';
import { connectRetrying, errorText, natsAuthOptions } from '../shared/nats-options.js';
import { type CookieRecord, MemoryStore } from './cookie-store.js';

type NatsStoreConfig = Extract<CookieStoreConfig, { type: 'nats' }>;

/** A cookie id as a bucket key (KV keys allow [-_=/.A-Za-z0-9]; cookie ids are base64, with `+`). */
const keyOf = (id: string) => Buffer.from(id, 'utf8').toString('hex');

/** How long open() waits for the bucket's current records before the router starts anyway. */
const LOAD_TIMEOUT_MS = 5000;

export class NatsCookieStore extends MemoryStore {
  #nc: NatsConnection | null = null;
  #kv: KV | null = null;
  #watch: QueuedIterator<KvEntry> | null = null;
  #closing = false;
  #failedLogged = 0;

  private constructor(
    readonly cfg: NatsStoreConfig,
    readonly log: Logger | undefined,
  ) {
    super();
  }

  /** Connects and loads the bucket's records (waiting at most LOAD_TIMEOUT_MS; the rest follows in the background). */
  static async open(cfg: NatsStoreConfig, log?: Logger): Promise<NatsCookieStore> {
    const store = new NatsCookieStore(cfg, log);
    let loaded!: () => void;
    const ready = new Promise<void>((r) => (loaded = r));
    void store.#start(loaded).catch((e: unknown) => {
      log?.error({ err: String(e), bucket: cfg.bucket }, 'cookie store: cannot use the NATS bucket; cookies stay on this node');
      loaded();
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ready, new Promise<void>((r) => (timer = setTimeout(r, LOAD_TIMEOUT_MS)))]);
    clearTimeout(timer);
    return store;
  }

  async #start(loaded: () => void): Promise<void> {
    const n = this.cfg.nats!;
    let cause = '';
    const nc = await connectRetrying(
      () => ({ servers: n.servers, name: `crosswire ${n.nodeId} cookies`, maxReconnectAttempts: -1, reconnectTimeWait: 1000, ...natsAuthOptions(n) }),
      (e) => {
        if (errorText(e) !== cause) {
          // A new cause: logged once (the tries go on every second); the router starts meanwhile.
          cause = errorText(e);
          this.log?.error({ err: cause, bucket: this.cfg.bucket }, 'cookie store: cannot connect to NATS, trying again every second; cookies stay on this node meanwhile');
        }
        loaded();
      },
      () => this.#closing,
    );
    if (nc === null) return;
    this.#nc = nc;
    const opts = { history: 1, ttl: this.cfg.maxAge * 1000, max_bytes: this.cfg.maxsize };
    const js = nc.jetstream();
    const kv = await js.views.kv(this.cfg.bucket, opts).catch(() => js.views.kv(this.cfg.bucket, opts));
    if (this.cfg.purgeOnStartup) await (await nc.jetstreamManager()).streams.purge(`KV_${this.cfg.bucket}`);
    this.#kv = kv;
    const w = await kv.watch({ initializedFn: loaded });
    this.#watch = w;
    for await (const e of w) this.#apply(e);
  }

  #apply(e: KvEntry): void {
    if (e.operation !== 'PUT') {
      super.delete(Buffer.from(e.key, 'hex').toString('utf8'));
      return;
    }
    try {
      const rec = JSON.parse(new TextDecoder().decode(e.value)) as CookieRecord;
      if (typeof rec.id === 'string' && keyOf(rec.id) === e.key) super.put(rec);
    } catch {
      this.log?.warn({ key: e.key }, 'cookie store: a malformed record in the NATS bucket');
    }
  }

  #failed(e: unknown): void {
    const now = Date.now();
    if (now - this.#failedLogged < 5000) return;
    this.#failedLogged = now;
    this.log?.warn({ err: String(e), bucket: this.cfg.bucket }, 'cookie store: a change did not reach the NATS bucket (it holds on this node)');
  }

  override put(rec: CookieRecord): void {
    super.put(rec);
    this.#kv?.put(keyOf(rec.id), JSON.stringify(rec)).catch((e: unknown) => this.#failed(e));
  }

  override delete(id: string): void {
    super.delete(id);
    this.#kv?.delete(keyOf(id)).catch((e: unknown) => this.#failed(e));
  }

  override async close(): Promise<void> {
    this.#closing = true;
    this.#watch?.stop();
    await this.#nc?.close();
  }
}
