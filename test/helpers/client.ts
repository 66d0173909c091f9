import './quiet.js';
import autobahn, { type Connection, type Session } from 'autobahn';
import { within } from './wait.js';

export type SerializerName = 'json' | 'msgpack';
export const SERIALIZERS: SerializerName[] = ['json', 'msgpack'];

export interface Client {
  session: Session;
  connection: Connection;
  details: Record<string, unknown>;
  /** Resolves with (reason, details) when the connection closes. */
  closed: Promise<{ reason: string; details: Record<string, unknown> }>;
  /** What AutobahnJS reported through on_internal_error (e.g. a protocol violation it saw). */
  internalErrors: string[];
  /** Closes the connection; rejects if AutobahnJS reported an internal error on it. */
  close(): Promise<void>;
}

/** Connects an AutobahnJS client (no retries) and resolves once the session is joined. */
export function connect(url: string, serializer: SerializerName, realm = 'realm1', extra: Record<string, unknown> = {}): Promise<Client> {
  const ser = serializer === 'json' ? new autobahn.serializer.JSONSerializer() : new autobahn.serializer.MsgpackSerializer();
  // AutobahnJS prints internal errors ("Unhandled exception raised") and carries on; here they
  // are kept, so that close() fails the test instead.
  const internalErrors: string[] = [];
  const connection = new autobahn.Connection({
    on_internal_error: (e: unknown) => internalErrors.push(describe(e)),
    url,
    realm,
    serializers: [ser],
    max_retries: 0,
    retry_if_unreachable: false,
    use_es6_promises: true,
    ...extra,
  });
  let onClosed!: (v: { reason: string; details: Record<string, unknown> }) => void;
  const closed = new Promise<{ reason: string; details: Record<string, unknown> }>((r) => {
    onClosed = r;
  });
  const opened = new Promise<Client>((resolve, reject) => {
    connection.onopen = (session, details) => {
      resolve({
        session,
        connection,
        details,
        closed,
        internalErrors,
        close: async () => {
          if (connection.isOpen) {
            connection.close();
            await within(closed, 5000, 'the connection to close');
          }
          if (internalErrors.length > 0) throw new Error(`AutobahnJS reported: ${internalErrors.join('; ')}`);
        },
      });
    };
    connection.onclose = (reason, details) => {
      onClosed({ reason, details });
      reject(new Error(`connection closed before joining: ${reason} ${JSON.stringify(details)}`));
      return true; // no retry
    };
  });
  connection.open();
  return within(opened, 5000, `an AutobahnJS ${serializer} session on ${realm}`);
}

/**
 * AutobahnJS's own Error class has `error` and `args`; for a protocol violation it calls that class
 * without `new`, so the value is undefined (and it has already closed the WebSocket with 3002).
 */
function describe(e: unknown): string {
  if (e === undefined) return 'an internal error without a message (AutobahnJS 22 loses the reason of a protocol violation it saw)';
  if (e instanceof Error) return e.message;
  const w = e as { error?: unknown; args?: unknown };
  return w !== null && typeof w === 'object' && 'error' in w ? `${String(w.error)} ${JSON.stringify(w.args ?? [])}` : String(e);
}
