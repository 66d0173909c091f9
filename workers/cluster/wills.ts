/**
 * What the survivors need when a node dies (docs/cluster.md, "Node failures: on_leave and
 * testaments"): each node keeps the other nodes informed of its sessions (session id, authid,
 * authrole: the `wamp.session.on_leave` payload) and of their testaments (WAMP spec, "Session
 * Testament": topic, args, kwargs, publish options), so that when membership declares a node dead
 * (workers/cluster/membership.ts `down`) one survivor publishes `on_leave` for each of its sessions
 * and fires their testaments, as the dead node's realm would have done (workers/realm.ts, #release).
 *
 * Replication, per realm, on `cw.<realm>.w` (announcements to every node) and on the members'
 * direct subjects (snapshots):
 * - `['j', member, realm, session, authid, authrole]` a session joined;
 * - `['q', member, realm, session]` a session left (its node published its on_leave itself);
 * - `['t', member, realm, session, testaments]` the session's testaments now (after add or flush);
 * - `['w', member, realm, ask, sessions]` (direct) a whole snapshot, sent to a member heard for the
 *   first time or again (which answers with its own when `ask`), and to every live member after a
 *   reconnection to NATS;
 * - `['f', member, realm, dead]` `member` fired `dead`'s sessions (the others forget them).
 *
 * Who fires: the member with the smallest id among this member and the live members known to serve
 * the realm (those that sent a snapshot or an announcement for it). Every member sees the same
 * heartbeats, so normally all agree. The others keep the dead member's sessions (as orphans) until
 * the chosen one says it fired them (`f`), or until it is declared dead itself: then the choice is
 * made again among those left, so a survivor killed together with the dead node does not take the
 * dead node's testaments with it. A member that said it is shutting down (`left`) publishes its
 * own on_leave events and testaments as its sessions close: nothing is fired for it.
 *
 * Bounds: per member, at most MAX_REMOTE_SESSIONS sessions, and per session at most the realm's
 * max_testaments_per_session testaments of about max_testament_bytes_per_session bytes
 * (workers/limits.ts; every node has the same config): more is ignored and logged.
 */
import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from '../../src/shared/log.js';
import { msgpackSerializer } from '../../src/shared/serializers/msgpack.js';
import { type Dict, isDict } from '../../src/shared/wamp/messages.js';
import { type ClusterLink, natsToken } from '../cluster.js';
import { approxSize } from '../limits.js';
import type { Realm } from '../realm.js';
import { type Session, SessionState, type Testament } from '../session.js';
import type { Membership, MembershipEvents } from './membership.js';

/** Most sessions of one member this node keeps. */
export const MAX_REMOTE_SESSIONS = 200_000;
/** How long the other survivors keep a dead member's sessions waiting for the chosen one's `f`. */
const ORPHAN_TTL_MS = 30_000;

/** A testament as carried: [topic, args, kwargs, options, scope]. */
type Will = [string, unknown[], Dict, Dict, 'detached' | 'destroyed'];
/** A remote session: authid, authrole, testaments. */
interface Remote {
  authid: string;
  authrole: string;
  wills: Will[];
}

const wire = (t: Testament): Will => [t.topic, t.args, t.kwargs, t.options, t.scope];

function validWill(w: unknown): w is Will {
  return Array.isArray(w) && typeof w[0] === 'string' && Array.isArray(w[1]) && isDict(w[2]) && isDict(w[3]) && (w[4] === 'detached' || w[4] === 'destroyed');
}

/** The sessions of a member that died, kept until `assignee` fired them. */
interface Orphan {
  sessions: Map<number, Remote>;
  assignee: string;
  timer: NodeJS.Timeout;
}

/** The realm side: told by workers/realm.ts of its sessions' joins, leaves and testaments. */
export interface WillsBackplane {
  joined(s: Session): void;
  left(s: Session): void;
  testamentsChanged(s: Session): void;
}

/** One worker's part: membership listener, and one RealmWills per realm with the meta API. */
export class ClusterWills implements MembershipEvents {
  readonly #realms = new Map<string, RealmWills>();
  readonly #subs: Subscription[] = [];
  #nc: NatsConnection | null = null;

  constructor(
    readonly membership: Membership,
    readonly link: ClusterLink,
    readonly log: Logger,
  ) {
    membership.listeners.push(this);
  }

  get me(): string {
    return this.membership.id;
  }

  attach(realm: Realm): void {
    // Without the meta API a realm publishes neither on_leave nor testaments (workers/realm.ts).
    if (!realm.metaApi) return;
    const r = new RealmWills(this, realm);
    this.#realms.set(realm.name, r);
    realm.wills = r;
  }

  connected(nc: NatsConnection): void {
    this.#nc = nc;
    for (const r of this.#realms.values()) {
      this.#subs.push(
        nc.subscribe(`cw.${natsToken(r.realm.name)}.w`, {
          callback: (err, m) => {
            if (err === null) this.#safely(() => r.announced(msgpackSerializer.decode(m.data) as unknown[]));
          },
        }),
      );
    }
  }

  rejoined(): void {
    // Announcements made meanwhile were lost both ways: snapshots again.
    for (const member of this.membership.alivePeers()) for (const r of this.#realms.values()) r.sync(member, true);
  }

  up(member: string): void {
    for (const r of this.#realms.values()) r.sync(member, true);
  }

  left(member: string): void {
    for (const r of this.#realms.values()) r.leaving(member);
  }

  down(member: string): void {
    // The session count follows membership at once, not the reports' own staleness.
    this.link.forget(member);
    for (const r of this.#realms.values()) r.gone(member);
  }

  direct(from: string, msg: unknown[]): void {
    if (msg[0] !== 'w') return;
    this.#realms.get(msg[2] as string)?.synced(from, msg);
  }

  broadcast(realm: string, msg: unknown[]): void {
    try {
      this.link.flushDirect();
      this.#nc?.publish(`cw.${natsToken(realm)}.w`, msgpackSerializer.encode(msg));
    } catch (e) {
      this.log.warn({ err: String(e) }, 'cluster: a session change did not reach the other nodes');
    }
  }

  #safely(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.warn({ err: String(e) }, 'cluster: cannot handle a session message from another node');
    }
  }
}

class RealmWills implements WillsBackplane {
  /** The other members' sessions of this realm. */
  readonly #members = new Map<string, Map<number, Remote>>();
  /** Members that said they are shutting down: they publish their own on_leave and testaments. */
  readonly #leaving = new Set<string>();
  /** Dead members whose sessions another survivor was chosen to fire. */
  readonly #orphans = new Map<string, Orphan>();
  #warned = 0;

  constructor(
    readonly cw: ClusterWills,
    readonly realm: Realm,
  ) {}

  get #me(): string {
    return this.cw.me;
  }

  // ---- this node's sessions -----------------------------------------------------------------

  joined(s: Session): void {
    this.cw.broadcast(this.realm.name, ['j', this.#me, this.realm.name, s.id, s.authid, s.authrole]);
  }

  left(s: Session): void {
    this.cw.broadcast(this.realm.name, ['q', this.#me, this.realm.name, s.id]);
  }

  testamentsChanged(s: Session): void {
    this.cw.broadcast(this.realm.name, ['t', this.#me, this.realm.name, s.id, s.testaments.map(wire)]);
  }

  /** Sends this node's sessions of the realm to `member` (which answers with its own if `ask`). */
  sync(member: string, ask: boolean): void {
    const sessions: unknown[] = [];
    for (const s of this.realm.sessions.values()) {
      if (s.state === SessionState.ESTABLISHED) sessions.push([s.id, s.authid, s.authrole, s.testaments.map(wire)]);
    }
    this.cw.membership.send(member, ['w', this.#me, this.realm.name, ask, sessions]);
  }

  // ---- the other nodes' sessions ------------------------------------------------------------

  synced(member: string, msg: unknown[]): void {
    if (!Array.isArray(msg[4])) return;
    this.#leaving.delete(member);
    this.#dropOrphan(member); // heard again: it was not dead after all
    const fresh = new Map<number, Remote>();
    this.#members.set(member, fresh);
    for (const e of msg[4]) {
      if (!Array.isArray(e) || !Number.isSafeInteger(e[0]) || typeof e[1] !== 'string' || typeof e[2] !== 'string') continue;
      if (!this.#room(member, fresh)) break;
      fresh.set(e[0] as number, { authid: e[1], authrole: e[2], wills: this.#wills(member, e[3]) });
    }
    if (msg[3] === true) this.sync(member, false);
  }

  announced(msg: unknown[]): void {
    const [kind, member] = msg;
    if (typeof member !== 'string' || member === this.#me) return;
    if (kind === 'f') {
      if (typeof msg[3] === 'string') this.#dropOrphan(msg[3]);
      return;
    }
    if (!Number.isSafeInteger(msg[3])) return;
    const id = msg[3] as number;
    let sessions = this.#members.get(member);
    if (sessions === undefined) this.#members.set(member, (sessions = new Map()));
    if (kind === 'j' && typeof msg[4] === 'string' && typeof msg[5] === 'string') {
      if (sessions.has(id) || this.#room(member, sessions)) sessions.set(id, { authid: msg[4], authrole: msg[5], wills: sessions.get(id)?.wills ?? [] });
    } else if (kind === 'q') sessions.delete(id);
    else if (kind === 't') {
      const r = sessions.get(id);
      if (r !== undefined) r.wills = this.#wills(member, msg[4]);
    }
  }

  leaving(member: string): void {
    this.#leaving.add(member);
  }

  /** `member` was declared dead: its sessions are fired here if this member is the one chosen. */
  gone(member: string): void {
    const sessions = this.#members.get(member);
    this.#members.delete(member);
    const graceful = this.#leaving.delete(member);
    // Orphans whose chosen survivor is the one that just died: chosen again among those left.
    for (const [dead, o] of [...this.#orphans]) if (o.assignee === member) this.#settle(dead, o.sessions);
    if (sessions === undefined || graceful) return;
    this.#settle(member, sessions);
  }

  /** Fires `dead`'s sessions if this member is the chosen survivor; otherwise keeps them as orphans. */
  #settle(dead: string, sessions: Map<number, Remote>): void {
    this.#dropOrphan(dead);
    let chosen = this.#me;
    for (const m of this.#members.keys()) if (m !== dead && m < chosen && this.cw.membership.alive(m)) chosen = m;
    if (chosen === this.#me) {
      this.#fire(dead, sessions);
      return;
    }
    if (sessions.size === 0) return;
    const timer = setTimeout(() => this.#orphans.delete(dead), ORPHAN_TTL_MS);
    timer.unref();
    this.#orphans.set(dead, { sessions, assignee: chosen, timer });
  }

  /** What the dead node's realm would have published for each of its sessions (workers/realm.ts #release). */
  #fire(dead: string, sessions: Map<number, Remote>): void {
    if (sessions.size > 0) this.cw.log.info({ member: dead, realm: this.realm.name, sessions: sessions.size }, 'cluster: publishing on_leave and testaments of a dead node');
    const broker = this.realm.broker;
    for (const [id, r] of sessions) {
      if (broker.mayReach('wamp.session.on_leave')) broker.publishInternal('wamp.session.on_leave', [id, r.authid, r.authrole]);
      for (const scope of ['detached', 'destroyed'] as const) {
        for (const w of r.wills) if (w[4] === scope) broker.publishInternal(w[0], w[1], w[2], w[3]);
      }
    }
    // The others keeping them as orphans forget them (after the events: one connection, in order).
    this.cw.broadcast(this.realm.name, ['f', this.#me, this.realm.name, dead]);
  }

  #dropOrphan(dead: string): void {
    const o = this.#orphans.get(dead);
    if (o === undefined) return;
    clearTimeout(o.timer);
    this.#orphans.delete(dead);
  }

  #room(member: string, sessions: Map<number, Remote>): boolean {
    if (sessions.size < MAX_REMOTE_SESSIONS) return true;
    this.#warn(member, `more than ${MAX_REMOTE_SESSIONS} sessions announced by one node: ignored`);
    return false;
  }

  /** A session's testaments as announced, within the realm's per-session limits. */
  #wills(member: string, v: unknown): Will[] {
    if (!Array.isArray(v)) return [];
    const wills = v.filter(validWill);
    const { max_testaments_per_session: maxCount, max_testament_bytes_per_session: maxBytes } = this.realm.limits;
    // The limit counts add_testament CALL frames; their content is estimated here, with room for the estimate's error.
    const cap = maxBytes > 0 ? 2 * maxBytes + 1024 : Number.POSITIVE_INFINITY;
    if ((maxCount > 0 && wills.length > maxCount) || approxSize(wills, cap) > cap) {
      this.#warn(member, 'testaments over the per-session limits announced by another node: ignored');
      return [];
    }
    return wills;
  }

  #warn(member: string, what: string): void {
    const now = Date.now();
    if (now - this.#warned < 5000) return;
    this.#warned = now;
    this.cw.log.warn({ member, realm: this.realm.name }, `cluster: ${what}`);
  }
}
