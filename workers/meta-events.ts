/**
 * The meta events a realm publishes (WAMP spec, "Session Meta API", "Subscription/Registration
 * Meta API", "Session Testament"), when its meta API is on; none for wamp.* URIs. The broker and
 * dealer tell it of their changes (BrokerEvents, DealerEvents); the realm of joins and leaves.
 */
import type { Dict } from '../src/shared/wamp/messages.js';
import { isReservedUri } from '../src/shared/wamp/uris.js';
import type { BrokerEvents } from './broker.js';
import type { DealerEvents } from './dealer.js';
import { RemoteSession } from './cluster/remote-session.js';
import type { RealmServices } from './services.js';
import type { Session } from './session.js';

export class MetaEvents implements BrokerEvents, DealerEvents {
  constructor(readonly realm: RealmServices) {}

  /** wamp.session.on_join. */
  joined(s: Session): void {
    const { broker } = this.realm;
    if (this.realm.metaApi && broker.mayReach('wamp.session.on_join')) broker.publishInternal('wamp.session.on_join', [s.details()]);
  }

  /** wamp.session.on_leave, then the session's testaments. */
  left(s: Session): void {
    if (!this.realm.metaApi) return;
    const { broker } = this.realm;
    if (broker.mayReach('wamp.session.on_leave')) broker.publishInternal('wamp.session.on_leave', [s.id, s.authid, s.authrole]);
    // WAMP spec, "Session Testament": detached-scope first, then destroyed (no resumption here).
    for (const scope of ['detached', 'destroyed'] as const) {
      for (const t of s.testaments) if (t.scope === scope) broker.publishInternal(t.topic, t.args, t.kwargs, t.options);
    }
  }

  #event(topic: string, s: Session, uri: string, arg: unknown): void {
    if (s instanceof RemoteSession) return; // a callee on another node: its own node publishes these
    const { broker } = this.realm;
    if (this.realm.metaApi && !isReservedUri(uri) && broker.mayReach(topic)) broker.publishInternal(topic, [s.id, arg]);
  }
  created(s: Session, x: { topic?: string; procedure?: string; info(): Dict }): void {
    if ('topic' in x) this.#event('wamp.subscription.on_create', s, x.topic!, x.info());
    else this.#event('wamp.registration.on_create', s, x.procedure!, x.info());
  }
  subscribed(s: Session, sub: { id: number; topic: string }): void {
    this.#event('wamp.subscription.on_subscribe', s, sub.topic, sub.id);
  }
  unsubscribed(s: Session, sub: { id: number; topic: string }): void {
    this.#event('wamp.subscription.on_unsubscribe', s, sub.topic, sub.id);
  }
  registered(s: Session, reg: { id: number; procedure: string }): void {
    this.#event('wamp.registration.on_register', s, reg.procedure, reg.id);
  }
  unregistered(s: Session, reg: { id: number; procedure: string }): void {
    this.#event('wamp.registration.on_unregister', s, reg.procedure, reg.id);
  }
  deleted(s: Session, x: { id: number; topic?: string; procedure?: string }): void {
    if ('topic' in x) this.#event('wamp.subscription.on_delete', s, x.topic!, x.id);
    else this.#event('wamp.registration.on_delete', s, x.procedure!, x.id);
  }
}
