import type { TransportInfo } from '../../src/shared/ipc/protocol.js';
import type { Dict } from '../../src/shared/wamp/messages.js';
import type { RealmServices } from '../services.js';

/** Who a session turned out to be: what WELCOME reports and the session keeps. */
export interface Identity {
  authid: string;
  role: string;
  /** The realm the principal is admitted to (null: the realm the client asked for). */
  realm: string | null;
  method: string;
  /** `cookie`: admitted by the identity stored against the connection's tracking cookie; `component`: a router component (its private socket). */
  provider: 'static' | 'dynamic' | 'cookie' | 'component';
  /** WELCOME.Details.authextra. */
  extra: Dict;
}

/**
 * An authentication that ends in ABORT. `counts` marks failures an attacker can cause by
 * guessing (wrong secret, unknown principal, denial, timeout): they are counted per peer address,
 * logged, and answered after the configured delay.
 */
export class AuthFailure extends Error {
  override name = 'AuthFailure';
  constructor(
    readonly uri: string,
    message: string,
    readonly counts = true,
    /** What the log says when it must say more than the ABORT (e.g. that the principal is unknown). */
    readonly detail: string | null = null,
  ) {
    super(message);
  }
}

/** What a method decides after HELLO: admit now, or challenge and decide on AUTHENTICATE. */
export type Step =
  | { identity: Identity }
  | { challenge: Dict; authenticate: (signature: string, extra: Dict) => Promise<Identity> };

/** One authentication in progress, as a method sees it. */
export interface Attempt {
  readonly realm: RealmServices;
  /** The method name as the client offered it (`scram` or `wamp-scram`). */
  readonly method: string;
  /** HELLO.Details.authid (null when absent or empty). */
  readonly authid: string | null;
  readonly authextra: Dict;
  /** The session id WELCOME will carry (WAMP-CRA's challenge names it). */
  readonly sessionId: number;
  readonly transport: TransportInfo;
  /** Calls the dynamic authenticator; the result is the principal (role string or dict). */
  callAuthenticator(procedure: string, realm: string | null, extra?: Dict): Promise<unknown>;
}

/** What authentication needs of a realm: its services, and letting an authenticated session join. */
export interface AuthRealm extends RealmServices {
  /** WELCOME the session and make it a member of the realm. */
  join(connId: number, id: number, details: Dict, transport: TransportInfo, who: Identity): void;
}
