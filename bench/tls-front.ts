/**
 * The cost of terminating TLS in Node.js (src/transport/front.ts) against uWS's own TLS, on one
 * RPC cell (bench/lib/ab-rpc.ts: the cell, the rounds and what is printed).
 *
 *   npm run build && node dist/bench/tls-front.js [--seconds 3] [--rounds 3] [--callers 8] [--window 32] [--joins 100]
 *
 *   uws:   endpoint.tls without ca_certificates (uWebSockets.js terminates TLS)
 *   front: the same with ca_certificates (Node.js terminates TLS; clients present a certificate)
 */
import { rmSync } from 'node:fs';
import { makePki } from '../test/helpers/pki.js';
import { abRpc } from './lib/ab-rpc.js';

const pki = makePki();
try {
  await abRpc({
    setups: ['uws', 'front'],
    labels: { uws: 'uws TLS', front: 'Node front' },
    config: (setup) => ({
      version: 2,
      workers: [
        {
          type: 'router',
          realms: [{ name: 'realm1', roles: [{ name: 'anonymous', 'allow-by-default': true }] }],
          transports: [
            {
              type: 'websocket',
              endpoint: {
                type: 'tcp',
                port: 0,
                tls: { key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert], ...(setup === 'front' ? { ca_certificates: [pki.rootCert] } : {}) },
              },
            },
          ],
        },
      ],
      crosswire: { log_level: 'info' },
    }),
    url: (port) => `wss://localhost:${port}/ws`,
    client: { ca: pki.read(pki.rootCert), key: pki.read(pki.clientKey), cert: pki.read(pki.clientCert) },
  });
} finally {
  rmSync(pki.dir, { recursive: true, force: true });
}
