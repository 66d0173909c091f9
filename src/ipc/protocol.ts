/**
 * The wire between the main thread and a realm worker: one MessageChannel per worker, one
 * postMessage per direction per event-loop turn. A batch is a flat array of operations, each an
 * opcode followed by its fixed operands, so the receiver walks it without allocating per entry
 * and the order of a session's messages is the order of the array.
 *
 * main → worker
 *   OPEN,   connId, realm, helloDetails, transport   a HELLO on a connection without a session
 *   FRAME,  connId, msg                               any later WAMP message of that connection
 *   CLOSED, connId                                    the WebSocket went away
 *   SHUTDOWN                                          say GOODBYE (system_shutdown) to every session
 * worker → main
 *   SEND,   connId, msg                               send msg to one connection
 *   FANOUT, connIds, msg                              send the same msg to many (encoded once per serializer)
 *   DETACH, connId                                    the session ended; the connection may HELLO again
 *   CLOSE,  connId, code, reason                      close the WebSocket (after an ABORT, say)
 */
export const Op = {
  OPEN: 1,
  FRAME: 2,
  CLOSED: 3,
  SHUTDOWN: 4,
  SEND: 11,
  FANOUT: 12,
  DETACH: 13,
  CLOSE: 14,
} as const;

/** What a realm worker learns about the transport a session arrived on. */
export interface TransportInfo {
  type: 'websocket';
  transportId: string;
  serializer: string;
  peer: string;
  /** The tracking cookie id (cookie tracking on), or null. */
  cbtid: string | null;
  /** Authentication methods this transport admits, with their config (only anonymous so far). */
  auth: TransportAuth;
}

export interface TransportAuth {
  anonymous?: { type: 'static'; role: string };
}

export interface WorkerStartup {
  workerIndex: number;
  realms: RealmConfig[];
  logLevel: string;
}

export interface RealmConfig {
  name: string;
  roles: RoleConfig[];
  options: { uri_check: 'strict' | 'loose' };
}

export interface RoleConfig {
  name: string;
  'allow-by-default'?: boolean;
  permissions?: PermissionConfig[];
}

export interface PermissionConfig {
  uri: string;
  match?: 'exact' | 'prefix' | 'wildcard';
  allow?: { call?: boolean; register?: boolean; publish?: boolean; subscribe?: boolean };
  disclose?: { caller?: boolean; publisher?: boolean };
  cache?: boolean;
}
