// TLS client certificate authentication (Crossbar's `auth.tls`) on RawSocket transports over TLS
// with ca_certificates: the same principals, ABORTs and authenticator details as on a WebSocket
// transport, checked side by side on one router with real TLS clients (RawSocket: a `tls`
// socket; WebSocket: `ws`). Certificates are made with openssl at test time (test/helpers/pki.ts).
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { type Client, connect } from '../helpers/client.js';
import { makePki, type Pki } from '../helpers/pki.js';
import { RawPeer } from '../helpers/raw.js';
import { RawSocketClient } from '../helpers/rawsocket.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { within } from '../helpers/wait.js';

const fingerprint = (file: string) => new X509Certificate(readFileSync(file)).fingerprint;
const ROLES = [{ name: 'user', 'allow-by-default': true }, { name: 'anonymous', 'allow-by-default': true }];
const ROLES_HELLO = { roles: { caller: {}, callee: {}, publisher: {}, subscriber: {} } };

let pki: Pki;
let other: { key: string; cert: string };
const routers: TestRouter[] = [];
before(() => {
  pki = makePki();
  // A client certificate signed by the test root CA (so the TLS handshake succeeds) that no principal names.
  const o = (args: string[]) => execFileSync('openssl', args, { cwd: pki.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  o(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key']);
  o(['req', '-new', '-key', 'other.key', '-subj', '/CN=other', '-out', 'other.csr']);
  o(['x509', '-req', '-in', 'other.csr', '-CA', 'root.crt', '-CAkey', 'root.key', '-CAcreateserial', '-days', '2', '-extfile', 'client.ext', '-out', 'other.crt']);
  other = { key: join(pki.dir, 'other.key'), cert: join(pki.dir, 'other.crt') };
});
after(async () => {
  await Promise.all(routers.map((r) => r.stop()));
  rmSync(pki.dir, { recursive: true, force: true });
});

const tlsEndpoint = (ca = true) => ({
  type: 'tcp',
  port: 0,
  interface: '127.0.0.1',
  tls: { key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert], ...(ca ? { ca_certificates: [pki.rootCert] } : {}) },
});
const BACKEND = { id: 'wsock', type: 'websocket', endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' } };
const staticTls = () => ({ tls: { type: 'static', principals: { client1: { 'certificate-sha1': fingerprint(pki.clientCert), role: 'user' } } } });

/** A router with a plain WebSocket backend (0), a WebSocket TLS transport (1) and a RawSocket TLS transport (2), both with `auth`. */
async function sideBySide(auth: Record<string, unknown>): Promise<TestRouter> {
  const r = await startRouter({
    crosswire: { auth_fail_delay: 0, auth_max_failures: 0 },
    realms: [{ name: 'realm1', roles: ROLES }],
    transports: [BACKEND, { id: 'wss', type: 'websocket', endpoint: tlsEndpoint(), auth }, { id: 'rsock', type: 'rawsocket', endpoint: tlsEndpoint(), auth }],
  });
  routers.push(r);
  return r;
}

const port = (r: TestRouter, i: number) => r.router.listeners[i]!.port;
const creds = (key?: string, cert?: string) => ({
  ca: pki.read(pki.rootCert),
  servername: 'localhost',
  ...(key === undefined ? {} : { key: pki.read(key), cert: pki.read(cert!) }),
});

/** HELLO over RawSocket-over-TLS with the given certificate; the router's answer (WELCOME or ABORT) and the client. */
async function rawsocketHello(r: TestRouter, key: string, cert: string, details: Record<string, unknown>): Promise<{ reply: unknown[]; c: RawSocketClient }> {
  const c = await RawSocketClient.connect({ port: port(r, 2) }, creds(key, cert));
  assert.equal((c.socket as import('node:tls').TLSSocket).authorized, true);
  await c.handshake('json');
  return { reply: await c.join('realm1', { ...ROLES_HELLO, ...details }), c };
}

/** The same HELLO over WebSocket-over-TLS; the answer and the peer. */
async function websocketHello(r: TestRouter, key: string, cert: string, details: Record<string, unknown>): Promise<{ reply: unknown[]; p: RawPeer }> {
  const p = await RawPeer.open(`wss://localhost:${port(r, 1)}/ws`, 'json', creds(key, cert));
  p.send([1, 'realm1', { ...ROLES_HELLO, ...details }]);
  return { reply: await p.nextOf([2, 3]), p };
}

/** How a TLS 1.2 handshake with the given client certificate (or none) ends: the client's error, without OpenSSL's per-call prefix. */
function tls12(p: number, key?: string, cert?: string): Promise<string> {
  return within(
    new Promise<string>((resolve) => {
      const s = tls.connect({ port: p, host: '127.0.0.1', ...creds(key, cert), maxVersion: 'TLSv1.2' });
      s.once('secureConnect', () => {
        s.destroy();
        resolve('handshake completed');
      });
      s.once('error', (e) => resolve(e.message.replace(/^[0-9A-F]+:error:/, '').trim()));
    }),
    5000,
    'the TLS 1.2 handshake',
  );
}

const welcomeOf = (m: unknown[]) => {
  assert.equal(m[0], 2, `WELCOME expected, got ${JSON.stringify(m)}`);
  const d = m[2] as Record<string, unknown>;
  return [d.authid, d.authrole, d.authmethod, d.authprovider];
};

describe('auth.tls static on a RawSocket TLS transport', () => {
  let r: TestRouter;
  let backend: Client;
  before(async () => {
    r = await sideBySide(staticTls());
    backend = await connect(`ws://127.0.0.1:${port(r, 0)}/ws`, 'json');
  });
  after(() => backend?.close());

  test('the certificate names the principal: authid and role from the config, authmethod tls (as on WebSocket)', async () => {
    // Crossbar: the principal's key is the authid, whatever HELLO asked for.
    const asked = { authmethods: ['tls'], authid: 'admin' };
    const rs = await rawsocketHello(r, pki.clientKey, pki.clientCert, asked);
    const ws = await websocketHello(r, pki.clientKey, pki.clientCert, asked);
    assert.deepEqual(welcomeOf(rs.reply), ['client1', 'user', 'tls', 'static']);
    assert.deepEqual(welcomeOf(ws.reply), welcomeOf(rs.reply));
    // wamp.session.get: the RawSocket session's transport details, of the same shape as the WebSocket session's.
    const rsInfo = (await backend.session.call('wamp.session.get', [rs.reply[1]])) as Record<string, Record<string, unknown>>;
    const wsInfo = (await backend.session.call('wamp.session.get', [ws.reply[1]])) as Record<string, Record<string, unknown>>;
    assert.deepEqual([rsInfo.authid, rsInfo.authrole, rsInfo.authmethod], ['client1', 'user', 'tls']);
    assert.deepEqual([rsInfo.transport!.type, rsInfo.transport!.id, rsInfo.transport!.peer], ['rawsocket', 'rsock', 'tcp:127.0.0.1']);
    assert.equal(wsInfo.transport!.type, 'websocket');
    assert.deepEqual(Object.keys(rsInfo.transport!).sort(), Object.keys(wsInfo.transport!).sort());
    assert.deepEqual(Object.keys(rsInfo).sort(), Object.keys(wsInfo).sort());
    // The RawSocket session works: it registers, the WebSocket backend calls it.
    rs.c.send([64, 1, {}, 'com.rs.hello']);
    assert.equal((await rs.c.message(2))[0], 65, 'REGISTERED');
    const call = backend.session.call('com.rs.hello', ['x']);
    const inv = await rs.c.message(3);
    assert.equal(inv[0], 68, 'INVOCATION');
    rs.c.send([70, inv[1], {}, ['hi from client1']]);
    assert.deepEqual(await call, 'hi from client1');
    rs.c.destroy();
    ws.p.close();
  });

  test('a certificate of the right CA that no principal names: ABORT wamp.error.authentication_failed, the same as on WebSocket', async () => {
    const rs = await rawsocketHello(r, other.key, other.cert, { authmethods: ['tls'] });
    const ws = await websocketHello(r, other.key, other.cert, { authmethods: ['tls'] });
    assert.deepEqual([rs.reply[0], rs.reply[2]], [3, 'wamp.error.authentication_failed']);
    assert.match(String((rs.reply[1] as Record<string, unknown>).message), new RegExp(`no principal has the TLS client certificate ${fingerprint(other.cert)}`));
    assert.deepEqual(rs.reply, ws.reply);
    await within(rs.c.closed, 5000, 'the router to close the RawSocket connection after ABORT');
    ws.p.close();
  });

  test('without a client certificate, or with one from another CA, the TLS handshake fails (as on WebSocket): no RawSocket handshake reply', async () => {
    for (const [key, cert] of [[undefined, undefined], [pki.strangerKey, pki.strangerCert]] as const) {
      // TLS 1.2: the router ends the handshake before it completes on the client, exactly as the WebSocket transport does
      // (no certificate: alert handshake_failure; a stranger's: the connection is closed).
      const rs12 = await tls12(port(r, 2), key, cert);
      assert.match(rs12, key === undefined ? /alert handshake failure/ : /disconnected before secure TLS connection was established/);
      assert.equal(rs12, await tls12(port(r, 1), key, cert));
      // TLS 1.3: the client's side may complete first; the router's alert then closes the connection.
      const c = await RawSocketClient.connect({ port: port(r, 2) }, creds(key, cert)).catch(() => null);
      if (c !== null) {
        c.socket.write(Buffer.from([0x7f, 0xf1, 0, 0]));
        await within(c.closed, 5000, 'the router to fail the TLS connection');
        assert.equal(c.socket.bytesRead, 0, 'no RawSocket handshake reply');
      }
      // The WebSocket transport with the same endpoint settings refuses the same client.
      await assert.rejects(RawPeer.open(`wss://localhost:${port(r, 1)}/ws`, 'json', creds(key, cert)), /certificate|alert|unknown ca|ECONNRESET|socket hang up/i);
    }
    // Other sessions carry on.
    const ok = await rawsocketHello(r, pki.clientKey, pki.clientCert, { authmethods: ['tls'] });
    assert.equal(ok.reply[0], 2);
    ok.c.destroy();
  });
});

describe('auth.tls dynamic on a RawSocket TLS transport', () => {
  test('the authenticator gets the certificate in details.transport.peer_cert, as from a WebSocket transport, and names the principal', async () => {
    const r = await sideBySide({ tls: { type: 'dynamic', authenticator: 'com.example.authenticate' } });
    const backend = await connect(`ws://127.0.0.1:${port(r, 0)}/ws`, 'json');
    const seen: { authmethod: string; transport: Record<string, unknown> & { peer_cert: Record<string, unknown> | null } }[] = [];
    await backend.session.register('com.example.authenticate', (args) => {
      const details = args![2] as (typeof seen)[number];
      seen.push(details);
      return { role: 'user', authid: `cn:${(details.transport.peer_cert!.subject as Record<string, string>).CN}` };
    });
    try {
      const rs = await rawsocketHello(r, pki.clientKey, pki.clientCert, { authmethods: ['tls'] });
      assert.deepEqual(welcomeOf(rs.reply), ['cn:client1', 'user', 'tls', 'dynamic']);
      const ws = await websocketHello(r, pki.clientKey, pki.clientCert, { authmethods: ['tls'] });
      assert.deepEqual(welcomeOf(ws.reply), welcomeOf(rs.reply));
      assert.equal(seen.length, 2);
      const [fromRs, fromWs] = seen as [(typeof seen)[number], (typeof seen)[number]];
      assert.deepEqual([fromRs.authmethod, fromRs.transport.type, fromRs.transport.transport_id], ['tls', 'rawsocket', 'rsock']);
      assert.equal(fromWs.transport.type, 'websocket');
      assert.equal(fromRs.transport.peer_cert!.sha1, fingerprint(pki.clientCert));
      assert.equal(fromRs.transport.peer_cert!.sha256, new X509Certificate(readFileSync(pki.clientCert)).fingerprint256);
      assert.deepEqual(fromRs.transport.peer_cert!.issuer, { CN: 'Crosswire Test Root' });
      assert.deepEqual(fromRs.transport.peer_cert, fromWs.transport.peer_cert);
      assert.deepEqual(Object.keys(fromRs.transport).sort(), Object.keys(fromWs.transport).sort());
      rs.c.destroy();
      ws.p.close();
    } finally {
      await backend.close();
    }
  });
});

describe('auth.tls on the rawsocket part of a universal transport', () => {
  test('the certificate names the principal over RawSocket on the shared TLS port', async () => {
    const r = await startRouter({
      realms: [{ name: 'realm1', roles: ROLES }],
      transports: [{ id: 'uni', type: 'universal', endpoint: tlsEndpoint(), rawsocket: { auth: staticTls() }, websocket: { ws: {} } }],
    });
    routers.push(r);
    const c = await RawSocketClient.connect({ port: r.port }, creds(pki.clientKey, pki.clientCert));
    await c.handshake('msgpack');
    assert.deepEqual(welcomeOf(await c.join('realm1', { ...ROLES_HELLO, authmethods: ['tls'] })), ['client1', 'user', 'tls', 'static']);
    c.destroy();
    const o = await RawSocketClient.connect({ port: r.port }, creds(other.key, other.cert));
    await o.handshake('json');
    const abort = await o.join('realm1', { ...ROLES_HELLO, authmethods: ['tls'] });
    assert.deepEqual([abort[0], abort[2]], [3, 'wamp.error.authentication_failed']);
    o.destroy();
  });
});

describe('auth.tls on RawSocket: configs that cannot work are refused naming the key, as on WebSocket', () => {
  const realms = [{ name: 'realm1', roles: ROLES }];
  const needsCa = (key: string) => new RegExp(`${key.replace(/[[\].]/g, '\\$&')}: TLS client certificate authentication needs a TLS endpoint with ca_certificates`);

  test('tls without ca_certificates, plain tcp, or a unix socket', async () => {
    const unix = join(tmpdir(), `crosswire-rstls-${process.pid}.sock`);
    for (const endpoint of [tlsEndpoint(false), { type: 'tcp', port: 0, interface: '127.0.0.1' }, { type: 'unix', path: unix }]) {
      await assert.rejects(startRouter({ realms, transports: [BACKEND, { type: 'rawsocket', endpoint, auth: staticTls() }] }), needsCa('transports[1].auth.tls'));
    }
    // The WebSocket transport's refusal in the same case says the same.
    await assert.rejects(startRouter({ realms, transports: [BACKEND, { type: 'websocket', endpoint: tlsEndpoint(false), auth: staticTls() }] }), needsCa('transports[1].auth.tls'));
    // A universal transport's rawsocket part, named where it is written.
    await assert.rejects(
      startRouter({ realms, transports: [{ type: 'universal', endpoint: tlsEndpoint(false), rawsocket: { auth: staticTls() } }] }),
      needsCa('transports[0].rawsocket.auth.tls'),
    );
  });

  test('a bad certificate-sha1, or a principal with a role no realm has', async () => {
    const bad = { tls: { type: 'static', principals: { c: { 'certificate-sha1': 'not-a-fingerprint', role: 'user' } } } };
    await assert.rejects(
      startRouter({ realms, transports: [BACKEND, { type: 'rawsocket', endpoint: tlsEndpoint(), auth: bad }] }),
      /transports\[1\]\.auth\.tls\.principals\.c\.certificate-sha1: must be the certificate's SHA-1 fingerprint/,
    );
    const ghost = { tls: { type: 'static', principals: { c: { 'certificate-sha1': fingerprint(pki.clientCert), role: 'ghost' } } } };
    await assert.rejects(
      startRouter({ realms, transports: [BACKEND, { type: 'rawsocket', endpoint: tlsEndpoint(), auth: ghost }] }),
      /transports\[1\]\.auth\.tls\.principals\.c\.role: no realm has a role 'ghost'/,
    );
    await assert.rejects(
      startRouter({ realms, transports: [{ type: 'universal', endpoint: tlsEndpoint(), rawsocket: { auth: ghost } }] }),
      /transports\[0\]\.rawsocket\.auth\.tls\.principals\.c\.role: no realm has a role 'ghost'/,
    );
  });
});
