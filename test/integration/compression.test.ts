// permessage-deflate (options.compression.deflate, Crossbar.io docs, "WebSocket Compression") mapped onto uWS compressors:
// the negotiation is visible in the handshake, frames really are compressed, clients decompress.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { constants, inflateRawSync } from 'node:zlib';
import { after, test } from 'node:test';
import WebSocket from 'ws';
import { connect } from '../helpers/client.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';
import { rawHttp, WireClient } from '../helpers/wire.js';

const routers: TestRouter[] = [];
after(() => Promise.all(routers.map((r) => r.stop())));
async function router(compression: Record<string, unknown> | null): Promise<TestRouter> {
  const r = await startRouter({ transport: { options: compression === null ? {} : { compression } } });
  routers.push(r);
  return r;
}
const extensionsOf = async (r: TestRouter, offer: string) =>
  (await rawHttp(r.port, WireClient.request('/ws', { 'Sec-WebSocket-Extensions': offer }))).headers['sec-websocket-extensions'];

test('without compression nothing is negotiated, whatever the client offers', async () => {
  const r = await router(null);
  assert.equal(await extensionsOf(r, 'permessage-deflate; client_max_window_bits'), undefined);
});

test("Crossbar's defaults (deflate: {}): the client's offer is accepted with 15-bit windows", async () => {
  const r = await router({ deflate: {} });
  assert.equal(await extensionsOf(r, 'permessage-deflate; client_max_window_bits'), 'permessage-deflate');
  assert.equal(await extensionsOf(r, ''), undefined, 'the server never initiates compression');
});

test("the docs' recommendation (11-bit windows, memLevel 4) shows in the response", async () => {
  const r = await router({ deflate: { request_max_window_bits: 11, max_window_bits: 11, memory_level: 4 } });
  assert.equal(await extensionsOf(r, 'permessage-deflate; client_max_window_bits'), 'permessage-deflate; client_max_window_bits=11; server_max_window_bits=11');
  // A client that does not allow window negotiation is asked to reset its context instead.
  assert.equal(await extensionsOf(r, 'permessage-deflate'), 'permessage-deflate; client_no_context_takeover; server_max_window_bits=11');
});

test('no_context_takeover / request_no_context_takeover: the shared (stateless) uWS compressors', async () => {
  const r = await router({ deflate: { no_context_takeover: true, request_no_context_takeover: true } });
  assert.equal(await extensionsOf(r, 'permessage-deflate; client_max_window_bits'), 'permessage-deflate; client_no_context_takeover; server_no_context_takeover');
});

test('outgoing messages are compressed (RSV1) and inflate to the WAMP message; a ws client with perMessageDeflate reads them', async () => {
  const r = await router({ deflate: { no_context_takeover: true, request_no_context_takeover: true } });
  const c = await WireClient.open({ port: r.port }, { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_no_context_takeover; server_no_context_takeover' });
  c.send(1, JSON.stringify([1, 'realm1', { roles: { subscriber: {} } }]));
  const welcome = await c.next((f) => f.opcode === 1, 5000, 'WELCOME');
  assert.ok(welcome.rsv1, 'the WELCOME frame is compressed');
  // RFC 7692 §7.2.2: append 00 00 ff ff and inflate (a sync-flushed stream, not a finished one).
  const text = inflateRawSync(Buffer.concat([welcome.payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: constants.Z_SYNC_FLUSH }).toString();
  assert.equal((JSON.parse(text) as unknown[])[0], 2);
  c.destroy();

  // A `ws` client negotiates it and reads big, very compressible events.
  const ws = new WebSocket(r.url, ['wamp.2.json'], { perMessageDeflate: true });
  await within(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 5000, 'open');
  assert.match(ws.extensions, /permessage-deflate/);
  const inbox = new Inbox<unknown[]>();
  ws.on('message', (d: Buffer) => inbox.push(JSON.parse(d.toString()) as unknown[]));
  ws.send(JSON.stringify([1, 'realm1', { roles: { subscriber: {} } }]));
  await inbox.waitFor(1);
  ws.send(JSON.stringify([32, 1, {}, 'com.example.z']));
  await inbox.waitFor(2);
  const pub = await connect(r.url, 'msgpack', 'realm1', {});
  const big = 'z'.repeat(100_000);
  await pub.session.publish('com.example.z', [big], {}, { acknowledge: true });
  const [, , ev] = await inbox.waitFor(3);
  assert.deepEqual(ev![4], [big]);
  ws.close();
  await pub.close();
});
