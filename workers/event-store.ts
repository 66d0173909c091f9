import type { Dict } from '../src/wamp/messages.js';
import type { Broker, Eligibility, Publication } from './broker.js';
import { type Match, UriIndex } from './match/uri-index.js';
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
}

interface Entry {
  cfg: HistoryConfig;
  events: Stored[];
}

/**
 * In-memory event history (WAMP spec, "Event History"): the last `limit` events of every topic
 * pattern configured in the realm's `store.event-history`, read with wamp.subscription.get_events.
 */
export class EventStore {
  #entries = new UriIndex<Entry>();
  #scratch: Entry[] = [];

  constructor(configs: HistoryConfig[]) {
    for (const cfg of configs) this.#entries.set(cfg.uri, cfg.match, { cfg, events: [] });
  }

  record(_broker: Broker, pub: Publication, eligibility: Eligibility | null): void {
    const entries = this.#entries.matchAll(pub.topic, this.#scratch);
    if (entries.length === 0) return;
    const stored: Stored = { timestamp: new Date().toISOString(), publication: pub.id, topic: pub.topic, payload: pub.payload, eligibility };
    for (const e of entries) {
      e.events.push(stored);
      if (e.events.length > e.cfg.limit) e.events.splice(0, e.events.length - e.cfg.limit);
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
