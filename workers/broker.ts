import { MsgType } from '../src/wamp/codes.js';
import { randomId } from '../src/wamp/ids.js';
import { type Dict, WampError } from '../src/wamp/messages.js';
import { Uri } from '../src/wamp/uris.js';
import type { Output } from './output.js';
import type { Session } from './session.js';

/** All subscribers of one topic share one subscription id (WAMP spec, "SUBSCRIBED"). */
export class Subscription {
  readonly subscribers = new Set<Session>();
  /** Connection ids of all subscribers; rebuilt lazily after a change. */
  #connIds: number[] | null = null;
  constructor(
    readonly id: number,
    readonly topic: string,
  ) {}

  connIds(): number[] {
    if (this.#connIds === null) {
      this.#connIds = [];
      for (const s of this.subscribers) this.#connIds.push(s.connId);
    }
    return this.#connIds;
  }
  changed(): void {
    this.#connIds = null;
  }
}

/**
 * The broker of one realm: exact-topic subscriptions and EVENT fan-out. Routing decisions
 * (which subscription a topic reaches) live in `#topics` alone, so a backplane can deliver a
 * remote publication through `deliver` without touching SUBSCRIBE handling.
 */
export class Broker {
  #topics = new Map<string, Subscription>();
  #byId = new Map<number, Subscription>();

  constructor(readonly out: Output) {}

  subscribe(s: Session, requestId: number, options: Dict, topic: string): void {
    if (options.match !== undefined && options.match !== 'exact') {
      throw new WampError(Uri.INVALID_ARGUMENT, `subscription match '${String(options.match)}' is not supported`);
    }
    let sub = this.#topics.get(topic);
    if (sub === undefined) {
      let id = randomId();
      while (this.#byId.has(id)) id = randomId();
      sub = new Subscription(id, topic);
      this.#topics.set(topic, sub);
      this.#byId.set(id, sub);
    }
    if (!sub.subscribers.has(s)) {
      sub.subscribers.add(s);
      sub.changed();
      s.subscriptions.add(sub);
    }
    this.out.send(s.connId, [MsgType.SUBSCRIBED, requestId, sub.id]);
  }

  unsubscribe(s: Session, requestId: number, subscriptionId: number): void {
    const sub = this.#byId.get(subscriptionId);
    if (sub === undefined || !sub.subscribers.has(s)) {
      throw new WampError(Uri.NO_SUCH_SUBSCRIPTION);
    }
    this.#remove(s, sub);
    this.out.send(s.connId, [MsgType.UNSUBSCRIBED, requestId]);
  }

  publish(s: Session, msg: unknown[], disclose: boolean): void {
    const requestId = msg[1] as number;
    const options = msg[2] as Dict;
    const publication = randomId();
    const sub = this.#topics.get(msg[3] as string);
    if (sub !== undefined) {
      let details: Dict = {};
      if (disclose) {
        details = { publisher: s.id, publisher_authid: s.authid, publisher_authrole: s.authrole };
      }
      // WAMP spec, "Publisher Exclusion": the publisher does not receive its own event unless
      // it asks with exclude_me: false.
      const exclude = options.exclude_me !== false && sub.subscribers.has(s) ? s : undefined;
      this.deliver(sub, publication, details, msg, exclude);
    }
    if (options.acknowledge === true) {
      this.out.send(s.connId, [MsgType.PUBLISHED, requestId, publication]);
    }
  }

  /** Sends one EVENT to every subscriber of `sub` (one FANOUT: encoded once per serializer). */
  deliver(sub: Subscription, publication: number, details: Dict, publish: unknown[], exclude?: Session): void {
    let ids = sub.connIds();
    if (exclude !== undefined) {
      const skip = exclude.connId;
      ids = ids.filter((c) => c !== skip);
    }
    if (ids.length === 0) return;
    // The payload (Arguments, ArgumentsKw) is copied verbatim from PUBLISH (WAMP spec, "EVENT").
    const event: unknown[] = [MsgType.EVENT, sub.id, publication, details];
    for (let i = 4; i < publish.length; i++) event.push(publish[i]);
    this.out.fanout(ids, event);
  }

  #remove(s: Session, sub: Subscription): void {
    sub.subscribers.delete(s);
    sub.changed();
    s.subscriptions.delete(sub);
    if (sub.subscribers.size === 0) {
      this.#topics.delete(sub.topic);
      this.#byId.delete(sub.id);
    }
  }

  /** Drops every subscription of a session that left. */
  leave(s: Session): void {
    for (const sub of s.subscriptions) this.#remove(s, sub);
  }
}
