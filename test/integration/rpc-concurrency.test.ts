// Crossbar.io's REGISTER.Options.concurrency (docs/wamp-features.md): at most that many invocations
// in flight to a callee. A call the policy can only send to callees without room is answered with
// ERROR crossbar.error.max_concurrency_reached; every way an invocation ends (YIELD, ERROR,
// timeout, CANCEL, the caller leaving) gives its room back; an invalid value is a protocol error,
// as Autobahn's message.Register has it.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Client, connect, SERIALIZERS } from '../helpers/client.js';
import { RawPeer } from '../helpers/raw.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { deferred, Inbox, within } from '../helpers/wait.js';

let r: TestRouter;
before(async () => {
  r = await startRouter();
});
after(() => r.stop());

const FULL = 'crossbar.error.max_concurrency_reached';
let seq = 0;
const uri = (stem = 'p') => `com.example.conc.${stem}${++seq}`;
const wampError = (expected: string) => (e: unknown) => {
  assert.equal((e as { error: string }).error, expected, JSON.stringify(e));
  return true;
};

const peers: RawPeer[] = [];
after(() => {
  for (const p of peers) p.close();
});

/** A raw peer announcing the given features for every client role. */
async function rawPeer(features: string[] = [], ser: 'json' | 'msgpack' = 'json'): Promise<RawPeer> {
  const p = await RawPeer.open(r.url, ser);
  peers.push(p);
  const f = Object.fromEntries(features.map((x) => [x, true]));
  await p.join('realm1', { roles: { caller: { features: f }, callee: { features: f } } });
  return p;
}

/** Registers `procedure` for `callee` with `options`; resolves with the REGISTERED. */
async function register(callee: RawPeer, request: number, procedure: string, options: Record<string, unknown>): Promise<unknown[]> {
  callee.send([64, request, options, procedure]);
  return callee.nextOf([65, 8]);
}

/** The caller's answer (RESULT or ERROR) to CALL `request`; answers to other calls stay in `received`. */
async function answer(caller: RawPeer, request: number, ms = 5000): Promise<unknown[]> {
  const mine = (m: unknown[]) => (m[0] === 50 && m[1] === request) || (m[0] === 8 && m[1] === 48 && m[2] === request);
  const deadline = Date.now() + ms;
  for (;;) {
    const i = caller.received.findIndex(mine);
    if (i >= 0) return caller.received.splice(i, 1)[0]!;
    // RawPeer's own listener (added first) has put the message in `received` when this one runs.
    await within(new Promise((resolve) => caller.ws.once('message', resolve)), Math.max(1, deadline - Date.now()), `the answer to CALL ${request}`);
  }
}

for (const ser of SERIALIZERS) {
  describe(`REGISTER.Options.concurrency with AutobahnJS (${ser})`, () => {
    let callee: Client;
    let caller: Client;
    before(async () => {
      [callee, caller] = await Promise.all([connect(r.url, ser), connect(r.url, ser)]);
    });
    after(() => Promise.all([callee.close(), caller.close()]));

    test('concurrency 1: a second call while the first is in flight is refused; the answer (result or error) gives the room back', async () => {
      const p = uri('ab');
      const started = new Inbox<string>();
      const release = new Map<string, (v: unknown) => void>();
      await callee.session.register(
        p,
        (args: unknown[] | undefined) => {
          const tag = String(args?.[0]);
          started.push(tag);
          const d = deferred<unknown>();
          release.set(tag, d.resolve);
          return tag === 'fail' ? d.promise.then(() => Promise.reject(new Error('failed on purpose'))) : d.promise;
        },
        { concurrency: 1 } as never,
      );
      const first = caller.session.call(p, ['one']);
      await started.waitFor(1);
      await assert.rejects(within(caller.session.call(p, ['two']), 5000, 'the refusal'), wampError(FULL));
      release.get('one')!('done one');
      assert.equal(await within(first, 5000, 'the first call'), 'done one');
      // An ERROR answer frees the room too.
      const failing = caller.session.call(p, ['fail']);
      await started.waitFor(2);
      await assert.rejects(within(caller.session.call(p, ['three']), 5000, 'the refusal'), wampError(FULL));
      release.get('fail')!(null);
      await assert.rejects(within(failing, 5000, 'the failing call'), (e: unknown) => (e as { error: string }).error !== FULL);
      const last = caller.session.call(p, ['four']);
      await started.waitFor(3);
      release.get('four')!('done four');
      assert.equal(await within(last, 5000, 'the last call'), 'done four');
      assert.deepEqual(started.items, ['one', 'fail', 'four'], 'no refused call reached the callee');
    });
  });
}

describe('REGISTER.Options.concurrency and the invocation policies (raw frames)', () => {
  test('roundrobin goes on to the next callee with room, and refuses only when none has room; a callee without concurrency always has room', async () => {
    const [a, b, caller] = [await rawPeer(), await rawPeer(), await rawPeer()];
    const p = uri('rr');
    assert.equal((await register(a, 1, p, { invoke: 'roundrobin', concurrency: 1 }))[0], 65);
    assert.equal((await register(b, 1, p, { invoke: 'roundrobin', concurrency: 2 }))[0], 65);
    for (let i = 1; i <= 3; i++) caller.send([48, i, {}, p, [i]]);
    const ia = await a.next(68);
    const ib = [await b.next(68), await b.next(68)];
    assert.deepEqual(
      [ia[4], ...ib.map((m) => m[4])].map((x) => (x as number[])[0]),
      [1, 2, 3],
    );
    caller.send([48, 4, {}, p, [4]]);
    const full = await answer(caller, 4);
    assert.deepEqual([full[0], full[1], full[2], full[4]], [8, 48, 4, FULL]);
    // a answers: the next call goes to a (the only callee with room), whatever the round-robin position.
    a.send([70, ia[1], {}, ['a1']]);
    assert.deepEqual(await answer(caller, 1), [50, 1, {}, ['a1']]);
    caller.send([48, 5, {}, p, [5]]);
    assert.deepEqual((await a.next(68))[4], [5]);
    // A third callee without concurrency takes every call that the others have no room for.
    const c = await rawPeer();
    assert.equal((await register(c, 1, p, { invoke: 'roundrobin' }))[0], 65);
    for (let i = 6; i <= 9; i++) caller.send([48, i, {}, p, [i]]);
    const ic: unknown[][] = [];
    for (let i = 6; i <= 9; i++) ic.push(await c.next(68));
    assert.deepEqual(ic.map((m) => (m[4] as number[])[0]).sort(), [6, 7, 8, 9]);
    assert.equal(a.received.filter((m) => m[0] === 68).length + b.received.filter((m) => m[0] === 68).length, 0);
    for (const m of ic) c.send([70, m[1], {}, []]);
    for (let i = 6; i <= 9; i++) assert.equal((await answer(caller, i))[0], 50);
  });

  test('first and last have one callee: the call is refused while it has no room, even when another callee has', async () => {
    for (const invoke of ['first', 'last'] as const) {
      const [x, y, caller] = [await rawPeer(), await rawPeer(), await rawPeer()];
      const p = uri(invoke);
      // first: x is the one (registered first); last: y is (registered last).
      assert.equal((await register(x, 1, p, { invoke, concurrency: 1 }))[0], 65);
      assert.equal((await register(y, 1, p, { invoke, concurrency: 1 }))[0], 65);
      const chosen = invoke === 'first' ? x : y;
      const other = invoke === 'first' ? y : x;
      caller.send([48, 1, {}, p, []]);
      const inv = await chosen.next(68);
      caller.send([48, 2, {}, p, []]);
      const e = await answer(caller, 2);
      assert.deepEqual([e[0], e[4]], [8, FULL], invoke);
      assert.equal(other.received.filter((m) => m[0] === 68).length, 0, `${invoke}: the other callee got nothing`);
      chosen.send([70, inv[1], {}, ['ok']]);
      assert.equal((await answer(caller, 1))[0], 50);
    }
  });

  test('single with concurrency 2 takes two calls; random picks among the callees with room', async () => {
    const [s, caller] = [await rawPeer(), await rawPeer()];
    const p = uri('single');
    assert.equal((await register(s, 1, p, { concurrency: 2 }))[0], 65);
    for (let i = 1; i <= 3; i++) caller.send([48, i, {}, p, []]);
    const invs = [await s.next(68), await s.next(68)];
    const e3 = await answer(caller, 3);
    assert.deepEqual([e3[0], e3[4]], [8, FULL]);
    for (const m of invs) s.send([70, m[1], {}, []]);
    assert.equal((await answer(caller, 1))[0], 50);
    assert.equal((await answer(caller, 2))[0], 50);

    const [a, b] = [await rawPeer(), await rawPeer()];
    const q = uri('random');
    assert.equal((await register(a, 1, q, { invoke: 'random', concurrency: 1 }))[0], 65);
    assert.equal((await register(b, 1, q, { invoke: 'random', concurrency: 1 }))[0], 65);
    // Whatever the first draw, the second call goes to the callee that still has room.
    caller.send([48, 10, {}, q, []]);
    caller.send([48, 11, {}, q, []]);
    const [ia, ib] = [await a.next(68), await b.next(68)];
    caller.send([48, 12, {}, q, []]);
    assert.deepEqual([(await answer(caller, 12))[4]], [FULL]);
    a.send([70, ia[1], {}, []]);
    b.send([70, ib[1], {}, []]);
    assert.equal((await answer(caller, 10))[0], 50);
    assert.equal((await answer(caller, 11))[0], 50);
  });

  test('a timeout, a CANCEL and the caller leaving give the room back', async () => {
    const callee = await rawPeer(['call_canceling']);
    const caller = await rawPeer(['call_canceling']);
    const p = uri('free');
    assert.equal((await register(callee, 1, p, { concurrency: 1 }))[0], 65);
    // Timeout (the dealer's): the caller gets wamp.error.timeout, the room is free again.
    caller.send([48, 1, { timeout: 200 }, p, []]);
    await callee.next(68);
    assert.equal((await answer(caller, 1))[4], 'wamp.error.timeout');
    await callee.next(69);
    // CANCEL killnowait.
    caller.send([48, 2, {}, p, []]);
    await callee.next(68);
    caller.send([49, 2, { mode: 'killnowait' }]);
    assert.equal((await answer(caller, 2))[4], 'wamp.error.canceled');
    await callee.next(69);
    // The caller leaving with its call in flight.
    const leaving = await RawPeer.open(r.url, 'json');
    peers.push(leaving);
    const welcome = await leaving.join();
    leaving.send([48, 1, {}, p, []]);
    await callee.next(68);
    leaving.close();
    // Once the router has ended the leaving session (wamp.session.get answers no_such_session), its room is free.
    for (let i = 0; ; i++) {
      assert.ok(i < 200, 'the router ends the session of a caller that closed');
      caller.send([48, 1000 + i, {}, 'wamp.session.get', [welcome[1]]]);
      const m = await answer(caller, 1000 + i);
      if (m[0] === 8) {
        assert.equal(m[4], 'wamp.error.no_such_session');
        break;
      }
    }
    caller.send([48, 3, {}, p, ['after']]);
    const inv = await callee.next(68);
    assert.deepEqual(inv[4], ['after']);
    callee.send([70, inv[1], {}, ['back']]);
    assert.deepEqual(await answer(caller, 3), [50, 3, {}, ['back']]);
  });

  test('an invalid concurrency is a protocol error (ABORT), as Autobahn refuses it; the other sessions carry on', async () => {
    const bystander = await rawPeer();
    const bp = uri('bystander');
    assert.equal((await register(bystander, 1, bp, {}))[0], 65);
    for (const bad of [0, -1, 1.5, '2', true, null, 2 ** 53]) {
      const p = await rawPeer();
      p.send([64, 1, { concurrency: bad }, uri('bad')]);
      const abort = await p.next(3);
      assert.equal(abort[2], 'wamp.error.protocol_violation', JSON.stringify(bad));
      assert.match(String((abort[1] as { message: string }).message), /REGISTER\.Options\.concurrency/);
    }
    bystander.send([48, 2, {}, bp, ['still here']]);
    const inv = await bystander.next(68);
    bystander.send([70, inv[1], {}, ['yes']]);
    assert.deepEqual(await answer(bystander, 2), [50, 2, {}, ['yes']]);
  });
});
