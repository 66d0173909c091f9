/**
 * The meta API of a cluster node (docs/cluster.md, WAMP spec "Session Meta API" and "Subscription
 * Meta API"): the procedures below answer for the whole realm. The caller's node computes its own
 * part, asks the other nodes of the realm for theirs (NATS request on `cw.<realm>.m`, answers
 * collected until every node known to serve the realm answered or META_TIMEOUT_MS passed; a node
 * that did not answer in time is left out) and merges them.
 *
 * A subscription has the same id on every node in a cluster (Broker: the backplane derives it
 * from the topic and match), so the lists merge by id. So has a registration (Dealer, from the
 * procedure and match); the wamp.registration.* procedures that only read need no other node's
 * part, since every node's dealer holds the callees of all nodes (workers/cluster/rpc.ts).
 *
 * The kill procedures, remove_callee and remove_subscriber act on each node's own sessions (the
 * caller's node decided that the caller may call them, as for every CALL); the caller's own
 * session is excluded on its node. get_events reads the caller's node's history (which holds the
 * events of every node, docs/cluster.md) for a subscription of any node.
 */
import { MsgType } from '../../src/shared/wamp/codes.js';
import { isId } from '../../src/shared/wamp/ids.js';
import { type Dict, isDict, WampError } from '../../src/shared/wamp/messages.js';
import { Uri } from '../../src/shared/wamp/uris.js';
import type { Match } from '../match/uri-index.js';
import { closeReason, eventsLimit, historyOf, reasonArgs } from '../meta.js';
import type { RealmServices as Realm } from '../services.js';
import { type Session, SessionState } from '../session.js';
import { RemoteSession } from './remote-session.js';

/** How long the caller's node waits for the other nodes' answers. */
export const META_TIMEOUT_MS = 1000;

const isMatch = (v: unknown): v is Match => v === 'exact' || v === 'prefix' || v === 'wildcard';

/**
 * This node's part of a procedure's answer; throws WampError for bad arguments (on the caller's
 * node). `caller`: the caller's session on its own node, null on the other nodes.
 */
type Part = (realm: Realm, args: unknown[], kwargs: Dict, caller: Session | null) => unknown;
/** Merges the caller's node's part with the other nodes' (parts that did not decode are skipped). */
type Merge = (local: unknown, remote: unknown[], args: unknown[], ctx: { realm: Realm; caller: Session; kwargs: Dict }) => unknown;

function roles(args: unknown[]): Set<string> | null {
  const r = args[0];
  if (r === undefined || r === null) return null;
  if (!Array.isArray(r) || !r.every((x) => typeof x === 'string')) throw new WampError(Uri.INVALID_ARGUMENT, 'argument 1 must be a list of authroles');
  return new Set(r as string[]);
}
function str(args: unknown[], i: number, what: string): string {
  if (typeof args[i] !== 'string') throw new WampError(Uri.INVALID_ARGUMENT, `argument ${i + 1} must be ${what}`);
  return args[i] as string;
}
function match(args: unknown[], kwargs: Dict): Match {
  const m = { ...(isDict(args[1]) ? args[1] : {}), ...kwargs }.match ?? 'exact';
  if (!isMatch(m)) throw new WampError(Uri.INVALID_ARGUMENT, 'match must be exact, prefix or wildcard');
  return m;
}
const ids = (v: unknown): number[] => (Array.isArray(v) ? v.filter((x): x is number => isId(x)) : []);
const union = (...lists: number[][]): number[] => [...new Set(lists.flat())];
const first = (local: unknown, remote: unknown[]): unknown => (local !== null && local !== undefined ? local : (remote.find((x) => x !== null && x !== undefined) ?? null));
/** Whether the caller's node alone can answer (the other nodes are not asked). */
const localEnough = (local: unknown): boolean => local !== null && local !== undefined;

interface Procedure {
  part: Part;
  merge: Merge;
  /** When the caller's node's part is the answer already. */
  enough?: (local: unknown) => boolean;
  /** The RESULT has no arguments (as on one node: kill, remove_callee, remove_subscriber). */
  empty?: boolean;
}

function noSuchSubscription(): never {
  throw new WampError(Uri.NO_SUCH_SUBSCRIPTION);
}

const count = (v: unknown): number => (Number.isInteger(v) && (v as number) >= 0 ? (v as number) : 0);

/** Ends (GOODBYE) this node's sessions of the realm that `pred` picks, but the caller's; returns them. */
function killHere(realm: Realm, caller: Session | null, details: Dict, pred: (s: Session) => boolean, silent = false): Session[] {
  const { reason, message } = closeReason(details);
  const targets = [...realm.sessions.values()].filter((s) => s !== caller && pred(s));
  for (const t of targets) realm.goodbye(t, reason, message, silent);
  return targets;
}

/**
 * A removal of one session from a registration or subscription, done by the node it lives on:
 * `removed`, `absent` (the node knows the registration/subscription, the session is not one of its
 * own there), or null (the node does not know it).
 */
type Removal = 'removed' | 'absent' | null;
function removalMerge(none: () => never, what: (args: unknown[]) => string): Merge {
  return (local, remote, args) => {
    const all = [local, ...remote];
    if (all.includes('removed')) return null;
    if (all.includes('absent')) throw new WampError(Uri.NO_SUCH_SESSION, what(args));
    return none();
  };
}

const PROCEDURES: Readonly<Record<string, Procedure>> = {
  'wamp.session.kill': {
    part: (realm, args, kwargs, caller) => {
      const details = reasonArgs(args, 1, kwargs);
      closeReason(details); // a bad reason is refused before any node acts
      const s = isId(args[0]) ? realm.sessions.get(args[0]) : undefined;
      if (s === undefined) return null;
      if (s === caller) throw new WampError(Uri.NO_SUCH_SESSION, 'a session cannot kill itself (use GOODBYE)');
      return killHere(realm, caller, details, (x) => x === s).length > 0;
    },
    enough: (local) => local === true,
    empty: true,
    merge: (local, remote, args) => {
      if (local === true || remote.includes(true)) return null;
      throw new WampError(Uri.NO_SUCH_SESSION, `no session ${String(args[0])} on this realm`);
    },
  },
  'wamp.session.kill_by_authid': {
    part: (realm, args, kwargs, caller) => {
      const authid = str(args, 0, 'an authid');
      return killHere(realm, caller, reasonArgs(args, 1, kwargs), (s) => s.authid === authid).map((s) => s.id);
    },
    merge: (local, remote) => union(ids(local), ...remote.map(ids)),
  },
  'wamp.session.kill_by_authrole': {
    part: (realm, args, kwargs, caller) => {
      const authrole = str(args, 0, 'an authrole');
      return killHere(realm, caller, reasonArgs(args, 1, kwargs), (s) => s.authrole === authrole).length;
    },
    merge: (local, remote) => [local, ...remote].reduce((n: number, x) => n + count(x), 0),
  },
  'wamp.session.kill_all': {
    // WAMP spec, "Session Meta API": kill_all generates no session meta events and no testaments.
    part: (realm, args, kwargs, caller) => killHere(realm, caller, reasonArgs(args, 0, kwargs), () => true, true).length,
    merge: (local, remote) => [local, ...remote].reduce((n: number, x) => n + count(x), 0),
  },
  'wamp.registration.remove_callee': {
    part: (realm, args, kwargs): Removal => {
      const reg = isId(args[0]) ? realm.dealer.get(args[0]) : undefined;
      if (reg === undefined) return null;
      // Removed by the node the callee lives on: here, unless it is another node's (a stand-in here).
      const callee = reg.callees.find((c) => c.session.id === args[1] && !(c.session instanceof RemoteSession))?.session;
      if (callee === undefined) return 'absent';
      const reason = reasonArgs(args, 2, kwargs).reason;
      realm.dealer.revoke(reg, callee, typeof reason === 'string' ? reason : undefined);
      return 'removed';
    },
    enough: (local) => local === 'removed',
    empty: true,
    merge: removalMerge(
      () => {
        throw new WampError(Uri.NO_SUCH_REGISTRATION);
      },
      (args) => `session ${String(args[1])} is not a callee of registration ${String(args[0])}`,
    ),
  },
  'wamp.subscription.remove_subscriber': {
    part: (realm, args, kwargs): Removal => {
      const sub = isId(args[0]) ? realm.broker.get(args[0]) : undefined;
      if (sub === undefined) return null;
      const subscriber = [...sub.subscribers].find((s) => s.id === args[1]);
      if (subscriber === undefined) return 'absent';
      const reason = reasonArgs(args, 2, kwargs).reason;
      realm.broker.revoke(sub, subscriber, typeof reason === 'string' ? reason : undefined);
      return 'removed';
    },
    enough: (local) => local === 'removed',
    empty: true,
    merge: removalMerge(noSuchSubscription, (args) => `session ${String(args[1])} is not subscribed to ${String(args[0])}`),
  },
  'wamp.subscription.get_events': {
    // The caller's node reads its own history (it holds every node's events); another node only
    // says what the subscription is, when the caller's node has no subscriber of it.
    part: (realm, args, kwargs, caller) => {
      const sub = isId(args[0]) ? realm.broker.get(args[0]) : undefined;
      if (caller === null) return sub === undefined ? null : [sub.topic, sub.match];
      const limit = eventsLimit(args, kwargs);
      return sub === undefined ? null : { events: historyOf(realm, caller, sub, limit) };
    },
    enough: localEnough,
    merge: (local, remote, args, { realm, caller, kwargs }) => {
      if (isDict(local)) return local.events;
      const found = remote.find((x): x is [string, Match] => Array.isArray(x) && typeof x[0] === 'string' && isMatch(x[1]));
      if (found === undefined || !isId(args[0])) return noSuchSubscription();
      return historyOf(realm, caller, { id: args[0], topic: found[0], match: found[1] }, eventsLimit(args, kwargs));
    },
  },
  'wamp.session.list': {
    part: (realm, args) => {
      const r = roles(args);
      return [...realm.sessions.values()].filter((s) => r === null || r.has(s.authrole)).map((s) => s.id);
    },
    merge: (local, remote) => union(ids(local), ...remote.map(ids)),
  },
  'wamp.session.get': {
    part: (realm, args) => (isId(args[0]) ? (realm.sessions.get(args[0])?.details() ?? null) : null),
    enough: localEnough,
    merge: (local, remote, args) => {
      const d = first(local, remote.filter(isDict));
      if (d === null) throw new WampError(Uri.NO_SUCH_SESSION, `no session ${String(args[0])} on this realm`);
      return d;
    },
  },
  'wamp.subscription.list': {
    part: (realm) => realm.broker.list(),
    merge: (local, remote) => {
      const all = [local, ...remote].filter(isDict);
      return { exact: union(...all.map((x) => ids(x.exact))), prefix: union(...all.map((x) => ids(x.prefix))), wildcard: union(...all.map((x) => ids(x.wildcard))) };
    },
  },
  'wamp.subscription.lookup': {
    part: (realm, args, kwargs) => realm.broker.lookup(str(args, 0, 'a topic URI'), match(args, kwargs))?.id ?? null,
    enough: localEnough,
    merge: (local, remote) => first(local, remote.filter((x): x is number => isId(x))),
  },
  'wamp.subscription.match': {
    part: (realm, args) => realm.broker.matching(str(args, 0, 'a topic URI')).map((s) => s.id),
    merge: (local, remote) => {
      const all = union(ids(local), ...remote.map(ids));
      return all.length === 0 ? null : all;
    },
  },
  'wamp.subscription.get': {
    part: (realm, args) => (isId(args[0]) ? (realm.broker.get(args[0])?.info() ?? null) : null),
    enough: localEnough,
    merge: (local, remote) => first(local, remote.filter(isDict)) ?? noSuchSubscription(),
  },
  'wamp.subscription.list_subscribers': {
    part: (realm, args) => {
      const sub = isId(args[0]) ? realm.broker.get(args[0]) : undefined;
      return sub === undefined ? null : [...sub.subscribers].map((s) => s.id);
    },
    merge: (local, remote) => {
      const all = [local, ...remote].filter(Array.isArray);
      return all.length === 0 ? noSuchSubscription() : union(...all.map(ids));
    },
  },
  'wamp.subscription.count_subscribers': {
    part: (realm, args) => {
      const sub = isId(args[0]) ? realm.broker.get(args[0]) : undefined;
      return sub === undefined ? null : sub.subscribers.size;
    },
    merge: (local, remote) => {
      const all = [local, ...remote].filter((x): x is number => Number.isInteger(x) && (x as number) >= 0);
      return all.length === 0 ? noSuchSubscription() : all.reduce((a, b) => a + b, 0);
    },
  },
};

/** Whether a meta procedure answers for the whole cluster (clusterMeta) rather than this node. */
export function isClusterMeta(procedure: string): boolean {
  return Object.hasOwn(PROCEDURES, procedure);
}

/** This node's part, for another node that asked (null when it has nothing or the arguments are bad). */
export function metaPart(realm: Realm, procedure: string, args: unknown[], kwargs: Dict): unknown {
  const p = Object.hasOwn(PROCEDURES, procedure) ? PROCEDURES[procedure]! : undefined;
  if (p === undefined) return null;
  try {
    return p.part(realm, args, kwargs, null);
  } catch {
    return null;
  }
}

/**
 * Answers a CALL of a cluster meta procedure (already authorized) with RESULT or ERROR, once the
 * other nodes answered or META_TIMEOUT_MS passed; nothing is sent to a session that left meanwhile.
 */
export function clusterMeta(
  realm: Realm,
  caller: Session,
  msg: unknown[],
  procedure: string,
  args: unknown[],
  kwargs: Dict,
  ask: (procedure: string, args: unknown[], kwargs: Dict) => Promise<unknown[]>,
): void {
  const p = PROCEDURES[procedure]!;
  const requestId = msg[1];
  const fail = (e: unknown) => {
    const err = e instanceof WampError ? e : new WampError(Uri.INTERNAL_ERROR, 'the cluster meta call failed');
    if (!(e instanceof WampError)) realm.log.error({ err: String(e), procedure }, 'cluster: meta call failed');
    realm.out.send(caller.connId, [MsgType.ERROR, MsgType.CALL, requestId, err.message !== err.uri ? { message: err.message } : {}, err.uri]);
  };
  const ctx = { realm, caller, kwargs };
  const result = (v: unknown): unknown[] => [MsgType.RESULT, requestId, {}, p.empty === true ? [] : [v]];
  let local: unknown;
  try {
    local = p.part(realm, args, kwargs, caller);
    if (p.enough?.(local) === true) {
      realm.out.send(caller.connId, result(p.merge(local, [], args, ctx)));
      return;
    }
  } catch (e) {
    return fail(e);
  }
  ask(procedure, args, kwargs).then(
    (remote) => {
      if (caller.state !== SessionState.ESTABLISHED) return;
      try {
        realm.out.send(caller.connId, result(p.merge(local, remote, args, ctx)));
      } catch (e) {
        fail(e);
      }
    },
    (e: unknown) => {
      if (caller.state === SessionState.ESTABLISHED) fail(e);
    },
  );
}
