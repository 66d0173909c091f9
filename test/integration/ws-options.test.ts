// WebSocket options of a listening transport (Crossbar.io docs, "WebSocket Options") against the real router: each test
// starts a router with the option under test and drives it with raw HTTP, the byte-level
// WireClient, `ws` and AutobahnJS.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import WebSocket from 'ws';
import { connect } from '../helpers/client.js';
import { RawPeer } from '../helpers/raw.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { get } from '../helpers/http.js';
import { Inbox, within } from '../helpers/wait.js';
import { rawHttp, WireClient, type WireFrame } from '../helpers/wire.js';
import { PRODUCTION_OPTIONS } from '../helpers/crossbar-examples.js';

const routers: TestRouter[] = [];
after(() => Promise.all(routers.map((r) => r.stop())));
async function router(options: Record<string, unknown> = {}, transport: Record<string, unknown> = {}): Promise<TestRouter> {
  const r = await startRouter({ transport: { options, ...transport } });
  routers.push(r);
  return r;
}
const HELLO = JSON.stringify([1, 'realm1', { roles: { subscriber: {}, publisher: {}, caller: {}, callee: {} } }]);
const isText = (f: WireFrame) => f.opcode === 1;
const isClose = (f: WireFrame) => f.opcode === 8;

describe('handshake', () => {
  test('101 carries Server: Crosswire (show_server_version adds the version)', async () => {
    const plain = await router();
    const c = await WireClient.open({ port: plain.port });
    assert.equal((await c.response.promise).headers.server, 'Crosswire');
    assert.equal((await c.response.promise).headers['sec-websocket-protocol'], 'wamp.2.json');
    c.destroy();
    const shown = await router({ show_server_version: true });
    const d = await WireClient.open({ port: shown.port });
    assert.match((await d.response.promise).headers.server!, /^Crosswire\/\d+\.\d+\.\d+/);
    d.destroy();
  });

  test('enable_webstatus: a plain GET gets the status page (with ?redirect=&after=); false: 426', async () => {
    const on = await router();
    const page = await get(`http://127.0.0.1:${on.port}/?redirect=https%3A%2F%2Fexample.org%2F&after=3`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('server'), 'Crosswire');
    const html = await page.text();
    assert.match(html, /Crosswire WAMP router/);
    assert.match(html, /<meta http-equiv="refresh" content="3;URL='https:\/\/example\.org\/'">/);
    const off = await router({ enable_webstatus: false });
    const res = await get(`http://127.0.0.1:${off.port}/`);
    assert.equal(res.status, 426);
    assert.match(await res.text(), /Upgrade header missing/);
  });

  test('require_websocket_subprotocol: true refuses (400) a client offering none; false means JSON', async () => {
    const strict = await router();
    assert.equal((await rawHttp(strict.port, WireClient.request('/ws', { 'Sec-WebSocket-Protocol': '' }))).status, 400);
    assert.equal((await rawHttp(strict.port, WireClient.request('/ws', { 'Sec-WebSocket-Protocol': 'mqtt' }))).status, 400);
    const loose = await router({ require_websocket_subprotocol: false });
    const c = await WireClient.open({ port: loose.port }, { 'Sec-WebSocket-Protocol': '' });
    assert.equal((await c.response.promise).headers['sec-websocket-protocol'], undefined, 'no subprotocol is echoed');
    c.send(1, HELLO);
    const welcome = JSON.parse((await c.next(isText, 5000, 'WELCOME')).payload.toString()) as unknown[];
    assert.equal(welcome[0], 2);
    c.destroy();
    // An offered WAMP subprotocol still wins.
    const m = await RawPeer.open(loose.url, 'msgpack');
    assert.equal(m.ws.protocol, 'wamp.2.msgpack');
    await m.join();
    m.close();
  });

  test('allowed_origins: wildcards; https://*.example.com also matches the default port; 403 before the upgrade', async () => {
    const r = await router({ allowed_origins: ['https://*.example.com', 'http://localhost:*'] });
    const status = async (origin: string) => (await rawHttp(r.port, WireClient.request('/ws', { Origin: origin }))).status;
    assert.equal(await status('https://app.example.com'), 101);
    assert.equal(await status('https://app.example.com:443'), 101);
    assert.equal(await status('https://app.example.com:8443'), 403);
    assert.equal(await status('http://app.example.com'), 403);
    assert.equal(await status('https://example.org'), 403);
    assert.equal(await status('http://localhost:5173'), 101);
    assert.equal(await status('null'), 101, 'allow_null_origin defaults to true');
    assert.equal((await rawHttp(r.port, WireClient.request('/ws'))).status, 101, 'no Origin header: not checked');
    // Hybi-10 clients send Sec-WebSocket-Origin.
    assert.equal((await rawHttp(r.port, WireClient.request('/ws', { 'Sec-WebSocket-Version': '8', 'Sec-WebSocket-Origin': 'https://evil.org' }))).status, 403);
    const noNull = await router({ allow_null_origin: false });
    assert.equal((await rawHttp(noNull.port, WireClient.request('/ws', { Origin: 'null' }))).status, 403);
    assert.equal((await rawHttp(noNull.port, WireClient.request('/ws', { Origin: 'https://anything.org' }))).status, 101);
    // A refused browser never gets a session; the ws client sees the 403.
    const ws = new WebSocket(r.url, ['wamp.2.json'], { origin: 'https://evil.org' });
    const err = await within(new Promise<Error>((resolve) => ws.once('error', resolve)), 5000, 'the refusal');
    assert.match(err.message, /403/);
  });

  test('external_port: a Host header naming another port is refused (400)', async () => {
    const r = await router({ external_port: 443 });
    assert.equal((await rawHttp(r.port, WireClient.request('/ws', { Host: 'router.example.com:443' }))).status, 101);
    assert.equal((await rawHttp(r.port, WireClient.request('/ws', { Host: 'router.example.com' }))).status, 101);
    assert.equal((await rawHttp(r.port, WireClient.request('/ws', { Host: 'router.example.com:8080' }))).status, 400);
    assert.equal((await rawHttp(r.port, `GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n`)).status, 400);
  });

  test('enable_hybi10 / enable_rfc6455: Sec-WebSocket-Version 8 and 13, else 426 naming the versions', async () => {
    const both = await router();
    const v8 = await WireClient.open({ port: both.port }, { 'Sec-WebSocket-Version': '8' });
    v8.send(1, HELLO);
    assert.equal((JSON.parse((await v8.next(isText)).payload.toString()) as unknown[])[0], 2, 'a Hybi-10 client gets a session');
    v8.destroy();
    const v7 = await rawHttp(both.port, WireClient.request('/ws', { 'Sec-WebSocket-Version': '7' }));
    assert.deepEqual([v7.status, v7.headers['sec-websocket-version']], [426, '13, 8']);
    const rfcOnly = await router({ enable_hybi10: false });
    const refused = await rawHttp(rfcOnly.port, WireClient.request('/ws', { 'Sec-WebSocket-Version': '8' }));
    assert.deepEqual([refused.status, refused.headers['sec-websocket-version']], [426, '13']);
    const hybiOnly = await router({ enable_rfc6455: false });
    assert.equal((await rawHttp(hybiOnly.port, WireClient.request('/ws'))).status, 426);
  });

  test('max_connections: past it HTTP 503; a slot frees when a connection closes', async () => {
    const r = await router({ max_connections: 2 });
    const a = await RawPeer.open(r.url, 'json');
    const b = await RawPeer.open(r.url, 'json');
    const third = await rawHttp(r.port, WireClient.request('/ws'));
    assert.equal(third.status, 503);
    a.close();
    await within(a.closed, 5000, 'the close');
    // The router's close callback may run a moment after the client saw the close frame.
    let c: RawPeer | undefined;
    for (let i = 0; i < 50 && c === undefined; i++) {
      const status = (await rawHttp(r.port, WireClient.request('/ws'))).status;
      if (status === 101) c = await RawPeer.open(r.url, 'json');
      else assert.equal(status, 503);
    }
    assert.ok(c, 'a new connection is admitted after one closed');
    await c.join();
    b.close();
    c.close();
  });

  test('trusted_proxies: the session peer is the X-Forwarded-For client only behind a trusted proxy', async () => {
    const trusting = await router({ trusted_proxies: ['127.0.0.0/8', '10.1.2.3'] });
    const open = async (r: TestRouter, xff: string) => {
      const ws = new WebSocket(r.url, ['wamp.2.json'], { headers: { 'X-Forwarded-For': xff } });
      await within(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 5000, 'open');
      return ws;
    };
    // Client → 10.1.2.3 (trusted proxy) → 127.0.0.1 (trusted) → router.
    const ws1 = await open(trusting, '203.0.113.7, 10.1.2.3');
    assert.deepEqual(trusting.router.peers(), ['tcp:203.0.113.7']);
    ws1.close();
    // An address the client forged in front of an untrusted hop is not believed.
    const ws2 = await open(trusting, '198.51.100.1, 192.0.2.9');
    assert.ok(trusting.router.peers().includes('tcp:192.0.2.9'));
    ws2.close();
    const plain = await router();
    const ws3 = await open(plain, '203.0.113.7');
    assert.deepEqual(plain.router.peers(), ['tcp:127.0.0.1'], 'without trusted_proxies the header is ignored');
    ws3.close();
  });
});

describe('frames', () => {
  test('max_message_size / max_frame_size: a larger message is closed with 1009 and a reason', async () => {
    for (const options of [{ max_message_size: 1024 }, { max_frame_size: 1024 }]) {
      const r = await router(options);
      const p = await RawPeer.open(r.url, 'json');
      await p.join();
      p.send([16, 1, {}, 'com.example.big', ['x'.repeat(1100)]]);
      const { code, reason } = await within(p.closed, 5000, 'the close');
      assert.deepEqual([code, reason], [1009, 'message too big (limit 1024 bytes)'], JSON.stringify(options));
    }
  });

  test('fail_by_drop: the connection is dropped without a close frame', async () => {
    const r = await router({ max_message_size: 1024, fail_by_drop: true });
    const c = await WireClient.open({ port: r.port });
    c.send(1, HELLO);
    await c.next(isText);
    c.send(1, JSON.stringify([16, 1, {}, 'com.example.big', ['x'.repeat(1100)]]));
    await within(c.ended.promise, 5000, 'the TCP connection to end');
    assert.equal(c.frames.filter(isClose).length, 0, 'no close frame');
    c.destroy();
  });

  test('auto_fragment_size: outgoing messages are split into frames of at most that size', async () => {
    const r = await router({ auto_fragment_size: 256 });
    const c = await WireClient.open({ port: r.port });
    c.send(1, HELLO);
    await c.next((f) => f.opcode === 0 && f.fin); // WELCOME is over 256 bytes: fragmented too
    c.send(1, JSON.stringify([32, 1, {}, 'com.example.frag']));
    await c.next((f) => isText(f) && f.payload.toString().startsWith('[33,')); // SUBSCRIBED
    const start = c.frames.length;
    const payload = 'é'.repeat(500); // 1000 bytes of UTF-8, cut on byte boundaries
    const pub = await connect(r.url, 'json');
    await pub.session.publish('com.example.frag', [payload], {}, { acknowledge: true });
    const last = await c.next((f) => c.frames.indexOf(f) >= start && f.opcode === 0 && f.fin, 5000, 'the last fragment');
    const i = c.frames.findIndex((f, j) => j >= start && f.opcode === 1 && !f.fin);
    const parts = c.frames.slice(i, c.frames.indexOf(last) + 1);
    assert.ok(parts.length >= 4, `fragmented into ${parts.length} frames`);
    assert.ok(parts.every((f) => f.payload.length <= 256));
    assert.ok(parts.slice(1).every((f) => f.opcode === 0), 'continuation frames');
    const event = JSON.parse(Buffer.concat(parts.map((f) => f.payload)).toString()) as unknown[];
    assert.deepEqual([event[0], event[4]], [36, [payload]]);
    // Small messages stay whole.
    await pub.session.publish('com.example.frag', ['small'], {}, { acknowledge: true });
    const small = await c.next((f) => f.opcode === 1 && f.fin && f.payload.includes('small'));
    assert.ok(small.payload.length < 256);
    c.destroy();
    await pub.close();
  });

  test('validate_utf8: invalid UTF-8 in a text message ends only that connection (uWS validates always)', async () => {
    const r = await router({ validate_utf8: false });
    const bystander = await RawPeer.open(r.url, 'json');
    await bystander.join();
    const c = await WireClient.open({ port: r.port });
    c.send(1, Buffer.from([0x5b, 0xc3, 0x28, 0x5d]));
    await within(c.ended.promise, 5000, 'the connection to end');
    bystander.send([48, 7, {}, 'com.example.nothing']);
    const err = await bystander.next(8);
    assert.equal(err[4], 'wamp.error.no_such_procedure', 'the bystander session carries on');
    c.destroy();
    bystander.close();
  });

  test("echo_close_codereason: uWS echoes the peer's close code and reason (Crossbar's default would answer 1000)", async () => {
    const r = await router();
    const c = await WireClient.open({ port: r.port });
    c.send(8, Buffer.concat([Buffer.from([0x0f, 0xa1]), Buffer.from('bye')]));
    const close = WireClient.closeOf(await c.next(isClose));
    assert.deepEqual(close, { code: 4001, reason: 'bye' });
    c.destroy();
  });
});

describe('auto ping', { concurrency: true }, () => {
  // A generous timeout: client and router share this process, and other test files load the machine.
  const options = { auto_ping_interval: 1000, auto_ping_timeout: 2000, auto_ping_size: 20 };

  test('pings every interval with an 8-byte timestamp + 4-byte sequence payload; a ponging peer stays', async () => {
    const r = await router(options);
    const c = await WireClient.open({ port: r.port });
    const t0 = Date.now();
    const first = await c.next((f) => f.opcode === 9, 5000, 'a ping');
    assert.ok(Date.now() - t0 >= 900, 'not before the interval');
    assert.equal(first.payload.length, 20);
    const ns = Number(first.payload.readBigUInt64BE(0) / 1_000_000n);
    assert.ok(Math.abs(ns - Date.now()) < 5000, 'payload starts with a nanosecond timestamp');
    const second = await c.next((f) => f.opcode === 9 && f !== first, 5000, 'a second ping');
    assert.equal(second.payload.readUInt32BE(8), first.payload.readUInt32BE(8) + 1, 'sequence number');
    assert.equal(c.frames.filter(isClose).length, 0);
    c.destroy();
  });

  test('a peer that does not answer is dropped (no close handshake) after the timeout; others stay', async () => {
    const r = await router(options);
    const alive = await WireClient.open({ port: r.port });
    const mute = await WireClient.open({ port: r.port }, {}, { autoPong: false });
    const t0 = Date.now();
    await within(mute.ended.promise, 8000, 'the mute peer to be dropped');
    const took = Date.now() - t0;
    assert.ok(took >= 2800, `dropped after interval + timeout (${took} ms)`);
    assert.equal(mute.frames.filter(isClose).length, 0, 'dropped, not closed');
    alive.send(1, HELLO);
    assert.equal((JSON.parse((await alive.next(isText)).payload.toString()) as unknown[])[0], 2, 'the ponging peer is still connected');
    alive.destroy();
  });

  test('auto_ping_restart_on_any_traffic: a peer that keeps sending is not dropped for a missing pong', async () => {
    const r = await router(options);
    const busy = await WireClient.open({ port: r.port }, {}, { autoPong: false });
    busy.send(1, HELLO);
    await busy.next(isText);
    // Traffic every 300 ms for 3.6 s: past interval + timeout without a single pong.
    for (let i = 0; i < 12; i++) {
      busy.send(1, JSON.stringify([48, i + 1, {}, 'com.example.nothing']));
      await busy.next((f) => isText(f) && f.payload.toString().startsWith(`[8,48,${i + 1},`), 5000, `ERROR ${i + 1}`);
      await within(new Promise((resolve) => setTimeout(resolve, 300)), 1000, 'pacing');
    }
    assert.equal(c_ended(busy), false, 'still connected');
    busy.destroy();
    // Without the restart, the same traffic does not keep the peer: every CALL is still answered
    // (so nothing but the missing pong can end it), and it is dropped without a close handshake
    // after interval + timeout, like the mute peer above.
    const strict = await router({ ...options, auto_ping_restart_on_any_traffic: false });
    const t0 = Date.now();
    const s = await WireClient.open({ port: strict.port }, {}, { autoPong: false });
    s.send(1, HELLO);
    assert.equal((JSON.parse((await s.next(isText)).payload.toString()) as unknown[])[0], 2, 'WELCOME');
    let answered = 0;
    for (let i = 0; i < 30 && !c_ended(s); i++) {
      s.send(1, JSON.stringify([48, i + 1, {}, 'com.example.nothing']));
      const reply = s.next((f) => isText(f) && f.payload.toString().startsWith(`[8,48,${i + 1},`), 5000, `ERROR ${i + 1}`);
      reply.catch(() => {}); // the drop may come before this answer
      await Promise.race([s.ended.promise, reply.then(() => answered++)]);
      await Promise.race([s.ended.promise, within(new Promise((resolve) => setTimeout(resolve, 300)), 1000, 'pacing')]);
    }
    await within(s.ended.promise, 1000, 'the drop for the missing pong');
    const took = Date.now() - t0;
    assert.ok(took >= 2800, `dropped after interval + timeout (${took} ms)`);
    assert.ok(answered >= 5, `it kept sending and being answered until the drop (${answered} answers)`);
    assert.equal(s.frames.filter(isClose).length, 0, 'dropped, not closed');
    assert.equal(s.frames.filter((f) => isText(f) && f.payload.toString().startsWith('[3,')).length, 0, 'no ABORT');
  });
});

function c_ended(c: WireClient): boolean {
  return c.socket.destroyed || c.socket.readableEnded;
}

test("the production options of Crossbar.io's docs start unchanged and carry a session", async () => {
  const r = await router(PRODUCTION_OPTIONS);
  const sub = await connect(r.url, 'msgpack');
  const pub = await connect(r.url, 'json');
  const events = new Inbox<unknown[]>();
  await sub.session.subscribe('com.example.prod', (args) => events.push(args ?? []));
  const big = 'x'.repeat(200_000); // over auto_fragment_size: arrives fragmented, reassembled by the client
  await pub.session.publish('com.example.prod', [big], {}, { acknowledge: true });
  assert.deepEqual(await events.waitFor(1), [[big]]);
  const page = await get(`http://127.0.0.1:${r.port}/`);
  assert.equal(page.status, 426, 'enable_webstatus: false');
  await Promise.all([sub.close(), pub.close()]);
});
