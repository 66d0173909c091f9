/**
 * Retained events across the nodes of a cluster (docs/cluster.md, WAMP spec "Event Retention"):
 * one JetStream key-value bucket per realm, one key per topic holding its latest retained event
 * (https://docs.nats.io/nats-concepts/jetstream/key-value-store). The node that retains an event
 * keeps it at once, as a single node does, and puts it in the bucket; every node watches the
 * bucket (the current value of every key first, then each update, in the bucket's order) and keeps
 * what it sees with the same rules and the same realm limits (Broker.retainRemote), so SUBSCRIBE
 * with get_retained is answered from local memory, synchronously, on every node.
 *
 * Bounded: the bucket's size is max_retained_bytes of the realm (times two, for the envelope),
 * each value at most max_retained_topic_bytes (plus room for the envelope); a put the bucket
 * refuses is logged (rate-limited) and the event stays retained on its own node only.
 */
import { createHash } from 'node:crypto';
import type { KV, KvEntry, NatsConnection, QueuedIterator } from 'nats';
import type { Logger } from '../../src/shared/log.js';
import { msgpackSerializer } from '../../src/shared/serializers/msgpack.js';
import type { Dict } from '../../src/shared/wamp/messages.js';
import type { Broker, Publication } from '../broker.js';
import type { Limits } from '../limits.js';

/** Options a retained event keeps (who may receive it, payload pass-through). */
const KEPT = [
  'exclude',
  'exclude_authid',
  'exclude_authrole',
  'eligible',
  'eligible_authid',
  'eligible_authrole',
  'exclude_me',
  'ppt_scheme',
  'ppt_serializer',
  'ppt_cipher',
  'ppt_keyid',
] as const;

/** Longest key written as the topic itself (base64url); a longer topic's key is its SHA-256. */
const MAX_PLAIN_KEY = 512;
/** Envelope room on top of the realm's byte limits. */
const ENVELOPE = 1024;
const MiB = 1024 * 1024;

/** The bucket of a realm: `cw-retained-<base64url of the realm name>` (bucket names allow [-_A-Za-z0-9]). */
export function bucketName(realm: string): string {
  return `cw-retained-${Buffer.from(realm, 'utf8').toString('base64url')}`;
}

/** A topic's key: KV keys allow [-_=/.A-Za-z0-9]; base64url has no dots, so no empty tokens. */
export function topicKey(topic: string): string {
  const k = Buffer.from(topic, 'utf8').toString('base64url');
  return k.length <= MAX_PLAIN_KEY ? `t${k}` : `h${createHash('sha256').update(topic).digest('base64url')}`;
}

export class RetainedStore {
  #kv: KV | null = null;
  #watch: QueuedIterator<KvEntry> | null = null;
  #closing = false;
  /** The bucket revision last applied (a new watch resumes after it). */
  #revision = 0;
  #failedLogged = 0;
  /** Puts the bucket refused or that failed. */
  failed = 0;

  constructor(
    readonly realm: string,
    readonly broker: Broker,
    readonly limits: Limits,
    readonly log: Logger,
  ) {}

  /** Opens (or creates) the bucket and starts watching it; without JetStream the realm's retained events stay per node (logged). */
  async open(nc: NatsConnection): Promise<void> {
    const { max_retained_bytes: maxBytes, max_retained_topic_bytes: maxTopic } = this.limits;
    const opts = {
      history: 1,
      max_bytes: maxBytes > 0 ? 2 * maxBytes + ENVELOPE : -1,
      maxValueSize: maxTopic > 0 ? Math.min(maxTopic + ENVELOPE, nc.info?.max_payload ?? MiB) : -1,
    };
    const name = bucketName(this.realm);
    try {
      // Two nodes creating the bucket at once: the loser finds it made and binds to it.
      this.#kv = await nc
        .jetstream()
        .views.kv(name, opts)
        .catch(() => nc.jetstream().views.kv(name, opts));
    } catch (e) {
      this.log.error({ err: String(e), realm: this.realm, bucket: name }, 'cluster: no JetStream bucket for retained events; they stay on the node that retained them');
      return;
    }
    void this.#watchLoop();
  }

  async #watchLoop(): Promise<void> {
    while (!this.#closing && this.#kv !== null) {
      try {
        const w = await this.#kv.watch(this.#revision > 0 ? { resumeFromRevision: this.#revision + 1 } : {});
        this.#watch = w;
        for await (const e of w) this.#apply(e);
      } catch (e) {
        if (!this.#closing) this.log.warn({ err: String(e), realm: this.realm }, 'cluster: watching retained events failed; watching again');
      }
      if (this.#closing) return;
      // Not a busy loop: a failed watch waits for the NATS client (it reconnects every second).
      await new Promise((r) => setTimeout(r, 1000).unref());
    }
  }

  #apply(e: KvEntry): void {
    if (e.revision <= this.#revision) return;
    this.#revision = e.revision;
    if (e.operation !== 'PUT') return;
    try {
      const [id, topic, options, disclosed, payload, jsonTail, publisherId] = msgpackSerializer.decode(e.value) as unknown[];
      if (typeof id !== 'number' || typeof topic !== 'string' || !Array.isArray(payload) || typeof publisherId !== 'number') throw new Error('malformed');
      const pub: Publication = {
        id,
        topic,
        publisher: null,
        options: (options as Dict | null) ?? {},
        disclosed: (disclosed as Dict | null) ?? null,
        payload,
        jsonTail: typeof jsonTail === 'string' ? jsonTail : undefined,
        bytes: -1,
      };
      this.broker.retainRemote(pub, publisherId);
    } catch (err) {
      this.log.warn({ err: String(err), realm: this.realm, key: e.key }, 'cluster: malformed retained event in the bucket');
    }
  }

  /** Puts a publication retained here into the bucket (asynchronously; a failure is logged). */
  put(pub: Publication, publisherId: number): void {
    const kv = this.#kv;
    if (kv === null) return;
    const options: Dict = { retain: true };
    for (const k of KEPT) if (pub.options[k] !== undefined) options[k] = pub.options[k];
    let data: Uint8Array;
    try {
      data = msgpackSerializer.encode([pub.id, pub.topic, options, pub.disclosed, pub.payload, pub.jsonTail ?? null, publisherId]) as Uint8Array;
    } catch (e) {
      return this.#failed(e, pub.topic);
    }
    kv.put(topicKey(pub.topic), data).catch((e: unknown) => this.#failed(e, pub.topic));
  }

  #failed(e: unknown, topic: string): void {
    this.failed++;
    const now = Date.now();
    if (now - this.#failedLogged < 5000) return;
    this.#failedLogged = now;
    this.log.warn({ err: String(e), realm: this.realm, topic, failed: this.failed }, 'cluster: a retained event did not reach the other nodes');
  }

  close(): void {
    this.#closing = true;
    this.#watch?.stop();
  }
}
