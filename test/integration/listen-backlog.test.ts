// `endpoint.backlog` (Crossbar: the listen accept-queue length) reaches the kernel where Node.js's
// net.Server listens: rawsocket transports (tcp and unix), universal transports and WebSocket
// transports whose TLS Node.js terminates (ca_certificates: src/transport/front.ts). Where
// uWebSockets.js listens, the kernel shows uSockets' fixed 512, as the router's warning says.
// For a listening socket `ss` prints the backlog in the Send-Q column (ss(8); the kernel's
// sk_max_ack_backlog), which listen(2) caps at /proc/sys/net/core/somaxconn.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { UWS_BACKLOG } from '../../src/config/transport.js';
import { makePki, type Pki } from '../helpers/pki.js';
import { RawSocketClient } from '../helpers/rawsocket.js';
import { startRouter, type TestRouter } from '../helpers/router.js';

const run = promisify(execFile);

/** `ss` on PATH, or null. */
function findSs(): string | null {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    if (d === '') continue;
    try {
      accessSync(join(d, 'ss'), constants.X_OK);
      return join(d, 'ss');
    } catch {
      // not in this directory
    }
  }
  return null;
}
const ss = findSs();
const NO_SS = '`ss` (iproute2) is not on PATH: the listen backlog cannot be read from the kernel';

/** What listen(2) applies for `backlog` on this kernel. */
const applied = (backlog: number) => Math.min(backlog, Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim()));

/** The Send-Q (= the backlog) of the one listening socket `ss` lists for `args` whose local address is `local`. */
async function listenQueue(args: string[], local: string): Promise<number> {
  const { stdout } = await run(ss!, ['-lH', ...args]);
  const rows = stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((cols) => cols.includes('LISTEN'))
    .map((cols) => cols.slice(cols.indexOf('LISTEN')))
    .filter(([, , , addr]) => addr === local);
  assert.equal(rows.length, 1, `one listening socket at ${local} in:\n${stdout}`);
  return Number(rows[0]![2]);
}
const tcpQueue = (port: number) => listenQueue(['-tn', `sport = :${port}`], `127.0.0.1:${port}`);

describe('endpoint.backlog: the accept queue the kernel holds', () => {
  let pki: Pki;
  let r: TestRouter;
  let dir: string;
  const ids = ['rsock', 'rsunix', 'uni', 'front', 'uws'];
  const port = (id: string) => r.router.listeners[ids.indexOf(id)]!.port;
  const tcp = { type: 'tcp', port: 0, interface: '127.0.0.1' };
  before(async () => {
    pki = makePki();
    dir = mkdtempSync(join(tmpdir(), 'crosswire-backlog-'));
    r = await startRouter({
      transports: [
        { id: 'rsock', type: 'rawsocket', serializers: ['json'], endpoint: { ...tcp, backlog: 1000 } },
        { id: 'rsunix', type: 'rawsocket', serializers: ['json'], endpoint: { type: 'unix', path: join(dir, 'rs.sock'), backlog: 77 } },
        { id: 'uni', type: 'universal', endpoint: { ...tcp, backlog: 900 }, rawsocket: { serializers: ['json'] } },
        {
          id: 'front',
          type: 'websocket',
          endpoint: { ...tcp, backlog: 800, tls: { key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert], ca_certificates: [pki.rootCert] } },
        },
        { id: 'uws', type: 'websocket', endpoint: { ...tcp, backlog: 1000 } },
      ],
    });
  });
  after(async () => {
    await r?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test('a tcp rawsocket transport with backlog 1000 listens with min(1000, somaxconn), and serves', async (t) => {
    if (ss === null) return t.skip(NO_SS);
    assert.equal(await tcpQueue(port('rsock')), applied(1000));
    const c = await RawSocketClient.connect({ port: port('rsock') });
    await c.handshake('json', 15);
    assert.equal((await c.join())[0], 2);
    c.destroy();
  });

  test('a unix rawsocket transport with backlog 77 listens with it', async (t) => {
    if (ss === null) return t.skip(NO_SS);
    const path = join(dir, 'rs.sock');
    assert.equal(await listenQueue(['-x', 'src', path], path), applied(77));
  });

  test('a universal transport and a WebSocket transport with ca_certificates (Node.js listens) apply theirs', async (t) => {
    if (ss === null) return t.skip(NO_SS);
    assert.equal(await tcpQueue(port('uni')), applied(900));
    assert.equal(await tcpQueue(port('front')), applied(800));
  });

  test('a plain WebSocket transport (uWebSockets.js listens) keeps 512, as its warning says', async (t) => {
    if (ss === null) return t.skip(NO_SS);
    assert.equal(await tcpQueue(port('uws')), applied(UWS_BACKLOG));
  });
});
