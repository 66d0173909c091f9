/**
 * The cluster link of one realm worker (docs/cluster.md): one NATS connection per worker thread,
 * carrying the publications of its realms to the other Crosswire nodes and theirs to the
 * subscribers here. The main thread never touches NATS.
 *
 * Subjects: `cw.<realm>.e.<topic components>` for an event, where every component that is not
 * plain ([A-Za-z0-9_-]+) is written `~` + base64url of its UTF-8 bytes (NATS subjects forbid
 * whitespace and `.`, and give `*` and `>` their own meaning: https://docs.nats.io/nats-concepts/subjects).
 * A topic whose subject would be longer than MAX_SUBJECT travels on `cw.<realm>.L`, which every
 * node of the realm listens to.
 *
 * Interest: a node subscribes on NATS to what its local subscriptions can match, as a superset
 * (an exact topic as itself, a wildcard pattern with `*` for its empty components, a prefix
 * pattern as its complete components followed by `>` — WAMP prefixes are string prefixes, which
 * NATS cannot express exactly); what arrives is then matched exactly by the local Broker's index.
 * All NATS subscriptions of a connection join one queue group of their own, so a message that
 * matches several of them is delivered to the connection once (NATS delivers to one member of each
 * matching queue group), and `noEcho` keeps a node's own publications from coming back to it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createInbox, type NatsConnection, type Subscription as NatsSubscription } from 'nats';
import type { ClusterConfig, ClusterStats } from '../src/shared/ipc/protocol.js';
import type { Logger } from '../src/shared/log.js';
import { connectRetrying, errorText, natsAuthOptions } from '../src/shared/nats-options.js';
import { msgpackSerializer } from '../src/shared/serializers/msgpack.js';
import type { Dict } from '../src/shared/wamp/messages.js';
import type { Backplane, Broker, Publication, Subscription } from './broker.js';
import { META_TIMEOUT_MS } from './cluster/meta.js';
import { RetainedStore } from './cluster/retained.js';
import { BATCH, BATCH_BYTES, clusterPack, clusterPackTransient, DirectBatch, type Transient } from './cluster/wire.js';

/** Longest event subject used; a longer one goes to the realm's `L` subject (NATS's control line is 4 KiB by default). */
export const MAX_SUBJECT = 1024;

/** Publish options that matter to subscribers on other nodes (the rest concern the publisher's node only). */
const CARRIED = [
  'exclude',
  'exclude_authid',
  'exclude_authrole',
  'eligible',
  'eligible_authid',
  'eligible_authrole',
  'ppt_scheme',
  'ppt_serializer',
  'ppt_cipher',
  'ppt_keyid',
] as const;

const PLAIN = /^[A-Za-z0-9_-]+$/;

/** One URI component (or realm name) as one NATS subject token. */
export function natsToken(component: string): string {
  return PLAIN.test(component) ? component : `~${Buffer.from(component, 'utf8').toString('base64url')}`;
}

/** The NATS subject a publication to `topic` travels on (`base` = `cw.<realm>.`). */
export function eventSubject(base: string, topic: string): string {
  let subject = `${base}e`;
  for (const c of topic.split('.')) subject += `.${natsToken(c)}`;
  return subject.length > MAX_SUBJECT ? `${base}L` : subject;
}

/**
 * The NATS subject that covers every topic a subscription (topic, match) can match, or null when
 * every such topic travels on the `L` subject (its subject is too long: a matching topic's is at
 * least as long).
 */
export function interestSubject(base: string, topic: string, match: string): string | null {
  const comps = topic.split('.');
  let tail = '';
  if (match === 'prefix') {
    comps.pop(); // the last component is a string prefix of the topic's component there
    tail = '.>';
  }
  let subject = `${base}e`;
  for (const c of comps) subject += `.${c === '' ? '*' : natsToken(c)}`;
  subject += tail;
  return subject.length > MAX_SUBJECT ? null : subject;
}

/** How often each node reports its session counts (`cw.<realm>.n`), and when a silent node's count is dropped. */
export const HEARTBEAT_MS = 2000;
export const PEER_TTL_MS = 3 * HEARTBEAT_MS;
/** A join or leave is reported this soon (several at once in one report). */
const GOSSIP_DELAY_MS = 20;
/** How long closing the link waits for NATS to take what was published last. */
const CLOSE_FLUSH_MS = 500;

/** The subject cache: at most this many topics of at most this many characters (about 2 MB at most). */
const SUBJECT_CACHE_SIZE = 4096;
const SUBJECT_CACHE_TOPIC = 200;

interface Interest {
  count: number;
  sub: NatsSubscription | null;
}

/** The backplane of one realm's Broker. */
class RealmLink implements Backplane {
  readonly base: string;
  /** NATS subjects this realm listens to, with how many local subscriptions need each. */
  readonly interest = new Map<string, Interest>();
  /** topic → event subject, for short topics (bounded; cleared when full). */
  readonly #subjects = new Map<string, string>();

  /** The other nodes' sessions of this realm by authrole, as last reported, by NATS connection. */
  readonly #peers = new Map<string, { roles: [string, number][]; at: number; node: string }>();
  #gossipTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly link: ClusterLink,
    readonly realm: string,
    readonly broker: Broker,
    readonly sessions: ReadonlyMap<number, { authrole: string }>,
  ) {
    this.base = `cw.${natsToken(realm)}.`;
    this.interest.set(`${this.base}L`, { count: 1, sub: null });
    // Event history (docs/cluster.md): every event a history entry matches comes here, subscribers or not.
    for (const h of broker.store?.patterns() ?? []) this.#want(interestSubject(this.base, h.uri, h.match));
  }

  /** This node's part of a meta procedure's answer, for the other nodes (workers/cluster/meta.ts). */
  metaPart: ((procedure: string, args: unknown[], kwargs: Dict) => unknown) | null = null;

  subscriptionId(topic: string, match: string): number {
    // The same on every node: 53 bits of SHA-256 of (match, topic), in [1, 2^53] like a random id.
    const h = createHash('sha256').update(`${match}\0${topic}`).digest();
    return (h.readUIntBE(0, 6) * 32 + (h[6]! >> 3)) + 1;
  }

  ask(procedure: string, args: unknown[], kwargs: Dict): Promise<unknown[]> {
    const expected = new Set<string>();
    for (const [id, p] of this.#peers) if (Date.now() - p.at <= PEER_TTL_MS) expected.add(id);
    if (expected.size === 0) return Promise.resolve([]);
    return this.link.request(`${this.base}m`, [procedure, args, kwargs], expected, META_TIMEOUT_MS).then((xs) => xs.map((x) => (Array.isArray(x) ? x[0] : null)));
  }

  /** Another node's meta request: this node's part as the reply. */
  answer(data: Uint8Array): unknown {
    const [procedure, args, kwargs] = msgpackSerializer.decode(data) as unknown[];
    if (typeof procedure !== 'string' || !Array.isArray(args) || typeof kwargs !== 'object' || kwargs === null || this.metaPart === null) return null;
    return this.metaPart(procedure, args, kwargs as Dict);
  }

  /** The cluster's retained events of this realm (workers/cluster/retained.ts), once connected. */
  retained: RetainedStore | null = null;

  #want(subject: string | null): void {
    if (subject === null) return;
    const i = this.interest.get(subject);
    if (i !== undefined) i.count++;
    else this.interest.set(subject, { count: 1, sub: null });
  }

  sessionsChanged(): void {
    if (this.#gossipTimer !== null) return;
    this.#gossipTimer = setTimeout(() => {
      this.#gossipTimer = null;
      this.gossip(false);
    }, GOSSIP_DELAY_MS);
    this.#gossipTimer.unref();
  }

  /** Adds the node ids of the other nodes that reported within PEER_TTL_MS to `into`; returns how many connections that is. */
  livePeers(into?: Set<string>): number {
    const now = Date.now();
    let n = 0;
    for (const p of this.#peers.values()) {
      if (now - p.at > PEER_TTL_MS) continue;
      n++;
      into?.add(p.node);
    }
    return n;
  }

  /** A member declared dead by membership: its sessions are no longer counted. */
  forget(member: string): void {
    this.#peers.delete(member);
  }

  remoteSessionCount(roles: Set<string> | null): number {
    const now = Date.now();
    let n = 0;
    for (const [id, p] of this.#peers) {
      if (now - p.at > PEER_TTL_MS) this.#peers.delete(id);
      else for (const [role, count] of p.roles) if (roles === null || roles.has(role)) n += count;
    }
    return n;
  }

  /** Reports this node's sessions of the realm by authrole; `ask`: the others report theirs at once. */
  gossip(ask: boolean): void {
    this.remoteSessionCount(null); // drops the reports of nodes gone silent
    const roles = new Map<string, number>();
    for (const s of this.sessions.values()) roles.set(s.authrole, (roles.get(s.authrole) ?? 0) + 1);
    this.link.send(`${this.base}n`, [this.link.id, [...roles], ask, this.link.cfg.nodeId]);
  }

  /** Another node's report. */
  heard(data: Uint8Array): void {
    const [id, roles, ask, node] = msgpackSerializer.decode(data) as unknown[];
    if (typeof id !== 'string' || id === this.link.id || !Array.isArray(roles)) return;
    const valid = roles.filter((x): x is [string, number] => Array.isArray(x) && typeof x[0] === 'string' && Number.isInteger(x[1]) && (x[1] as number) >= 0);
    this.#peers.set(id, { roles: valid, at: Date.now(), node: typeof node === 'string' ? node : id });
    if (ask === true) this.sessionsChanged();
  }

  published(pub: Publication): void {
    let subject = this.#subjects.get(pub.topic);
    if (subject === undefined) {
      subject = eventSubject(this.base, pub.topic);
      if (pub.topic.length <= SUBJECT_CACHE_TOPIC) {
        if (this.#subjects.size >= SUBJECT_CACHE_SIZE) this.#subjects.clear();
        this.#subjects.set(pub.topic, subject);
      }
    }
    let options: Dict | null = null;
    const o = pub.options;
    for (let i = 0; i < CARRIED.length; i++) {
      const k = CARRIED[i]!;
      if (o[k] !== undefined) (options ??= {})[k] = o[k];
    }
    this.link.publish(subject, [pub.id, pub.topic, options, pub.disclosed, pub.payload, pub.jsonTail ?? null]);
    if (pub.options.retain === true && this.retained !== null) this.retained.put(pub, pub.publisher?.id ?? 0);
  }

  subscriptionCreated(sub: Subscription): void {
    const subject = interestSubject(this.base, sub.topic, sub.match);
    if (subject === null) return;
    const i = this.interest.get(subject);
    if (i !== undefined) i.count++;
    else {
      const fresh: Interest = { count: 1, sub: null };
      this.interest.set(subject, fresh);
      this.link.listen(this, subject, fresh);
    }
  }

  subscriptionDeleted(sub: Subscription): void {
    const subject = interestSubject(this.base, sub.topic, sub.match);
    if (subject === null) return;
    const i = this.interest.get(subject);
    if (i === undefined || --i.count > 0) return;
    this.interest.delete(subject);
    // Drained, not just unsubscribed: NATS hands an event to one NATS subscription of this node's
    // queue group, so one on its way to this subscription when it is dropped must still arrive
    // (for this node's other subscriptions that match it). The NATS client keeps delivering until
    // the server confirmed the UNSUB (a flush).
    i.sub?.drain().catch(() => i.sub?.unsubscribe());
  }

  /** A publication from another node: to the local subscribers only (never published again). */
  received(data: Uint8Array): void {
    const m = msgpackSerializer.decode(data) as unknown[];
    const [id, topic, options, disclosed, payload, jsonTail] = m;
    if (typeof id !== 'number' || typeof topic !== 'string' || !Array.isArray(payload)) throw new Error('malformed cluster publication');
    this.broker.dispatchRemote({
      id,
      topic,
      publisher: null,
      options: (options as Dict | null) ?? {},
      disclosed: (disclosed as Dict | null) ?? null,
      payload,
      jsonTail: typeof jsonTail === 'string' ? jsonTail : undefined,
      bytes: -1,
    });
  }
}

/** Told of the NATS connection's life (workers/cluster/membership.ts). */
export interface LinkWatcher {
  /** The connection is up for the first time. */
  connected(nc: NatsConnection): void;
  disconnected(): void;
  reconnected(): void;
  /** The node is shutting down gracefully. */
  leaving(): void;
  close(): void;
}

/** The worker's NATS connection and the links of its realms. */
export class ClusterLink {
  /** Told of the connection's life (membership, RPC). */
  readonly watchers: LinkWatcher[] = [];
  #nc: NatsConnection | null = null;
  readonly #realms: RealmLink[] = [];
  /** This connection's own queue group (see the file comment); random, so that two nodes never share one. */
  readonly #queue = `cw_${randomBytes(8).toString('hex')}`;
  #closing = false;
  /** The requests waiting for answers (request()): looked at again when a member is forgotten. */
  readonly #waiting = new Set<(forgotten: string | null) => void>();
  #heartbeat: NodeJS.Timeout | null = null;
  #up = false;
  /** Why the link is down (for /ready), or null while connected. */
  #down: string | null = 'connecting to NATS';
  #reconnects = 0;
  /** The NATS connection's message and byte counts at the last takeStats() (it keeps them across reconnects), and this link's. */
  #reported = { inMsgs: 0, outMsgs: 0, inBytes: 0, outBytes: 0, reconnects: 0, dropped: 0 };
  /** Called when the link goes up or down (the worker reports it to the main thread at once, for /ready). */
  onChange: (() => void) | null = null;
  /** Publications not handed to NATS (not connected, too big, …): counted (a metric), logged now and then. */
  dropped = 0;
  #droppedLogged = 0;
  /** Direct messages of this turn, by subject (workers/cluster/wire.ts), and whether a flush is scheduled. */
  readonly #direct = new Map<string, DirectBatch>();
  #directScheduled = false;
  /** The MessagePack of a batch's first two elements (BATCH, this member). */
  #head: Uint8Array | null = null;
  /** Size to start the next batch's buffer with: what the last one needed. */
  #directSize = 4096;
  /** NATS's max_payload (the server's INFO; NATS's default until known). */
  get #maxPayload(): number {
    return this.#nc?.info?.max_payload ?? 1024 * 1024;
  }

  constructor(
    readonly cfg: ClusterConfig,
    readonly workerIndex: number,
    readonly log: Logger,
  ) {}

  /** Whether the NATS connection is up now (not connecting, not reconnecting, not closed). */
  get connected(): boolean {
    return this.#up;
  }

  /** The link's state and counters since the previous call (STATS, src/shared/ipc/protocol.ts). */
  takeStats(): Omit<ClusterStats, 'remoteCallsOut' | 'remoteCallsIn'> {
    const now = this.#nc?.stats() ?? { inMsgs: 0, outMsgs: 0, inBytes: 0, outBytes: 0 };
    const was = this.#reported;
    const peers = new Set<string>();
    for (const r of this.#realms) r.livePeers(peers);
    peers.delete(this.cfg.nodeId);
    const stats = {
      down: this.#down,
      msgsIn: now.inMsgs - was.inMsgs,
      msgsOut: now.outMsgs - was.outMsgs,
      bytesIn: now.inBytes - was.inBytes,
      bytesOut: now.outBytes - was.outBytes,
      reconnects: this.#reconnects - was.reconnects,
      publicationsDropped: this.dropped - was.dropped,
      peers: peers.size,
    };
    this.#reported = { ...now, reconnects: this.#reconnects, dropped: this.dropped };
    return stats;
  }

  #state(up: boolean, down: string | null): void {
    this.#up = up;
    this.#down = down;
    this.onChange?.();
  }

  /** This connection in the session-count reports (the queue group name is unique per connection). */
  get id(): string {
    return this.#queue;
  }

  /** A member declared dead (workers/cluster/membership.ts): its session-count reports are dropped at once. */
  forget(member: string): void {
    for (const r of this.#realms) r.forget(member);
    for (const recheck of [...this.#waiting]) recheck(member);
  }

  /** Lets the other nodes ask this node's part of a meta procedure's answer for a realm (workers/cluster/meta.ts). */
  answerMeta(realm: string, part: (procedure: string, args: unknown[], kwargs: Dict) => unknown): void {
    const r = this.#realms.find((x) => x.realm === realm);
    if (r !== undefined) r.metaPart = part;
  }

  /**
   * Asks every node listening on `subject` (request/reply through a fresh inbox); resolves with the
   * answers that came within `ms`, sooner once every member in `expected` answered (an answer is
   * `[part, member]`) or was forgotten meanwhile (a node that left or died is not waited for). Not
   * connected: no answers.
   */
  request(subject: string, message: unknown[], expected: Set<string>, ms: number): Promise<unknown[]> {
    const nc = this.#nc;
    if (nc === null || !this.#up) return Promise.resolve([]);
    return new Promise((resolve) => {
      const answers: unknown[] = [];
      const inbox = createInbox();
      let finished = false;
      const recheck = (forgotten: string | null) => {
        if (forgotten !== null) expected.delete(forgotten);
        if (expected.size === 0) done();
      };
      const done = () => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        this.#waiting.delete(recheck);
        sub.unsubscribe();
        resolve(answers);
      };
      this.#waiting.add(recheck);
      const timer = setTimeout(done, ms);
      const sub = nc.subscribe(inbox, {
        callback: (err, msg) => {
          if (err !== null) return;
          try {
            const answer = msgpackSerializer.decode(msg.data);
            answers.push(answer);
            if (Array.isArray(answer) && typeof answer[1] === 'string') expected.delete(answer[1]);
          } catch {
            // a malformed answer counts as none
          }
          recheck(null);
        },
      });
      try {
        this.flushDirect();
        nc.publish(subject, msgpackSerializer.encode(message) as Uint8Array, { reply: inbox });
      } catch {
        done();
      }
    });
  }

  /** Joins a realm's Broker to the cluster. */
  attach(realm: string, broker: Broker, sessions: ReadonlyMap<number, { authrole: string }>): void {
    const r = new RealmLink(this, realm, broker, sessions);
    this.#realms.push(r);
    broker.backplane = r;
    if (this.#nc !== null) this.#join(r);
  }

  /** Subscribes a realm's interest and its session-count reports, and asks the other nodes for theirs. */
  #join(r: RealmLink): void {
    for (const [subject, i] of r.interest) this.listen(r, subject, i);
    this.#nc!.subscribe(`${r.base}n`, {
      callback: (err, msg) => {
        if (err !== null) return;
        try {
          r.heard(msg.data);
        } catch (e) {
          this.log.warn({ err: String(e) }, 'cluster: malformed session count report');
        }
      },
    });
    this.#nc!.subscribe(`${r.base}m`, {
      callback: (err, msg) => {
        if (err !== null || msg.reply === '') return;
        try {
          const answer = msgpackSerializer.encode([r.answer(msg.data), this.id]) as Uint8Array;
          this.flushDirect();
          msg.respond(answer);
        } catch (e) {
          this.log.warn({ err: String(e) }, 'cluster: cannot answer a meta request');
        }
      },
    });
    r.gossip(true);
    if (r.retained === null) {
      r.retained = new RetainedStore(r.realm, r.broker, r.broker.limits, this.log);
      void r.retained.open(this.#nc!);
    }
  }

  /** A best-effort message (session-count reports): not counted as a lost publication. */
  send(subject: string, message: unknown[]): void {
    // Closing: no session-count report after membership's `gone` (a late one would make this node a
    // peer of the others again until it went stale, and their meta calls wait for its answer).
    if (this.#closing) return;
    try {
      this.flushDirect();
      this.#nc?.publish(subject, msgpackSerializer.encode(message));
    } catch (e) {
      this.log.debug({ err: String(e), subject }, 'cluster: report not sent');
    }
  }

  /** Connects (retrying for ever, every second, each failure's cause in /ready and the log); the realms' interest is subscribed once connected. */
  async start(): Promise<void> {
    const { cfg } = this;
    const nc = await connectRetrying(
      () => ({
        servers: cfg.servers,
        name: `crosswire ${cfg.nodeId} worker ${this.workerIndex}`,
        noEcho: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1000,
        ...natsAuthOptions(cfg),
      }),
      (e) => {
        const down = `cannot connect to NATS: ${errorText(e)}`;
        if (down === this.#down) return;
        // A new cause: logged once (the tries go on every second).
        this.log.error({ node: cfg.nodeId, err: errorText(e) }, 'cluster: cannot connect to NATS, trying again every second');
        this.#state(false, down);
      },
      () => this.#closing,
    );
    if (nc === null) return;
    this.#nc = nc;
    this.#state(true, null);
    this.log.info({ node: cfg.nodeId, server: nc.getServer() }, 'cluster: connected to NATS');
    for (const r of this.#realms) this.#join(r);
    for (const w of this.watchers) w.connected(nc);
    this.#heartbeat = setInterval(() => {
      for (const r of this.#realms) r.gossip(false);
    }, HEARTBEAT_MS);
    this.#heartbeat.unref();
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.#state(false, `NATS connection lost (${String(s.data)}), reconnecting`);
          for (const w of this.watchers) w.disconnected();
        } else if (s.type === 'reconnect') {
          this.#reconnects++;
          this.#state(true, null);
          // The NATS client subscribes again by itself; the others learn this node's sessions at once.
          for (const r of this.#realms) r.gossip(true);
          for (const w of this.watchers) w.reconnected();
        } else if (s.type !== 'error') continue;
        this.log.warn({ node: cfg.nodeId, status: s.type, data: String(s.data) }, 'cluster: NATS connection');
      }
    })();
    void nc.closed().then((err) => {
      this.#state(false, `NATS connection closed (${String(err ?? 'closed')})`);
      if (!this.#closing) this.log.error({ node: cfg.nodeId, err: String(err ?? 'closed') }, 'cluster: NATS connection closed');
    });
  }

  /** Subscribes `subject` for a realm, if connected (else start() does it). */
  listen(r: RealmLink, subject: string, i: Interest): void {
    if (this.#nc === null || i.sub !== null) return;
    i.sub = this.#nc.subscribe(subject, {
      queue: this.#queue,
      callback: (err, msg) => {
        if (err !== null) {
          this.log.warn({ err: String(err), subject }, 'cluster: subscription error');
          return;
        }
        try {
          r.received(msg.data);
        } catch (e) {
          this.log.error({ err: String(e), subject: msg.subject }, 'cluster: cannot deliver a publication from another node');
        }
      },
    });
  }

  /** Hands one publication to NATS (at most once: a failure drops it for the other nodes, never for this one). */
  publish(subject: string, envelope: unknown[]): void {
    const nc = this.#nc;
    try {
      if (nc === null) throw new Error('not connected to NATS yet');
      this.flushDirect();
      nc.publish(subject, msgpackSerializer.encode(envelope));
    } catch (e) {
      this.dropped++;
      const now = Date.now();
      if (now - this.#droppedLogged > 5000) {
        this.#droppedLogged = now;
        this.log.warn({ err: String(e), subject, dropped: this.dropped }, 'cluster: a publication did not reach the other nodes');
      }
    }
  }

  /**
   * Sends `msg` to the member listening on `subject` alone, in this turn's batch for it
   * (workers/cluster/wire.ts). False when it cannot be sent: not connected to NATS yet, or bigger
   * than NATS's max_payload (best effort otherwise: lost if either side is cut off).
   */
  direct(subject: string, msg: unknown[]): boolean {
    if (this.#nc === null) return false;
    // Before the record: its bytes are valid until the next pack.
    const head = (this.#head ??= Buffer.concat([clusterPack(BATCH), clusterPack(this.id)]));
    let record: Transient;
    try {
      record = clusterPackTransient(msg);
    } catch (e) {
      this.log.warn({ err: String(e), subject }, 'cluster: a message for another node cannot be encoded');
      return false;
    }
    const max = this.#maxPayload;
    const length = record.end - record.start;
    if (DirectBatch.overhead(head) + length > max) {
      this.log.debug({ subject, bytes: length, max }, 'cluster: a message for another node exceeds max_payload');
      return false;
    }
    let b = this.#direct.get(subject);
    if (b !== undefined && b.bytes + length > Math.min(BATCH_BYTES, max)) {
      this.#direct.delete(subject);
      this.#send(b);
      b = undefined;
    }
    if (b === undefined) {
      b = new DirectBatch(subject, head, this.#directSize);
      this.#direct.set(subject, b);
      if (!this.#directScheduled) {
        this.#directScheduled = true;
        setImmediate(this.#onImmediate);
      }
    }
    b.add(record);
    return true;
  }

  #onImmediate = (): void => {
    this.#directScheduled = false;
    this.flushDirect();
  };

  /** Publishes the pending direct batches now (before anything else this connection publishes, to keep its order). */
  flushDirect(): void {
    if (this.#direct.size === 0) return;
    for (const b of this.#direct.values()) this.#send(b);
    this.#direct.clear();
  }

  #send(b: DirectBatch): void {
    this.#directSize = Math.min(BATCH_BYTES, Math.max(4096, b.bytes));
    try {
      this.#nc?.publish(b.subject, b.finish());
    } catch (e) {
      this.log.debug({ err: String(e), subject: b.subject, messages: b.count }, 'cluster: direct messages not sent');
    }
  }

  /** Graceful shutdown begins: the other nodes are told at once. */
  leaving(): void {
    for (const w of this.watchers) w.leaving();
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.leaving();
    this.flushDirect();
    for (const w of this.watchers) w.close();
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    for (const r of this.#realms) r.retained?.close();
    if (this.#nc === null) return;
    // What was published last (the sessions' on_leave, membership's goodbye) reaches NATS first;
    // not connected: not waited for long.
    const flushed = this.#nc.flush().catch(() => undefined);
    await Promise.race([flushed, new Promise((r) => setTimeout(r, CLOSE_FLUSH_MS).unref())]);
    await this.#nc.close();
  }
}
