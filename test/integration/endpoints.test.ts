// Listening endpoints (Crossbar.io docs, "Transport Endpoints"): several transports on one router, tcp (IPv4/IPv6,
// portrange, exclusive ports), unix sockets and TLS (certificates made with openssl in the test).
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { SERIALIZERS } from '../../src/shared/serializers/index.js';
import { makePki, type Pki } from '../helpers/pki.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { within } from '../helpers/wait.js';
import { rawHttp, WireClient } from '../helpers/wire.js';

const routers: TestRouter[] = [];
after(() => Promise.all(routers.map((r) => r.stop())));
async function router(transports: Record<string, unknown>[]): Promise<TestRouter> {
  const r = await startRouter({ transports });
  routers.push(r);
  return r;
}
const ws = (endpoint: Record<string, unknown>, more: Record<string, unknown> = {}) => ({ type: 'websocket', endpoint, ...more });

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freePort(): Promise<number> {
  const probe = net.createServer();
  return new Promise((resolve, reject) => {
    probe.once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Opens a `ws` WebSocket, joins realm1 and returns it with its WELCOME. */
async function session(url: string, ser: 'json' | 'msgpack' = 'json', opts: WebSocket.ClientOptions = {}): Promise<{ sock: WebSocket; welcome: unknown[] }> {
  const sock = new WebSocket(url, [`wamp.2.${ser}`], opts);
  const first = new Promise<unknown[]>((resolve, reject) => {
    sock.once('message', (d: Buffer) => resolve(SERIALIZERS[ser].decode(d) as unknown[]));
    sock.once('error', reject);
    sock.once('close', (code) => reject(new Error(`closed ${code}`)));
  });
  first.catch(() => {}); // when the handshake fails, the open below reports it
  await within(new Promise((resolve, reject) => sock.once('open', resolve).once('error', reject)), 5000, `a WebSocket to ${url}`);
  sock.send(SERIALIZERS[ser].encode([1, 'realm1', { roles: { subscriber: {}, publisher: {} } }]), { binary: ser === 'msgpack' });
  const welcome = await within(first, 5000, 'WELCOME');
  assert.equal(welcome[0], 2);
  return { sock, welcome };
}

describe('tcp and unix', () => {
  const dir = join(tmpdir(), `crosswire-unix-${process.pid}`);
  before(() => rmSync(dir, { recursive: true, force: true }));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('several transports share the realms: tcp (json only) and a unix socket (msgpack only)', async () => {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'router.sock');
    writeFileSync(path, 'not a socket');
    await assert.rejects(router([ws({ type: 'unix', path })]), /endpoint\.path: .* exists and is not a socket/);
    rmSync(path);
    const r = await router([
      ws({ type: 'tcp', port: 0, interface: '127.0.0.1' }, { id: 'public', serializers: ['json'] }),
      ws({ type: 'unix', path }, { id: 'local', serializers: ['msgpack'] }),
    ]);
    assert.deepEqual(r.router.listeners.map((l) => l.config.id), ['public', 'local']);
    assert.ok(existsSync(path));
    const overTcp = await session(`ws://127.0.0.1:${r.router.listeners[0]!.port}/ws`, 'json');
    const overUnix = await session(`ws+unix://${path}:/ws`, 'msgpack');
    const events: unknown[][] = [];
    const got = new Promise<void>((resolve) =>
      overUnix.sock.on('message', (d: Buffer) => {
        const m = SERIALIZERS.msgpack.decode(d) as unknown[];
        if (m[0] === 33) overTcp.sock.send(JSON.stringify([16, 2, {}, 'com.example.x', ['via tcp']]));
        if (m[0] === 36) {
          events.push(m);
          resolve();
        }
      }),
    );
    overUnix.sock.send(SERIALIZERS.msgpack.encode([32, 1, {}, 'com.example.x']), { binary: true });
    await within(got, 5000, 'the event over the unix socket');
    assert.deepEqual(events[0]![4], ['via tcp']);
    assert.deepEqual(r.router.peers().sort(), ['tcp:127.0.0.1', 'unix']);
    // `serializers` restricts what each transport offers.
    const refused = await rawHttp(r.router.listeners[0]!.port, WireClient.request('/ws', { 'Sec-WebSocket-Protocol': 'wamp.2.msgpack' }));
    assert.equal(refused.status, 400);
    const c = new WireClient({ path }, WireClient.request('/ws', { 'Sec-WebSocket-Protocol': 'wamp.2.json' }));
    assert.equal((await within(c.response.promise, 5000, 'the response')).status, 400);
    c.destroy();
    overUnix.sock.close();
    overTcp.sock.close();
    // A second router finds the socket file of a dead one and replaces it (Crossbar does too).
    const r2 = await router([ws({ type: 'unix', path: join(dir, 'router.sock') }, { id: 'again' })]);
    assert.ok(r2);
  });

  test('ports are exclusive: a second transport on a used port fails naming it', async () => {
    const r = await router([ws({ type: 'tcp', port: 0, interface: '127.0.0.1' })]);
    const port = r.router.listeners[0]!.port;
    await assert.rejects(router([ws({ type: 'tcp', port, interface: '127.0.0.1' }, { id: 'clash' })]), new RegExp(`transport clash: cannot listen on 127\\.0\\.0\\.1:${port}`));
  });

  test('ports are exclusive also when configured by number (uSockets would otherwise set SO_REUSEPORT and share them)', async () => {
    const port = await freePort();
    await router([ws({ type: 'tcp', port, interface: '127.0.0.1' }, { id: 'first' })]);
    await assert.rejects(router([ws({ type: 'tcp', port, interface: '127.0.0.1' }, { id: 'second' })]), new RegExp(`transport second: cannot listen on 127\\.0\\.0\\.1:${port}`));
    await assert.rejects(router([ws({ type: 'tcp', port, interface: '127.0.0.1', shared: true }, { id: 'third' })]), /transport third: cannot listen/);
  });

  test('shared: true: routers listen on one port (SO_REUSEPORT); when one stops, the other serves it', async () => {
    const port = await freePort();
    const a = await startRouter({ transports: [ws({ type: 'tcp', port, interface: '127.0.0.1', shared: true })] });
    const b = await router([ws({ type: 'tcp', port, interface: '127.0.0.1', shared: true })]);
    assert.equal(b.router.listeners[0]!.port, port);
    // An exclusive listener cannot join them.
    await assert.rejects(router([ws({ type: 'tcp', port, interface: '127.0.0.1' }, { id: 'exclusive' })]), /transport exclusive: cannot listen/);
    await a.stop();
    const { sock } = await session(`ws://127.0.0.1:${port}/ws`);
    assert.deepEqual(b.router.peers(), ['tcp:127.0.0.1']);
    sock.close();
  });

  test('portrange: the first free port of the range', async () => {
    const r1 = await router([ws({ type: 'tcp', port: 0, interface: '127.0.0.1' })]);
    const taken = r1.router.listeners[0]!.port;
    const hi = Math.min(taken + 5, 65535);
    const r2 = await router([ws({ type: 'tcp', portrange: [taken, hi], interface: '127.0.0.1' })]);
    const port = r2.router.listeners[0]!.port;
    assert.ok(port > taken && port <= hi, `listens on ${port}, in (${taken}, ${hi}]`);
    await session(`ws://127.0.0.1:${port}/ws`).then(({ sock }) => sock.close());
  });

  test('version 6: IPv6 loopback', async (t) => {
    const probe = net.createServer();
    const v6 = await new Promise<boolean>((resolve) => probe.once('error', () => resolve(false)).listen(0, '::1', () => probe.close(() => resolve(true))));
    if (!v6) return t.skip('this machine has no IPv6 loopback (::1)');
    const r = await router([ws({ type: 'tcp', port: 0, interface: '::1', version: 6 })]);
    const { sock } = await session(`ws://[::1]:${r.router.listeners[0]!.port}/ws`);
    assert.match(r.router.peers()[0]!, /^tcp:.*:/);
    sock.close();
  });
});

describe('tls', () => {
  let pki: Pki;
  before(() => {
    pki = makePki();
  });
  after(() => rmSync(pki.dir, { recursive: true, force: true }));
  const endpoint = (more: Record<string, unknown> = {}) => ({
    type: 'tcp',
    port: 0,
    interface: '127.0.0.1',
    tls: { key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert], ...more },
  });

  test('wss with chain_certificates: a client trusting only the root CA verifies the server', async () => {
    const r = await router([ws(endpoint())]);
    const port = r.router.listeners[0]!.port;
    const { sock } = await session(`wss://localhost:${port}/ws`, 'json', { ca: pki.read(pki.rootCert) });
    sock.close();
    // Without the chain the same client cannot verify the leaf.
    const bare = await router([ws({ ...endpoint(), tls: { key: pki.serverKey, certificate: pki.serverCert } })]);
    await assert.rejects(session(`wss://localhost:${bare.router.listeners[0]!.port}/ws`, 'json', { ca: pki.read(pki.rootCert) }), /unable to (get|verify)/);
  });

  test('ca_certificates: a client certificate is required and verified', async () => {
    const r = await router([ws(endpoint({ ca_certificates: [pki.rootCert] }))]);
    const url = `wss://localhost:${r.router.listeners[0]!.port}/ws`;
    const ca = pki.read(pki.rootCert);
    const good = await session(url, 'json', { ca, key: pki.read(pki.clientKey), cert: pki.read(pki.clientCert) });
    good.sock.close();
    await assert.rejects(session(url, 'json', { ca, key: pki.read(pki.strangerKey), cert: pki.read(pki.strangerCert) }), /unknown ca|alert|socket hang up|ECONNRESET/i);
    // As Crossbar (Twisted requires a certificate): a client without one fails the handshake
    // (test/integration/tls-client-cert.test.ts has the details).
    await assert.rejects(session(url, 'json', { ca }), /certificate required|alert|socket hang up|ECONNRESET/i);
    // Without ca_certificates nothing is requested, so the same stranger certificate passes.
    const open = await router([ws(endpoint())]);
    const stranger = await session(`wss://localhost:${open.router.listeners[0]!.port}/ws`, 'json', { ca, key: pki.read(pki.strangerKey), cert: pki.read(pki.strangerCert) });
    stranger.sock.close();
  });

  test('ciphers (TLS 1.2): the configured suite is negotiated', async () => {
    const cipherOf = (port: number) =>
      new Promise<string>((resolve, reject) => {
        const s = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki.read(pki.rootCert), maxVersion: 'TLSv1.2' }, () => {
          resolve(s.getCipher().name);
          s.destroy();
        });
        s.once('error', reject);
      });
    const rsa = await router([ws(endpoint({ ciphers: 'AES128-GCM-SHA256' }))]);
    assert.equal(await cipherOf(rsa.router.listeners[0]!.port), 'AES128-GCM-SHA256');
    // Crossbar's default list: its first suite the client has, ECDHE (BoringSSL has no DHE).
    const def = await router([ws(endpoint())]);
    assert.equal(await cipherOf(def.router.listeners[0]!.port), 'ECDHE-RSA-AES128-GCM-SHA256');
    await assert.rejects(router([ws(endpoint({ ciphers: 'DHE-RSA-AES256-GCM-SHA384' }))]), /no DHE/);
  });

  test('unreadable or mismatched files fail at startup naming the key', async () => {
    await assert.rejects(router([ws(endpoint({ key: join(pki.dir, 'missing.key') }))]), /endpoint\.tls\.key: cannot read/);
    await assert.rejects(router([ws(endpoint({ ca_certificates: [join(pki.dir, 'nope.pem')] }))]), /endpoint\.tls\.ca_certificates: cannot read/);
    await assert.rejects(router([ws(endpoint({ key: pki.clientKey }))]), /endpoint\.tls: uWebSockets\.js could not build a TLS context/);
  });
});
