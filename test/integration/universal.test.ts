// The universal transport (Crossbar's `type: "universal"`): RawSocket, WebSocket and Web on one
// port, told apart by the first byte (0x7F: RawSocket; an HTTP method: handed to uWS through
// src/transport/front.ts). Raw `net` RawSocket clients, AutobahnJS over WebSocket, `fetch` for the
// Web part, from a Crossbar-format config.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildConfig, ConfigError } from '../../src/config/load.js';
import type { UniversalFront } from '../../src/transport/universal.js';
import type { Listener } from '../../src/transport/ws-server.js';
import { type Client, connect } from '../helpers/client.js';
import { scrape } from '../helpers/metrics.js';
import { makePki } from '../helpers/pki.js';
import { RawSocketClient } from '../helpers/rawsocket.js';
import { ANONYMOUS_ALL, startRouter, type TestRouter } from '../helpers/router.js';
import { deferred, within } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'crosswire-universal-'));
writeFileSync(join(dir, 'hello.txt'), 'hello from the web part\n');

const universal = (extra: Record<string, unknown> = {}) => ({
  id: 'uni',
  type: 'universal',
  endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' },
  rawsocket: { serializers: ['json', 'msgpack'], options: { handshake_timeout: 1500 } },
  websocket: { ws: { serializers: ['json', 'msgpack'] } },
  web: { paths: { '/': { type: 'static', directory: dir }, info: { type: 'json', value: { universal: true } } } },
  ...extra,
});

/** A socket to `port` that records whether (and when) the router closes it. */
function rawConnect(port: number): Promise<{ socket: net.Socket; closed: Promise<void>; bytes: () => number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const closed = deferred();
    let n = 0;
    socket.on('data', (d) => (n += d.length));
    socket.on('close', () => closed.resolve());
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, closed: closed.promise, bytes: () => n }));
    socket.once('error', reject);
  });
}

after(() => rmSync(dir, { recursive: true, force: true }));

describe('universal transport: RawSocket, WebSocket and Web on one port', () => {
  let r: TestRouter;
  let ws: Client;
  before(async () => {
    r = await startRouter({ transports: [universal()] });
    ws = await connect(`ws://127.0.0.1:${r.port}/ws`, 'json');
  });
  after(async () => {
    await ws?.close();
    await r?.stop();
  });

  test('a RawSocket caller on the port calls a WebSocket callee on the same port', async () => {
    await ws.session.register('com.uni.add', (args) => (args![0] as number) + (args![1] as number));
    for (const ser of ['json', 'msgpack'] as const) {
      const c = await RawSocketClient.connect({ port: r.port });
      await c.handshake(ser);
      assert.equal((await c.join())[0], 2, 'WELCOME');
      c.send([48, 1, {}, 'com.uni.add', [2 ** 40, 2]]);
      assert.deepEqual(await c.message(2), [50, 1, {}, [2 ** 40 + 2]]);
      c.destroy();
    }
  });

  test('a WebSocket caller reaches a RawSocket callee', async () => {
    const c = await RawSocketClient.connect({ port: r.port });
    await c.handshake('json');
    await c.join();
    c.send([64, 1, {}, 'com.uni.echo']);
    assert.equal((await c.message(2))[0], 65, 'REGISTERED');
    const call = ws.session.call('com.uni.echo', ['x']);
    const inv = await c.message(3);
    assert.equal(inv[0], 68, 'INVOCATION');
    c.send([70, inv[1], {}, ['echo', ...(inv[4] as unknown[])]]);
    const res = (await within(call, 5000, 'the call result')) as { args: unknown[] };
    assert.deepEqual(res.args, ['echo', 'x']);
    c.destroy();
  });

  test('the web part serves a static file and a json value on the same port', async () => {
    const f = await fetch(`${r.http}/hello.txt`);
    assert.equal(f.status, 200);
    assert.equal(await f.text(), 'hello from the web part\n');
    const j = await fetch(`${r.http}/info`);
    assert.equal(j.status, 200);
    assert.deepEqual(await j.json(), { universal: true });
  });

  test('WebSocket sessions through the handoff see the client address, not the private socket', async () => {
    const info = (await ws.session.call('wamp.session.get', [ws.session.id])) as { transport?: { peer?: string } };
    assert.match(String(info.transport?.peer), /^tcp:(::ffff:)?127\.0\.0\.1:\d+$|^tcp:(::ffff:)?127\.0\.0\.1$/, JSON.stringify(info.transport));
  });

  test('/ready and /metrics answer on the port; connections of both protocols count under the transport id', async () => {
    assert.equal((await fetch(`${r.http}/ready`)).status, 200);
    const before = await scrape(r.http);
    const c = await RawSocketClient.connect({ port: r.port });
    await c.handshake('json');
    await c.join();
    const during = await scrape(r.http);
    // The AutobahnJS session of this describe block and the RawSocket one.
    assert.equal(before.get('crosswire_connections', { transport: 'uni' }), 1);
    assert.equal(during.get('crosswire_connections', { transport: 'uni' }), 2);
    assert.equal(during.get('crosswire_connections_opened_total', { transport: 'uni' }), before.get('crosswire_connections_opened_total', { transport: 'uni' }) + 1);
    c.destroy();
  });

  test('a client that sends nothing is closed after the first-byte timeout (rawsocket.options.handshake_timeout)', async () => {
    const front = (r.router.listeners[0] as Listener).front as UniversalFront;
    const t0 = Date.now();
    const c = await rawConnect(r.port);
    await within(c.closed, 10_000, 'the router to close a silent connection');
    const ms = Date.now() - t0;
    assert.ok(ms >= 1200, `closed after ${ms} ms, before the 1500 ms timeout`);
    assert.equal(c.bytes(), 0);
    assert.equal(front.waiting, 0);
  });

  for (const [what, bytes] of [
    ['a zero byte', [0x00, 0x01, 0x02]],
    ['a TLS ClientHello on a plaintext port', [0x16, 0x03, 0x01, 0x00, 0x10]],
    ['lower-case text', [...Buffer.from('get / HTTP/1.1\r\n')]],
  ] as const) {
    test(`garbage first bytes (${what}) are closed at once, unanswered`, async () => {
      const before = (await scrape(r.http)).get('crosswire_connections_refused_total', { reason: 'other' });
      const c = await rawConnect(r.port);
      const t0 = Date.now();
      c.socket.write(Buffer.from(bytes));
      await within(c.closed, 5000, 'the router to close');
      assert.ok(Date.now() - t0 < 1200, 'closed before the first-byte timeout');
      assert.equal(c.bytes(), 0);
      assert.equal((await scrape(r.http)).get('crosswire_connections_refused_total', { reason: 'other' }), before + 1);
    });
  }

  test('an HTTP request to the private socket without the front\'s key is refused', async () => {
    // The handoff's uWS app also answers only what the front registered: a WebSocket through it without facts is refused.
    const front = (r.router.listeners[0] as Listener).front as UniversalFront;
    const res = await new Promise<string>((resolve, reject) => {
      const s = net.connect(front.handoff.path);
      let out = '';
      s.on('data', (d) => (out += d.toString()));
      s.on('close', () => resolve(out));
      s.on('error', reject);
      s.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n');
    });
    assert.match(res, /^HTTP\/1\.1 403/);
  });
});

describe('universal transport on TLS with client certificates', () => {
  test('RawSocket and WebSocket over the one TLS port; the certificate reaches auth.tls through the handoff', async () => {
    const pki = makePki();
    const fingerprint = new X509Certificate(readFileSync(pki.clientCert)).fingerprint;
    const r = await startRouter({
      realms: [{ name: 'realm1', roles: [{ name: 'user', 'allow-by-default': true }, ANONYMOUS_ALL] }],
      transports: [
        universal({
          endpoint: {
            type: 'tcp',
            port: 0,
            interface: '127.0.0.1',
            tls: { key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert], ca_certificates: [pki.rootCert] },
          },
          websocket: { ws: { auth: { tls: { type: 'static', principals: { client1: { 'certificate-sha1': fingerprint, role: 'user' } } } } } },
        }),
      ],
    });
    try {
      const creds = { ca: pki.read(pki.rootCert), key: pki.read(pki.clientKey), cert: pki.read(pki.clientCert), servername: 'localhost' };
      const w = await connect(`wss://localhost:${r.port}/ws`, 'json', 'realm1', { authmethods: ['tls'], tlsConfiguration: creds });
      assert.deepEqual([w.details.authid, w.details.authrole, w.details.authmethod], ['client1', 'user', 'tls']);
      await w.session.register('com.uni.tls', () => 'over tls');
      const c = await RawSocketClient.connect({ port: r.port }, creds);
      await c.handshake('msgpack');
      assert.equal((await c.join())[0], 2, 'WELCOME');
      c.send([48, 1, {}, 'com.uni.tls']);
      assert.deepEqual(await c.message(2), [50, 1, {}, ['over tls']]);
      c.destroy();
      await w.close();
      // Without a client certificate the TLS handshake fails, for either protocol.
      await assert.rejects(
        RawSocketClient.connect({ port: r.port }, { ca: pki.read(pki.rootCert), servername: 'localhost' }).then(async (x) => {
          await x.handshake('json');
          return x.join();
        }),
      );
    } finally {
      await r.stop();
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});

describe('universal transport drain', () => {
  test('shutdown: RawSocket and WebSocket sessions on the port get GOODBYE system_shutdown', async () => {
    const r = await startRouter({ transports: [universal()] });
    const c = await RawSocketClient.connect({ port: r.port });
    await c.handshake('json');
    await c.join();
    const w = await connect(`ws://127.0.0.1:${r.port}/ws`, 'json');
    const stopped = r.router.shutdown(2000);
    const goodbye = await c.message(2);
    assert.deepEqual([goodbye[0], goodbye[2]], [6, 'wamp.close.system_shutdown']);
    c.send([6, {}, 'wamp.close.goodbye_and_out']);
    await within(c.closed, 5000, 'the router to close the RawSocket after GOODBYE');
    const closed = await within(w.closed, 5000, 'the WebSocket session to close');
    assert.equal(closed.details.reason, 'wamp.close.system_shutdown');
    await within(stopped, 10_000, 'the router to stop');
  });
});

describe('universal transport without a rawsocket part', () => {
  test('a RawSocket handshake is closed; WebSocket works', async () => {
    const cfg = universal();
    delete (cfg as Record<string, unknown>).rawsocket;
    const r = await startRouter({ transports: [cfg] });
    try {
      const c = await rawConnect(r.port);
      c.socket.write(Buffer.from([0x7f, 0xf1, 0, 0]));
      await within(c.closed, 5000, 'the router to close');
      assert.equal(c.bytes(), 0);
      const w = await connect(`ws://127.0.0.1:${r.port}/ws`, 'msgpack');
      await w.close();
    } finally {
      await r.stop();
    }
  });
});

describe('universal transport config (check)', () => {
  const build = (t: Record<string, unknown>) =>
    buildConfig({ version: 2, workers: [{ type: 'router', realms: [{ name: 'realm1', roles: [ANONYMOUS_ALL] }], transports: [t] }] }, {});

  for (const [what, t, key] of [
    ['an unknown key', universal({ colour: 'blue' }), /transports\[0\]\.colour: unknown key/],
    ['an unknown key in the rawsocket part', universal({ rawsocket: { bogus: 1 } }), /transports\[0\]\.rawsocket.*bogus/],
    ['an unknown key in a websocket part', universal({ websocket: { ws: { bogus: 1 } } }), /transports\[0\]\.websocket\.ws.*bogus/],
    ['an endpoint in the rawsocket part', universal({ rawsocket: { endpoint: { type: 'tcp', port: 1 } } }), /transports\[0\]\.rawsocket\.endpoint/],
    ['an endpoint in a websocket part', universal({ websocket: { ws: { endpoint: { type: 'tcp', port: 1 } } } }), /transports\[0\]\.websocket\.ws\.endpoint/],
    ['a path in both websocket and web', universal({ websocket: { info: {} } }), /transports\[0\]\.websocket\.info: path info is also a path of the web part/],
    ['an mqtt part', universal({ mqtt: {} }), /transports\[0\]\.mqtt: MQTT is not implemented/],
    ['no endpoint', universal({ endpoint: undefined }), /transports\[0\]\.endpoint: is required/],
    ['a bad web path service', universal({ web: { paths: { x: { type: 'wsgi' } } } }), /transports\[0\]\.web\.paths\.x\.type/],
  ] as const) {
    test(`refused: ${what}`, () => {
      assert.throws(() => build(JSON.parse(JSON.stringify(t)) as Record<string, unknown>), (e: unknown) => e instanceof ConfigError && key.test(e.message));
    });
  }

  test('accepted: a Crossbar universal transport', () => {
    const c = build(universal());
    const t = c.transports[0]!;
    assert.equal(t.universal?.rawsocket?.id, 'uni');
    assert.deepEqual(
      t.paths?.map((p) => [p.path, p.type]),
      [
        ['/', 'static'],
        ['/info', 'json'],
        ['/ws', 'websocket'],
      ],
    );
  });
});
