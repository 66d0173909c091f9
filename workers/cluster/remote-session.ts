import type { TransportInfo } from '../../src/shared/ipc/protocol.js';
import { type Permissions, Session, type SessionHost } from '../session.js';

const REMOTE_TRANSPORT: TransportInfo = {
  type: 'websocket',
  serIndex: -1,
  transportId: 'cluster',
  authKey: 'cluster',
  serializer: 'none',
  peer: 'cluster',
  cookieAnonAuthid: null,
  cookieAuth: null,
  secure: false,
  tls: null,
  component: null,
};

/**
 * A stand-in for a session on another node of the cluster (workers/cluster/rpc.ts): a remote
 * callee in this node's dealer, or a remote caller of a callee here. It lives on an internal
 * pseudo-connection (a negative connection id, workers/auth/internal-caller.ts) whose messages go
 * to the other node through NATS. Never in Realm.sessions; no meta events are published for it.
 */
export class RemoteSession extends Session {
  constructor(
    /** The member (NATS connection) of the node the session lives on. */
    readonly member: string,
    id: number,
    connId: number,
    realm: SessionHost,
    authid: string,
    authrole: string,
    permissions: Permissions,
    roles: Record<string, unknown>,
  ) {
    super(id, connId, realm, authid, authrole, 'cluster', 'cluster', permissions, roles, REMOTE_TRANSPORT);
  }
}
