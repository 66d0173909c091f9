/**
 * The cost of the universal transport's handoff (src/transport/universal.ts: Node accepts, reads the
 * first byte, hands HTTP to uWS through a private unix socket) against a plain websocket transport
 * (uWS listens itself), on one RPC cell (bench/lib/ab-rpc.ts: the cell, the rounds and what is
 * printed).
 *
 *   npm run build && node dist/bench/universal.js [--seconds 3] [--rounds 3] [--callers 8] [--window 32] [--joins 100]
 */
import { abRpc } from './lib/ab-rpc.js';

const endpoint = { type: 'tcp', port: 0, interface: '127.0.0.1' };

await abRpc({
  setups: ['websocket', 'universal'],
  labels: { websocket: 'websocket', universal: 'universal' },
  config: (setup) => ({
    version: 2,
    workers: [
      {
        type: 'router',
        realms: [{ name: 'realm1', roles: [{ name: 'anonymous', 'allow-by-default': true }] }],
        transports: [setup === 'websocket' ? { type: 'websocket', endpoint } : { type: 'universal', endpoint, rawsocket: {}, websocket: { ws: {} } }],
      },
    ],
    crosswire: { log_level: 'info' },
  }),
  url: (port) => `ws://127.0.0.1:${port}/ws`,
  client: {},
});
