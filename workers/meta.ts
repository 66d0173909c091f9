import { type Dict, isDict, WampError } from '../src/shared/wamp/messages.js';
import { isId } from '../src/shared/wamp/ids.js';
import { isReservedUri, isValidUri, Uri } from '../src/shared/wamp/uris.js';
import { RolePermissions } from './authorizer.js';
import { RemoteSession } from './cluster/remote-session.js';
import { frameBytes, overLimit } from './limits.js';
import type { Match } from './match/uri-index.js';
import type { RealmServices as Realm } from './services.js';
import type { Session } from './session.js';

/** Result of a meta procedure: [args] or [args, kwargs]. */
export type MetaResult = [unknown[]] | [unknown[], Dict];

/** `msg`: the CALL (for its frame size). */
type Handler = (realm: Realm, caller: Session, args: unknown[], kwargs: Dict, msg: unknown[]) => MetaResult;

const arg = <T>(args: unknown[], i: number, check: (v: unknown) => boolean, what: string): T => {
  const v = args[i];
  if (!check(v)) throw new WampError(Uri.INVALID_ARGUMENT, `argument ${i + 1} must be ${what}`);
  return v as T;
};
const optionalDict = (args: unknown[], i: number): Dict => (isDict(args[i]) ? (args[i] as Dict) : {});
const isStr = (v: unknown) => typeof v === 'string';
const isStrList = (v: unknown) => Array.isArray(v) && v.every(isStr);
const isMatch = (v: unknown) => v === 'exact' || v === 'prefix' || v === 'wildcard';

/**
 * A static role's decision; a role with a dynamic authorizer answers from its cache only (a meta
 * procedure runs synchronously, it cannot wait for the authorizer), so an uncached check denies.
 */
function allowed(s: Session, uri: string, action: 'publish' | 'subscribe'): boolean {
  return s.permissions.check(uri, action, s, {})?.allow === true;
}

function session(realm: Realm, id: unknown): Session {
  const s = isId(id) ? realm.sessions.get(id) : undefined;
  if (s === undefined) throw new WampError(Uri.NO_SUCH_SESSION, `no session ${String(id)} on realm '${realm.name}'`);
  return s;
}

/** `{reason, message}` of the kill procedures; the reason must be a URI. */
export function closeReason(details: Dict): { reason: string; message: string } {
  const reason = details.reason ?? Uri.KILLED;
  if (!isValidUri(reason, 'loose')) throw new WampError(Uri.INVALID_URI, 'reason must be a URI');
  return { reason, message: typeof details.message === 'string' ? details.message : '' };
}

function filterRoles(args: unknown[]): Set<string> | null {
  return args[0] === undefined || args[0] === null ? null : new Set(arg<string[]>(args, 0, isStrList, 'a list of authroles'));
}

function others(realm: Realm, caller: Session, pred: (s: Session) => boolean): Session[] {
  return [...realm.sessions.values()].filter((s) => s !== caller && pred(s));
}

function killAll(realm: Realm, targets: Session[], details: Dict, silent = false): void {
  const { reason, message } = closeReason(details);
  for (const t of targets) realm.goodbye(t, reason, message, silent);
}

/**
 * `{reason, message}` given as a dict at `args[i]`, as Crossbar's positional `reason, message`
 * at `args[i]`, `args[i + 1]`, or as keyword arguments.
 */
export function reasonArgs(args: unknown[], i: number, kwargs: Dict): Dict {
  if (isDict(args[i])) return { ...(args[i] as Dict), ...kwargs };
  const positional: Dict = {};
  if (args[i] !== undefined && args[i] !== null) positional.reason = args[i];
  if (args[i + 1] !== undefined && args[i + 1] !== null) positional.message = args[i + 1];
  return { ...positional, ...kwargs };
}

/**
 * The size of a new testament (its add_testament CALL's frame), if the session may hold one more:
 * max_testaments_per_session and max_testament_bytes_per_session.
 */
function testamentRoom(realm: Realm, s: Session, msg: unknown[]): number {
  const { max_testaments_per_session: maxCount, max_testament_bytes_per_session: maxBytes } = realm.limits;
  if (maxCount > 0 && s.testaments.length >= maxCount) {
    throw overLimit(s, 'max_testaments_per_session', `this session holds ${s.testaments.length} testaments already`);
  }
  const bytes = frameBytes(msg, maxBytes > 0 ? maxBytes : Number.POSITIVE_INFINITY);
  if (maxBytes > 0 && s.testamentBytes + bytes > maxBytes) {
    if (bytes > maxBytes) throw overLimit(s, 'max_testament_bytes_per_session', `a testament of ${bytes} bytes is too big`, Uri.PAYLOAD_SIZE_EXCEEDED);
    throw overLimit(s, 'max_testament_bytes_per_session', `this session holds ${s.testamentBytes} bytes of testaments already`);
  }
  return bytes;
}

/** get_events' `limit` (positional or keyword, default 10). */
export function eventsLimit(args: unknown[], kwargs: Dict): number {
  const limitArg = args[1] ?? kwargs.limit ?? 10;
  if (!(typeof limitArg === 'number' && Number.isInteger(limitArg) && limitArg > 0)) {
    throw new WampError(Uri.INVALID_ARGUMENT, 'limit must be a positive integer');
  }
  return limitArg;
}

/** The history of a subscription (id, topic, match) that `caller` may read (WAMP spec, "Event History"). */
export function historyOf(realm: Realm, caller: Session, sub: { id: number; topic: string; match: Match }, limit: number): Dict[] {
  // As for SUBSCRIBE, a pattern is judged by what it matches, and each event by its own topic.
  const p = caller.permissions;
  if (sub.match === 'exact' ? !allowed(caller, sub.topic, 'subscribe') : p instanceof RolePermissions && p.coverage(sub.topic, sub.match, 'subscribe') === 'none') {
    throw new WampError(Uri.NOT_AUTHORIZED, `not authorized to subscribe to '${sub.topic}'`);
  }
  const visible = sub.match === 'exact' ? undefined : (topic: string) => allowed(caller, topic, 'subscribe');
  const events = realm.broker.store?.events(sub.topic, sub.match, sub.id, caller, limit, visible);
  if (events === undefined) throw new WampError(Uri.HISTORY_UNAVAILABLE, `no event history is configured for '${sub.topic}' (${sub.match})`);
  return events;
}

function subscription(realm: Realm, id: unknown) {
  const sub = isId(id) ? realm.broker.get(id) : undefined;
  if (sub === undefined) throw new WampError(Uri.NO_SUCH_SUBSCRIPTION);
  return sub;
}
function registration(realm: Realm, id: unknown) {
  const reg = isId(id) ? realm.dealer.get(id) : undefined;
  if (reg === undefined) throw new WampError(Uri.NO_SUCH_REGISTRATION);
  return reg;
}

/** The meta API procedures (WAMP spec, "Session/Registration/Subscription Meta API", "Testament"). */
const PROCEDURES: Readonly<Record<string, Handler>> = {
  'wamp.session.count': (realm, _c, args) => {
    const roles = filterRoles(args);
    const local = [...realm.sessions.values()].filter((s) => roles === null || roles.has(s.authrole)).length;
    // In a cluster (docs/cluster.md): plus the other nodes' sessions, as they last reported them.
    return [[local + (realm.broker.backplane?.remoteSessionCount(roles) ?? 0)]];
  },
  'wamp.session.list': (realm, _c, args) => {
    const roles = filterRoles(args);
    return [[[...realm.sessions.values()].filter((s) => roles === null || roles.has(s.authrole)).map((s) => s.id)]];
  },
  'wamp.session.get': (realm, _c, args) => [[session(realm, args[0]).details()]],
  'wamp.session.kill': (realm, caller, args, kwargs) => {
    const target = session(realm, args[0]);
    if (target === caller) throw new WampError(Uri.NO_SUCH_SESSION, 'a session cannot kill itself (use GOODBYE)');
    killAll(realm, [target], reasonArgs(args, 1, kwargs));
    return [[]];
  },
  'wamp.session.kill_by_authid': (realm, caller, args, kwargs) => {
    const authid = arg<string>(args, 0, isStr, 'an authid');
    const targets = others(realm, caller, (s) => s.authid === authid);
    killAll(realm, targets, reasonArgs(args, 1, kwargs));
    return [[targets.map((s) => s.id)]];
  },
  'wamp.session.kill_by_authrole': (realm, caller, args, kwargs) => {
    const authrole = arg<string>(args, 0, isStr, 'an authrole');
    const targets = others(realm, caller, (s) => s.authrole === authrole);
    killAll(realm, targets, reasonArgs(args, 1, kwargs));
    return [[targets.length]];
  },
  'wamp.session.kill_all': (realm, caller, args, kwargs) => {
    const targets = others(realm, caller, () => true);
    // WAMP spec, "Session Meta API": kill_all generates no session meta events and no testaments.
    killAll(realm, targets, reasonArgs(args, 0, kwargs), true);
    return [[targets.length]];
  },
  'wamp.session.add_testament': (realm, caller, args, kwargs, msg) => {
    const topic = arg<string>(args, 0, (v) => isValidUri(v, realm.uriCheck), 'a topic URI');
    // A testament is a publication by the session: the wamp.* namespace is the router's alone.
    if (isReservedUri(topic)) throw new WampError(Uri.INVALID_URI, `'${topic}': the wamp.* namespace is reserved`);
    const tArgs = arg<unknown[]>(args, 1, Array.isArray, 'a list (args)');
    const tKwargs = arg<Dict>(args, 2, isDict, 'a dict (kwargs)');
    const options = { ...optionalDict(args, 3), ...kwargs };
    const scope = options.scope ?? 'destroyed';
    if (scope !== 'destroyed' && scope !== 'detached') throw new WampError(Uri.INVALID_ARGUMENT, "scope must be 'destroyed' or 'detached'");
    if (!allowed(caller, topic, 'publish')) throw new WampError(Uri.NOT_AUTHORIZED, `not authorized to publish to '${topic}'`);
    const bytes = testamentRoom(realm, caller, msg);
    caller.testaments.push({ topic, args: tArgs, kwargs: tKwargs, options: isDict(options.publish_options) ? options.publish_options : {}, scope, bytes });
    caller.testamentBytes += bytes;
    realm.wills?.testamentsChanged(caller);
    return [[]];
  },
  'wamp.session.flush_testaments': (realm, caller, args, kwargs) => {
    const scope = ({ ...optionalDict(args, 0), ...kwargs }.scope as string | undefined) ?? 'destroyed';
    const before = caller.testaments.length;
    const kept = caller.testaments.filter((t) => t.scope !== scope);
    caller.testaments.splice(0, caller.testaments.length, ...kept);
    caller.testamentBytes = kept.reduce((n, t) => n + t.bytes, 0);
    if (kept.length !== before) realm.wills?.testamentsChanged(caller);
    return [[before - kept.length]];
  },

  'wamp.registration.list': (realm) => [[realm.dealer.list()]],
  'wamp.registration.lookup': (realm, _c, args, kwargs) => {
    const uri = arg<string>(args, 0, isStr, 'a procedure URI');
    const match = ({ ...optionalDict(args, 1), ...kwargs }.match ?? 'exact') as Match;
    if (!isMatch(match)) throw new WampError(Uri.INVALID_ARGUMENT, 'match must be exact, prefix or wildcard');
    return [[realm.dealer.lookup(uri, match)?.id ?? null]];
  },
  'wamp.registration.match': (realm, _c, args) => [[realm.dealer.route(arg<string>(args, 0, isStr, 'a procedure URI'))?.id ?? null]],
  'wamp.registration.get': (realm, _c, args) => [[registration(realm, args[0]).info()]],
  'wamp.registration.list_callees': (realm, _c, args) => [[registration(realm, args[0]).callees.map((c) => c.session.id)]],
  'wamp.registration.count_callees': (realm, _c, args) => [[registration(realm, args[0]).callees.length]],
  'wamp.registration.remove_callee': (realm, _c, args, kwargs) => {
    const reg = registration(realm, args[0]);
    const callee = reg.callees.find((c) => c.session.id === args[1])?.session;
    if (callee === undefined) throw new WampError(Uri.NO_SUCH_SESSION, `session ${String(args[1])} is not a callee of registration ${reg.id}`);
    // A callee on another node of the cluster (docs/cluster.md) is removed there, not here.
    if (callee instanceof RemoteSession) throw new WampError(Uri.NO_SUCH_SESSION, `session ${callee.id} is a callee on another node of the cluster`);
    const reason = reasonArgs(args, 2, kwargs).reason;
    realm.dealer.revoke(reg, callee, typeof reason === 'string' ? reason : undefined);
    return [[]];
  },

  'wamp.subscription.list': (realm) => [[realm.broker.list()]],
  'wamp.subscription.lookup': (realm, _c, args, kwargs) => {
    const uri = arg<string>(args, 0, isStr, 'a topic URI');
    const match = ({ ...optionalDict(args, 1), ...kwargs }.match ?? 'exact') as Match;
    if (!isMatch(match)) throw new WampError(Uri.INVALID_ARGUMENT, 'match must be exact, prefix or wildcard');
    return [[realm.broker.lookup(uri, match)?.id ?? null]];
  },
  'wamp.subscription.match': (realm, _c, args) => {
    const subs = realm.broker.matching(arg<string>(args, 0, isStr, 'a topic URI'));
    return [[subs.length === 0 ? null : subs.map((s) => s.id)]];
  },
  'wamp.subscription.get': (realm, _c, args) => [[subscription(realm, args[0]).info()]],
  'wamp.subscription.list_subscribers': (realm, _c, args) => [[[...subscription(realm, args[0]).subscribers].map((s) => s.id)]],
  'wamp.subscription.count_subscribers': (realm, _c, args) => [[subscription(realm, args[0]).subscribers.size]],
  'wamp.subscription.remove_subscriber': (realm, _c, args, kwargs) => {
    const sub = subscription(realm, args[0]);
    const subscriber = [...sub.subscribers].find((s) => s.id === args[1]);
    if (subscriber === undefined) throw new WampError(Uri.NO_SUCH_SESSION, `session ${String(args[1])} is not subscribed to ${sub.id}`);
    const reason = reasonArgs(args, 2, kwargs).reason;
    realm.broker.revoke(sub, subscriber, typeof reason === 'string' ? reason : undefined);
    return [[]];
  },
  'wamp.subscription.get_events': (realm, caller, args, kwargs) => {
    const sub = subscription(realm, args[0]);
    return [[historyOf(realm, caller, sub, eventsLimit(args, kwargs))]];
  },
};

export function isMetaProcedure(procedure: string): boolean {
  // Every meta procedure is wamp.*: most calls are decided by one character.
  return procedure.charCodeAt(0) === 0x77 /* w */ && Object.hasOwn(PROCEDURES, procedure);
}

export function callMeta(realm: Realm, caller: Session, procedure: string, args: unknown[], kwargs: Dict, msg: unknown[]): MetaResult {
  return PROCEDURES[procedure]!(realm, caller, args, kwargs, msg);
}
