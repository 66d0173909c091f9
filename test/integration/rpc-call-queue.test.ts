// Crossbar.io's call queues (realm `store.call-queue`, docs/wamp-features.md): a call that finds no
// callee with room (REGISTER.Options.concurrency) waits in its registration's queue when an entry
// matches the called procedure, up to the entry's limit, and goes out (oldest first) when an
// invocation gives its room back. Every way a waiting call can end answers its caller once:
// timeout, CANCEL, the caller leaving, the registration losing its callees, the router's drain.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Client, connect, SERIALIZERS } from '../helpers/client.js';
import { RawPeer } from '../helpers/raw.js';
import { ANONYMOUS_ALL, startRouter, type TestRouter } from '../helpers/router.js';
import { scrape } from '../helpers/metrics.js';
import { deferred, Inbox, within } from '../helpers/wait.js';

// The store's limit (3) is the default of an entry without one; com.q.big. has its own.
const STORE = {
  type: 'memory',
  limit: 3,
  'call-queue': [
    { uri: 'com.q.', match: 'prefix' },
    { uri: 'com.q.big.', match: 'prefix', limit: 50 },
  ],
};

let r: TestRouter;
before(async () => {
  r = await startRouter({
    realms: [
      { name: 'realm1', roles: [ANONYMOUS_ALL], store: STORE },
      { name: 'realm2', roles: [ANONYMOUS_ALL], store: STORE, options: { max_pending_calls_per_session: 2 } },
      { name: 'realm3', roles: [ANONYMOUS_ALL], store: STORE, options: { max_queued_bytes_per_session: 700, max_queued_call_bytes: 1000 } },
    ],
  });
});
after(() => r.stop());

const FULL = 'crossbar.error.max_concurrency_reached';
let seq = 0;
const uri = (stem: string) => `com.q.${stem}${++seq}`;

const peers: RawPeer[] = [];
after(() => {
  for (const p of peers) p.close();
});

async function rawPeer(features: string[] = [], realm = 'realm1'): Promise<RawPeer> {
  const p = await RawPeer.open(r.url, 'json');
  peers.push(p);
  const f = Object.fromEntries(features.map((x) => [x, true]));
  await p.join(realm, { roles: { caller: { features: f }, callee: { features: f } } });
  return p;
}

async function register(callee: RawPeer, request: number, procedure: string, options: Record<string, unknown>): Promise<number> {
  callee.send([64, request, options, procedure]);
  const m = await callee.nextOf([65, 8]);
  assert.equal(m[0], 65, JSON.stringify(m));
  return m[2] as number;
}

const isAnswer = (request: number) => (m: unknown[]) => (m[0] === 50 && m[1] === request) || (m[0] === 8 && m[1] === 48 && m[2] === request);

/** The caller's answer (RESULT or ERROR) to CALL `request`; answers to other calls stay in `received`. */
async function answer(caller: RawPeer, request: number, ms = 5000): Promise<unknown[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const i = caller.received.findIndex(isAnswer(request));
    if (i >= 0) return caller.received.splice(i, 1)[0]!;
    await within(new Promise((resolve) => caller.ws.once('message', resolve)), Math.max(1, deadline - Date.now()), `the answer to CALL ${request}`);
  }
}

/**
 * A round trip of `p` (a meta call): the router handles a session's messages in order, so every
 * CALL `p` sent before has been taken (sent, queued or refused) when this returns.
 */
let syncId = 1_000_000;
async function sync(p: RawPeer): Promise<void> {
  const id = ++syncId;
  p.send([48, id, {}, 'wamp.session.count', []]);
  assert.equal((await answer(p, id))[0], 50);
}

/** Asserts that none of CALLs `requests` of `p` has been answered yet (they wait). */
function waiting(p: RawPeer, ...requests: number[]): void {
  for (const id of requests) assert.equal(p.received.findIndex(isAnswer(id)), -1, `CALL ${id} is still waiting`);
}

/** The payload's first argument of an INVOCATION. */
const arg = (inv: unknown[]) => (inv[4] as unknown[])[0];

describe('call queues (raw frames)', () => {
  test('single callee with concurrency 1: calls wait in FIFO order across callers, up to the limit; one more is refused as the queue is full', async () => {
    const callee = await rawPeer();
    const [a, b] = [await rawPeer(), await rawPeer()];
    const p = uri('fifo');
    await register(callee, 1, p, { concurrency: 1 });
    a.send([48, 1, {}, p, ['a1']]);
    const first = await callee.next(68);
    assert.equal(arg(first), 'a1');
    a.send([48, 2, {}, p, ['a2']]);
    await sync(a);
    b.send([48, 1, {}, p, ['b1']]);
    await sync(b);
    a.send([48, 3, {}, p, ['a3']]);
    await sync(a);
    waiting(a, 2, 3);
    waiting(b, 1);
    // The store's limit (3) is this entry's: a fourth waiting call is refused.
    b.send([48, 2, {}, p, ['b2']]);
    const full = await answer(b, 2);
    assert.deepEqual([full[0], full[4]], [8, FULL]);
    assert.match((full[3] as { message: string }).message, /call queue is full \(3 calls wait already\)/);
    assert.equal(callee.received.filter((m) => m[0] === 68).length, 0, 'no waiting call reached the callee');
    // Each answer lets the oldest waiting call go.
    let inv = first;
    const order: unknown[] = [];
    for (const [peer, id, tag] of [
      [a, 1, 'a1'],
      [a, 2, 'a2'],
      [b, 1, 'b1'],
      [a, 3, 'a3'],
    ] as const) {
      callee.send([70, inv[1], {}, [`done ${tag}`]]);
      assert.deepEqual(await answer(peer, id), [50, id, {}, [`done ${tag}`]]);
      if (tag === 'a3') break;
      inv = await callee.next(68);
      order.push(arg(inv));
    }
    assert.deepEqual(order, ['a2', 'b1', 'a3']);
    // The queue is empty and the callee has room: a call goes at once.
    b.send([48, 3, {}, p, ['b3']]);
    const last = await callee.next(68);
    assert.equal(arg(last), 'b3');
    callee.send([70, last[1], {}, []]);
    assert.equal((await answer(b, 3))[0], 50);
  });

  test('roundrobin over two callees: a waiting call goes to whichever callee gives room back; a callee joining takes waiting calls', async () => {
    const [x, y, caller] = [await rawPeer(), await rawPeer(), await rawPeer()];
    const p = uri('rr');
    await register(x, 1, p, { invoke: 'roundrobin', concurrency: 1 });
    await register(y, 1, p, { invoke: 'roundrobin', concurrency: 1 });
    for (let i = 1; i <= 5; i++) caller.send([48, i, {}, p, [i]]);
    const [ix, iy] = [await x.next(68), await y.next(68)];
    assert.deepEqual([arg(ix), arg(iy)], [1, 2]);
    await sync(caller);
    waiting(caller, 1, 2, 3, 4, 5);
    // y answers first: the oldest waiting call (3) goes to y, though x is next in the round.
    y.send([70, iy[1], {}, ['y']]);
    assert.deepEqual(await answer(caller, 2), [50, 2, {}, ['y']]);
    const iy2 = await y.next(68);
    assert.equal(arg(iy2), 3);
    // x answers: 4 goes to x.
    x.send([70, ix[1], {}, ['x']]);
    assert.deepEqual(await answer(caller, 1), [50, 1, {}, ['x']]);
    const ix2 = await x.next(68);
    assert.equal(arg(ix2), 4);
    // A third callee (no concurrency) joins the registration: 5, still waiting, goes to it.
    const z = await rawPeer();
    await register(z, 1, p, { invoke: 'roundrobin' });
    const iz = await z.next(68);
    assert.equal(arg(iz), 5);
    for (const [peer, inv] of [
      [y, iy2],
      [x, ix2],
      [z, iz],
    ] as const)
      peer.send([70, inv[1], {}, [arg(inv)]]);
    for (const id of [3, 4, 5]) assert.deepEqual(await answer(caller, id), [50, id, {}, [id]]);
  });

  test('a procedure no call-queue entry matches is refused at once, as without queues; a progressive call is never queued', async () => {
    const callee = await rawPeer(['progressive_call_invocations']);
    const caller = await rawPeer(['progressive_call_invocations']);
    const p = `com.noq.p${++seq}`;
    await register(callee, 1, p, { concurrency: 1 });
    caller.send([48, 1, {}, p, []]);
    const inv = await callee.next(68);
    caller.send([48, 2, {}, p, []]);
    const e = await answer(caller, 2);
    assert.deepEqual([e[0], e[4]], [8, FULL]);
    assert.doesNotMatch((e[3] as { message: string }).message, /queue/);
    // A progressive call to a queued procedure finding no room: refused, not queued.
    const q = uri('progressive');
    await register(callee, 2, q, { concurrency: 1 });
    caller.send([48, 3, {}, q, []]);
    const invq = await callee.next(68);
    caller.send([48, 4, { progress: true }, q, ['chunk']]);
    const eq = await answer(caller, 4);
    assert.deepEqual([eq[0], eq[4]], [8, FULL]);
    callee.send([70, inv[1], {}, []]);
    callee.send([70, invq[1], {}, []]);
    assert.equal((await answer(caller, 1))[0], 50);
    assert.equal((await answer(caller, 3))[0], 50);
  });

  test('CALL.Options.timeout counts from the CALL: it expires in the queue (wamp.error.timeout, never sent), and a dispatched call gets what is left', async () => {
    const callee = await rawPeer(['call_timeout', 'call_canceling']);
    const caller = await rawPeer(['call_canceling']);
    const p = uri('timeout');
    await register(callee, 1, p, { concurrency: 1, forward_timeout: true });
    caller.send([48, 1, {}, p, ['first']]);
    const first = await callee.next(68);
    // 3 waits from before 2 does; 2 times out in the queue 300 ms after it came: 3 has waited longer.
    caller.send([48, 3, { timeout: 20000 }, p, ['long']]);
    caller.send([48, 2, { timeout: 300 }, p, ['short']]);
    const e = await answer(caller, 2);
    assert.deepEqual([e[0], e[4]], [8, 'wamp.error.timeout']);
    assert.match((e[3] as { message: string }).message, /timed out after 300 ms \(it waited in the call queue\)/);
    waiting(caller, 1, 3);
    // The room comes back: 3 goes with what is left of its 20 s (forwarded to this callee).
    callee.send([70, first[1], {}, []]);
    assert.equal((await answer(caller, 1))[0], 50);
    const inv = await callee.next(68);
    assert.equal(arg(inv), 'long');
    const left = (inv[3] as { timeout: number }).timeout;
    assert.ok(left > 0 && left <= 20000 - 300 + 1, `the invocation gets what is left of the timeout (${left} ms)`);
    callee.send([70, inv[1], {}, ['ok']]);
    assert.deepEqual(await answer(caller, 3), [50, 3, {}, ['ok']]);
    // 2 never reached the callee: the next INVOCATION is a new call's.
    caller.send([48, 4, {}, p, ['after']]);
    const next = await callee.next(68);
    assert.equal(arg(next), 'after');
    assert.equal(callee.received.filter((m) => m[0] === 69).length, 0, 'no INTERRUPT for a call that never reached the callee');
    callee.send([70, next[1], {}, []]);
    assert.equal((await answer(caller, 4))[0], 50);
  });

  test('CANCEL of a waiting call (kill, killnowait, skip): ERROR wamp.error.canceled at once, no INTERRUPT, the next waiting call gets the room', async () => {
    const callee = await rawPeer(['call_canceling']);
    const caller = await rawPeer(['call_canceling']);
    const p = uri('cancel');
    // 1 in flight, 3 waiting (the entry's limit), canceled one by one.
    await register(callee, 1, p, { concurrency: 1 });
    caller.send([48, 1, {}, p, ['first']]);
    const first = await callee.next(68);
    caller.send([48, 2, {}, p, ['kill']]);
    caller.send([48, 3, {}, p, ['killnowait']]);
    caller.send([48, 4, {}, p, ['skip']]);
    await sync(caller);
    waiting(caller, 2, 3, 4);
    for (const [id, mode] of [
      [2, 'kill'],
      [3, 'killnowait'],
      [4, 'skip'],
    ] as const) {
      caller.send([49, id, { mode }]);
      const e = await answer(caller, id);
      assert.deepEqual([e[0], e[4]], [8, 'wamp.error.canceled'], mode);
    }
    // The queue has room again for three: the next one waits, and goes when the room comes back.
    caller.send([48, 5, {}, p, ['after']]);
    await sync(caller);
    waiting(caller, 5);
    callee.send([70, first[1], {}, []]);
    assert.equal((await answer(caller, 1))[0], 50);
    const inv = await callee.next(68);
    assert.equal(arg(inv), 'after');
    assert.equal(callee.received.filter((m) => m[0] === 69).length, 0, 'no INTERRUPT reached the callee');
    callee.send([70, inv[1], {}, []]);
    assert.equal((await answer(caller, 5))[0], 50);
  });

  test('a caller leaving takes its waiting calls with it; the next waiting call (another caller) gets the room', async () => {
    const callee = await rawPeer();
    const [stays, observer] = [await rawPeer(), await rawPeer()];
    const p = uri('leave');
    await register(callee, 1, p, { concurrency: 1 });
    stays.send([48, 1, {}, p, ['first']]);
    const first = await callee.next(68);
    const leaving = await RawPeer.open(r.url, 'json');
    peers.push(leaving);
    const welcome = await leaving.join();
    leaving.send([48, 1, {}, p, ['gone1']]);
    leaving.send([48, 2, {}, p, ['gone2']]);
    await sync(leaving);
    stays.send([48, 2, {}, p, ['next']]);
    await sync(stays);
    waiting(stays, 2);
    leaving.close();
    // Once the router has ended the leaving session (wamp.session.get: no_such_session), its calls are gone.
    for (let i = 0; ; i++) {
      assert.ok(i < 200, 'the router ends the session of a caller that closed');
      observer.send([48, 100 + i, {}, 'wamp.session.get', [welcome[1]]]);
      const m = await answer(observer, 100 + i);
      if (m[0] === 8) break;
    }
    callee.send([70, first[1], {}, []]);
    assert.equal((await answer(stays, 1))[0], 50);
    const inv = await callee.next(68);
    assert.equal(arg(inv), 'next');
    callee.send([70, inv[1], {}, ['yes']]);
    assert.deepEqual(await answer(stays, 2), [50, 2, {}, ['yes']]);
    assert.equal(callee.received.filter((m) => m[0] === 68).length, 0, "the leaving caller's calls never reached the callee");
  });

  test('the registration losing its callees (UNREGISTER, or the last callee leaving) cancels the waiting calls', async () => {
    const caller = await rawPeer();
    for (const how of ['unregister', 'leave'] as const) {
      const callee = await rawPeer();
      const p = uri(how);
      const regId = await register(callee, 1, p, { concurrency: 1 });
      caller.send([48, 1, {}, p, ['first']]);
      const first = await callee.next(68);
      caller.send([48, 2, {}, p, ['w1']]);
      caller.send([48, 3, {}, p, ['w2']]);
      await sync(caller);
      waiting(caller, 1, 2, 3);
      if (how === 'unregister') {
        callee.send([66, 2, regId]);
        await callee.next(67);
      } else callee.close();
      for (const id of [2, 3]) {
        const e = await answer(caller, id);
        assert.deepEqual([e[0], e[4]], [8, 'wamp.error.canceled'], how);
        assert.match((e[3] as { message: string }).message, /lost its callees while the call waited/);
      }
      if (how === 'unregister') {
        // The invocation in flight may still be answered after UNREGISTER.
        callee.send([70, first[1], {}, ['late']]);
        assert.deepEqual(await answer(caller, 1), [50, 1, {}, ['late']]);
        assert.equal(callee.received.filter((m) => m[0] === 68).length, 0);
      } else {
        const e = await answer(caller, 1);
        assert.deepEqual([e[0], e[4]], [8, 'wamp.error.canceled']);
      }
    }
  });

  test('first: when the full callee the policy names unregisters, the next one (with room) takes the waiting calls', async () => {
    const [x, y, caller] = [await rawPeer(), await rawPeer(), await rawPeer()];
    const p = uri('first');
    const regId = await register(x, 1, p, { invoke: 'first', concurrency: 1 });
    await register(y, 1, p, { invoke: 'first', concurrency: 1 });
    caller.send([48, 1, {}, p, ['x']]);
    const ix = await x.next(68);
    caller.send([48, 2, {}, p, ['waits']]);
    await sync(caller);
    waiting(caller, 1, 2);
    assert.equal(y.received.filter((m) => m[0] === 68).length, 0, 'first: y is not used while x is first');
    x.send([66, 2, regId]);
    await x.next(67);
    const iy = await y.next(68);
    assert.equal(arg(iy), 'waits');
    y.send([70, iy[1], {}, ['y']]);
    assert.deepEqual(await answer(caller, 2), [50, 2, {}, ['y']]);
    x.send([70, ix[1], {}, ['x']]);
    assert.deepEqual(await answer(caller, 1), [50, 1, {}, ['x']]);
  });

  test("a CALL reusing a waiting call's request id is a protocol violation (ABORT); its waiting call is dropped, others carry on", async () => {
    const callee = await rawPeer();
    const [bad, good] = [await rawPeer(), await rawPeer()];
    const p = uri('dup');
    await register(callee, 1, p, { concurrency: 1 });
    good.send([48, 1, {}, p, ['first']]);
    const first = await callee.next(68);
    bad.send([48, 7, {}, p, ['bad']]);
    await sync(bad);
    good.send([48, 2, {}, p, ['good']]);
    await sync(good);
    bad.send([48, 7, {}, p, ['again']]);
    const abort = await bad.next(3);
    assert.equal(abort[2], 'wamp.error.protocol_violation');
    assert.match((abort[1] as { message: string }).message, /request id 7 is already in use by a call waiting in a call queue/);
    callee.send([70, first[1], {}, []]);
    assert.equal((await answer(good, 1))[0], 50);
    const inv = await callee.next(68);
    assert.equal(arg(inv), 'good');
    callee.send([70, inv[1], {}, []]);
    assert.equal((await answer(good, 2))[0], 50);
  });

  test('waiting calls count towards max_pending_calls_per_session', async () => {
    const callee = await rawPeer([], 'realm2');
    const caller = await rawPeer([], 'realm2');
    const p = uri('pending');
    await register(callee, 1, p, { concurrency: 1 });
    caller.send([48, 1, {}, p, []]);
    const first = await callee.next(68);
    caller.send([48, 2, {}, p, []]);
    caller.send([48, 3, {}, p, []]);
    const e = await answer(caller, 3);
    assert.deepEqual([e[0], e[4]], [8, 'crosswire.error.limit_exceeded']);
    assert.match((e[3] as { message: string }).message, /has 2 calls waiting/);
    waiting(caller, 1, 2);
    callee.send([70, first[1], {}, []]);
    assert.equal((await answer(caller, 1))[0], 50);
    const inv = await callee.next(68);
    callee.send([70, inv[1], {}, []]);
    assert.equal((await answer(caller, 2))[0], 50);
  });

  test('waiting calls hold their bytes within max_queued_bytes_per_session and max_queued_call_bytes; a dispatched call gives its bytes back', async () => {
    // realm3: 700 bytes per session, 1000 for the realm; each CALL below is a JSON frame of about 290 bytes.
    const callee = await rawPeer([], 'realm3');
    const a = await rawPeer([], 'realm3');
    const b = await rawPeer([], 'realm3');
    const p = `com.q.big.bytes${++seq}`;
    const payload = ['x'.repeat(250)];
    await register(callee, 1, p, { concurrency: 1 });
    a.send([48, 1, {}, p, payload]);
    const first = await callee.next(68);
    a.send([48, 2, {}, p, payload]);
    a.send([48, 3, {}, p, payload]);
    a.send([48, 4, {}, p, payload]); // 3 × 290 > 700
    const e4 = await answer(a, 4);
    assert.deepEqual([e4[0], e4[4]], [8, 'crosswire.error.limit_exceeded']);
    assert.match((e4[3] as { message: string }).message, /max_queued_bytes_per_session: 700/);
    // One call bigger than the session's whole budget.
    a.send([48, 5, {}, p, ['y'.repeat(800)]]);
    const e5 = await answer(a, 5);
    assert.deepEqual([e5[0], e5[4]], [8, 'wamp.error.payload_size_exceeded']);
    // B: the realm holds 580 bytes of A's; B's first fits (870), its second does not (1160 > 1000).
    b.send([48, 1, {}, p, payload]);
    b.send([48, 2, {}, p, payload]);
    const eb = await answer(b, 2);
    assert.deepEqual([eb[0], eb[4]], [8, 'crosswire.error.limit_exceeded']);
    assert.match((eb[3] as { message: string }).message, /max_queued_call_bytes: 1000/);
    waiting(a, 1, 2, 3);
    waiting(b, 1);
    const m = await scrape(r.http);
    assert.equal(m.get('crosswire_call_queue_calls', { realm: 'realm3' }), 3);
    const held = m.get('crosswire_call_queue_bytes', { realm: 'realm3' })!;
    assert.ok(held > 3 * 250 && held <= 1000, `${held} bytes wait`);
    // The callee answers: A's call 2 goes out and its bytes are free again; B's next call may wait.
    callee.send([70, first[1], {}, []]);
    assert.equal((await answer(a, 1))[0], 50);
    const i2 = await callee.next(68);
    b.send([48, 3, {}, p, payload]);
    await sync(b);
    waiting(b, 1, 3);
    // Every waiting call gets its turn.
    callee.send([70, i2[1], {}, []]);
    assert.equal((await answer(a, 2))[0], 50);
    for (const [peer, id] of [[a, 3], [b, 1], [b, 3]] as const) {
      const inv = await callee.next(68);
      callee.send([70, inv[1], {}, []]);
      assert.equal((await answer(peer, id))[0], 50);
    }
    const after = await scrape(r.http);
    assert.deepEqual([after.get('crosswire_call_queue_calls', { realm: 'realm3' }), after.get('crosswire_call_queue_bytes', { realm: 'realm3' })], [0, 0]);
  });
});

for (const ser of SERIALIZERS) {
  describe(`call queues with AutobahnJS (${ser})`, () => {
    let callee: Client;
    let caller: Client;
    before(async () => {
      [callee, caller] = await Promise.all([connect(r.url, ser), connect(r.url, ser)]);
    });
    after(() => Promise.all([callee.close(), caller.close()]));

    test('calls behind a slow callee with concurrency 1 wait their turn and all succeed, in order', async () => {
      const p = `com.q.big.${ser}${++seq}`;
      const N = 12;
      const started = new Inbox<number>();
      const release: ((v: unknown) => void)[] = [];
      let inFlight = 0;
      let most = 0;
      await callee.session.register(
        p,
        (args: unknown[] | undefined) => {
          const n = args?.[0] as number;
          inFlight++;
          most = Math.max(most, inFlight);
          const d = deferred<unknown>();
          release[n] = d.resolve;
          started.push(n);
          return d.promise.then((v) => {
            inFlight--;
            return v;
          });
        },
        { concurrency: 1 } as never,
      );
      const results = Array.from({ length: N }, (_, n) => caller.session.call(p, [n]));
      await started.waitFor(1);
      // Every CALL has been taken once the caller's later call is answered: only the first runs.
      await within(caller.session.call('wamp.session.count'), 5000, 'a round trip');
      assert.deepEqual(started.items, [0]);
      for (let n = 0; n < N; n++) {
        await started.waitFor(n + 1);
        release[n]!(`done ${n}`);
      }
      assert.deepEqual(await within(Promise.all(results), 10000, 'every call'), Array.from({ length: N }, (_, n) => `done ${n}`));
      assert.deepEqual(started.items, Array.from({ length: N }, (_, n) => n), 'the callee got the calls in order');
      assert.equal(most, 1, 'never more than one call in flight');
    });
  });
}

describe('call queues and the graceful drain', () => {
  /** A router with a call queue, a callee (concurrency 1) answering when the test says, and two callers: A's call runs, B's waits. */
  async function setup(drainMs: number) {
    const s = await startRouter({ realms: [{ name: 'realm1', roles: [ANONYMOUS_ALL], store: STORE }], crosswire: { shutdown_timeout: drainMs } });
    const callee = await connect(s.url, 'json');
    const started = new Inbox<string>();
    const release = new Map<string, (v: unknown) => void>();
    await callee.session.register(
      'com.q.drain',
      (args: unknown[] | undefined) => {
        const d = deferred<unknown>();
        release.set(String(args?.[0]), d.resolve);
        started.push(String(args?.[0]));
        return d.promise;
      },
      { concurrency: 1 } as never,
    );
    const [a, b] = await Promise.all([connect(s.url, 'json'), connect(s.url, 'msgpack')]);
    const outcome = (p: Promise<unknown>) => p.then((v) => `result:${String(v)}`, (e: { error?: string }) => e.error ?? 'error');
    const callA = outcome(a.session.call('com.q.drain', ['a']));
    await started.waitFor(1);
    const callB = outcome(b.session.call('com.q.drain', ['b']));
    await within(b.session.call('wamp.session.count'), 5000, "B's round trip: its call waits");
    assert.deepEqual(started.items, ['a']);
    return { s, callee, a, b, started, release, callA, callB };
  }

  test('a waiting call keeps its caller through the drain and goes when the room comes back; then everyone gets GOODBYE', async () => {
    const { s, callee, a, b, started, release, callA, callB } = await setup(8000);
    const stopping = s.router.shutdown(8000);
    // B is busy (its call waits): not told to leave yet. A's answer sends B's call.
    release.get('a')!('A');
    assert.equal(await within(callA, 5000, "A's call"), 'result:A');
    await started.waitFor(2);
    assert.equal(b.connection.isOpen, true, 'B is still there');
    release.get('b')!('B');
    assert.equal(await within(callB, 5000, "B's call"), 'result:B');
    const closed = await within(Promise.all([a.closed, b.closed, callee.closed]), 5000, 'every session to get GOODBYE');
    for (const c of closed) assert.equal(c.details.reason, 'wamp.close.system_shutdown');
    await within(stopping, 5000, 'shutdown to finish');
  });

  test('at the drain timeout a waiting call gets wamp.error.canceled, and is not sent to the callee when the running call is canceled', async () => {
    const { s, callee, a, b, started, callA, callB } = await setup(300);
    const at = Date.now();
    const stopping = s.router.shutdown(300);
    assert.equal(await within(callB, 5000, "B's waiting call"), 'wamp.error.canceled');
    assert.ok(Date.now() - at >= 250, 'B waited for the drain timeout, not told to leave at once');
    assert.equal(await within(callA, 5000, "A's running call"), 'wamp.error.canceled');
    await within(Promise.all([a.closed, b.closed, callee.closed]), 5000, 'every session to close');
    await within(stopping, 5000, 'shutdown to finish');
    assert.deepEqual(started.items, ['a'], "B's call never reached the callee");
  });
});
