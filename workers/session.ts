import type { TransportInfo } from '../src/shared/ipc/protocol.js';
import type { Dict } from '../src/shared/wamp/messages.js';
import type { Grant, Permissions } from './authorizer.js';
import type { Subscription } from './broker.js';
import type { Invocation, Registration } from './dealer.js';
import type { Realm } from './realm.js';

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
  /** Session-scope request ids of INVOCATIONs sent to this callee (WAMP spec, "IDs"). */
  #nextInvocation = 1;
  /** WELCOME.Details.authextra (handed to dynamic authorizers). */
  authextra: Dict = {};
  /** While a dynamic authorizer decides, the session's later messages wait here in order. */
  held: unknown[][] | null = null;
  /** Frame bytes of the messages in `held`, and of the testaments (workers/limits.ts). */
  heldBytes = 0;
  testamentBytes = 0;
  /** Bit i: the session reached LIMITS[i] (logged once). */
  limitsReached = 0;
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
