// TLS `ca_certificates` require a client certificate (as Crossbar), TLS
// client certificate authentication (`auth.tls`) and cryptosign's `tls-unique` channel binding.
// Such transports terminate TLS in Node.js and hand the plaintext to uWS (src/transport/front.ts);
// the certificates are made with openssl at test time (test/helpers/pki.ts).
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { ed25519Key, type Ed25519Key } from '../helpers/auth.js';
import { connect } from '../helpers/client.js';
import { makePki, type Pki } from '../helpers/pki.js';
import { RawPeer } from '../helpers/raw.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { within } from '../helpers/wait.js';
import type { FrontHandoff } from '../../src/transport/front.js';

const fingerprint = (file: string) => new X509Certificate(readFileSync(file)).fingerprint;

/** A client certificate signed by the test root CA but named by no principal. */
function unlistedClient(pki: Pki): { key: string; cert: string } {
  const o = (args: string[]) => execFileSync('openssl', args, { cwd: pki.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  o(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key']);
  o(['req', '-new', '-key', 'other.key', '-subj', '/CN=other', '-out', 'other.csr']);
  o(['x509', '-req', '-in', 'other.csr', '-CA', 'root.crt', '-CAkey', 'root.key', '-CAcreateserial', '-days', '2', '-extfile', 'client.ext', '-out', 'other.crt']);
  return { key: join(pki.dir, 'other.key'), cert: join(pki.dir, 'other.crt') };
}

/** Ed25519 signature of `message` with the key's seed, as a cryptosign client makes it. */
function ed25519Sign(key: Ed25519Key, message: Buffer): Buffer {
  const seed = Buffer.from(key.pkey.secretKey.subarray(0, 32));
  const pk = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
  return sign(null, message, pk);
}

const xor = (a: Buffer, b: Buffer) => Buffer.from(a.map((x, i) => x ^ b[i]!));

let pki: Pki;
let other: { key: string; cert: string };
const device = ed25519Key();
const routers: TestRouter[] = [];
before(() => {
  pki = makePki();
  other = unlistedClient(pki);
});
after(async () => {
  await Promise.all(routers.map((r) => r.stop()));
  rmSync(pki.dir, { recursive: true, force: true });
});

async function tlsRouter(auth: Record<string, unknown> | undefined, ca = true): Promise<TestRouter> {
  const r = await startRouter({
    crosswire: { auth_fail_delay: 0, auth_max_failures: 0 },
    realms: [{ name: 'realm1', roles: [{ name: 'user', 'allow-by-default': true }, { name: 'anonymous', 'allow-by-default': true }] }],
    transport: {
      endpoint: {
        type: 'tcp',
        port: 0,
        interface: '127.0.0.1',
        tls: { key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert], ...(ca ? { ca_certificates: [pki.rootCert] } : {}) },
      },
      ...(auth === undefined ? {} : { auth }),
    },
  });
  routers.push(r);
  return r;
}

const creds = (key: string, cert: string) => ({ ca: pki.read(pki.rootCert), key: pki.read(key), cert: pki.read(cert) });
const wss = (r: TestRouter) => `wss://localhost:${r.port}/ws`;

describe('item 9: ca_certificates require a client certificate', () => {
  let r: TestRouter;
  before(async () => {
    r = await tlsRouter(undefined);
  });

  test('a client without a certificate fails the TLS handshake (TLS 1.2 and 1.3)', async () => {
    // TLS 1.2: the server's alert ends the handshake before it completes on the client.
    const tls12 = tls.connect({ port: r.port, host: '127.0.0.1', servername: 'localhost', ca: pki.read(pki.rootCert), maxVersion: 'TLSv1.2' });
    const outcome12 = await within(
      new Promise<string>((resolve) => {
        tls12.once('secureConnect', () => resolve('handshake completed'));
        tls12.once('error', (e) => resolve(`error: ${e.message}`));
      }),
      5000,
      'the TLS 1.2 handshake',
    );
    tls12.destroy();
    assert.match(outcome12, /^error: .*(handshake failure|certificate|alert)/i);
    // TLS 1.3: the client finishes first; the server's "certificate required" alert follows.
    await assert.rejects(RawPeer.open(wss(r), 'json', { ca: pki.read(pki.rootCert) }), /certificate required|alert|ECONNRESET|socket hang up/i);
  });

  test('a certificate from another CA fails; one from the configured CA gets a session', async () => {
    await assert.rejects(RawPeer.open(wss(r), 'json', creds(pki.strangerKey, pki.strangerCert)), /unknown ca|alert|ECONNRESET|socket hang up/i);
    const c = await connect(wss(r), 'json', 'realm1', { tlsConfiguration: creds(pki.clientKey, pki.clientCert) });
    assert.equal(c.details.authmethod, 'anonymous');
    await c.close();
  });
});

describe('item 10: auth.tls', () => {
  let r: TestRouter;
  before(async () => {
    r = await tlsRouter({
      tls: { type: 'static', principals: { client1: { 'certificate-sha1': fingerprint(pki.clientCert), role: 'user' } } },
      cryptosign: { type: 'static', principals: { dev: { authorized_keys: [device.pubkey], role: 'user' } } },
    });
  });

  test('the client certificate names the principal: authid and role from the config (AutobahnJS)', async () => {
    const tlsConfiguration = creds(pki.clientKey, pki.clientCert);
    const c = await connect(wss(r), 'json', 'realm1', { authmethods: ['tls'], tlsConfiguration });
    assert.deepEqual([c.details.authid, c.details.authrole, c.details.authmethod, c.details.authprovider], ['client1', 'user', 'tls', 'static']);
    await c.close();
    // Crossbar: the principal's key is the authid, whatever HELLO asked for.
    const m = await connect(wss(r), 'msgpack', 'realm1', { authmethods: ['tls'], authid: 'admin', tlsConfiguration });
    assert.equal(m.details.authid, 'client1');
    await m.close();
  });

  test('a certificate of the right CA that no principal names is refused', async () => {
    await assert.rejects(
      connect(wss(r), 'json', 'realm1', { authmethods: ['tls'], tlsConfiguration: creds(other.key, other.cert) }),
      /authentication_failed.*no principal has the TLS client certificate/,
    );
  });

  test('the facts cannot be forged: PROXY bytes or headers through the public port are data; the private socket needs a registered key', async () => {
    const handoff = r.router.listeners[0]!.front!.handoff as FrontHandoff;
    assert.equal(statSync(dirname(handoff.path)).mode & 0o777, 0o700);
    // A client that sends a PROXY v2 header of its own, with a key it made up, before its request:
    // uWS read the front's header first, so these bytes are a malformed request, never upgraded.
    // (Control: the same request without them is upgraded.) The client half-closes after its
    // request, so the connection ends once uWS has answered what it will answer.
    const key = randomBytes(16);
    const proxy = Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a21210024', 'hex'), key, Buffer.alloc(20)]);
    const upgrade = Buffer.from(
      'GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n',
    );
    const through = async (prefix: Buffer) => {
      const s = tls.connect({ port: r.port, host: '127.0.0.1', servername: 'localhost', ...creds(other.key, other.cert) });
      await within(new Promise((resolve) => s.once('secureConnect', resolve)), 5000, 'the TLS handshake');
      let reply = '';
      s.on('data', (d: Buffer) => (reply += d.toString('latin1')));
      s.on('error', () => {});
      s.end(Buffer.concat([prefix, upgrade]));
      await within(new Promise((resolve) => s.once('close', resolve)), 5000, 'the connection to close');
      return reply;
    };
    assert.match(await through(Buffer.alloc(0)), /^HTTP\/1\.1 101 /);
    assert.doesNotMatch(await through(proxy), /101 Switching Protocols/);
    // A local process on the private socket with a made-up key: no facts, 403, no WebSocket.
    const local = net.connect(handoff.path);
    let answer = '';
    local.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    local.write(Buffer.concat([proxy, upgrade]));
    await within(new Promise<void>((resolve) => local.on('data', () => answer.includes('\r\n\r\n') && resolve())), 5000, 'the answer on the private socket');
    local.destroy();
    assert.match(answer, /^HTTP\/1\.1 403 /);
    // The registry holds facts only for open front connections.
    const c = await connect(wss(r), 'json', 'realm1', { authmethods: ['tls'], tlsConfiguration: creds(pki.clientKey, pki.clientCert) });
    assert.equal(c.details.authid, 'client1');
    await c.close();
    assert.equal(handoff.pending, 0);
  });

  test('dynamic: the authenticator gets the certificate in details.transport.peer_cert and names the principal', async () => {
    const d = await startRouter({
      realms: [{ name: 'realm1', roles: [{ name: 'user', 'allow-by-default': true }, { name: 'anonymous', 'allow-by-default': true }] }],
      transports: [
        { type: 'websocket', id: 'backend', endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' } },
        {
          type: 'websocket',
          id: 'clients',
          endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1', tls: { key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert], ca_certificates: [pki.rootCert] } },
          auth: { tls: { type: 'dynamic', authenticator: 'com.example.authenticate' } },
        },
      ],
    });
    routers.push(d);
    const backend = await connect(`ws://127.0.0.1:${d.router.listeners[0]!.port}/ws`, 'json');
    const seen: Record<string, unknown>[] = [];
    await backend.session.register('com.example.authenticate', (args) => {
      const details = args![2] as { authmethod: string; transport: { peer_cert: Record<string, unknown> | null } };
      seen.push({ authmethod: details.authmethod, ...details.transport.peer_cert });
      return { role: 'user', authid: `cn:${(details.transport.peer_cert!.subject as Record<string, string>).CN}` };
    });
    const url = `wss://localhost:${d.router.listeners[1]!.port}/ws`;
    const c = await connect(url, 'json', 'realm1', { authmethods: ['tls'], tlsConfiguration: creds(pki.clientKey, pki.clientCert) });
    assert.deepEqual([c.details.authid, c.details.authrole, c.details.authprovider], ['cn:client1', 'user', 'dynamic']);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.authmethod, 'tls');
    assert.equal(seen[0]!.sha1, fingerprint(pki.clientCert));
    assert.equal(seen[0]!.sha256, new X509Certificate(readFileSync(pki.clientCert)).fingerprint256);
    assert.deepEqual(seen[0]!.issuer, { CN: 'Crosswire Test Root' });
    await Promise.all([c.close(), backend.close()]);
  });

  /** A raw cryptosign HELLO over TLS with the client certificate; returns the peer, its CHALLENGE and the client's TLS socket. */
  async function cryptosignHello(binding: string | null): Promise<{ p: RawPeer; challenge: Record<string, unknown>; sock: tls.TLSSocket }> {
    const p = await RawPeer.open(wss(r), 'json', creds(other.key, other.cert));
    const sock = (p.ws as unknown as { _socket: tls.TLSSocket })._socket;
    p.send([1, 'realm1', { roles: { caller: {} }, authmethods: ['cryptosign'], authextra: { pubkey: device.pubkey, ...(binding === null ? {} : { channel_binding: binding }) } }]);
    const ch = await p.nextOf([4, 3]);
    assert.equal(ch[0], 4, `CHALLENGE expected, got ${JSON.stringify(ch)}`);
    return { p, challenge: ch[2] as Record<string, unknown>, sock };
  }
  const respond = (p: RawPeer, message: Buffer) => p.send([5, Buffer.concat([ed25519Sign(device, message), message]).toString('hex'), {}]);

  for (const [form, finished] of [
    ["Crossbar's: SHA-256 of the server's Finished", (s: tls.TLSSocket) => s.getPeerFinished()!],
    ["RFC 5929's: SHA-256 of the client's Finished (Python's ssl)", (s: tls.TLSSocket) => s.getFinished()!],
  ] as const) {
    test(`cryptosign with tls-unique: the challenge XOR the channel id (${form}) is accepted`, async () => {
      const { p, challenge, sock } = await cryptosignHello('tls-unique');
      assert.equal(challenge.channel_binding, 'tls-unique');
      const cid = createHash('sha256').update(finished(sock)).digest();
      respond(p, xor(Buffer.from(challenge.challenge as string, 'hex'), cid));
      const w = await p.nextOf([2, 3]);
      assert.equal(w[0], 2, JSON.stringify(w));
      assert.deepEqual([(w[2] as Record<string, unknown>).authid, (w[2] as Record<string, unknown>).authmethod], ['dev', 'cryptosign']);
      p.ws.close();
    });
  }

  test('cryptosign with tls-unique: a signature bound to another channel (or to none) is refused', async () => {
    const first = await cryptosignHello('tls-unique');
    const second = await cryptosignHello('tls-unique');
    // The second connection answers with the first connection's channel id (a relayed signature).
    const firstId = createHash('sha256').update(first.sock.getPeerFinished()!).digest();
    respond(second.p, xor(Buffer.from(second.challenge.challenge as string, 'hex'), firstId));
    const a = await second.p.nextOf([2, 3]);
    assert.deepEqual([a[0], a[2]], [3, 'wamp.error.authentication_failed']);
    // Unbound: the bare challenge, when binding was asked for.
    respond(first.p, Buffer.from(first.challenge.challenge as string, 'hex'));
    const b = await first.p.nextOf([2, 3]);
    assert.deepEqual([b[0], b[2]], [3, 'wamp.error.authentication_failed']);
    assert.match(String((b[1] as Record<string, unknown>).message), /not the challenge bound to this TLS channel/);
    // Without binding the bare challenge is what is signed, as before.
    const plain = await cryptosignHello(null);
    assert.equal(plain.challenge.channel_binding, null);
    respond(plain.p, Buffer.from(plain.challenge.challenge as string, 'hex'));
    assert.equal((await plain.p.nextOf([2, 3]))[0], 2);
    for (const x of [first, second, plain]) x.p.ws.close();
  });
});

const PYTHON = '/usr/bin/python3';
const PY_SCRIPT = fileURLToPath(new URL('../../../test/interop/python_tls.py', import.meta.url));
function pythonProblem(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import autobahn, nacl, twisted, OpenSSL'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) return `${PYTHON} cannot run: ${r.error.message}`;
  if (r.status !== 0) return `${PYTHON} cannot import autobahn, nacl, twisted and OpenSSL (${r.stderr.trim().split('\n').pop()})`;
  return undefined;
}
const pyMissing = pythonProblem();
const pySkip = pyMissing !== undefined && process.env.CROSSWIRE_SKIP_PYTHON_INTEROP === '1' ? `CROSSWIRE_SKIP_PYTHON_INTEROP=1 and ${pyMissing}` : false;

interface PyOutcome {
  joined: boolean;
  authid?: string;
  authrole?: string;
  authmethod?: string;
  reason?: string;
  message?: string;
}
function python(args: string[]): Promise<PyOutcome> {
  const child = spawn(PYTHON, [PY_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return within(
    new Promise((resolve, reject) =>
      // 'close', not 'exit': all of the output has been read by then.
      child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as PyOutcome) : reject(new Error(`python_tls.py exited ${code}: ${err}`)))),
    ),
    20_000,
    `python_tls.py ${args.slice(1, 3).join(' ')}`,
  );
}

describe('Autobahn|Python (asyncio and Twisted) with a client certificate', { skip: pySkip }, () => {
  let r: TestRouter;
  const seed = () => Buffer.from(device.pkey.secretKey.subarray(0, 32)).toString('hex');
  before(async () => {
    assert.equal(pyMissing, undefined, `${pyMissing}: run scripts/install-test-deps.sh`);
    r = await tlsRouter({
      tls: { type: 'static', principals: { client1: { 'certificate-sha1': fingerprint(pki.clientCert), role: 'user' } } },
      cryptosign: { type: 'static', principals: { dev: { authorized_keys: [device.pubkey], role: 'user' } } },
    });
  });

  for (const flavor of ['asyncio', 'twisted']) {
    test(`${flavor}: auth.tls joins as the certificate's principal; cryptosign with tls-unique joins`, async () => {
      const url = wss(r);
      const t = await python([url, flavor, 'tls', pki.rootCert, pki.clientCert, pki.clientKey]);
      assert.deepEqual([t.joined, t.authid, t.authrole, t.authmethod], [true, 'client1', 'user', 'tls'], JSON.stringify(t));
      const c = await python([url, flavor, 'cryptosign', pki.rootCert, other.cert, other.key, seed()]);
      assert.deepEqual([c.joined, c.authid, c.authmethod], [true, 'dev', 'cryptosign'], JSON.stringify(c));
    });
  }

  test('asyncio: without a client certificate the connection fails', async () => {
    const o = await python([wss(r), 'asyncio', 'tls', pki.rootCert, '-', '-']);
    assert.equal(o.joined, false, JSON.stringify(o));
    assert.match(String(o.message), /CERTIFICATE_REQUIRED/);
  });
});

describe('item 10: configs that cannot work are refused; plain transports', () => {
  test('auth.tls without ca_certificates, or without TLS, is refused naming the key', async () => {
    const tlsAuth = { tls: { type: 'static', principals: { c: { 'certificate-sha1': fingerprint(pki.clientCert), role: 'user' } } } };
    await assert.rejects(tlsRouter(tlsAuth, false), /transports\[0\]\.auth\.tls: .*needs a TLS endpoint with ca_certificates/);
    const realms = [{ name: 'realm1', roles: [{ name: 'user', 'allow-by-default': true }] }];
    await assert.rejects(startRouter({ realms, transport: { auth: tlsAuth } }), /transports\[0\]\.auth\.tls: .*needs a TLS endpoint with ca_certificates/);
    await assert.rejects(
      tlsRouter({ tls: { type: 'static', principals: { c: { 'certificate-sha1': 'not-a-fingerprint', role: 'user' } } } }),
      /auth\.tls\.principals\.c\.certificate-sha1: must be the certificate's SHA-1 fingerprint/,
    );
  });

  test('cryptosign with tls-unique on a plain WebSocket is refused (no TLS channel to bind to)', async () => {
    const r = await startRouter({ transport: { auth: { cryptosign: { type: 'static', principals: { dev: { authorized_keys: [device.pubkey], role: 'anonymous' } } } } } });
    routers.push(r);
    const p = await RawPeer.open(r.url, 'json');
    p.send([1, 'realm1', { roles: { caller: {} }, authmethods: ['cryptosign'], authextra: { pubkey: device.pubkey, channel_binding: 'tls-unique' } }]);
    const a = await p.next(3);
    assert.match(String((a[1] as Record<string, unknown>).message), /tls-unique' is not available: this transport is not TLS/);
  });

  test('a TLS transport without ca_certificates or auth.tls keeps uWS TLS: no certificate needed, tls-unique refused saying why', async () => {
    const r = await tlsRouter({ cryptosign: { type: 'static', principals: { dev: { authorized_keys: [device.pubkey], role: 'user' } } }, anonymous: { type: 'static' } }, false);
    assert.equal(r.router.listeners[0]!.front, null);
    const p = await RawPeer.open(wss(r), 'json', { ca: pki.read(pki.rootCert) });
    p.send([1, 'realm1', { roles: { caller: {} } }]);
    assert.equal((await p.next(2))[0], 2);
    p.ws.close();
    const b = await RawPeer.open(wss(r), 'json', { ca: pki.read(pki.rootCert) });
    b.send([1, 'realm1', { roles: { caller: {} }, authmethods: ['cryptosign'], authextra: { pubkey: device.pubkey, channel_binding: 'tls-unique' } }]);
    const a = await b.next(3);
    assert.match(String((a[1] as Record<string, unknown>).message), /its TLS is terminated by uWebSockets\.js, which does not expose the TLS Finished messages/);
  });
});

