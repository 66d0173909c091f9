import type { TransportInfo } from '../src/ipc/protocol.js';
import type { Dict } from '../src/wamp/messages.js';
import type { Grant, Permissions } from './authorizer.js';
import type { Subscription } from './broker.js';
import type { Invocation, Registration } from './dealer.js';
import type { Realm } from './realm.js';

export const SessionState = { ESTABLISHED: 1, SHUTTING_DOWN: 2, CLOSED: 3 } as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

/** One joined WAMP session, owned by the realm worker that hosts its realm. */
export class Session {
  state: SessionState = SessionState.ESTABLISHED;
  /** Subscriptions this session holds (for cleanup when it leaves). */
  readonly subscriptions = new Set<Subscription>();
  readonly registrations = new Set<Registration>();
  /** Invocations sent to this session as callee, by INVOCATION request id. */
  readonly invocations = new Map<number, Invocation>();
  /** Calls this session made that are still waiting for the callee. */
  readonly pendingCalls = new Set<Invocation>();
  /** Session-scope request ids of INVOCATIONs sent to this callee (WAMP spec, "IDs"). */
  #nextInvocation = 1;
  /** WELCOME.Details.authextra (handed to dynamic authorizers). */
  authextra: Dict = {};
  /** While a dynamic authorizer decides, the session's later messages wait here in order. */
  held: unknown[][] | null = null;
  /** The decision just fetched for the request being re-dispatched (workers/auth/dynamic-role.ts). */
  authzDecision: { key: string; grant: Grant } | null = null;

  constructor(
    readonly id: number,
    readonly connId: number,
    readonly realm: Realm,
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
}
