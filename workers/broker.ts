import { MsgType } from '../src/shared/wamp/codes.js';
import type { TailedMessage } from '../src/shared/wamp/json-tail.js';
import { randomId } from '../src/shared/wamp/ids.js';
import { type Dict, WampError } from '../src/shared/wamp/messages.js';
import { Uri } from '../src/shared/wamp/uris.js';
import type { EventStore } from './event-store.js';
import { countLimit, knownFrameBytes, type Limits, limited, overLimit } from './limits.js';
import { type Match, UriIndex } from './match/uri-index.js';
import type { Output } from './output.js';
import { Eligibility, type Publication, publicationBytes } from './publication.js';
import { type Session, Subscription, serBit } from './session.js';

// Subscriptions are records a session shares with the broker (workers/session.ts).
export { Eligibility, type Publication, publicationBytes, Subscription };

/** What the broker tells the realm so it can emit meta events (WAMP spec, "Subscription Meta API"). */
export interface BrokerEvents {
  created(s: Session, sub: Subscription): void;
  subscribed(s: Session, sub: Subscription): void;
  unsubscribed(s: Session, sub: Subscription): void;
  deleted(s: Session, sub: Subscription): void;
}

/**
 * Another way publications reach and leave this broker (workers/cluster.ts): told of every client
 * publication after its local delivery, and of every subscription created or deleted here.
 */
export interface Backplane {
  published(pub: Publication): void;
  subscriptionCreated(sub: Subscription): void;
  subscriptionDeleted(sub: Subscription): void;
  /** A session joined or left the realm (for the cluster-wide session count). */
  sessionsChanged(): void;
  /** Sessions of the realm on the other nodes, of the given authroles (null: all). */
  remoteSessionCount(roles: Set<string> | null): number;
  /** The id of a new subscription: the same on every node for the same (topic, match) (workers/cluster/meta.ts). */
  subscriptionId(topic: string, match: Match): number;
  /** The other nodes' parts of a meta procedure's answer (workers/cluster/meta.ts). */
  ask(procedure: string, args: unknown[], kwargs: Dict): Promise<unknown[]>;
}

interface Retained {
  /** Without its publisher: a Session (its HELLO, its collections) is not kept for an event. */
  pub: Publication;
  /** The publisher's session id (publisher exclusion for later subscribers), or 0 (the router's own). */
  publisherId: number;
  eligibility: Eligibility | null;
  /** Counted against max_retained_bytes and max_retained_topic_bytes. */
  bytes: number;
}

/**
 * Retained events are kept per topic, newest last, so that every subscriber can be sent "the most
 * recent retained event it would have received" (WAMP spec, "Event Retention") even when the
 * latest ones carried black/whitelists or excluded their publisher. Bounded per topic.
 */
const MAX_RETAINED_PER_TOPIC = 16;

/**
 * The broker of one realm: exact and pattern subscriptions, EVENT fan-out, retained events and
 * event history. Which subscriptions a topic reaches is decided by `#index` alone, so a
 * backplane can hand a remote publication to `dispatch` without touching SUBSCRIBE handling.
 */
export class Broker {
  #index = new UriIndex<Subscription>();
  #byId = new Map<number, Subscription>();
  #retained = new Map<string, Retained[]>();
  /** All retained events of the realm and their bytes (max_retained_events, max_retained_bytes). */
  #retainedEvents = 0;
  #retainedBytes = 0;
  #scratch: Subscription[] = [];
  /** The cluster link (workers/cluster.ts), or null: a single node. */
  backplane: Backplane | null = null;

  constructor(
    readonly out: Output,
    readonly events: BrokerEvents,
    readonly store: EventStore | null,
    readonly limits: Limits,
  ) {}

  get retainedEvents(): number {
    return this.#retainedEvents;
  }
  get retainedBytes(): number {
    return this.#retainedBytes;
  }

  get(id: number): Subscription | undefined {
    return this.#byId.get(id);
  }
  lookup(topic: string, match: Match): Subscription | undefined {
    return this.#index.get(topic, match);
  }
  matching(topic: string): Subscription[] {
    return this.#index.matchAll(topic, []);
  }
  list(): { exact: number[]; prefix: number[]; wildcard: number[] } {
    const ids = (m: Map<string, Subscription>) => [...m.values()].map((s) => s.id);
    return { exact: ids(this.#index.exact), prefix: ids(this.#index.prefix), wildcard: ids(this.#index.wildcard) };
  }

  /** `filtered`: the role allows only part of what the pattern matches (see Subscription.filtered). */
  subscribe(s: Session, requestId: number, options: Dict, topic: string, filtered = false): void {
    const match = (options.match as Match | undefined) ?? 'exact';
    let sub = this.#index.get(topic, match);
    const max = this.limits.max_subscriptions_per_session;
    if (max > 0 && s.subscriptions.size >= max && sub?.subscribers.has(s) !== true && limited(s)) {
      throw overLimit(s, 'max_subscriptions_per_session', `this session holds ${s.subscriptions.size} subscriptions already`);
    }
    let created = false;
    if (sub === undefined) {
      let id = this.backplane !== null ? this.backplane.subscriptionId(topic, match) : randomId();
      while (this.#byId.has(id)) id = randomId();
      sub = new Subscription(id, topic, match);
      this.#index.set(topic, match, sub);
      this.#byId.set(id, sub);
      created = true;
      if (this.backplane !== null) this.backplane.subscriptionCreated(sub);
    }
    const fresh = !sub.subscribers.has(s);
    if (fresh) {
      sub.subscribers.add(s);
      if (filtered) (sub.filtered ??= new Set()).add(s);
      sub.changed();
      s.subscriptions.add(sub);
    }
    this.out.send(s.connId, [MsgType.SUBSCRIBED, requestId, sub.id]);
    if (created) this.events.created(s, sub);
    if (fresh) this.events.subscribed(s, sub);
    // WAMP spec, "Event Retention": the latest retained event(s) the subscriber is eligible for.
    if (options.get_retained === true) this.#sendRetained(s, sub);
  }

  unsubscribe(s: Session, requestId: number, subscriptionId: number): void {
    const sub = this.#byId.get(subscriptionId);
    if (sub === undefined || !sub.subscribers.has(s)) throw new WampError(Uri.NO_SUCH_SUBSCRIPTION);
    this.out.send(s.connId, [MsgType.UNSUBSCRIBED, requestId]);
    this.#remove(s, sub);
  }

  /**
   * Removes a subscriber at the router's initiative (meta API remove_subscriber); a subscriber that
   * announced subscription_revocation is told with UNSUBSCRIBED [35, 0, {subscription, reason}].
   */
  revoke(sub: Subscription, s: Session, reason: string | undefined): void {
    if (s.has('subscriber', 'subscription_revocation')) {
      this.out.send(s.connId, [MsgType.UNSUBSCRIBED, 0, reason === undefined ? { subscription: sub.id } : { subscription: sub.id, reason }]);
    }
    this.#remove(s, sub);
  }

  /** PUBLISH from a session (already authorized and validated). */
  publish(s: Session, msg: unknown[], disclose: boolean): number {
    const options = msg[2] as Dict;
    const pub: Publication = {
      id: randomId(),
      topic: msg[3] as string,
      publisher: s,
      options,
      disclosed: disclose ? { publisher: s.id, publisher_authid: s.authid, publisher_authrole: s.authrole } : null,
      payload: msg.length > 4 ? msg.slice(4) : [],
      jsonTail: (msg as TailedMessage).jsonTail,
      bytes: knownFrameBytes(msg),
    };
    this.dispatch(pub);
    if (this.backplane !== null) this.backplane.published(pub);
    return pub.id;
  }

  /** Whether a publication to `topic` would reach anybody (lets meta events skip building payloads). */
  hasSubscribers(topic: string): boolean {
    if (this.#index.exact.has(topic)) return true;
    if (this.#index.prefix.size === 0 && this.#index.wildcard.size === 0) return false;
    return this.#index.matchAll(topic, []).length > 0;
  }

  /** A publication by the router itself (meta events, testaments): in a cluster, to the other nodes too. */
  publishInternal(topic: string, args: unknown[], kwargs?: Dict, options: Dict = {}): void {
    const pub: Publication = { id: randomId(), topic, publisher: null, options, disclosed: null, payload: kwargs === undefined ? [args] : [args, kwargs], jsonTail: undefined, bytes: -1 };
    this.dispatch(pub);
    if (this.backplane !== null) this.backplane.published(pub);
  }

  /** Whether a router publication to `topic` may reach anybody: in a cluster, subscribers on other nodes may exist. */
  mayReach(topic: string): boolean {
    return this.backplane !== null || this.hasSubscribers(topic);
  }

  /** Delivers a publication to every matching subscription, then retains/stores it. */
  dispatch(pub: Publication): void {
    const eligibility = Eligibility.from(pub.options);
    // Retained first: a client's publication that cannot be retained (a limit) is refused as a whole.
    if (pub.options.retain === true) this.#retain(pub, eligibility);
    this.#fanout(pub, eligibility);
    if (this.store !== null && (eligibility === null || !eligibility.bySessionId)) {
      // WAMP spec, "Event History": events with session-id black/whitelists are not stored.
      this.store.record(pub, eligibility);
    }
  }

  /**
   * A publication made on another node of the cluster (workers/cluster.ts): delivered to the
   * matching subscribers here and recorded in the event history; not retained here (retained
   * events cross through the cluster's retained store: retainRemote).
   */
  dispatchRemote(pub: Publication): void {
    const eligibility = Eligibility.from(pub.options);
    this.#fanout(pub, eligibility);
    if (this.store !== null && (eligibility === null || !eligibility.bySessionId)) this.store.record(pub, eligibility);
  }

  /**
   * A retained event as the cluster's retained store has it (workers/cluster/retained.ts), the
   * publisher's id for publisher exclusion: kept as a local one would be, within the same limits
   * (an event over them is not kept, and counted). One already kept (this node's own, coming back
   * in the store's order) moves to its place in that order, so every node ends with the same list.
   */
  retainRemote(pub: Publication, publisherId: number): void {
    const list = this.#retained.get(pub.topic);
    const i = list === undefined ? -1 : list.findIndex((r) => r.pub.id === pub.id);
    if (i >= 0) {
      const [old] = list!.splice(i, 1);
      this.#retainedEvents--;
      this.#retainedBytes -= old!.bytes;
      if (list!.length === 0) this.#retained.delete(pub.topic);
    }
    this.#retain(pub, Eligibility.from(pub.options), publisherId);
  }

  #fanout(pub: Publication, eligibility: Eligibility | null): void {
    const subs = this.#index.matchAll(pub.topic, this.#scratch);
    try {
      for (let i = 0; i < subs.length; i++) this.#deliver(subs[i]!, pub, eligibility, false);
    } finally {
      subs.length = 0;
    }
  }

  /**
   * Keeps `pub` as a retained event of its topic, within the realm's limits (docs/limits.md): older
   * events of the same topic make room (at most MAX_RETAINED_PER_TOPIC, max_retained_topic_bytes);
   * past max_retained_events or max_retained_bytes a client's publication is refused (ERROR), a
   * router's own (a testament) is delivered without being retained. Both are counted.
   */
  #retain(pub: Publication, eligibility: Eligibility | null, publisherId = pub.publisher?.id ?? 0): void {
    const { max_retained_events: maxEvents, max_retained_bytes: maxBytes, max_retained_topic_bytes: maxTopic } = this.limits;
    const size = publicationBytes(pub, maxTopic > 0 ? maxTopic : maxBytes > 0 ? maxBytes : Number.POSITIVE_INFINITY);
    const list = this.#retained.get(pub.topic);
    // An event everybody would receive (no lists, publisher not excluded) supersedes all before it.
    const supersedes = list === undefined || (eligibility === null && (publisherId === 0 || pub.options.exclude_me === false));
    let drop = 0; // the topic's oldest events that make room for this one
    let freed = 0;
    if (list !== undefined) {
      let kept = 0;
      for (const r of list) kept += r.bytes;
      while (drop < list.length && (supersedes || list.length - drop >= MAX_RETAINED_PER_TOPIC || (maxTopic > 0 && kept + size > maxTopic))) {
        kept -= list[drop]!.bytes;
        freed += list[drop]!.bytes;
        drop++;
      }
    }
    let refused: { limit: 'max_retained_topic_bytes' | 'max_retained_events' | 'max_retained_bytes'; what: string; uri: string } | null = null;
    if (maxTopic > 0 && size > maxTopic) {
      refused = { limit: 'max_retained_topic_bytes', what: `a retained event of ${size} bytes is too big`, uri: Uri.PAYLOAD_SIZE_EXCEEDED };
    } else if (maxEvents > 0 && this.#retainedEvents - drop + 1 > maxEvents) {
      refused = { limit: 'max_retained_events', what: `the realm retains ${this.#retainedEvents} events already`, uri: Uri.LIMIT_EXCEEDED };
    } else if (maxBytes > 0 && this.#retainedBytes - freed + size > maxBytes) {
      refused = {
        limit: 'max_retained_bytes',
        what: size > maxBytes ? `a retained event of ${size} bytes is too big` : `the realm retains ${this.#retainedBytes} bytes of events already`,
        uri: size > maxBytes ? Uri.PAYLOAD_SIZE_EXCEEDED : Uri.LIMIT_EXCEEDED,
      };
    }
    if (refused !== null) {
      if (pub.publisher !== null) throw overLimit(pub.publisher, refused.limit, refused.what, refused.uri);
      countLimit(refused.limit);
      return;
    }
    const r: Retained = { pub: pub.publisher === null ? pub : { ...pub, publisher: null }, publisherId, eligibility, bytes: size };
    if (list === undefined || drop === list.length) this.#retained.set(pub.topic, [r]);
    else {
      list.splice(0, drop);
      list.push(r);
    }
    this.#retainedEvents += 1 - drop;
    this.#retainedBytes += size - freed;
  }

  #deliver(sub: Subscription, pub: Publication, eligibility: Eligibility | null, retained: boolean, only?: Session): void {
    const publisher = pub.publisher;
    // WAMP spec, "Publisher Exclusion": not to the publisher unless it asks with exclude_me: false.
    const excludeMe = publisher !== null && pub.options.exclude_me !== false && sub.subscribers.has(publisher);
    const ppt = pub.options.ppt_scheme !== undefined;
    let ids: number[];
    let mask = 0;
    const filtered = sub.filtered;
    if (only !== undefined) {
      if (ppt && !only.has('subscriber', 'payload_passthru_mode')) return;
      if (filtered !== null && filtered.has(only) && !only.permissions.receives(pub.topic, 'subscribe', only)) return;
      ids = [only.connId];
      mask = serBit(only);
    } else if (eligibility === null && !excludeMe && !ppt) {
      ids = sub.connIds(); // the fast path
      mask = sub.serMask();
      if (filtered !== null) {
        // A pattern some roles cover in part: one decision per role for the topic.
        for (const g of sub.groups()) {
          if (!g.sample.permissions.receives(pub.topic, 'subscribe', g.sample)) continue;
          ids = ids.length === 0 ? g.connIds : ids.concat(g.connIds);
          mask |= g.mask;
        }
      }
    } else {
      ids = [];
      for (const s of sub.subscribers) {
        if (excludeMe && s === publisher) continue;
        if (eligibility !== null && !eligibility.admits(s)) continue;
        // WAMP spec, "Payload Passthru Mode": only to subscribers that announced it.
        if (ppt && !s.has('subscriber', 'payload_passthru_mode')) continue;
        // A pattern the role covers in part: only topics the role may subscribe to.
        if (filtered !== null && filtered.has(s) && !s.permissions.receives(pub.topic, 'subscribe', s)) continue;
        ids.push(s.connId);
        mask |= serBit(s);
      }
    }
    if (ids.length === 0) return;
    let details: Dict = pub.disclosed ?? EMPTY;
    if (sub.match !== 'exact' || retained || ppt) {
      details = { ...details };
      if (sub.match !== 'exact') details.topic = pub.topic;
      if (retained) details.retained = true;
      if (ppt) copyPpt(pub.options, details);
    }
    // The payload (Arguments, ArgumentsKw) is copied verbatim from PUBLISH (WAMP spec, "EVENT").
    const event: unknown[] = [MsgType.EVENT, sub.id, pub.id, details];
    for (let i = 0; i < pub.payload.length; i++) event.push(pub.payload[i]);
    if (pub.jsonTail !== undefined) (event as TailedMessage).jsonTail = pub.jsonTail;
    this.out.fanout(ids, event, mask);
  }

  #sendRetained(s: Session, sub: Subscription): void {
    const send = (list: Retained[]) => {
      // The most recent retained event this subscriber would have received.
      for (let i = list.length - 1; i >= 0; i--) {
        const r = list[i]!;
        if (r.eligibility !== null && !r.eligibility.admits(s)) continue;
        if (r.publisherId === s.id && r.pub.options.exclude_me !== false) continue;
        if (r.pub.options.ppt_scheme !== undefined && !s.has('subscriber', 'payload_passthru_mode')) continue;
        this.#deliver(sub, r.pub, null, true, s);
        return;
      }
    };
    if (sub.match === 'exact') {
      const list = this.#retained.get(sub.topic);
      if (list !== undefined) send(list);
      return;
    }
    for (const [topic, list] of this.#retained) if (patternMatches(sub.topic, sub.match, topic)) send(list);
  }

  #remove(s: Session, sub: Subscription): void {
    sub.subscribers.delete(s);
    if (sub.filtered !== null && sub.filtered.delete(s) && sub.filtered.size === 0) sub.filtered = null;
    sub.changed();
    s.subscriptions.delete(sub);
    this.events.unsubscribed(s, sub);
    if (sub.subscribers.size === 0) {
      this.#index.delete(sub.topic, sub.match);
      this.#byId.delete(sub.id);
      if (this.backplane !== null) this.backplane.subscriptionDeleted(sub);
      this.events.deleted(s, sub);
    }
  }

  /** Drops every subscription of a session that left. */
  leave(s: Session): void {
    for (const sub of s.subscriptions) this.#remove(s, sub);
  }
}

const EMPTY: Dict = Object.freeze({}) as Dict;

export function copyPpt(from: Dict, to: Dict): void {
  for (const k of ['ppt_scheme', 'ppt_serializer', 'ppt_cipher', 'ppt_keyid']) if (from[k] !== undefined) to[k] = from[k];
}

/** Whether one pattern matches one concrete URI (for retained events, history). */
export function patternMatches(pattern: string, match: Match, uri: string): boolean {
  if (match === 'exact') return pattern === uri;
  if (match === 'prefix') return uri.startsWith(pattern);
  const p = pattern.split('.');
  const u = uri.split('.');
  return p.length === u.length && p.every((c, i) => c === '' || c === u[i]);
}
