import type { Dict } from '../src/shared/wamp/messages.js';
import { countLimit, type Limits } from './limits.js';
import { type Match, UriIndex } from './match/uri-index.js';
import { type Eligibility, type Publication, publicationBytes } from './publication.js';
import type { Session } from './session.js';

/** Realm `store.event-history[]` entry (Crossbar's realm store vocabulary). */
export interface HistoryConfig {
  uri: string;
  match: Match;
  limit: number;
}

interface Stored {
  timestamp: string;
  publication: number;
  topic: string;
  payload: unknown[];
  eligibility: Eligibility | null;
  bytes: number;
}

interface Entry {
  cfg: HistoryConfig;
  events: Stored[];
  /** The bytes of `events` (max_event_history_bytes). */
  bytes: number;
}

/**
 * In-memory event history (WAMP spec, "Event History"): the last `limit` events of every topic
 * pattern configured in the realm's `store.event-history`, read with wamp.subscription.get_events;
 * at most max_event_history_bytes of them per entry (the oldest make room; an event bigger than
 * that is not stored, and counted).
 */
export class EventStore {
  #entries = new UriIndex<Entry>();
  #scratch: Entry[] = [];
  readonly #maxBytes: number;

  constructor(configs: HistoryConfig[], limits: Limits) {
    for (const cfg of configs) this.#entries.set(cfg.uri, cfg.match, { cfg, events: [], bytes: 0 });
    this.#maxBytes = limits.max_event_history_bytes;
  }

  /** The configured (uri, match) patterns (a cluster node listens to every event they match: workers/cluster.ts). */
  patterns(): HistoryConfig[] {
    return [...this.#entries.exact.values(), ...this.#entries.prefix.values(), ...this.#entries.wildcard.values()].map((e) => e.cfg);
  }

  record(pub: Publication, eligibility: Eligibility | null): void {
    const entries = this.#entries.matchAll(pub.topic, this.#scratch);
    if (entries.length === 0) return;
    const max = this.#maxBytes;
    const bytes = publicationBytes(pub, max > 0 ? max : Number.POSITIVE_INFINITY);
    if (max > 0 && bytes > max) {
      entries.length = 0;
      countLimit('max_event_history_bytes');
      return;
    }
    const stored: Stored = { timestamp: new Date().toISOString(), publication: pub.id, topic: pub.topic, payload: pub.payload, eligibility, bytes };
    for (const e of entries) {
      e.events.push(stored);
      e.bytes += bytes;
      let drop = 0;
      while (e.events.length - drop > e.cfg.limit || (max > 0 && e.bytes > max)) e.bytes -= e.events[drop++]!.bytes;
      if (drop > 0) e.events.splice(0, drop);
    }
    entries.length = 0;
  }

  /** Events stored for a subscription's (uri, match), newest first, as `caller` may see them (and `visible` lets through). */
  events(uri: string, match: Match, subscription: number, caller: Session, limit: number, visible?: (topic: string) => boolean): Dict[] | undefined {
    const e = this.#entries.get(uri, match);
    if (e === undefined) return undefined;
    const out: Dict[] = [];
    for (let i = e.events.length - 1; i >= 0 && out.length < limit; i--) {
      const ev = e.events[i]!;
      // authid/authrole lists of the original publication are re-applied to the caller.
      if (ev.eligibility !== null && !ev.eligibility.admits(caller)) continue;
      if (visible !== undefined && !visible(ev.topic)) continue;
      out.push({
        timestamp: ev.timestamp,
        subscription,
        publication: ev.publication,
        topic: ev.topic,
        args: (ev.payload[0] as unknown[] | undefined) ?? [],
        kwargs: (ev.payload[1] as Dict | undefined) ?? {},
      });
    }
    return out;
  }
}
