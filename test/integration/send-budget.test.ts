// Many slow consumers add up: each connection may buffer max_backpressure
// before it is closed, so 40 subscribers that stop reading could make the router hold 40 times
// that. crosswire.flow.send_budget bounds the sum: past it, the connection with the largest send
// buffer is dropped first, and counted.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '../helpers/client.js';
import { scrape } from '../helpers/metrics.js';
import { startRouter } from '../helpers/router.js';
import { within } from '../helpers/wait.js';
import { WireClient } from '../helpers/wire.js';

const MiB = 1024 * 1024;
const BUDGET = 8 * MiB;
const CONSUMERS = 40;
const HEAVY = 8;
const EVENT = 64 * 1024;

/** A raw subscriber to `topics` that will stop reading; its session id from WELCOME. */
async function subscriber(port: number, topics: string[]): Promise<{ wire: WireClient; session: number }> {
  const wire = await WireClient.open({ port });
  wire.send(1, JSON.stringify([1, 'realm1', { roles: { subscriber: {} } }]));
  const welcome = await wire.next((f) => f.opcode === 1 && f.payload.toString().startsWith('[2,'), 10_000, 'WELCOME');
  const session = (JSON.parse(welcome.payload.toString()) as unknown[])[1] as number;
  for (const [k, topic] of topics.entries()) {
    wire.send(1, JSON.stringify([32, k + 1, {}, topic]));
    await wire.next((f) => f.opcode === 1 && f.payload.toString().startsWith(`[33,${k + 1},`), 10_000, 'SUBSCRIBED');
  }
  return { wire, session };
}

test(`${CONSUMERS} subscribers that stop reading stay within send_budget: the largest buffers are dropped first, counted; the rest keep their sessions`, async (t) => {
  // max_backpressure stays at its default (16 MiB): only the router-wide budget can act here.
  const r = await startRouter({ crosswire: { realm_threads: 1, flow: { send_budget: BUDGET } } });
  try {
    const consumers = await Promise.all(
      Array.from({ length: CONSUMERS }, (_, i) => subscriber(r.port, i < HEAVY ? ['com.example.all', 'com.example.extra'] : ['com.example.all'])),
    );
    for (const c of consumers) c.wire.socket.pause(); // stop reading: kernel buffers fill, then the router's
    const pub = await connect(r.url, 'msgpack');
    const body = 'x'.repeat(EVENT);
    let most = 0;
    const sampler = setInterval(() => (most = Math.max(most, r.router.sendBuffered)), 5);
    const rssBefore = process.memoryUsage().rss;
    let rounds = 0;
    // Bounded: at most 400 rounds (each: one event to all, two more to the heavy ones) or 60 s,
    // until four connections have been dropped for the budget.
    const deadline = Date.now() + 60_000;
    while (r.router.counters.sendBudgetCloses < 4 && rounds < 400 && Date.now() < deadline) {
      await within(
        Promise.all([
          pub.session.publish('com.example.all', [rounds, body], {}, { acknowledge: true }),
          pub.session.publish('com.example.extra', [rounds, body], {}, { acknowledge: true }),
          pub.session.publish('com.example.extra', [rounds, body], {}, { acknowledge: true }),
        ]),
        10_000,
        'a round of acknowledged publishes',
      );
      rounds++;
      most = Math.max(most, r.router.sendBuffered);
    }
    clearInterval(sampler);
    const dropped = r.router.counters.sendBudgetCloses;
    const rssMax = process.memoryUsage().rss;
    const m = await scrape(r.http);
    const alive = new Set((await pub.session.call('wamp.session.list')) as number[]);
    const gone = consumers.filter((c) => !alive.has(c.session));
    t.diagnostic(
      `${rounds} rounds (${Math.round((rounds * EVENT * (CONSUMERS + 2 * HEAVY)) / MiB)} MiB fanned out); ${dropped} dropped ` +
        `(consumers ${gone.map((c) => consumers.indexOf(c)).join(', ')}); most buffered ${(most / MiB).toFixed(2)} MiB; ` +
        `process RSS ${Math.round(rssBefore / MiB)} → ${Math.round(rssMax / MiB)} MiB`,
    );
    assert.ok(dropped >= 1, 'connections were dropped for the budget');
    assert.ok(most <= BUDGET, `the send buffers together held at most the budget: ${most} bytes`);
    assert.ok(r.router.sendBuffered <= BUDGET);
    // The largest first: every connection dropped was one of the heavy ones (3 events to every 1 of the others).
    assert.equal(gone.length, dropped, 'each drop ended one session');
    for (const c of gone) assert.ok(consumers.indexOf(c) < HEAVY, `consumer ${consumers.indexOf(c)} is a light one`);
    assert.equal(r.router.slowConsumerCloses, 0, 'no connection reached max_backpressure on its own');
    assert.equal(m.get('crosswire_send_budget_closes_total'), dropped, 'counted in the metrics');
    assert.ok(m.get('crosswire_send_buffered_bytes') <= BUDGET);
    for (const c of consumers) c.wire.destroy();
    await pub.close();
  } finally {
    await r.stop();
  }
});
