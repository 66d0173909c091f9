/**
 * What the survivors need when a node dies (docs/cluster.md, "Node failures: on_leave and
 * testaments"): each node keeps the other nodes informed of its sessions (session id, authid,
 * authrole: the `wamp.session.on_leave` payload) and of their testaments (WAMP spec, "Session
 * Testament": topic, args, kwargs, publish options), so that when membership declares a node dead
 * (workers/cluster/membership.ts `down`) one survivor publishes `on_leave` for each of its sessions
 * and fires their testaments, as the dead node's realm would have done (workers/realm.ts #release, with workers/meta-events.ts).
 *
 * Replication, per realm, on `cw.<realm>.w` (announcements to every node) and on the members'
 * direct subjects (snapshots):
 * - `['j', member, realm, session, authid, authrole]` a session joined;
 * - `['q', member, realm, session]` a session left (its node published its on_leave itself);
 * - `['t', member, realm, session, testaments]` the session's testaments now (after add or flush);
 * - `['w', member, realm, ask, sessions]` a whole snapshot: sent directly to a member heard for
 *   the first time or again (which answers with its own when `ask`), and to every live member after
 *   a reconnection to NATS; announced to every node (`ask` false) when the connection first comes
 *   up, since sessions may have joined (and added testaments) before: their `j` and `t` reached
 *   nobody, and a node killed before the heartbeat-driven exchange would take them with it;
 * - `['f', member, realm, dead]` `member` fired `dead`'s sessions (the others forget them, also when
 *   it comes before they declared `dead` dead themselves);
 * - `['n', member, realm, dead]` `member` was chosen to fire `dead`'s sessions but does not know them.
 *
 * Who fires: the member with the smallest id among this member and the live members known to serve
 * the realm (those that sent a snapshot or an announcement for it) that were known here before the
 * dead member's last heartbeat (Membership.tick): those heard that heartbeat too, so they declare it
 * dead as well (a node that joined after it died never would). Every member sees the same messages
 * in nearly the same order, so normally all agree. The others keep the dead member's sessions (as
 * orphans) until the chosen one says it fired them (`f`), or until it is declared dead itself: then
 * the choice is made again among those left, so a survivor killed together with the dead node does
 * not take the dead node's testaments with it. A chosen member that never got the dead member's
 * sessions (it joined just before that died) says so (`n`): the choice is made again without it.
 * A member that said it is shutting down (`left`) publishes its own on_leave events and testaments
 * as its sessions close: nothing is fired for it.
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
import type { RealmServices as Realm, WillsBackplane } from '../services.js';
import { type Session, SessionState, type Testament } from '../session.js';
import type { Membership, MembershipEvents } from './membership.js';

/** Most sessions of one member this node keeps. */
export const MAX_REMOTE_SESSIONS = 200_000;
/** How long the other survivors keep a dead member's sessions waiting for the chosen one's `f` (and remember an `f`). */
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
  /** The tick of the dead member's last heartbeat (who may be chosen). */
  heard: number;
  timer: NodeJS.Timeout;
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
      // Sessions that joined before the connection was up (their announcements reached nobody):
      // every node knows them before anything else this node sends (one connection, in order).
      r.announceAll();
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

  down(member: string, heard: number): void {
    // The session count follows membership at once, not the reports' own staleness.
    this.link.forget(member);
    for (const r of this.#realms.values()) r.gone(member, heard);
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
  /** Members another survivor said it fired (`f`) before this one declared them dead: nothing to keep for them. */
  readonly #fired = new Map<string, NodeJS.Timeout>();
  /** When each member of #members was first heard of (Membership.tick). */
  readonly #since = new Map<string, number>();
  /** Dead members, and the members that said they cannot fire their sessions (`n`). */
  readonly #declined = new Map<string, { members: Set<string>; timer: NodeJS.Timeout }>();
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
    this.cw.membership.send(member, ['w', this.#me, this.realm.name, ask, this.#snapshot()]);
  }

  /** Announces this node's sessions of the realm to every node (no answer asked). */
  announceAll(): void {
    this.cw.broadcast(this.realm.name, ['w', this.#me, this.realm.name, false, this.#snapshot()]);
  }

  #snapshot(): unknown[] {
    const sessions: unknown[] = [];
    for (const s of this.realm.sessions.values()) {
      if (s.state === SessionState.ESTABLISHED) sessions.push([s.id, s.authid, s.authrole, s.testaments.map(wire)]);
    }
    return sessions;
  }

  // ---- the other nodes' sessions ------------------------------------------------------------

  synced(member: string, msg: unknown[]): void {
    if (!Array.isArray(msg[4])) return;
    this.#leaving.delete(member);
    this.#dropOrphan(member); // heard again: it was not dead after all
    this.#unfired(member);
    const fresh = new Map<number, Remote>();
    this.#members.set(member, fresh);
    if (!this.#since.has(member)) this.#since.set(member, this.cw.membership.tick);
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
      if (typeof msg[3] === 'string' && msg[3] !== this.#me) this.#firedBy(msg[3]);
      return;
    }
    if (kind === 'w') {
      this.synced(member, msg);
      return;
    }
    if (kind === 'n') {
      if (typeof msg[3] === 'string') this.#decline(msg[3], member);
      return;
    }
    if (!Number.isSafeInteger(msg[3])) return;
    const id = msg[3] as number;
    let sessions = this.#members.get(member);
    if (sessions === undefined) {
      this.#members.set(member, (sessions = new Map()));
      if (!this.#since.has(member)) this.#since.set(member, this.cw.membership.tick);
    }
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

  /** `member` was declared dead (`heard`: the tick of its last heartbeat): its sessions are fired here if this member is the one chosen. */
  gone(member: string, heard: number): void {
    const sessions = this.#members.get(member);
    this.#members.delete(member);
    this.#since.delete(member);
    const graceful = this.#leaving.delete(member);
    // Orphans whose chosen survivor is the one that just died: chosen again among those left.
    for (const [dead, o] of [...this.#orphans]) if (o.assignee === member) this.#settle(dead, o.sessions, o.heard);
    // Another survivor declared it dead first and fired its sessions already.
    const fired = this.#unfired(member);
    if (graceful || fired) return;
    this.#settle(member, sessions ?? null, heard);
  }

  /** `member` said it cannot fire `dead`'s sessions: chosen again without it. */
  #decline(dead: string, member: string): void {
    let d = this.#declined.get(dead);
    if (d === undefined) {
      const timer = setTimeout(() => this.#declined.delete(dead), ORPHAN_TTL_MS);
      timer.unref();
      this.#declined.set(dead, (d = { members: new Set(), timer }));
    }
    d.members.add(member);
    const o = this.#orphans.get(dead);
    if (o !== undefined && o.assignee === member) this.#settle(dead, o.sessions, o.heard);
  }

  /** Another survivor fired `dead`'s sessions: forgotten here now, or when this member declares it dead. */
  #firedBy(dead: string): void {
    if (this.#dropOrphan(dead)) return;
    this.#unfired(dead);
    const timer = setTimeout(() => this.#fired.delete(dead), ORPHAN_TTL_MS);
    timer.unref();
    this.#fired.set(dead, timer);
  }

  /** Forgets that another survivor fired `member`'s sessions; whether it had. */
  #unfired(member: string): boolean {
    const timer = this.#fired.get(member);
    if (timer === undefined) return false;
    clearTimeout(timer);
    this.#fired.delete(member);
    return true;
  }

  /**
   * Fires `dead`'s sessions (null: never learned) if this member is the chosen survivor (or says it
   * cannot); otherwise keeps them as orphans.
   */
  #settle(dead: string, sessions: Map<number, Remote> | null, heard: number): void {
    this.#dropOrphan(dead);
    const declined = this.#declined.get(dead)?.members;
    let chosen = this.#me;
    for (const m of this.#members.keys()) {
      if (m === dead || m >= chosen || !this.cw.membership.alive(m) || declined?.has(m)) continue;
      // Known here only after the dead member's last heartbeat: it may never have heard of it.
      if ((this.#since.get(m) ?? heard) >= heard) continue;
      chosen = m;
    }
    if (chosen === this.#me) {
      if (sessions !== null) this.#fire(dead, sessions);
      else this.cw.broadcast(this.realm.name, ['n', this.#me, this.realm.name, dead]);
      return;
    }
    if (sessions === null || sessions.size === 0) return;
    const timer = setTimeout(() => this.#orphans.delete(dead), ORPHAN_TTL_MS);
    timer.unref();
    this.#orphans.set(dead, { sessions, assignee: chosen, heard, timer });
  }

  /** What the dead node's realm would have published for each of its sessions (workers/realm.ts #release, with workers/meta-events.ts). */
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

  /** Forgets the orphans of `dead`; whether there were. */
  #dropOrphan(dead: string): boolean {
    const o = this.#orphans.get(dead);
    if (o === undefined) return false;
    clearTimeout(o.timer);
    this.#orphans.delete(dead);
    return true;
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
