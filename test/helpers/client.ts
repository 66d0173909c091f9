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
  close(): Promise<void>;
}

/** Connects an AutobahnJS client (no retries) and resolves once the session is joined. */
export function connect(url: string, serializer: SerializerName, realm = 'realm1', extra: Record<string, unknown> = {}): Promise<Client> {
  const ser = serializer === 'json' ? new autobahn.serializer.JSONSerializer() : new autobahn.serializer.MsgpackSerializer();
  const connection = new autobahn.Connection({
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
        close: async () => {
          if (connection.isOpen) {
            connection.close();
            await within(closed, 5000, 'the connection to close');
          }
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
