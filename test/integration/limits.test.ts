import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connect } from '../helpers/client.js';
import { scrape } from '../helpers/metrics.js';
import { type RawPeer as Peer, RawPeer } from '../helpers/raw.js';
import { ANONYMOUS_ALL, startRouter } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';

type Dict = Record<string, unknown>;

const LIMIT_EXCEEDED = 'crosswire.error.limit_exceeded';
const PAYLOAD_SIZE_EXCEEDED = 'wamp.error.payload_size_exceeded';

/**
 * The router's answer (one of `types`) to the request just sent; fails the test at once if the
 * connection closes instead (a dead realm worker closes every session of the realm with 1011).
 */
async function answer(p: Peer, types: number[]): Promise<unknown[]> {
  const closed = p.closed.then(({ code, reason }) => {
    throw new Error(`the connection closed (${code} ${reason}) instead of answering`);
  });
  return Promise.race([p.nextOf(types, 10000), closed]);
}

/**
 * A string payload of `bytes` characters. A string, not a byte string: V8 keeps strings on the
 * worker's heap (which worker_max_heap_mb bounds), byte strings outside it.
 */
function blob(bytes: number, fill: number): string {
  return String.fromCharCode(97 + (fill % 26)).repeat(bytes);
}

// The attack of issue 21: one anonymous session retains big events on ever new topics, or stores
// big testaments, until the realm worker's heap is exhausted (and every session of the realm is
// closed 1011). The heap limit is made small so that the attack needs seconds, not gigabytes; the
// limits are the defaults (the byte budgets follow the worker's heap limit).
describe('memory bombs are answered with errors while the worker lives (defaults, worker_max_heap_mb: 32)', () => {
  for (const ser of ['msgpack', 'json'] as const) {
    test(`retained bomb: big retained events on distinct topics (${ser})`, async () => {
      const r = await startRouter({ crosswire: { worker_max_heap_mb: 32, realm_threads: 1 } });
      try {
        const bystander = await connect(r.url, 'json');
        await bystander.session.register('com.example.echo', (args) => args);
        const bomber = await RawPeer.open(r.url, ser);
        await bomber.join();
        const SIZE = 256 * 1024;
        const N = 200; // 50 MiB: well over the worker's heap
        const errors: string[] = [];
        let accepted = 0;
        for (let i = 0; i < N; i++) {
          bomber.send([16, i + 1, { acknowledge: true, retain: true }, `com.bomb.t${i}`, [blob(SIZE, i)]]);
          const m = await answer(bomber, [17, 8]);
          if (m[0] === 17) accepted++;
          else {
            errors.push(m[4] as string);
            assert.equal(m[1], 16);
            assert.equal(m[2], i + 1);
          }
        }
        // The budget (1/32 of a 32 MiB heap = 1 MiB) takes three of these; every later one is refused.
        assert.equal(accepted, 3);
        assert.equal(errors.length, N - 3);
        assert.ok(errors.every((e) => e === LIMIT_EXCEEDED), `errors: ${[...new Set(errors)].join(', ')}`);
        const refusal = bomber.received.length; // nothing unexpected arrived
        assert.equal(refusal, 0);

        // A topic's retained event can still be replaced by one everybody would receive (exclude_me:
        // false; an event its publisher does not get is kept beside the older one, for the publisher).
        bomber.send([16, 1000, { acknowledge: true, retain: true, exclude_me: false }, 'com.bomb.t0', [blob(SIZE, 7)]]);
        assert.equal((await answer(bomber, [17, 8]))[0], 17);
        // Unacknowledged publishes over the limit are refused silently, and counted.
        for (let i = 0; i < 10; i++) bomber.send([16, 2000 + i, { retain: true }, `com.bomb.u${i}`, [blob(SIZE, i)]]);
        bomber.send([16, 3000, { acknowledge: true }, 'com.bomb.sync', []]);
        assert.equal((await answer(bomber, [17, 8]))[0], 17);

        // The worker lives: the bystander's call works, and a late subscriber gets what was retained.
        assert.deepEqual(await bystander.session.call('com.example.echo', ['still here']), ['still here']);
        const late = await connect(r.url, 'msgpack');
        const retained = new Inbox<unknown[]>();
        await late.session.subscribe('com.bomb.t0', (args) => retained.push(args), { get_retained: true });
        const [got] = await retained.waitFor(1);
        assert.equal((got![0] as string)[0], 'h');

        const m = await scrape(r.http);
        assert.equal(m.get('crosswire_limit_exceeded_total', { limit: 'max_retained_bytes' }), N - 3 + 10);
        assert.equal(m.get('crosswire_retained_events', { realm: 'realm1' }), 3);
        const bytes = m.get('crosswire_retained_bytes', { realm: 'realm1' });
        assert.ok(bytes > 3 * SIZE && bytes <= 1024 * 1024, `retained bytes ${bytes}`);
        assert.equal(m.get('crosswire_worker_restarts_total', { worker: '0', cause: 'resource_limits' }), 0);
        await Promise.all([bystander.close(), late.close()]);
        bomber.close();
      } finally {
        await r.stop();
      }
    });

    test(`testament bomb: big and many testaments from one session (${ser})`, async () => {
      const r = await startRouter({ crosswire: { worker_max_heap_mb: 32, realm_threads: 1 } });
      try {
        const bystander = await connect(r.url, 'json');
        const wills = new Inbox<unknown[]>();
        await bystander.session.subscribe('com.bomb.will', (args) => wills.push(args));
        const bomber = await RawPeer.open(r.url, ser);
        await bomber.join();
        let req = 0;
        const addTestament = async (payload: unknown): Promise<unknown[]> => {
          bomber.send([48, ++req, {}, 'wamp.session.add_testament', ['com.bomb.will', [payload], {}]]);
          return answer(bomber, [50, 8]);
        };
        // 200 testaments of 256 KiB (50 MiB): each is over the session's 64 KiB.
        const big: unknown[][] = [];
        for (let i = 0; i < 200; i++) big.push(await addTestament(blob(256 * 1024, i)));
        for (const m of big) {
          assert.equal(m[0], 8, 'a 256 KiB testament was accepted');
          assert.equal(m[4], PAYLOAD_SIZE_EXCEEDED);
          assert.match((m[3] as Dict).message as string, /max_testament_bytes_per_session/);
        }
        // Small ones: 16 are kept, the 17th is refused.
        for (let i = 0; i < 20; i++) {
          const m = await addTestament(`will ${i}`);
          if (i < 16) assert.equal(m[0], 50, `testament ${i}: ${JSON.stringify(m)}`);
          else {
            assert.equal(m[0], 8);
            assert.equal(m[4], LIMIT_EXCEEDED);
            assert.match((m[3] as Dict).message as string, /max_testaments_per_session/);
          }
        }
        // flush_testaments frees the count again.
        bomber.send([48, ++req, {}, 'wamp.session.flush_testaments', []]);
        assert.deepEqual((await answer(bomber, [50, 8])).slice(3), [[16]]);
        for (let i = 0; i < 16; i++) assert.equal((await addTestament(`last will ${i}`))[0], 50);

        // The worker lives; when the bomber goes, its 16 testaments are published.
        assert.equal(await bystander.session.call('wamp.session.count'), 2);
        bomber.close();
        const got = await wills.waitFor(16);
        assert.deepEqual(
          got.map((a) => a[0]),
          Array.from({ length: 16 }, (_, i) => `last will ${i}`),
        );
        const m = await scrape(r.http);
        assert.equal(m.get('crosswire_limit_exceeded_total', { limit: 'max_testament_bytes_per_session' }), 200);
        assert.equal(m.get('crosswire_limit_exceeded_total', { limit: 'max_testaments_per_session' }), 4);
        await bystander.close();
      } finally {
        await r.stop();
      }
    });
  }
});

void within;
void ANONYMOUS_ALL;
