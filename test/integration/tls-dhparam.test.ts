// `endpoint.tls.dhparam` (Crossbar's DH parameters for the DHE cipher suites) and `endpoint.shared`
// on the transports whose listener Node.js creates: WebSocket with ca_certificates (the Node TLS
// front, src/transport/front.ts), rawsocket and universal transports. Where Node terminates TLS the
// parameters apply: a TLS 1.2 client offering only a DHE suite completes its handshake and joins.
// Where uWebSockets.js does (BoringSSL: no DHE) the router warns that they are not used, and such a
// client fails. A file that is missing or not DH parameters is refused wherever it is named.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import type WebSocket from 'ws';
import { checkFiles } from '../../src/config/files.js';
import { buildConfig, ConfigError } from '../../src/config/load.js';
import { reusePortSupported } from '../../src/config/transport.js';
import { checks, configDir, crossbarFile, refusedByBoth } from '../helpers/crossbar-files.js';
import { makePki, type Pki } from '../helpers/pki.js';
import { RawPeer } from '../helpers/raw.js';
import { RawSocketClient } from '../helpers/rawsocket.js';
import { ANONYMOUS_ALL, startRouter, type TestRouter } from '../helpers/router.js';

const DHE = 'DHE-RSA-AES128-GCM-SHA256';
const dir = configDir('crosswire-dhparam-');
let pki: Pki;
before(() => {
  pki = makePki();
});

type Json = Record<string, unknown>;
const ep = (tlsExtra: Json, extra: Json = {}) => ({
  type: 'tcp',
  port: 0,
  interface: '127.0.0.1',
  tls: { key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert], ...tlsExtra },
  ...extra,
});

/** The four kinds of TLS transport, each with `dh` (or no) dhparam, Crossbar's default cipher list (ECDHE and DHE suites). */
function transports(dh: Json): Json[] {
  return [
    { id: 'front', type: 'websocket', endpoint: ep({ ca_certificates: [pki.rootCert], ...dh }) },
    { id: 'rsock', type: 'rawsocket', serializers: ['json'], endpoint: ep(dh) },
    { id: 'uni', type: 'universal', endpoint: ep(dh), rawsocket: { serializers: ['json'] }, websocket: { ws: { serializers: ['json'] } } },
    { id: 'uwstls', type: 'websocket', endpoint: ep(dh) },
  ];
}

/** A TLS 1.2 client that offers only a DHE suite (and presents the client certificate, for the front). */
const dheOnly = (): tls.ConnectionOptions => ({
  ca: pki.read(pki.rootCert),
  key: pki.read(pki.clientKey),
  cert: pki.read(pki.clientCert),
  servername: 'localhost',
  maxVersion: 'TLSv1.2',
  ciphers: DHE,
});

/** What a TLS socket negotiated: the suite and the ephemeral key exchange. */
/** The suite and the key exchange's type and size (Node 24 adds `name: undefined` for DH: not compared). */
const negotiated = (s: tls.TLSSocket) => {
  const kx = s.getEphemeralKeyInfo() as { type?: string; size?: number } | null;
  return { cipher: s.getCipher().name, kx: kx === null ? null : { type: kx.type, size: kx.size } };
};
const DHE_2048 = { cipher: DHE, kx: { type: 'DH', size: 2048 } };

/** Opens a WebSocket over TLS with `options`; resolves with the peer and what its TLS negotiated. */
async function wss(port: number, options: tls.ConnectionOptions): Promise<{ peer: RawPeer; tls: ReturnType<typeof negotiated> }> {
  const peer = new RawPeer(`wss://localhost:${port}/ws`, 'json', options as WebSocket.ClientOptions);
  let got: ReturnType<typeof negotiated> | null = null;
  peer.ws.once('upgrade', (res) => (got = negotiated(res.socket as tls.TLSSocket)));
  await peer.opened;
  return { peer, tls: got! };
}

describe('dhparam where Node.js terminates TLS: DHE suites are offered', () => {
  let withDh: TestRouter;
  let without: TestRouter;
  const ports = (r: TestRouter) => Object.fromEntries(r.router.listeners.map((l, i) => [['front', 'rsock', 'uni', 'uwstls'][i]!, l.port]));
  before(async () => {
    withDh = await startRouter({ transports: transports({ dhparam: pki.dhparam }) });
    without = await startRouter({ transports: transports({}) });
  });
  after(async () => {
    await Promise.all([withDh?.stop(), without?.stop()]);
  });

  test('WebSocket with ca_certificates: a DHE-only TLS 1.2 client joins with dhparam; without dhparam its handshake fails', async () => {
    const { peer, tls: got } = await wss(ports(withDh).front!, dheOnly());
    assert.deepEqual(got, DHE_2048);
    assert.equal((await peer.join())[0], 2);
    peer.close();
    await assert.rejects(wss(ports(without).front!, dheOnly()), /handshake failure|alert number 40/);
    // The same transport serves an ECDHE client: the refusal was the key exchange, not the certificate.
    const ecdhe = await wss(ports(without).front!, { ...dheOnly(), ciphers: undefined });
    assert.match(ecdhe.tls.cipher, /^ECDHE-/);
    ecdhe.peer.close();
  });

  test('rawsocket over TLS: a DHE-only TLS 1.2 client joins with dhparam; without dhparam its handshake fails', async () => {
    const c = await RawSocketClient.connect({ port: ports(withDh).rsock! }, dheOnly());
    assert.deepEqual(negotiated(c.socket as tls.TLSSocket), DHE_2048);
    await c.handshake('json');
    assert.equal((await c.join())[0], 2);
    c.destroy();
    await assert.rejects(RawSocketClient.connect({ port: ports(without).rsock! }, dheOnly()), /handshake failure|alert number 40/);
  });

  test('universal over TLS: a DHE-only TLS 1.2 client joins by RawSocket and by WebSocket with dhparam; without dhparam its handshake fails', async () => {
    const c = await RawSocketClient.connect({ port: ports(withDh).uni! }, dheOnly());
    assert.deepEqual(negotiated(c.socket as tls.TLSSocket), DHE_2048);
    await c.handshake('json');
    assert.equal((await c.join())[0], 2);
    c.destroy();
    const { peer, tls: got } = await wss(ports(withDh).uni!, dheOnly());
    assert.deepEqual(got, DHE_2048);
    assert.equal((await peer.join())[0], 2);
    peer.close();
    await assert.rejects(RawSocketClient.connect({ port: ports(without).uni! }, dheOnly()), /handshake failure|alert number 40/);
  });

  test('uWebSockets.js TLS (no ca_certificates): dhparam is not used, as its warning says: a DHE-only client fails, ECDHE works', async () => {
    await assert.rejects(wss(ports(withDh).uwstls!, dheOnly()), /handshake failure|alert number 40|no shared cipher|socket hang up|ECONNRESET/);
    const ecdhe = await wss(ports(withDh).uwstls!, { ...dheOnly(), ciphers: undefined });
    assert.match(ecdhe.tls.cipher, /^ECDHE-/);
    assert.equal((await ecdhe.peer.join())[0], 2);
    ecdhe.peer.close();
  });
});

describe('dhparam in the config: warned about only where unused, refused where unreadable or not DH parameters', () => {
  const build = (t: Json[]) => buildConfig({ version: 2, workers: [{ type: 'router', realms: [{ name: 'realm1', roles: [ANONYMOUS_ALL] }], transports: t }] }, {});

  test('the warning names the key on the uWS-terminated transport only', () => {
    const w = build(transports({ dhparam: pki.dhparam })).warnings.filter((x) => x.includes('dhparam'));
    assert.equal(w.length, 1, w.join('\n'));
    assert.match(w[0]!, /^workers\[0\]\.transports\[3\]\.endpoint\.tls\.dhparam: '.*dhparam\.pem' is not used: .*BoringSSL.* no DHE/);
    // A web transport with ca_certificates: Node.js terminates, nothing to say.
    const web = { type: 'web', endpoint: ep({ ca_certificates: [pki.rootCert], dhparam: pki.dhparam }), paths: { ws: { type: 'websocket' } } };
    assert.deepEqual(build([web]).warnings, []);
  });

  test('crosswire check: no warning on a Node.js-terminated transport, one on the uWS one', async () => {
    const file = crossbarFile(dir, { transports: transports({ dhparam: pki.dhparam }).map((t) => ({ ...t, endpoint: { ...(t.endpoint as Json), port: 8443 } })) });
    const out = await checks(file);
    const warned = out.split('\n').filter((l) => l.startsWith('warning:') && l.includes('dhparam'));
    assert.equal(warned.length, 1, out);
    assert.match(warned[0]!, /^warning: workers\[0\]\.transports\[3\]\.endpoint\.tls\.dhparam: /);
  });

  test('a file that is missing or not DH parameters is refused naming the key (checkFiles, as check and start run it)', () => {
    const notDh = join(dir, 'not-dh.pem');
    writeFileSync(notDh, pki.read(pki.serverCert));
    const truncated = join(dir, 'truncated.pem');
    writeFileSync(truncated, '-----BEGIN DH PARAMETERS-----\nMIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx\n-----END DH PARAMETERS-----\n');
    // 512 bits (openssl genpkey -genparam -algorithm DH -pkeyopt dh_paramgen_prime_len:512).
    const small = join(dir, 'small.pem');
    writeFileSync(small, '-----BEGIN DH PARAMETERS-----\nMEYCQQCZj/frFzMmYUpdsZ9n4vNih9HsKO2QPHzhP9ODFHBfQD9pPOjIQw30WLGT\nbX30ODsVLUB4Hj93Qr3ivl64IYEfAgEC\n-----END DH PARAMETERS-----\n');
    const cases: [string, RegExp][] = [
      [join(dir, 'nowhere.pem'), /cannot read .*nowhere\.pem: ENOENT/],
      [notDh, /not-dh\.pem has no "-----BEGIN DH PARAMETERS-----" block/],
      [truncated, /truncated\.pem is not DH parameters/],
      [small, /small\.pem holds 512-bit DH parameters; Node\.js's TLS needs at least 1024/],
    ];
    for (const [file, why] of cases) {
      const raw = { version: 2, workers: [{ type: 'router', realms: [{ name: 'realm1', roles: [ANONYMOUS_ALL] }], transports: transports({ dhparam: file }) }] };
      buildConfig(raw, {}); // the config itself is fine
      assert.throws(
        () => checkFiles(raw, dir, {}),
        (e: unknown) => e instanceof ConfigError && new RegExp(`^workers\\[0\\]\\.transports\\[0\\]\\.endpoint\\.tls\\.dhparam: .*${why.source}`).test(e.message),
        file,
      );
    }
    // Each kind of transport is checked (not only the first one).
    const one = (i: number) => transports({}).map((t, k) => (k === i ? { ...t, endpoint: ep({ ...(k === 0 ? { ca_certificates: [pki.rootCert] } : {}), dhparam: notDh }) } : t));
    for (const i of [1, 2, 3]) {
      assert.throws(() => checkFiles({ version: 2, workers: [{ type: 'router', transports: one(i) }] }, dir, {}), new RegExp(`transports\\[${i}\\]\\.endpoint\\.tls\\.dhparam: `));
    }
  });

  test('crosswire check and start refuse a missing dhparam, on a uWS-terminated transport too', async () => {
    for (const t of [transports({})[0]!, transports({})[3]!]) {
      const tr = { ...t, endpoint: { ...(t.endpoint as Json), tls: { ...((t.endpoint as Json).tls as Json), dhparam: 'nowhere.pem' } } };
      await refusedByBoth(crossbarFile(dir, { transports: [tr] }), /workers\[0\]\.transports\[0\]\.endpoint\.tls\.dhparam: cannot read .*nowhere\.pem: ENOENT/);
    }
  });

  test('started without the CLI (startRouter), a missing dhparam fails the transport naming it', async () => {
    for (const t of transports({ dhparam: join(dir, 'nowhere.pem') })) {
      await assert.rejects(startRouter({ transports: [t] }), new RegExp(`transport ${String(t.id)}: endpoint\\.tls\\.dhparam: cannot read`));
    }
  });
});

describe('endpoint.shared on a listener Node.js creates needs Node.js >= 22.12 (net.Server reusePort)', () => {
  const shared = (t: Json): Json => ({ ...t, endpoint: { ...(t.endpoint as Json), shared: true } });

  test('the version rule', () => {
    for (const v of ['20.20.2', '22.11.0', '23.0.0']) assert.equal(reusePortSupported(v), false, v);
    for (const v of ['22.12.0', '22.23.5', '23.1.0', '24.0.0']) assert.equal(reusePortSupported(v), true, v);
  });

  test('on this Node.js: refused by check and start naming the key (older than 22.12), or two routers share the port', async () => {
    const nodeListened = transports({}).slice(0, 3).concat([{ id: 'plainrs', type: 'rawsocket', serializers: ['json'], endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' } }]);
    if (!reusePortSupported()) {
      for (const t of nodeListened) {
        const cfg = crossbarFile(dir, { transports: [shared(t)] });
        await refusedByBoth(cfg, /workers\[0\]\.transports\[0\]\.endpoint\.shared: true needs Node\.js >= 22\.12 .*this is v\d+/);
        assert.throws(
          () => buildConfig({ version: 2, workers: [{ type: 'router', realms: [{ name: 'realm1', roles: [ANONYMOUS_ALL] }], transports: [shared(t)] }] }, {}),
          (e: unknown) => e instanceof ConfigError && /endpoint\.shared: true needs Node\.js >= 22\.12/.test(e.message),
        );
      }
      // uWebSockets.js sets SO_REUSEPORT itself: accepted on any Node.js.
      await checks(crossbarFile(dir, { transports: [shared(transports({})[3]!)] }));
      return;
    }
    for (const t of nodeListened) {
      const a = await startRouter({ transports: [shared(t)] });
      try {
        const port = a.router.listeners[0]!.port;
        const b = await startRouter({ transports: [shared({ ...t, endpoint: { ...(t.endpoint as Json), port } })] });
        assert.equal(b.router.listeners[0]!.port, port);
        await b.stop();
      } finally {
        await a.stop();
      }
    }
  });
});
