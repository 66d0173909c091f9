/**
 * RPC across the nodes of a cluster (docs/cluster.md, "Calls across nodes").
 *
 * Directory: every node announces each callee of its own sessions on `cw.<realm>.rpc` (added,
 * removed) and sends a whole snapshot of them directly to a member it hears for the first time
 * (workers/cluster/membership.ts), which answers with its own. Each node keeps the other nodes'
 * callees in its own dealer, as stand-in sessions (RemoteSession) on internal pseudo-connections:
 * routing (exact, prefix, wildcard precedence), the invocation policies, feature checks, caller
 * disclosure, timeouts and canceling are then the dealer's own code, over the callees of all nodes.
 * Callees are ordered cluster-wide by (time of registration on their node, member, sequence), so
 * `first` and `last` name the same callee on every node (given clocks in step).
 *
 * A call to a remote callee: the dealer sends the INVOCATION to the stand-in, whose pseudo-
 * connection hands it to the callee's node (direct subject of its member); there a stand-in for the
 * caller holds the invocation, and the callee's YIELD/ERROR comes back to the caller's node the
 * same way, where it is the stand-in callee's answer. INTERRUPTs (CANCEL kill/killnowait, timeouts)
 * travel the same way. A member that dies (membership `down`) takes its stand-ins with it: calls
 * in flight to its callees end with ERROR wamp.error.canceled for their callers, invocations it
 * made here are interrupted (WAMP spec, "Caller Leaving" / "Callee Leaving").
 *
 * Uniqueness: the first callee of a registration on a node claims it in a JetStream KV bucket
 * (https://docs.nats.io/nats-concepts/jetstream/key-value-store), one key per (realm, match,
 * procedure) whose value is the policy and the members with callees of it. Every write is a
 * compare-and-set (`create` fails when the key exists, `update` when its revision moved on), so
 * of two nodes racing only one gets a `single` registration, and a `single` and a shared one, or
 * two shared ones with different policies, cannot both be registered either. Members that are not
 * alive do not count, so a dead node's claims never block a procedure for good. A node removes
 * itself from the value when its last callee of the registration goes. A node that was cut off
 * claims its registrations again on reconnection; one that lost a claim to a live node meanwhile
 * revokes its callees of it.
 *
 * force_reregister (Crossbar's): a request `t` on the realm's subject makes every node revoke its
 * callees of the procedure (the nodes known to have some answer once done); then the claim is
 * overwritten with the registering member alone, and the dealer registers as on one node.
 */
import { createHash } from 'node:crypto';
import type { KV, Msg, NatsConnection, Subscription } from 'nats';
import type { Logger } from '../../src/shared/log.js';
import { SERIALIZER_LIST } from '../../src/shared/serializers/index.js';
import { decodeJsonTail } from '../../src/shared/serializers/json.js';
import { msgpackSerializer } from '../../src/shared/serializers/msgpack.js';
import { MsgType } from '../../src/shared/wamp/codes.js';
import { type TailedMessage, tailStart } from '../../src/shared/wamp/json-tail.js';
import { type Dict, isDict, WampError } from '../../src/shared/wamp/messages.js';
import { Uri } from '../../src/shared/wamp/uris.js';
import type { InternalOutput } from '../auth/internal-caller.js';
import { RolePermissions } from '../authorizer.js';
import { natsToken } from '../cluster.js';
import { type Callee, type DealerBackplane, holdSlot, Invocation, type InvokePolicy, maxConcurrency, type Registration } from '../dealer.js';
import type { Match } from '../match/uri-index.js';
import type { RealmServices as Realm } from '../services.js';
import { type Session, SessionState } from '../session.js';
import type { Membership, MembershipEvents } from './membership.js';
import { META_TIMEOUT_MS } from './meta.js';
import { RemoteSession } from './remote-session.js';

/** The JetStream KV bucket of `single` claims. */
export const SINGLE_BUCKET = 'crosswire_single';
/** What one member can make this node hold: callees in the directory, invocations waiting here. */
export const MAX_REMOTE_CALLEES = 100_000;
export const MAX_REMOTE_PENDING = 10_000;
/** Crossbar's reason for callees that a force_reregister took a procedure from (as on one node, workers/dealer.ts). */
const FORCE_REREGISTER = 'wamp.error.force_reregister';

/** Callee features that matter to the caller's node (the rest stay with the callee's node). */
const FEATURES = [
  'progressive_call_results',
  'progressive_call_invocations',
  'call_timeout',
  'call_canceling',
  'payload_passthru_mode',
  'registration_revocation',
] as const;

/** Where a callee stands in the cluster-wide order: registered at `at` (ms) on member's node, its `seq`-th there. */
type Order = [at: number, member: string, seq: number];
const before = (a: Order, b: Order): boolean => a[0] !== b[0] ? a[0] < b[0] : a[1] !== b[1] ? a[1] < b[1] : a[2] < b[2];

/**
 * One callee as announced: [session, procedure, match, invoke, at, seq, forwardTimeout, filtered,
 * authid, authrole, features, concurrency]. `concurrency` (REGISTER.Options.concurrency, 0: none)
 * is missing from a node of an earlier version: no limit known here.
 */
type Entry = [number, string, Match, InvokePolicy, number, number, boolean, boolean, string, string, Dict, number?];

const MATCHES = new Set(['exact', 'prefix', 'wildcard']);
const POLICIES = new Set(['single', 'roundrobin', 'random', 'first', 'last']);

function validEntry(e: unknown): e is Entry {
  return (
    Array.isArray(e) &&
    Number.isSafeInteger(e[0]) &&
    typeof e[1] === 'string' &&
    MATCHES.has(e[2] as string) &&
    POLICIES.has(e[3] as string) &&
    typeof e[4] === 'number' &&
    typeof e[5] === 'number' &&
    typeof e[6] === 'boolean' &&
    typeof e[7] === 'boolean' &&
    typeof e[8] === 'string' &&
    typeof e[9] === 'string' &&
    isDict(e[10]) &&
    (e[11] === undefined || (Number.isSafeInteger(e[11]) && (e[11] as number) >= 0))
  );
}

/** SERIALIZER_LIST's index of JSON (Session.transport.serIndex). */
const JSON_INDEX = SERIALIZER_LIST.findIndex((s) => s.name === 'json');

/**
 * An INVOCATION or an answer as it travels to another node: `[message, tail, count]`. A message
 * with a JSON tail (the payload's JSON text, src/shared/wamp/json-tail.ts) leaves its payload
 * elements behind and travels as its head, the tail and how many elements it had: the values
 * cross once (as text), not twice; the receiving node decodes them only for a receiver that does
 * not speak JSON (received()). Without a tail: the whole message, null, 0.
 */
function onWire(m: unknown[]): [unknown[], string | null, number] {
  const tail = (m as TailedMessage).jsonTail;
  if (tail === undefined) return [m, null, 0];
  const k = tailStart(m);
  return k === 0 || m.length <= k ? [m, tail, 0] : [m.slice(0, k), tail, m.length - k];
}

/**
 * A message from another node made whole again (onWire): the payload elements are placeholders
 * when its receiver `to` speaks JSON (it gets the tail), else the values decoded from the tail.
 * False when the record is malformed.
 */
function received(m: TailedMessage, tail: unknown, count: unknown, to: Session | undefined): boolean {
  if (typeof tail !== 'string') return true;
  m.jsonTail = tail;
  if (count === 0 || count === undefined) return true; // the values travelled too
  if (count !== 1 && count !== 2) return false;
  if (to !== undefined && to.transport.serIndex === JSON_INDEX) {
    for (let i = 0; i < count; i++) m.push(null);
    return true;
  }
  let values: unknown[];
  try {
    values = decodeJsonTail(tail);
  } catch {
    return false;
  }
  if (values.length !== count) return false;
  for (const v of values) m.push(v);
  return true;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The RPC side of one worker's cluster link: one RealmRpc per realm. */
export class ClusterRpc implements MembershipEvents {
  readonly #realms = new Map<string, RealmRpc>();
  readonly #subs: Subscription[] = [];
  /** The `single` claims bucket once opened; null: not (yet) available. */
  kv: KV | null = null;
  #kvOpening: Promise<KV | null> | null = null;
  #kvWarned = false;
  #prune: NodeJS.Timeout | null = null;

  constructor(
    readonly membership: Membership,
    readonly out: InternalOutput,
    readonly log: Logger,
  ) {
    membership.listeners.push(this);
  }

  get me(): string {
    return this.membership.id;
  }

  attach(realm: Realm): void {
    const r = new RealmRpc(this, realm);
    this.#realms.set(realm.name, r);
    realm.dealer.cluster = r;
  }

  /** The claims bucket, opened on first use (null when JetStream is not available: claims are then per node). */
  openKv(): Promise<KV | null> {
    if (this.kv !== null) return Promise.resolve(this.kv);
    const nc = this.#nc;
    if (nc === null) return Promise.resolve(null);
    const js = nc.jetstream();
    // Once more on failure: nodes starting together race to create the bucket's stream.
    this.#kvOpening ??= js.views
      .kv(SINGLE_BUCKET, { history: 1 })
      .catch(() => js.views.kv(SINGLE_BUCKET, { history: 1 }))
      .then(
        (kv) => {
          this.kv = kv;
          // Registrations made while it could not be opened are claimed now.
          if (this.#kvWarned) queueMicrotask(() => this.revalidate());
          return kv;
        },
        (e: unknown) => {
          if (!this.#kvWarned) {
            this.#kvWarned = true;
            this.log.warn({ err: String(e) }, 'cluster: no JetStream KV: single registrations are unique per node only until it is available');
          }
          return null;
        },
      )
      .finally(() => (this.#kvOpening = null));
    return this.#kvOpening;
  }

  #nc: NatsConnection | null = null;

  connected(nc: NatsConnection): void {
    this.#nc = nc;
    for (const r of this.#realms.values()) {
      this.#subs.push(
        nc.subscribe(`cw.${natsToken(r.realm.name)}.rpc`, {
          callback: (err, m) => {
            if (err === null) this.#safely(() => r.announced(msgpackSerializer.decode(m.data) as unknown[], m));
          },
        }),
      );
    }
    this.#prune = setInterval(() => {
      for (const r of this.#realms.values()) r.prune();
    }, 10_000);
    this.#prune.unref();
    void this.openKv().then(() => this.revalidate());
  }

  /**
   * Back after losing NATS: what the other nodes announced meanwhile was lost, so every live member
   * is asked for its callees again (and gets this node's), and the claims are made again.
   */
  rejoined(): void {
    for (const member of this.membership.alivePeers()) for (const r of this.#realms.values()) r.sync(member, true);
    void this.openKv().then(() => this.revalidate());
  }

  revalidate(): void {
    for (const r of this.#realms.values()) r.revalidate();
  }

  /** Calls in flight across nodes now, for the metrics (counted when asked, nothing per call). */
  inFlight(): { remoteCallsOut: number; remoteCallsIn: number } {
    let remoteCallsOut = 0;
    let remoteCallsIn = 0;
    for (const r of this.#realms.values()) {
      remoteCallsOut += r.callsOut();
      remoteCallsIn += r.callsIn();
    }
    return { remoteCallsOut, remoteCallsIn };
  }

  up(member: string): void {
    for (const r of this.#realms.values()) r.sync(member, true);
  }

  left(member: string): void {
    for (const r of this.#realms.values()) r.withdraw(member);
  }

  down(member: string): void {
    for (const r of this.#realms.values()) r.gone(member);
  }

  direct(from: string, msg: unknown[]): void {
    const r = this.#realms.get(msg[2] as string);
    if (r === undefined) return;
    switch (msg[0]) {
      case 's':
        return r.synced(from, msg);
      case 'i':
        return r.invoked(from, msg);
      case 'x':
        return r.interrupted(from, msg);
      case 'r':
        return r.answered(from, msg);
    }
  }

  /** Announces to every node of the realm. */
  broadcast(realm: string, msg: unknown[]): void {
    try {
      this.membership.link.flushDirect();
      this.#nc?.publish(`cw.${natsToken(realm)}.rpc`, msgpackSerializer.encode(msg));
    } catch (e) {
      this.log.warn({ err: String(e) }, 'cluster: a registration change did not reach the other nodes');
    }
  }

  #safely(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.warn({ err: String(e) }, 'cluster: cannot handle a registration message from another node');
    }
  }
}

/** A registration with callees here, claimed in the KV bucket (or not, while NATS or JetStream was unavailable). */
interface Claim {
  procedure: string;
  match: Match;
  invoke: InvokePolicy;
  claimed: boolean;
}

/** How a claim went: claimed; `unclaimed` (no KV now: registered here, claimed on reconnection); refused. */
type Verdict = 'claimed' | 'unclaimed' | 'taken' | 'other-policy';

/** A claim's value: the registration's policy and the members with callees of it. */
function parseClaim(value: Uint8Array): { invoke: string; members: string[] } {
  try {
    const v = JSON.parse(dec.decode(value)) as { invoke?: unknown; members?: unknown };
    const members = Array.isArray(v.members) ? v.members.filter((m): m is string => typeof m === 'string') : [];
    return { invoke: typeof v.invoke === 'string' ? v.invoke : 'single', members };
  } catch {
    return { invoke: 'single', members: [] };
  }
}

/** The stand-ins for the callers of one member's node (by the id of the callee here they call), and their calls waiting here. */
interface CallersOf {
  byId: Map<number, RemoteSession>;
  pending: number;
}

/** One realm's RPC across nodes; the backplane of its dealer. */
class RealmRpc implements DealerBackplane {
  /** Stand-ins for the callees of other nodes, by member, then session id. */
  readonly #callees = new Map<string, Map<number, RemoteSession>>();
  /** Stand-ins for callers on other nodes, by member (then by the id of the callee here they call), and their calls waiting here. */
  readonly #callers = new Map<string, CallersOf>();
  /** Callees of each member in the directory. */
  readonly #entries = new Map<string, number>();
  readonly #order = new WeakMap<Callee, Order>();
  #seq = 0;
  /** The order of the remote callee being added (read by calleeAdded). */
  #adding: Order | null = null;
  /** Registrations with callees here, by claim key. */
  readonly #claims = new Map<string, Claim>();
  /** KV operations per key, one at a time. */
  readonly #ops = new Map<string, Promise<unknown>>();
  readonly #deny: RolePermissions;

  constructor(
    readonly rpc: ClusterRpc,
    readonly realm: Realm,
  ) {
    this.#deny = new RolePermissions({ name: 'cluster-remote' });
  }

  get #dealer() {
    return this.realm.dealer;
  }

  // ---- the directory --------------------------------------------------------------------

  registrationId(procedure: string, match: Match): number {
    // As subscription ids (workers/cluster.ts): 53 bits of SHA-256, in [1, 2^53] like a random id.
    const h = createHash('sha256').update(`registration\0${match}\0${procedure}`).digest();
    return h.readUIntBE(0, 6) * 32 + (h[6]! >> 3) + 1;
  }

  #entry(s: Session, reg: Registration, c: Callee): Entry {
    const o = this.#order.get(c) ?? [0, this.rpc.me, 0];
    const features: Dict = {};
    for (const f of FEATURES) if (s.has('callee', f)) features[f] = true;
    return [s.id, reg.procedure, reg.match, reg.invoke, o[0], o[2], c.forwardTimeout, c.filtered, s.authid, s.authrole, features, c.concurrency];
  }

  calleeAdded(s: Session, reg: Registration, callee: Callee): void {
    const o: Order = s instanceof RemoteSession ? (this.#adding ?? [Date.now(), s.member, 0]) : [Date.now(), this.rpc.me, ++this.#seq];
    this.#order.set(callee, o);
    // Moved from the end to its place in the cluster-wide order.
    const cs = reg.callees;
    let i = cs.length - 1;
    while (i > 0) {
      const prev = this.#order.get(cs[i - 1]!);
      if (prev === undefined || before(prev, o)) break;
      cs[i] = cs[i - 1]!;
      i--;
    }
    cs[i] = callee;
    if (!(s instanceof RemoteSession)) this.rpc.broadcast(this.realm.name, ['a', this.rpc.me, this.realm.name, this.#entry(s, reg, callee)]);
  }

  calleeRemoved(s: Session, reg: Registration): void {
    if (s instanceof RemoteSession) {
      this.#count(this.#entries, s.member, -1);
      return;
    }
    this.rpc.broadcast(this.realm.name, ['d', this.rpc.me, this.realm.name, s.id, reg.procedure, reg.match]);
    if (!this.#hasLocal(reg)) {
      // Looked at again after the current message: force_reregister removes the old callees first.
      const { procedure, match } = reg;
      queueMicrotask(() => {
        const key = this.#key(procedure, match);
        if (!this.#hasLocal(this.#dealer.lookup(procedure, match)) && this.#claims.delete(key)) this.#release(key, procedure, match);
      });
    }
  }

  /** The local callees, for a snapshot. */
  #snapshot(): Entry[] {
    const entries: Entry[] = [];
    for (const s of this.realm.sessions.values()) {
      if (s.state !== SessionState.ESTABLISHED) continue;
      for (const reg of s.registrations) {
        const c = reg.callees.find((x) => x.session === s);
        if (c !== undefined) entries.push(this.#entry(s, reg, c));
      }
    }
    return entries;
  }

  /** Sends this node's callees to `member` (which answers with its own if `ask`). */
  sync(member: string, ask: boolean): void {
    this.rpc.membership.send(member, ['s', this.rpc.me, this.realm.name, ask, this.#snapshot()]);
  }

  /** A snapshot of `member`'s callees: replaces what was known of them. */
  synced(member: string, msg: unknown[]): void {
    const entries = Array.isArray(msg[4]) ? msg[4].filter(validEntry) : [];
    const keep = new Set(entries.map((e) => `${e[0]} ${e[2]} ${e[1]}`));
    for (const r of this.#callees.get(member)?.values() ?? []) {
      for (const reg of [...r.registrations]) if (!keep.has(`${r.id} ${reg.match} ${reg.procedure}`)) this.#dealer.revoke(reg, r, undefined);
    }
    for (const e of entries) this.#add(member, e);
    this.#dropIdle(member);
    if (msg[3] === true) this.sync(member, false);
  }

  /** An announcement on the realm's subject (`m`: the NATS message, for a request that wants an answer). */
  announced(msg: unknown[], m?: Msg): void {
    const member = msg[1];
    if (typeof member !== 'string' || member === this.rpc.me) return;
    if (msg[0] === 'a' && validEntry(msg[3])) this.#add(member, msg[3]);
    else if (msg[0] === 't' && typeof msg[3] === 'string' && MATCHES.has(msg[4] as string)) this.#givenUp(member, msg[3], msg[4] as Match, msg[5], m);
    else if (msg[0] === 'd' && Number.isSafeInteger(msg[3]) && typeof msg[4] === 'string' && MATCHES.has(msg[5] as string)) {
      const r = this.#callees.get(member)?.get(msg[3] as number);
      if (r === undefined) return;
      const reg = this.#dealer.lookup(msg[4], msg[5] as Match);
      if (reg !== undefined && r.registrations.has(reg)) this.#dealer.revoke(reg, r, undefined);
      this.#dropIdle(member, r);
    }
  }

  /**
   * A force_reregister on `member`'s node takes (procedure, match) over: this node's callees of it
   * are revoked, as on one node, and so are the stand-ins of other nodes' callees here (their own
   * nodes revoke them too, but their word may come after `member`'s new callee, which must not
   * find them here); a node named in `asked` answers once done.
   */
  #givenUp(member: string, procedure: string, match: Match, asked: unknown, m: Msg | undefined): void {
    const reg = this.#dealer.lookup(procedure, match);
    for (const c of reg === undefined ? [] : [...reg.callees]) {
      const s = c.session;
      if (!(s instanceof RemoteSession)) this.#dealer.revoke(reg!, s, FORCE_REREGISTER);
      else if (s.member !== member) {
        this.#dealer.revoke(reg!, s, undefined);
        this.#dropIdle(s.member, s);
      }
    }
    if (m !== undefined && m.reply !== '' && Array.isArray(asked) && asked.includes(this.rpc.me)) m.respond(msgpackSerializer.encode([null, this.rpc.me]) as Uint8Array);
  }

  #add(member: string, e: Entry): void {
    const [id, procedure, match, invoke, at, seq, forwardTimeout, filtered, authid, authrole, features, concurrency] = e;
    if (this.rpc.membership.isLeaving(member)) return;
    let byId = this.#callees.get(member);
    let r = byId?.get(id);
    if (r !== undefined) {
      const reg = this.#dealer.lookup(procedure, match);
      if (reg !== undefined && r.registrations.has(reg)) return; // known already (snapshot and announcement)
    }
    if ((this.#entries.get(member) ?? 0) >= MAX_REMOTE_CALLEES) {
      this.rpc.log.warn({ member, max: MAX_REMOTE_CALLEES }, 'cluster: too many callees announced by one node: ignored');
      return;
    }
    if (r === undefined) {
      const connId = this.rpc.out.attach((m) => this.#toCallee(member, id, m));
      const roles = { callee: { features } };
      r = new RemoteSession(member, id, connId, this.realm, authid, authrole, this.realm.roles.get(authrole) ?? this.#deny, roles);
      if (byId === undefined) this.#callees.set(member, (byId = new Map()));
      byId.set(id, r);
    }
    this.#adding = [at, member, seq];
    try {
      // The callee's concurrency, so this node's calls go to another callee while it has no room (its own node counts the calls of every node).
      const options: Dict = { match, invoke, forward_timeout: forwardTimeout };
      if (concurrency !== undefined && concurrency > 0) options.concurrency = concurrency;
      this.#dealer.register(r, 0, options, procedure, filtered);
      this.#count(this.#entries, member, 1);
    } catch (err) {
      // Only when two nodes registered it differently at the same time without a claim (docs/cluster.md).
      this.rpc.log.warn({ member, procedure, match, invoke, err: String(err) }, 'cluster: a callee on another node conflicts with a registration here: not used here');
      this.#dropIdle(member, r);
    } finally {
      this.#adding = null;
    }
  }

  /** `member` is shutting down: no new calls go to its callees; calls in flight finish. */
  withdraw(member: string): void {
    for (const r of this.#callees.get(member)?.values() ?? []) {
      for (const reg of [...r.registrations]) this.#dealer.revoke(reg, r, undefined);
    }
    this.#dropIdle(member);
  }

  /** `member` is gone: its callees with it (their callers get an ERROR), its calls here interrupted. */
  gone(member: string): void {
    const callees = this.#callees.get(member);
    const callers = this.#callers.get(member)?.byId;
    this.#callees.delete(member);
    this.#callers.delete(member);
    for (const byId of [callees, callers]) {
      for (const r of byId?.values() ?? []) {
        this.#dealer.leave(r);
        this.rpc.out.release(r.connId);
      }
    }
    this.#entries.delete(member);
  }

  /** Drops stand-ins of `member` that hold nothing any more (all of them, or `only`). */
  #dropIdle(member: string, only?: RemoteSession): void {
    const byId = this.#callees.get(member);
    if (byId === undefined) return;
    for (const r of only !== undefined ? [only] : [...byId.values()]) {
      if (r.registrations.size > 0 || r.invocations.size > 0) continue;
      byId.delete(r.id);
      this.rpc.out.release(r.connId);
    }
    if (byId.size === 0) this.#callees.delete(member);
  }

  /** Calls of this node's sessions waiting for a callee on another node (the invocations its stand-ins hold). */
  callsOut(): number {
    let n = 0;
    for (const byId of this.#callees.values()) for (const r of byId.values()) n += r.invocations.size;
    return n;
  }

  /** Calls from other nodes waiting for a callee here. */
  callsIn(): number {
    let n = 0;
    for (const g of this.#callers.values()) n += g.pending;
    return n;
  }

  /** Drops caller stand-ins with nothing in flight whose callee here is gone. */
  prune(): void {
    for (const [member, { byId }] of this.#callers) {
      for (const [calleeId, sc] of byId) {
        if (sc.calls.size === 0 && !this.realm.sessions.has(calleeId)) {
          byId.delete(calleeId);
          this.rpc.out.release(sc.connId);
        }
      }
      if (byId.size === 0) this.#callers.delete(member);
    }
  }

  /** Counts per member; an entry at 0 stays until its member goes (gone, withdraw). */
  #count(m: Map<string, number>, member: string, d: number): number {
    const n = Math.max(0, (m.get(member) ?? 0) + d);
    m.set(member, n);
    return n;
  }

  // ---- calls: the caller's node ----------------------------------------------------------

  /** What the dealer sends to a remote callee's stand-in goes to its node. */
  #toCallee(member: string, calleeId: number, m: unknown[]): void {
    const t = m[0];
    let sent = true;
    if (t === MsgType.INVOCATION) {
      // The registration travels as its id (the same on every node: registrationId), the sender as the batch's (wire.ts).
      const [wire, tail, count] = onWire(m);
      sent = this.rpc.membership.send(member, ['i', '', this.realm.name, calleeId, wire, tail, count]);
    } else if (t === MsgType.INTERRUPT) {
      this.rpc.membership.send(member, ['x', this.rpc.me, this.realm.name, calleeId, m[1], m[2]]);
    }
    // REGISTERED / UNREGISTERED for the stand-in: nothing to tell.
    if (!sent) {
      // Not connected to NATS: the call cannot reach its callee.
      const r = this.#callees.get(member)?.get(calleeId);
      const id = m[1] as number;
      if (r !== undefined) {
        queueMicrotask(() => {
          try {
            this.#dealer.error(r, [MsgType.ERROR, MsgType.INVOCATION, id, { message: 'the callee is on another node, which cannot be reached now' }, Uri.CANCELED]);
          } catch {
            // already answered
          }
        });
      }
    }
  }

  /** The answer of a callee on `member`'s node: the stand-in callee answers. */
  answered(member: string, msg: unknown[]): void {
    const r = this.#callees.get(member)?.get(msg[3] as number);
    const m = msg[4];
    if (r === undefined || !Array.isArray(m)) return;
    // The decoded answer is this node's own: it becomes the stand-in's YIELD or ERROR in place.
    const y = m as TailedMessage;
    const caller = r.invocations.get((m[0] === MsgType.RESULT ? m[1] : m[2]) as number)?.caller;
    if (!received(y, msg[5], msg[6], caller)) return;
    try {
      if (m[0] === MsgType.RESULT && isDict(m[2])) {
        m[0] = MsgType.YIELD;
        this.#dealer.yield(r, y);
      } else if (m[0] === MsgType.ERROR && isDict(m[3]) && typeof m[4] === 'string') {
        m[1] = MsgType.INVOCATION;
        this.#dealer.error(r, y);
      }
    } catch (e) {
      this.rpc.log.debug({ member, err: String(e) }, 'cluster: an answer for an unknown invocation');
    }
    if (r.invocations.size === 0 && r.registrations.size === 0) this.#dropIdle(member, r);
  }

  // ---- calls: the callee's node ----------------------------------------------------------

  /** The stand-in of the callers on `member`'s node calling the callee `calleeId` here (made for the first call). */
  #caller(member: string, calleeId: number): RemoteSession {
    let g = this.#callers.get(member);
    let sc = g?.byId.get(calleeId);
    if (sc !== undefined) return sc;
    if (g === undefined) this.#callers.set(member, (g = { byId: new Map(), pending: 0 }));
    const group = g;
    const connId = this.rpc.out.attach((m) => this.#toCaller(member, calleeId, group, m));
    sc = new RemoteSession(member, 0, connId, this.realm, '', '', this.#deny, {
      caller: { features: { progressive_call_invocations: true, payload_passthru_mode: true } },
    });
    g.byId.set(calleeId, sc);
    return sc;
  }

  /** What the dealer sends to a remote caller's stand-in (RESULT, ERROR) goes back to its node. */
  #toCaller(member: string, calleeId: number, group: CallersOf, m: unknown[]): void {
    const t = m[0];
    if (((t === MsgType.RESULT && (m[2] as Dict).progress !== true) || t === MsgType.ERROR) && group.pending > 0) group.pending--;
    const [wire, tail, count] = onWire(m);
    if (!this.rpc.membership.send(member, ['r', '', this.realm.name, calleeId, wire, tail, count])) {
      // Too big for NATS (or not connected): the caller gets an ERROR instead (after a progressive result, the call ends there).
      const id = t === MsgType.RESULT ? m[1] : m[2];
      this.#refuse(member, calleeId, id, Uri.CANCELED, "the callee's answer cannot travel to the caller's node: bigger than NATS's max_payload");
    }
  }

  #refuse(member: string, calleeId: number, id: unknown, uri: string, message: string): void {
    this.rpc.membership.send(member, ['r', '', this.realm.name, calleeId, [MsgType.ERROR, MsgType.CALL, id, { message }, uri], null]);
  }

  /** An INVOCATION for a callee here from a caller on `member`'s node (or more input for one under way). */
  invoked(member: string, msg: unknown[]): void {
    const [, , , calleeId, m, tail, count] = msg;
    if (!Number.isSafeInteger(calleeId) || !Array.isArray(m) || m[0] !== MsgType.INVOCATION || !Number.isSafeInteger(m[1]) || !Number.isSafeInteger(m[2]) || !isDict(m[3])) return;
    const id = m[1] as number;
    const details = m[3];
    const group = this.#callers.get(member);
    const known = group?.byId.get(calleeId as number);
    const ongoing = known?.calls.get(id);
    if (ongoing !== undefined) {
      // Progressive call invocations: the caller's next CALL, as the dealer takes it.
      const call: TailedMessage = [MsgType.CALL, id, details.progress === true ? { progress: true } : {}, ongoing.registration.procedure, ...m.slice(4)];
      if (!received(call, tail, count, ongoing.callee)) return;
      try {
        this.#dealer.call(ongoing.caller, call, false);
      } catch (e) {
        this.rpc.log.debug({ member, err: String(e) }, 'cluster: more input for a call that takes no more');
      }
      return;
    }
    const cs = this.realm.sessions.get(calleeId as number);
    const reg = this.#dealer.get(m[2] as number);
    if (cs === undefined || cs.state !== SessionState.ESTABLISHED || reg === undefined || !cs.registrations.has(reg)) {
      return this.#refuse(member, calleeId as number, id, Uri.CANCELED, 'the callee left before answering');
    }
    if (group !== undefined && group.pending >= MAX_REMOTE_PENDING) {
      return this.#refuse(member, calleeId as number, id, Uri.LIMIT_EXCEEDED, `the callee's node holds ${MAX_REMOTE_PENDING} calls from this node already`);
    }
    // REGISTER.Options.concurrency counts the calls of every node here, where the callee is.
    const slot = reg.limited > 0 ? reg.callees.find((c) => c.session === cs) : undefined;
    if (slot !== undefined && slot.concurrency > 0 && slot.active >= slot.concurrency) {
      return this.#refuse(member, calleeId as number, id, Uri.MAX_CONCURRENCY_REACHED, maxConcurrency(reg, reg.procedure).message);
    }
    if (!received(m as TailedMessage, tail, count, cs)) return;
    const sc = known ?? this.#caller(member, calleeId as number);
    if (sc.calls.has(id)) return;
    (group ?? this.#callers.get(member)!).pending++;
    const inv = new Invocation(cs.nextInvocationId(), sc, id, cs, reg, details.receive_progress === true);
    inv.streaming = details.progress === true;
    if (slot !== undefined && slot.concurrency > 0) holdSlot(inv, slot);
    cs.invocations.set(inv.id, inv);
    sc.calls.set(id, inv);
    // The decoded INVOCATION is this node's own: it becomes the callee's, in place.
    const invocation = m as TailedMessage;
    invocation[1] = inv.id;
    invocation[2] = reg.id;
    this.realm.out.send(cs.connId, invocation);
  }

  /** An INTERRUPT from the caller's node (CANCEL kill/killnowait, a timeout). */
  interrupted(member: string, msg: unknown[]): void {
    const sc = this.#callers.get(member)?.byId.get(msg[3] as number);
    const options = msg[5];
    if (sc === undefined || !Number.isSafeInteger(msg[4])) return;
    const mode = isDict(options) && options.mode === 'kill' ? 'kill' : 'killnowait';
    // The reason as the caller's node gave it (a timeout there: wamp.error.timeout, as on one node).
    const reason = isDict(options) && options.reason === Uri.TIMEOUT ? Uri.TIMEOUT : Uri.CANCELED;
    this.#dealer.cancel(sc, msg[4] as number, { mode }, reason);
  }

  // ---- registrations claimed cluster-wide ------------------------------------------------------

  #key(procedure: string, match: string): string {
    return createHash('sha256').update(JSON.stringify([this.realm.name, match, procedure])).digest('base64url');
  }

  /** Whether this node has a callee of its own in `reg`. */
  #hasLocal(reg: Registration | undefined): boolean {
    return reg !== undefined && reg.callees.some((c) => !(c.session instanceof RemoteSession));
  }

  /** Runs `op` after the KV operations already queued for `key` (one at a time per key on this node). */
  #serial<T>(key: string, op: () => Promise<T>): Promise<T> {
    const prev = this.#ops.get(key) ?? Promise.resolve();
    const next = prev.then(op, op);
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.#ops.set(key, tail);
    void tail.then(() => {
      if (this.#ops.get(key) === tail) this.#ops.delete(key);
    });
    return next;
  }

  admit(s: Session, msg: unknown[], filtered: boolean): boolean {
    const options = msg[2] as Dict;
    const procedure = msg[3] as string;
    const match = (options.match as Match | undefined) ?? 'exact';
    const invoke = (options.invoke as InvokePolicy | undefined) ?? 'single';
    const reg = this.#dealer.lookup(procedure, match);
    if (options.force_reregister === true && !(reg?.callees.some((c) => c.session === s) ?? false)) {
      // Crossbar's force_reregister, cluster-wide: the callees of every node lose the procedure.
      const key = this.#key(procedure, match);
      s.held = [];
      void this.#serial(key, () => this.#takeOver(key, procedure, match, invoke)).then(
        (verdict) => this.#claimed(s, msg, filtered, key, verdict),
        (e: unknown) => {
          this.rpc.log.warn({ procedure, err: String(e) }, 'cluster: cannot take a registration over in NATS: taken over on this node only');
          this.#claimed(s, msg, filtered, key, 'unclaimed');
        },
      );
      return false;
    }
    // This node holds the claim already, or the dealer refuses it anyway (single, another policy).
    if (reg !== undefined && (this.#hasLocal(reg) || reg.invoke === 'single' || invoke === 'single' || reg.invoke !== invoke)) return true;
    const key = this.#key(procedure, match);
    s.held = [];
    void this.#serial(key, () => this.#claim(key, invoke)).then(
      (verdict) => this.#claimed(s, msg, filtered, key, verdict),
      (e: unknown) => {
        this.rpc.log.warn({ procedure, err: String(e) }, 'cluster: cannot claim a registration in NATS: registered on this node only');
        this.#claimed(s, msg, filtered, key, 'unclaimed');
      },
    );
    return false;
  }

  /** The REGISTER after its claim. */
  #claimed(s: Session, msg: unknown[], filtered: boolean, key: string, verdict: Verdict): void {
    const options = msg[2] as Dict;
    const procedure = msg[3] as string;
    const match = (options.match as Match | undefined) ?? 'exact';
    const invoke = (options.invoke as InvokePolicy | undefined) ?? 'single';
    if (s.state !== SessionState.ESTABLISHED) {
      if (verdict === 'claimed') this.#release(key, procedure, match);
    } else if (verdict === 'taken' || verdict === 'other-policy') {
      const error = verdict === 'taken' ? Uri.PROCEDURE_ALREADY_EXISTS : Uri.PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY;
      const message = verdict === 'taken' ? `procedure '${procedure}' (match ${match}) is already registered on another node` : `'${procedure}' is registered with another invocation policy on another node`;
      this.realm.out.send(s.connId, [MsgType.ERROR, MsgType.REGISTER, msg[1], { message }, error]);
    } else {
      try {
        this.#dealer.register(s, msg[1] as number, options, procedure, filtered);
        this.#claims.set(key, { procedure, match, invoke, claimed: verdict === 'claimed' });
      } catch (e) {
        if (verdict === 'claimed') this.#release(key, procedure, match);
        if (!(e instanceof WampError)) throw e;
        this.realm.out.send(s.connId, [MsgType.ERROR, MsgType.REGISTER, msg[1], { message: e.message }, e.uri]);
      }
    }
    // The session's messages that waited for this one, in order.
    const held = s.held ?? [];
    s.held = null;
    s.heldBytes = 0;
    if (s.state === SessionState.CLOSED) return;
    for (const m of held) this.realm.dispatch(s, m);
  }

  /**
   * Claims `key` for this member in the KV bucket, whose value is the registration's policy and
   * the members with callees of it: `taken` when a live member holds it with `single` (or this
   * claim is `single` and a live member has callees), `other-policy` when live members hold it
   * with another shared policy. Members that are not alive (dead, left, or this member's own stale
   * entry) do not count; until every live member has been heard (membership settled) a member
   * not heard yet is waited for. Every write is a compare-and-set on the key's revision.
   */
  async #claim(key: string, invoke: InvokePolicy): Promise<Verdict> {
    if (!this.rpc.membership.link.connected) return 'unclaimed';
    const kv = await this.rpc.openKv();
    if (kv === null) return 'unclaimed';
    const me = this.rpc.me;
    const mine = JSON.stringify({ invoke, members: [me] });
    for (let attempt = 0; attempt < 16; attempt++) {
      const e = await kv.get(key);
      if (e === null || e.operation !== 'PUT') {
        try {
          await kv.create(key, enc.encode(mine));
          return 'claimed';
        } catch {
          continue; // someone else was quicker: look again
        }
      }
      const held = parseClaim(e.value);
      const others = held.members.filter((m) => m !== me);
      if (others.some((m) => !this.rpc.membership.alive(m)) && !this.rpc.membership.settled) {
        // Not every live member has been heard yet: wait until they would have been.
        await new Promise((r) => setTimeout(r, this.rpc.membership.settleMs()).unref());
        continue;
      }
      const live = others.filter((m) => this.rpc.membership.alive(m));
      if (live.length > 0) {
        if (held.invoke === 'single' || invoke === 'single') return 'taken';
        if (held.invoke !== invoke) return 'other-policy';
      }
      const value = invoke === 'single' ? mine : JSON.stringify({ invoke, members: [...live, me] });
      try {
        await kv.update(key, enc.encode(value), e.revision);
        return 'claimed';
      } catch {
        // changed meanwhile: look again
      }
    }
    return 'taken';
  }

  /**
   * force_reregister: the nodes with callees of (procedure, match) — in this node's directory or in
   * the claim — revoke them (a request on the realm's subject; each answers once done, or is not
   * waited for after META_TIMEOUT_MS), then the claim becomes this member's alone, whoever held it.
   */
  async #takeOver(key: string, procedure: string, match: Match, invoke: InvokePolicy): Promise<Verdict> {
    const me = this.rpc.me;
    const membership = this.rpc.membership;
    const holders = new Set<string>();
    for (const c of this.#dealer.lookup(procedure, match)?.callees ?? []) if (c.session instanceof RemoteSession) holders.add(c.session.member);
    const kv = membership.link.connected ? await this.rpc.openKv() : null;
    const held = kv === null ? null : await kv.get(key);
    if (held !== null && held.operation === 'PUT') for (const x of parseClaim(held.value).members) if (x !== me && membership.alive(x)) holders.add(x);
    if (holders.size > 0) {
      const asked = [...holders];
      await membership.link.request(`cw.${natsToken(this.realm.name)}.rpc`, ['t', me, this.realm.name, procedure, match, asked], new Set(asked), META_TIMEOUT_MS);
    }
    if (kv === null) return 'unclaimed';
    const mine = enc.encode(JSON.stringify({ invoke, members: [me] }));
    for (let attempt = 0; attempt < 16; attempt++) {
      const e = await kv.get(key);
      try {
        if (e === null || e.operation !== 'PUT') await kv.create(key, mine);
        else await kv.update(key, mine, e.revision);
        return 'claimed';
      } catch {
        // changed meanwhile: again
      }
    }
    return 'taken';
  }

  /** This node's last callee of (procedure, match) went: its member leaves the claim (deleted when none is left). */
  #release(key: string, procedure: string, match: Match): void {
    void this.#serial(key, async () => {
      const kv = this.rpc.kv;
      if (kv === null || this.#hasLocal(this.#dealer.lookup(procedure, match))) return; // claimed again meanwhile
      const me = this.rpc.me;
      for (let attempt = 0; attempt < 16; attempt++) {
        const e = await kv.get(key);
        if (e === null || e.operation !== 'PUT') return;
        const held = parseClaim(e.value);
        if (!held.members.includes(me)) return;
        const members = held.members.filter((m) => m !== me);
        try {
          if (members.length === 0) await kv.delete(key, { previousSeq: e.revision });
          else await kv.update(key, enc.encode(JSON.stringify({ invoke: held.invoke, members })), e.revision);
          return;
        } catch {
          // changed meanwhile: look again
        }
      }
    }).catch((e: unknown) => this.rpc.log.debug({ err: String(e) }, 'cluster: a registration claim was not released'));
  }

  /**
   * After (re)connecting: every registration with callees here claims its key again (no change if
   * it still holds it); one taken by a live node meanwhile (while this one was cut off and declared
   * dead) loses its callees here, which are told (registration revocation).
   */
  revalidate(): void {
    for (const [key, c] of this.#claims) {
      void this.#serial(key, () => this.#claim(key, c.invoke)).then(
        (verdict) => {
          if (this.#claims.get(key) !== c) return; // unregistered meanwhile
          if (verdict === 'claimed' || verdict === 'unclaimed') {
            c.claimed = verdict === 'claimed';
            return;
          }
          this.#claims.delete(key);
          const reg = this.#dealer.lookup(c.procedure, c.match);
          if (reg === undefined) return;
          this.rpc.log.warn({ procedure: c.procedure, match: c.match }, 'cluster: a registration was taken by another node while this one was cut off: revoked here');
          for (const x of [...reg.callees]) if (!(x.session instanceof RemoteSession)) this.#dealer.revoke(reg, x.session, verdict === 'taken' ? Uri.PROCEDURE_ALREADY_EXISTS : Uri.PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY);
          // The winner's callees were refused here while these held the name: ask for them again.
          for (const member of this.rpc.membership.alivePeers()) this.sync(member, true);
        },
        (e: unknown) => this.rpc.log.warn({ err: String(e) }, 'cluster: cannot claim a registration again'),
      );
    }
  }
}
