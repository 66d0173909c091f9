/**
 * The embedded default: what `npm start` runs without a file. One router, realm `realm1`, one
 * WebSocket transport on ws://127.0.0.1:8080/ws, anonymous sessions allowed everything.
 * Every key not written here takes its default from schema.ts.
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
