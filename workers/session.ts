/**
 * A session and the records it shares with the realm's broker and dealer (subscriptions,
 * registrations, calls in flight) and its role's permissions: one file because they refer to one
 * another. Behaviour lives in broker.ts, dealer.ts and authorizer.ts; what a session sees of its
 * realm is SessionHost (implemented by Realm, workers/realm.ts).
 */
import type { TransportInfo } from '../src/shared/ipc/protocol.js';
import type { Limit } from '../src/shared/labels.js';
import type { Logger } from '../src/shared/log.js';
import type { Dict } from '../src/shared/wamp/messages.js';
import type { Match } from './match/uri-index.js';
import { INTERNAL_BIT } from './output.js';

export const SessionState = { ESTABLISHED: 1, SHUTTING_DOWN: 2, CLOSED: 3 } as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

export interface Testament {
  topic: string;
  args: unknown[];
  kwargs: Dict;
  options: Dict;
  scope: 'detached' | 'destroyed';
  /** The add_testament CALL's frame size (counted against max_testament_bytes_per_session). */
  bytes: number;
}

/** A session's serializer statistics (SessionStats, workers/session-stats.ts). */
export interface StatsCounter {
  /** One message sent to the session / received from it: its size in bytes. */
  sent(bytes: number): void;
  received(bytes: number): void;
  /** The session left: publish its last event (when `publish` and trigger_on_leave); stops its timer. */
  left(publish: boolean): void;
}

/** What a session sees of the realm that hosts it (Realm implements it; see RealmServices for more). */
export interface SessionHost {
  readonly name: string;
  readonly log: Logger;
  readonly limits: Readonly<Record<Limit, number>>;
  /** One message from the session. */
  dispatch(s: Session, msg: unknown[]): void;
  /** ABORT the session, drop its state and close its connection with `code`. */
  abort(s: Session, reason: string, message: string, code: number): void;
  /** Router-initiated GOODBYE. */
  goodbye(s: Session, reason: string, message: string, silent?: boolean): void;
  /** The session is over; `detach` hands the connection back. */
  end(s: Session, detach: boolean): void;
}

/** One joined WAMP session, owned by the realm worker that hosts its realm. */
export class Session {
  state: SessionState = SessionState.ESTABLISHED;
  // The collections below are created on first use: an idle session (most of them, in many
  // deployments) then costs less memory (`npm run bench -- --scenario idle`).
  #subscriptions: Set<Subscription> | null = null;
  #registrations: Set<Registration> | null = null;
  #invocations: Map<number, Invocation> | null = null;
  #calls: Map<number, Invocation> | null = null;
  #testaments: Testament[] | null = null;
  /** Subscriptions this session holds (for cleanup when it leaves). */
  get subscriptions(): Set<Subscription> {
    return (this.#subscriptions ??= new Set());
  }
  get registrations(): Set<Registration> {
    return (this.#registrations ??= new Set());
  }
  /** Invocations sent to this session as callee, by INVOCATION request id. */
  get invocations(): Map<number, Invocation> {
    return (this.#invocations ??= new Map());
  }
  /** This session's calls still waiting for a callee, by CALL request id. */
  get calls(): Map<number, Invocation> {
    return (this.#calls ??= new Map());
  }
  get testaments(): Testament[] {
    return (this.#testaments ??= []);
  }
  /** This session's calls waiting in a call queue (realm `store.call-queue`), by CALL request id; null while none. */
  queued: Map<number, QueuedCall> | null = null;
  /** Session-scope request ids of INVOCATIONs sent to this callee (WAMP spec, "IDs"). */
  #nextInvocation = 1;
  /** WELCOME.Details.authextra (handed to dynamic authorizers). */
  authextra: Dict = {};
  /** While a dynamic authorizer decides, the session's later messages wait here in order. */
  held: unknown[][] | null = null;
  /** Frame bytes of the messages in `held`, and of the testaments (workers/limits.ts). */
  heldBytes = 0;
  /** Bytes of this session's CALLs waiting in call queues (max_queued_bytes_per_session). */
  queuedBytes = 0;
  testamentBytes = 0;
  /** Bit i: the session reached LIMITS[i] (logged once). */
  limitsReached = 0;
  /** Serializer statistics (realm `stats`, workers/session-stats.ts); null when the realm has none. */
  stats: StatsCounter | null = null;
  /** The decision just fetched for the request being re-dispatched (workers/auth/dynamic-role.ts). */
  authzDecision: { key: string; grant: Grant } | null = null;

  constructor(
    readonly id: number,
    readonly connId: number,
    readonly realm: SessionHost,
    readonly authid: string,
    readonly authrole: string,
    readonly authmethod: string,
    readonly authprovider: string,
    readonly permissions: Permissions,
    readonly roles: Record<string, unknown>,
    readonly transport: TransportInfo,
  ) {}

  nextInvocationId(): number {
    const id = this.#nextInvocation;
    this.#nextInvocation = id >= 2 ** 53 ? 1 : id + 1;
    return id;
  }

  /** Whether `id` was issued to this callee already (a late answer to it is not a violation). */
  issuedInvocation(id: number): boolean {
    return id >= 1 && id < this.#nextInvocation;
  }

  /** Whether the client announced `feature` for `role` in HELLO (WAMP spec, "Feature Announcement"). */
  has(role: 'publisher' | 'subscriber' | 'caller' | 'callee', feature: string): boolean {
    const r = this.roles[role] as { features?: Record<string, unknown> } | undefined;
    return r?.features?.[feature] === true;
  }

  /** The session's details as the meta API reports them. */
  details(): Dict {
    return {
      session: this.id,
      authid: this.authid,
      authrole: this.authrole,
      authmethod: this.authmethod,
      authprovider: this.authprovider,
      authextra: {},
      transport: { type: this.transport.type, peer: this.transport.peer, serializer: this.transport.serializer, id: this.transport.transportId },
    };
  }
}

// ---- the role's permissions (workers/authorizer.ts, workers/auth/dynamic-role.ts) ----------

export type Action = 'call' | 'register' | 'publish' | 'subscribe';

export interface Grant {
  allow: boolean;
  discloseCaller: boolean;
  disclosePublisher: boolean;
}

/**
 * What a session's role decides: a Grant, or null when the decision must first be fetched from
 * a dynamic authorizer (workers/auth/dynamic-role.ts).
 */
export interface Permissions {
  readonly name: string;
  /** True when decisions differ per session (a dynamic authorizer's); false when the role decides alike for all its sessions. */
  readonly decidesPerSession: boolean;
  check(uri: string, action: Action, s?: Session, options?: Dict): Grant | null;
  /**
   * Whether `s` may be sent the EVENT (action subscribe) or INVOCATION (action register) of the
   * concrete `uri` through a pattern its role covers only in part. Synchronous: for a dynamic
   * role, only a decision already known counts.
   */
  receives(uri: string, action: 'subscribe' | 'register', s: Session): boolean;
}

// ---- subscriptions (workers/broker.ts) -----------------------------------------------------

/** All subscribers of one (topic, match) share one subscription id (WAMP spec, "SUBSCRIBED"). */
export class Subscription {
  readonly subscribers = new Set<Session>();
  /**
   * Subscribers whose role allows only part of what this pattern matches: each event is checked
   * against their role (Permissions.receives) before it is sent. null when none.
   */
  filtered: Set<Session> | null = null;
  readonly created = new Date().toISOString();
  /** Connection ids of all subscribers not filtered; rebuilt lazily after a change. */
  #connIds: number[] | null = null;
  /** Bit k set when such a subscriber speaks SERIALIZER_LIST[k] (an EVENT is encoded once per such serializer); lazily. */
  #serMask = -1;
  /** The filtered subscribers by role (a static role decides alike for all its sessions); lazily. */
  #groups: FilteredGroup[] | null = null;
  constructor(
    readonly id: number,
    readonly topic: string,
    readonly match: Match,
  ) {}

  connIds(): number[] {
    if (this.#connIds === null) {
      this.#connIds = [];
      for (const s of this.subscribers) if (this.filtered === null || !this.filtered.has(s)) this.#connIds.push(s.connId);
    }
    return this.#connIds;
  }
  serMask(): number {
    if (this.#serMask < 0) {
      let m = 0;
      for (const s of this.subscribers) if (this.filtered === null || !this.filtered.has(s)) m |= serBit(s);
      this.#serMask = m;
    }
    return this.#serMask;
  }
  groups(): FilteredGroup[] {
    if (this.#groups === null) {
      const byKey = new Map<object, FilteredGroup>();
      for (const s of this.filtered ?? []) {
        const key = s.permissions.decidesPerSession ? s : s.permissions;
        let g = byKey.get(key);
        if (g === undefined) byKey.set(key, (g = { sample: s, connIds: [], mask: 0 }));
        g.connIds.push(s.connId);
        g.mask |= serBit(s);
      }
      this.#groups = [...byKey.values()];
    }
    return this.#groups;
  }
  changed(): void {
    this.#connIds = null;
    this.#serMask = -1;
    this.#groups = null;
  }
  info(): Dict {
    return { id: this.id, created: this.created, uri: this.topic, match: this.match };
  }
}

/** Filtered subscribers of one subscription that one decision covers: one role, or one session of a dynamic role. */
interface FilteredGroup {
  sample: Session;
  connIds: number[];
  mask: number;
}

/** The bit of the serializer `s` speaks in a subscriber mask (Subscription.serMask), or INTERNAL_BIT. */
export function serBit(s: Session): number {
  const k = s.transport.serIndex;
  return k >= 0 ? 1 << k : INTERNAL_BIT;
}

// ---- registrations and calls in flight (workers/dealer.ts) -----------------------------------

export type InvokePolicy = 'single' | 'roundrobin' | 'random' | 'first' | 'last';

export interface Callee {
  session: Session;
  forwardTimeout: boolean;
  /** The callee's role allows only part of what the pattern matches: each call is checked. */
  filtered: boolean;
  /** Crossbar's REGISTER.Options.concurrency: at most this many invocations in flight to this callee; 0: no limit. */
  concurrency: number;
  /** Invocations in flight to this callee that count against `concurrency` (kept only when it is set). */
  active: number;
}

/** Whether `c` may take one more invocation (its REGISTER.Options.concurrency). */
const hasRoom = (c: Callee): boolean => c.concurrency === 0 || c.active < c.concurrency;

/** Whether `c` may be sent an INVOCATION of `procedure` (its role may register that procedure). */
export const serves = (c: Callee, procedure: string): boolean => !c.filtered || c.session.permissions.receives(procedure, 'register', c.session);

export class Registration {
  readonly callees: Callee[] = [];
  readonly created = new Date().toISOString();
  /** How many callees are filtered (0: every callee serves every procedure the pattern matches). */
  filtered = 0;
  /** How many callees have a `concurrency` (0: picking a callee needs no look at what they have in flight). */
  limited = 0;
  /** Calls waiting for a callee with room (realm `store.call-queue`), oldest first; null while none. */
  queue: Set<QueuedCall> | null = null;
  #next = 0;
  constructor(
    readonly id: number,
    readonly procedure: string,
    readonly match: Match,
    readonly invoke: InvokePolicy,
  ) {}

  /**
   * The callee for the next call (WAMP spec, "Shared Registration"); one that serves `procedure`.
   * Undefined when the callee(s) the policy allows have no room (REGISTER.Options.concurrency).
   */
  pick(procedure: string): Callee | undefined {
    const c = this.filtered === 0 ? this.callees : this.callees.filter((x) => serves(x, procedure));
    if (this.limited > 0) return this.#pickWithRoom(c);
    switch (this.invoke) {
      case 'roundrobin': {
        const i = this.#next % c.length;
        this.#next = i + 1;
        return c[i]!;
      }
      case 'random':
        return c[Math.floor(Math.random() * c.length)]!;
      case 'last':
        return c[c.length - 1]!;
      default:
        return c[0]!;
    }
  }

  /**
   * As Crossbar.io's dealer (crossbar/router/dealer.py, `Dealer._call`): `single`, `first` and
   * `last` have one callee, used only if it has room; `roundrobin` goes on to the next callee with
   * room, once round. `random` picks among the callees with room (Crossbar ignores concurrency
   * there).
   */
  #pickWithRoom(c: Callee[]): Callee | undefined {
    switch (this.invoke) {
      case 'roundrobin':
        for (let k = 0; k < c.length; k++) {
          const i = (this.#next + k) % c.length;
          if (hasRoom(c[i]!)) {
            this.#next = i + 1;
            return c[i]!;
          }
        }
        return undefined;
      case 'random': {
        const free = c.filter(hasRoom);
        return free.length === 0 ? undefined : free[Math.floor(Math.random() * free.length)]!;
      }
      case 'last':
        return hasRoom(c[c.length - 1]!) ? c[c.length - 1]! : undefined;
      default:
        return hasRoom(c[0]!) ? c[0]! : undefined;
    }
  }
  info(): Dict {
    return { id: this.id, created: this.created, uri: this.procedure, match: this.match, invoke: this.invoke };
  }
}

/**
 * A CALL waiting in its registration's call queue (realm `store.call-queue`) for a callee with
 * room (REGISTER.Options.concurrency); it becomes an Invocation when one has room.
 */
export class QueuedCall {
  timer: NodeJS.Timeout | null = null;
  constructor(
    readonly caller: Session,
    /** The CALL as received (its payload goes out in the INVOCATION). */
    readonly msg: unknown[],
    readonly registration: Registration,
    /** Whether the caller's role discloses it to the callee (as at the CALL). */
    readonly disclose: boolean,
    /** CALL.Options.timeout (ms, 0: none) and when it ends (performance.now() ms). */
    readonly timeout: number,
    readonly deadline: number,
    /** The CALL's frame size, counted against max_queued_call_bytes and max_queued_bytes_per_session. */
    readonly bytes: number,
  ) {}
  get requestId(): number {
    return this.msg[1] as number;
  }
  get procedure(): string {
    return this.msg[3] as string;
  }
}

/** One CALL in flight: the INVOCATION sent to the callee and the caller waiting for it. */
export class Invocation {
  timer: NodeJS.Timeout | null = null;
  /** Progressive call invocations: the caller is still sending CALLs with progress: true. */
  streaming = false;
  /** The callee record whose `active` count this invocation holds (REGISTER.Options.concurrency), or null. */
  slot: Callee | null = null;
  constructor(
    readonly id: number,
    readonly caller: Session,
    readonly callRequestId: number,
    readonly callee: Session,
    readonly registration: Registration,
    readonly receiveProgress: boolean,
  ) {}
}
