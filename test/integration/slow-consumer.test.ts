// Crossbar's oldest open complaint (crossbario/crossbar#874): a subscriber that stops reading makes
// the router buffer events without bound. Here the buffer is bounded by max_backpressure: one
// subscriber stops reading its socket while a publisher floods; the router closes it (1008 with
// a reason) and counts it once its send buffer passes the limit, and everyone else keeps receiving.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { connect } from '../helpers/client.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';
import { WireClient } from '../helpers/wire.js';

const LIMIT = 256 * 1024;
const EVENT = 32 * 1024;
const TOPIC = 'com.example.flood';

let r: TestRouter;
before(async () => {
  r = await startRouter({ transport: { options: { max_backpressure: LIMIT } } });
});
after(() => r.stop());

/** The most the kernel can hold for one loopback connection: receiver's plus sender's buffer. */
function kernelBufferMax(): number {
  const max = (f: string) => Number(readFileSync(f, 'utf8').trim().split(/\s+/)[2]);
  return max('/proc/sys/net/ipv4/tcp_rmem') + max('/proc/sys/net/ipv4/tcp_wmem');
}

test('a subscriber that stops reading is closed (1008, counted) once max_backpressure is passed; others keep receiving', async (t) => {
  const fast = await connect(r.url, 'msgpack');
  const fastEvents = new Inbox<number>();
  await fast.session.subscribe(TOPIC, (args) => fastEvents.push(args?.[0] as number));

  const slow = await WireClient.open({ port: r.port });
  slow.send(1, JSON.stringify([1, 'realm1', { roles: { subscriber: {} } }]));
  await slow.next((f) => f.opcode === 1 && f.payload.toString().startsWith('[2,'), 5000, 'WELCOME');
  slow.send(1, JSON.stringify([32, 1, {}, TOPIC]));
  await slow.next((f) => f.opcode === 1 && f.payload.toString().startsWith('[33,'), 5000, 'SUBSCRIBED');
  slow.socket.pause(); // stops reading: the kernel buffers fill, then uWS's send buffer grows

  const pub = await connect(r.url, 'json');
  const body = 'x'.repeat(EVENT);
  const rssBefore = process.memoryUsage().rss;
  let published = 0;
  // Bounded: at most 2000 events (64 MiB) or 30 s, in batches of 16 acknowledged publishes.
  const deadline = Date.now() + 30_000;
  while (r.router.slowConsumerCloses === 0 && published < 2000 && Date.now() < deadline) {
    const batch = [];
    for (let i = 0; i < 16; i++) batch.push(pub.session.publish(TOPIC, [published++, body], {}, { acknowledge: true }));
    await within(Promise.all(batch), 10_000, 'a batch of acknowledged publishes');
  }
  const atClose = published;
  assert.equal(r.router.slowConsumerCloses, 1, `the slow consumer was closed and counted (after ${atClose} events)`);
  // The router held at most max_backpressure (plus one event) for it; the rest sat in kernel buffers.
  const bound = kernelBufferMax() + LIMIT + 2 * EVENT;
  assert.ok(atClose * EVENT <= bound + 16 * EVENT, `closed after ${atClose * EVENT} bytes, bound ${bound}`);

  // The flood goes on; the other subscriber gets every event, before and after the close.
  for (let i = 0; i < 64; i++) await pub.session.publish(TOPIC, [published++, 'after'], {}, { acknowledge: true });
  const got = await fastEvents.waitFor(published, 20_000);
  assert.deepEqual(got.slice(0, published), Array.from({ length: published }, (_, i) => i));
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  t.diagnostic(`slow consumer closed after ${atClose} events (${Math.round((atClose * EVENT) / 1024)} KiB published); process RSS grew ${Math.round(rssGrowth / 1048576)} MiB`);
  assert.ok(rssGrowth < 200 * 1024 * 1024, `process memory grew by ${Math.round(rssGrowth / 1048576)} MiB`);

  // The slow one reads again: what was buffered, then a close frame with code and reason.
  slow.socket.resume();
  const close = await slow.next((f) => f.opcode === 8, 10_000, 'the close frame');
  assert.deepEqual(WireClient.closeOf(close), { code: 1008, reason: 'slow consumer: send buffer limit exceeded' });
  const events = slow.frames.filter((f) => f.opcode === 1 && f.payload.toString().startsWith('[36,')).length;
  assert.ok(events > 0 && events < atClose, `it received ${events} of ${atClose} events before the close, never more`);
  slow.destroy();
  await Promise.all([fast.close(), pub.close()]);
});
