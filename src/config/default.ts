/**
 * The meta API procedures that end or cut off other sessions (WAMP spec, "Session Meta API",
 * "Registration Meta API", "Subscription Meta API"). The embedded default denies them to
 * anonymous sessions: an exact rule is more specific than the open prefix rule "".
 */
export const DESTRUCTIVE_META_PROCEDURES = [
  'wamp.session.kill',
  'wamp.session.kill_by_authid',
  'wamp.session.kill_by_authrole',
  'wamp.session.kill_all',
  'wamp.registration.remove_callee',
  'wamp.subscription.remove_subscriber',
] as const;

/**
 * The embedded default: what `npm start` runs without a file. One router, realm `realm1`, one
 * WebSocket transport on ws://127.0.0.1:8080/ws, anonymous sessions allowed everything except
 * the destructive meta procedures above. Every key not written here takes its default from schema.ts.
 */
export const DEFAULT_CONFIG = {
  version: 2,
  workers: [
    {
      type: 'router',
      realms: [
        {
          name: 'realm1',
          roles: [
            {
              name: 'anonymous',
              permissions: [
                {
                  uri: '',
                  match: 'prefix',
                  allow: { call: true, register: true, publish: true, subscribe: true },
                  disclose: { caller: false, publisher: false },
                  cache: true,
                },
                ...DESTRUCTIVE_META_PROCEDURES.map((uri) => ({
                  uri,
                  match: 'exact',
                  allow: { call: false, register: false, publish: false, subscribe: false },
                  disclose: { caller: false, publisher: false },
                  cache: true,
                })),
              ],
            },
          ],
        },
      ],
      transports: [
        {
          type: 'websocket',
          endpoint: { type: 'tcp', port: 8080, interface: '127.0.0.1' },
          url: 'ws://127.0.0.1:8080/ws',
          serializers: ['json', 'msgpack'],
        },
      ],
    },
  ],
} as const;
