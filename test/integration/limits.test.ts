import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Client, connect, SERIALIZERS } from '../helpers/client.js';
import WebSocket from 'ws';
import { BATCHED } from '../../src/shared/serializers/index.js';
import { scrape } from '../helpers/metrics.js';
import { type RawPeer as Peer, RawPeer } from '../helpers/raw.js';
import { ANONYMOUS_ALL, startRouter, type TestRouter } from '../helpers/router.js';
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

// The attack: one anonymous session retains big events on ever new topics, or stores
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

    // A retained event that kept its publisher's Session would keep the session's HELLO too (its
    // roles dict: any size up to max_message_size), which max_retained_bytes does not count:
    // sessions with big HELLOs, each retaining one tiny event and leaving, would fill the heap.
    test(`retained events do not keep their publisher's session (big HELLOs) (${ser})`, async () => {
      const r = await startRouter({ crosswire: { worker_max_heap_mb: 32, realm_threads: 1 } });
      try {
        const bystander = await connect(r.url, 'json');
        await bystander.session.register('com.example.echo', (args) => args);
        // 64 sessions of 1 MiB HELLOs (64 MiB, twice the heap), one at a time.
        for (let i = 0; i < 64; i++) {
          const bomber = await RawPeer.open(r.url, ser);
          const welcome = await Promise.race([
            bomber.join('realm1', { roles: { publisher: { features: { padding: blob(1024 * 1024, i) } } } }),
            bomber.closed.then(({ code }) => [`closed ${code}`]),
          ]);
          assert.equal(welcome[0], 2, `session ${i}: ${String(welcome[0])}`);
          bomber.send([16, 1, { acknowledge: true, retain: true }, `com.hello.t${i}`, [i]]);
          assert.equal((await answer(bomber, [17, 8]))[0], 17);
          bomber.send([6, {}, 'wamp.close.close_realm']);
          await bomber.next(6);
          bomber.close();
        }
        assert.deepEqual(await bystander.session.call('com.example.echo', ['still here']), ['still here']);
        const late = await connect(r.url, 'msgpack');
        const retained = new Inbox<unknown[]>();
        await late.session.subscribe('com.hello.t63', (args) => retained.push(args), { get_retained: true });
        assert.deepEqual((await retained.waitFor(1))[0], [63]);
        const m = await scrape(r.http);
        assert.equal(m.get('crosswire_retained_events', { realm: 'realm1' }), 64);
        assert.equal(m.get('crosswire_worker_restarts_total', { worker: '0', cause: 'resource_limits' }), 0);
        await Promise.all([bystander.close(), late.close()]);
      } finally {
        await r.stop();
      }
    });

    // A dynamic authorizer's cached decisions are keyed by the request's URI, and PUBLISH and CALL
    // URIs have no length limit of their own: a full cache of megabyte topics would fill the heap.
    test(`the dynamic authorizer's cache keeps no decision for a URI over max_uri_length (${ser})`, async () => {
      const r = await startRouter({
        crosswire: { worker_max_heap_mb: 32, realm_threads: 1 },
        realms: [
          {
            name: 'realm1',
            roles: [
              { name: 'dyn', authorizer: 'com.example.authorize' },
              { name: 'service', permissions: [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true } }] },
            ],
          },
        ],
        transport: {
          auth: {
            anonymous: { type: 'static', role: 'dyn' },
            ticket: { type: 'static', principals: { svc: { ticket: 'svc-ticket', role: 'service' } } },
          },
        },
      });
      try {
        const service = await connect(r.url, 'json', 'realm1', { authmethods: ['ticket'], authid: 'svc', onchallenge: () => 'svc-ticket' });
        let asked = 0;
        await service.session.register('com.example.authorize', () => {
          asked++;
          return { allow: true, cache: true };
        });
        const bomber = await RawPeer.open(r.url, ser);
        await bomber.join();
        // 48 topics of 1 MiB (48 MiB of URIs, more than the heap), each authorized and cached.
        for (let i = 0; i < 48; i++) {
          bomber.send([16, i + 1, { acknowledge: true }, `com.t${i}.${'u'.repeat(1024 * 1024)}`, []]);
          assert.equal((await answer(bomber, [17, 8]))[0], 17);
        }
        // Short URIs are still cached: the second publication is decided without the authorizer.
        bomber.send([16, 100, { acknowledge: true }, 'com.short', []]);
        assert.equal((await answer(bomber, [17, 8]))[0], 17);
        const before = asked;
        bomber.send([16, 101, { acknowledge: true }, 'com.short', []]);
        assert.equal((await answer(bomber, [17, 8]))[0], 17);
        assert.equal(asked, before);
        assert.equal(await service.session.call('wamp.session.count'), 2);
        bomber.close();
        await service.close();
      } finally {
        await r.stop();
      }
    });

    // The same for a static role: its decisions are cached per URI (10,000 of them).
    test(`a static role's decision cache keeps no decision for a URI over max_uri_length (${ser})`, async () => {
      const r = await startRouter({ crosswire: { worker_max_heap_mb: 32, realm_threads: 1 } });
      try {
        const bystander = await connect(r.url, 'json');
        await bystander.session.register('com.example.echo', (args) => args);
        const bomber = await RawPeer.open(r.url, ser);
        await bomber.join();
        // 64 topics of 1 MiB (64 MiB of URIs, twice the heap).
        for (let i = 0; i < 64; i++) {
          bomber.send([16, i + 1, { acknowledge: true }, `com.t${i}.${'u'.repeat(1024 * 1024)}`, []]);
          assert.equal((await answer(bomber, [17, 8]))[0], 17);
        }
        assert.deepEqual(await bystander.session.call('com.example.echo', ['still here']), ['still here']);
        bomber.close();
        await bystander.close();
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

/** The error URI a request of an AutobahnJS session failed with (AutobahnJS does not pass ERROR.Details on). */
async function wampError(p: Promise<unknown>): Promise<string> {
  try {
    await within(p, 5000, 'the answer');
  } catch (e) {
    return (e as { error: string }).error;
  }
  return assert.fail('expected a WAMP error');
}

describe('per-session and realm limits (small limits configured)', () => {
  let r: TestRouter;
  before(async () => {
    r = await startRouter({
      realms: [
        {
          name: 'realm1',
          roles: [ANONYMOUS_ALL],
          options: {
            max_subscriptions_per_session: 3,
            max_registrations_per_session: 2,
            max_pending_calls_per_session: 2,
            max_uri_length: 40,
            max_retained_events: 2,
            max_retained_topic_bytes: 2000,
            max_event_history_bytes: 3000,
          },
          store: { type: 'memory', 'event-history': [{ uri: 'com.hist', limit: 100 }] },
        },
      ],
    });
  });
  after(() => r.stop());

  for (const ser of SERIALIZERS) {
    test(`subscriptions per session: the 4th is refused, resubscribing and unsubscribing work (${ser})`, async () => {
      const [c, other] = await Promise.all([connect(r.url, ser), connect(r.url, ser)]);
      const before = (await scrape(r.http)).get('crosswire_limit_exceeded_total', { limit: 'max_subscriptions_per_session' });
      const subs = [];
      for (let i = 0; i < 3; i++) subs.push(await c.session.subscribe(`com.sub.${ser}.t${i}`, () => {}));
      assert.equal(await wampError(c.session.subscribe(`com.sub.${ser}.t3`, () => {})), LIMIT_EXCEEDED);
      // A subscription the session holds already is no new one; the other session has its own 3.
      const again = await c.session.subscribe(`com.sub.${ser}.t0`, () => {});
      assert.equal(again.id, subs[0]!.id);
      for (let i = 0; i < 3; i++) await other.session.subscribe(`com.sub.${ser}.t${i + 3}`, () => {});
      await c.session.unsubscribe(subs[1]!);
      await c.session.subscribe(`com.sub.${ser}.t4`, () => {});
      const after = (await scrape(r.http)).get('crosswire_limit_exceeded_total', { limit: 'max_subscriptions_per_session' });
      assert.equal(after - before, 1);
      await Promise.all([c.close(), other.close()]);
    });

    test(`registrations per session: the 3rd is refused until one is unregistered (${ser})`, async () => {
      const c = await connect(r.url, ser);
      const a = await c.session.register(`com.reg.${ser}.a`, () => 1);
      await c.session.register(`com.reg.${ser}.b`, () => 2);
      assert.equal(await wampError(c.session.register(`com.reg.${ser}.c`, () => 3)), LIMIT_EXCEEDED);
      await c.session.unregister(a);
      await c.session.register(`com.reg.${ser}.c`, () => 3);
      assert.equal(await c.session.call(`com.reg.${ser}.c`), 3);
      await c.close();
    });

    test(`pending calls per session: the 3rd waiting call is refused; answered calls free their place (${ser})`, async () => {
      const [caller, callee] = await Promise.all([connect(r.url, ser), connect(r.url, ser)]);
      const waiting: (() => void)[] = [];
      const arrived = new Inbox<number>();
      await callee.session.register(`com.slow.${ser}`, (args) => {
        arrived.push(args[0] as number);
        return new Promise((resolve) => waiting.push(() => resolve(args[0])));
      });
      const p1 = caller.session.call(`com.slow.${ser}`, [1]);
      const p2 = caller.session.call(`com.slow.${ser}`, [2]);
      await arrived.waitFor(2);
      assert.equal(await wampError(caller.session.call(`com.slow.${ser}`, [3])), LIMIT_EXCEEDED);
      // Another caller is not affected; the callee's answers free the caller's places.
      const other = await connect(r.url, ser);
      const p4 = other.session.call(`com.slow.${ser}`, [4]);
      await arrived.waitFor(3);
      for (const w of waiting.splice(0)) w();
      assert.deepEqual(await Promise.all([p1, p2, p4]), [1, 2, 4]);
      const p5 = caller.session.call(`com.slow.${ser}`, [5]);
      await arrived.waitFor(4);
      waiting.shift()!();
      assert.equal(await p5, 5);
      await Promise.all([caller.close(), callee.close(), other.close()]);
    });

    test(`URI length: a subscription or registration URI over max_uri_length is refused (${ser})`, async () => {
      const c = await connect(r.url, ser);
      const long = `com.long.${'x'.repeat(40)}`;
      assert.equal(await wampError(c.session.subscribe(long, () => {})), 'wamp.error.invalid_uri');
      assert.equal(await wampError(c.session.register(long, () => {})), 'wamp.error.invalid_uri');
      await c.session.subscribe('com.long.ok', () => {});
      await c.close();
    });
  }

  test('the ERROR says which limit, with its realm option and value', async () => {
    const [p, callee] = await Promise.all([RawPeer.open(r.url, 'msgpack'), connect(r.url, 'json')]);
    await p.join();
    await callee.session.register('com.msg.never', () => new Promise(() => {}));
    const refused = async (msg: unknown[], uri: string, message: RegExp) => {
      p.send(msg);
      const e = await answer(p, [8]);
      assert.deepEqual([e[1], e[2], e[4]], [msg[0], msg[1], uri]);
      assert.match((e[3] as Dict).message as string, message);
    };
    for (let i = 0; i < 3; i++) p.send([32, i + 1, {}, `com.msg.t${i}`]);
    for (let i = 0; i < 2; i++) p.send([64, i + 10, {}, `com.msg.p${i}`]);
    for (let i = 0; i < 2; i++) p.send([48, i + 20, {}, 'com.msg.never', []]);
    await refused([32, 4, {}, 'com.msg.t3'], LIMIT_EXCEEDED, /^this session holds 3 subscriptions already \(realm option max_subscriptions_per_session: 3\)$/);
    await refused([64, 12, {}, 'com.msg.p2'], LIMIT_EXCEEDED, /^this session holds 2 registrations already \(realm option max_registrations_per_session: 2\)$/);
    await refused([48, 22, {}, 'com.msg.never', []], LIMIT_EXCEEDED, /^this session has 2 calls waiting for their callees already \(realm option max_pending_calls_per_session: 2\)$/);
    await refused([32, 5, {}, `com.${'x'.repeat(40)}`], 'wamp.error.invalid_uri', /^a URI of 44 characters is too long \(realm option max_uri_length: 40\)$/);
    await refused([16, 6, { acknowledge: true, retain: true }, 'com.msg.big', ['x'.repeat(3000)]], PAYLOAD_SIZE_EXCEEDED, /^a retained event of \d+ bytes is too big \(realm option max_retained_topic_bytes: 2000\)$/);
    p.close();
    await callee.close();
  });

  test('retained events: max_retained_events and max_retained_topic_bytes', async () => {
    const c = await connect(r.url, 'json');
    const pub = (topic: string, payload: string, extra: Dict = {}) =>
      c.session.publish(topic, [payload], {}, { acknowledge: true, retain: true, exclude_me: false, ...extra });
    await pub('com.ret.a', 'a');
    await pub('com.ret.b', 'b');
    assert.equal(await wampError(pub('com.ret.c', 'c')), LIMIT_EXCEEDED);
    // Replacing a topic's retained event needs no new room; an event over the topic's bytes is refused.
    await pub('com.ret.a', 'a2');
    assert.equal(await wampError(pub('com.ret.a', 'x'.repeat(3000))), PAYLOAD_SIZE_EXCEEDED);
    // A refused publication is not delivered either; a retained one is, and is retained.
    const late = await connect(r.url, 'msgpack');
    const got = new Inbox<unknown>();
    await late.session.subscribe('com.ret.a', (args) => got.push(args[0]), { get_retained: true });
    assert.deepEqual(await got.waitFor(1), ['a2']);
    const m = await scrape(r.http);
    assert.equal(m.get('crosswire_retained_events', { realm: 'realm1' }), 2);
    await Promise.all([c.close(), late.close()]);
  });

  test('a batched msgpack frame (decoded on the main thread): the size is estimated from its values', async () => {
    const ser = BATCHED.msgpack;
    const ws = new WebSocket(r.url, [ser.subprotocol]);
    const received = new Inbox<unknown[]>();
    ws.on('message', (d: Buffer) => {
      for (const m of ser.decode(new Uint8Array(d)) as unknown[][]) received.push(m);
    });
    await within(new Promise((res, rej) => ws.once('open', res).once('error', rej)), 5000, 'the WebSocket to open');
    const send = (...msgs: unknown[][]) => ws.send(Buffer.concat(msgs.map((m) => ser.encode(m) as Uint8Array)));
    send([1, 'realm1', { roles: { publisher: {}, caller: {} } }]);
    await received.waitFor(1);
    // Two in one batch: 3,000 characters are over max_retained_topic_bytes (2,000), 100 are not (they
    // replace the topic's retained event of the previous test: the realm's two are in use).
    const options = { acknowledge: true, retain: true, exclude_me: false };
    send([16, 1, options, 'com.ret.b', ['x'.repeat(3000)]], [16, 2, options, 'com.ret.b', ['x'.repeat(100)]]);
    const [, refused, ok] = await received.waitFor(3);
    assert.deepEqual([refused![0], refused![2], refused![4]], [8, 1, PAYLOAD_SIZE_EXCEEDED]);
    assert.deepEqual([ok![0], ok![1]], [17, 2]);
    ws.close();
  });

  // On a main-thread-decoded frame, the whole message is measured, not only the payload (its JSON
  // text, or its values): a retained event with a huge topic and options and no payload counts.
  for (const name of ['json', 'msgpack'] as const) {
    test(`a batched ${name} frame: a retained event's topic and options count, not only its payload`, async () => {
      const ser = BATCHED[name];
      const ws = new WebSocket(r.url, [ser.subprotocol]);
      const received = new Inbox<unknown[]>();
      ws.on('message', (d: Buffer) => {
        for (const m of ser.decode(new Uint8Array(d)) as unknown[][]) received.push(m);
      });
      await within(new Promise((res, rej) => ws.once('open', res).once('error', rej)), 5000, 'the WebSocket to open');
      const send = (msg: unknown[]) => ws.send(ser.encode(msg));
      send([1, 'realm1', { roles: { publisher: {} } }]);
      await received.waitFor(1);
      const topic = `com.ret.${'t'.repeat(3000)}`;
      send([16, 1, { acknowledge: true, retain: true, padding: 'p'.repeat(3000) }, 'com.ret.a', ['x']]);
      send([16, 2, { acknowledge: true, retain: true }, topic]);
      send([16, 3, { acknowledge: true, retain: true }, topic, ['x']]);
      const answers = await received.waitFor(4);
      for (const [i, e] of answers.slice(1).entries()) {
        assert.deepEqual([e[0], e[2], e[4]], [8, i + 1, PAYLOAD_SIZE_EXCEEDED], JSON.stringify(e).slice(0, 200));
        assert.match((e[3] as Dict).message as string, /max_retained_topic_bytes: 2000/);
      }
      ws.close();
    });
  }

  test('event history: max_event_history_bytes keeps the newest events that fit; a bigger event is not stored', async () => {
    const c = await connect(r.url, 'json');
    const sub = await c.session.subscribe('com.hist', () => {});
    for (let i = 0; i < 5; i++) await c.session.publish('com.hist', [`${i}`.repeat(1000)], {}, { acknowledge: true });
    const events = async () => ((await c.session.call('wamp.subscription.get_events', [sub.id, 10])) as Dict[]).map((e) => (e.args as string[])[0]![0]);
    // Each ~1,050-byte frame: two fit in 3,000 bytes.
    assert.deepEqual(await events(), ['4', '3']);
    const before = (await scrape(r.http)).get('crosswire_limit_exceeded_total', { limit: 'max_event_history_bytes' });
    await c.session.publish('com.hist', ['z'.repeat(5000)], {}, { acknowledge: true });
    assert.deepEqual(await events(), ['4', '3']);
    const after = (await scrape(r.http)).get('crosswire_limit_exceeded_total', { limit: 'max_event_history_bytes' });
    assert.equal(after - before, 1);
    await c.close();
  });
});

describe('held messages per session (dynamic authorizer)', () => {
  let r: TestRouter;
  let service: Client;
  const slow: (() => void)[] = [];
  before(async () => {
    r = await startRouter({
      realms: [
        {
          name: 'realm1',
          roles: [
            { name: 'dyn', authorizer: 'com.example.authorize' },
            { name: 'service', permissions: [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true } }] },
          ],
          options: { max_held_messages_per_session: 3, max_held_bytes_per_session: 4096 },
        },
      ],
      transport: {
        auth: {
          anonymous: { type: 'static', role: 'dyn' },
          ticket: { type: 'static', principals: { svc: { ticket: 'svc-ticket', role: 'service' } } },
        },
      },
    });
    service = await connect(r.url, 'json', 'realm1', { authmethods: ['ticket'], authid: 'svc', onchallenge: () => 'svc-ticket' });
    await service.session.register('com.example.authorize', (args) => {
      const uri = args[1] as string;
      // `.slow` URIs are decided when the test says so; the others at once.
      return uri.endsWith('.slow') ? new Promise((resolve) => slow.push(() => resolve(true))) : true;
    });
  });
  after(async () => {
    await service.close();
    await r.stop();
  });

  test('over max_held_messages_per_session a request gets ERROR; the held ones go through once the authorizer answers', async () => {
    const p = await RawPeer.open(r.url, 'json');
    await p.join();
    const waiting = slow.length;
    p.send([32, 1, {}, 'com.held.slow']); // waits for the authorizer
    // Wait until the authorizer has it (the router holds the session's later messages meanwhile).
    await within(
      (async () => {
        while (slow.length === waiting) await new Promise((res) => setImmediate(res));
      })(),
      5000,
      'the authorizer call',
    );
    for (let i = 0; i < 4; i++) p.send([16, 10 + i, { acknowledge: true }, 'com.held.x', [i]]);
    const refused = await answer(p, [8]);
    assert.deepEqual(refused.slice(0, 3), [8, 16, 13]);
    assert.equal(refused[4], LIMIT_EXCEEDED);
    assert.match((refused[3] as Dict).message as string, /3 messages .* max_held_messages_per_session: 3/);
    slow.shift()!();
    assert.equal((await answer(p, [33]))[1], 1);
    const acks = [await answer(p, [17]), await answer(p, [17]), await answer(p, [17])];
    assert.deepEqual(
      acks.map((m) => m[1]),
      [10, 11, 12],
    );
    p.close();
  });

  test('over max_held_bytes_per_session: ERROR (payload_size_exceeded for one message over it); a held YIELD over the limit ends the session', async () => {
    const p = await RawPeer.open(r.url, 'json');
    await p.join();
    const hold = async (topic: string) => {
      const waiting = slow.length;
      p.send([32, 1, {}, topic]);
      await within(
        (async () => {
          while (slow.length === waiting) await new Promise((res) => setImmediate(res));
        })(),
        5000,
        'the authorizer call',
      );
    };
    await hold('com.held.slow');
    p.send([16, 20, { acknowledge: true }, 'com.held.x', ['a'.repeat(3000)]]); // held
    p.send([16, 21, { acknowledge: true }, 'com.held.x', ['b'.repeat(3000)]]); // over 4096 bytes together
    p.send([16, 22, { acknowledge: true }, 'com.held.x', ['c'.repeat(5000)]]); // over 4096 alone
    const e1 = await answer(p, [8]);
    assert.deepEqual([e1[2], e1[4]], [21, LIMIT_EXCEEDED]);
    assert.match((e1[3] as Dict).message as string, /max_held_bytes_per_session: 4096/);
    const e2 = await answer(p, [8]);
    assert.deepEqual([e2[2], e2[4]], [22, PAYLOAD_SIZE_EXCEEDED]);
    slow.shift()!();
    assert.equal((await answer(p, [33]))[1], 1);
    assert.equal((await answer(p, [17]))[1], 20);

    // A message no ERROR can answer (here CANCEL) over the limit: ABORT, close 1008.
    await hold('com.held2.slow');
    for (let i = 0; i < 3; i++) p.send([16, 30 + i, {}, 'com.held.x', [i]]);
    p.send([49, 99, {}]);
    const abort = await p.next(3);
    assert.equal(abort[2], LIMIT_EXCEEDED);
    assert.match((abort[1] as Dict).message as string, /max_held_messages_per_session/);
    assert.equal((await within(p.closed, 5000, 'the close')).code, 1008);
    slow.shift()!();
    // The realm carries on.
    assert.equal(await service.session.call('wamp.session.count'), 1);
    const m = await scrape(r.http);
    assert.equal(m.get('crosswire_limit_exceeded_total', { limit: 'max_held_bytes_per_session' }), 2);
    assert.equal(m.get('crosswire_limit_exceeded_total', { limit: 'max_held_messages_per_session' }), 2);
  });

  // A held JSON message decoded on the main thread (batched) is measured with its options and URI,
  // not by its payload's JSON text alone, so big options or a big URI are not held for free.
  test('a batched json frame: a held message is measured with its options and URI, not only its payload', async () => {
    const ser = BATCHED.json;
    const ws = new WebSocket(r.url, [ser.subprotocol]);
    const received = new Inbox<unknown[]>();
    ws.on('message', (d: Buffer) => {
      for (const m of ser.decode(new Uint8Array(d)) as unknown[][]) received.push(m);
    });
    await within(new Promise((res, rej) => ws.once('open', res).once('error', rej)), 5000, 'the WebSocket to open');
    const send = (msg: unknown[]) => ws.send(ser.encode(msg));
    send([1, 'realm1', { roles: { publisher: {}, subscriber: {} } }]);
    assert.equal((await received.waitFor(1))[0]![0], 2);
    const waiting = slow.length;
    send([32, 1, {}, 'com.held3.slow']);
    await within(
      (async () => {
        while (slow.length === waiting) await new Promise((res) => setImmediate(res));
      })(),
      5000,
      'the authorizer call',
    );
    send([16, 2, { acknowledge: true, padding: 'p'.repeat(5000) }, 'com.held.x', [1]]);
    send([16, 3, { acknowledge: true }, `com.held.${'u'.repeat(5000)}`, [1]]);
    const [, e1, e2] = await received.waitFor(3);
    assert.deepEqual([e1![0], e1![2], e1![4]], [8, 2, PAYLOAD_SIZE_EXCEEDED]);
    assert.deepEqual([e2![0], e2![2], e2![4]], [8, 3, PAYLOAD_SIZE_EXCEEDED]);
    slow.shift()!();
    assert.equal((await received.waitFor(4))[3]![0], 33);
    ws.close();
  });
});
