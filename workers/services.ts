/**
 * What a realm provides to the code around it: the narrow interfaces that broker and dealer
 * events, meta procedures, authentication, drain, stats, the HTTP bridge and the cluster backplane
 * (workers/cluster.ts, workers/cluster/*.ts) depend on, instead of the Realm class
 * (workers/realm.ts implements them). Types only: importing this file never closes an import circle.
 */
import type { UriCheck } from '../src/shared/wamp/uris.js';
import type { Broker } from './broker.js';
import type { Dealer } from './dealer.js';
import type { Output } from './output.js';
import type { Permissions, Session, SessionHost } from './session.js';

/** The sessions of a realm by session id (established ones; RemoteSessions are never here). */
export type SessionDirectory = Map<number, Session>;

/** A realm's state and lifecycle as everything but the realm itself sees them. */
export interface RealmServices extends SessionHost {
  readonly uriCheck: UriCheck;
  /** The realm option enable_meta_api. */
  readonly metaApi: boolean;
  readonly out: Output;
  readonly sessions: SessionDirectory;
  /** The realm's roles by name. */
  readonly roles: Map<string, Permissions>;
  readonly broker: Broker;
  readonly dealer: Dealer;
  /** Set by a graceful drain (workers/drain.ts): no new calls are accepted. */
  draining: boolean;
  /** In a cluster: told of sessions and testaments, for when this node dies (workers/cluster/wills.ts). */
  wills: WillsBackplane | null;
  /** ABORT a session that is not established yet, and close its connection. */
  abortNew(connId: number, reason: string, message: string): void;
  /** Answers a message that failed: ERROR for a request, ABORT for a protocol violation or a bug. */
  fail(s: Session, msg: unknown[], e: unknown): void;
}

/** The realm side of the cluster's testaments (workers/cluster/wills.ts): told of joins, leaves and testaments. */
export interface WillsBackplane {
  joined(s: Session): void;
  left(s: Session): void;
  testamentsChanged(s: Session): void;
}
