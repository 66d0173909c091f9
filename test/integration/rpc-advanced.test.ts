import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InvocationDetails } from 'autobahn';
import { type Client, connect, SERIALIZERS } from '../helpers/client.js';
import { RawPeer } from '../helpers/raw.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { deferred, within } from '../helpers/wait.js';

let r: TestRouter;
before(async () => {
  r = await startRouter();
});
after(() => r.stop());

let seq = 0;
const uri = (stem = 'p') => `com.example.adv.${stem}${++seq}`;
const wampError = (expected: string) => (e: unknown) => {
  assert.equal((e as { error: string }).error, expected);
  return true;
};

/** A raw peer announcing the given features for every client role. */
async function rawPeer(ser: 'json' | 'msgpack', features: string[]): Promise<RawPeer> {
  const p = await RawPeer.open(r.url, ser);
  const f = Object.fromEntries(features.map((x) => [x, true]));
  await p.join('realm1', { roles: { caller: { features: f }, callee: { features: f }, publisher: {}, subscriber: {} } });
  return p;
}

for (const ser of SERIALIZERS) {
  describe(`pattern-based registrations (${ser})`, () => {
    let a: Client;
    let b: Client;
    before(async () => {
      [a, b] = await Promise.all([connect(r.url, ser), connect(r.url, ser)]);
    });
    after(() => Promise.all([a.close(), b.close()]));

    test('exact beats prefix beats wildcard; details.procedure carries the called URI', async () => {
      const base = uri('pat');
      const hit = (name: string) => (_a: unknown[], _k: unknown, d: InvocationDetails) => [name, d.procedure ?? null];
      await a.session.register(`${base}.x.y`, hit('exact'));
      await a.session.register(`${base}.x`, hit('prefix-long'), { match: 'prefix' });
      await a.session.register(`${base}`, hit('prefix-short'), { match: 'prefix' });
      await a.session.register(`${base}..y`, hit('wildcard'), { match: 'wildcard' });
      await a.session.register(`other.${seq}..z`, hit('wild-a'), { match: 'wildcard' });
      await a.session.register(`other.${seq}.q.`, hit('wild-b'), { match: 'wildcard' });
      // (AutobahnJS fills details.procedure from the registration when the router sends none.)
      assert.deepEqual(await b.session.call(`${base}.x.y`), ['exact', `${base}.x.y`]);
      assert.deepEqual(await b.session.call(`${base}.x.z`), ['prefix-long', `${base}.x.z`]);
      assert.deepEqual(await b.session.call(`${base}.xyz`), ['prefix-long', `${base}.xyz`]); // string prefix
      assert.deepEqual(await b.session.call(`${base}.w.y`), ['prefix-short', `${base}.w.y`]);
      // wildcards: the longest literal run before the first wildcard wins
      assert.deepEqual(await b.session.call(`other.${seq}.q.z`), ['wild-b', `other.${seq}.q.z`]);
      assert.deepEqual(await b.session.call(`other.${seq}.r.z`), ['wild-a', `other.${seq}.r.z`]);
      await assert.rejects(b.session.call(`other.${seq}.r.y`), wampError('wamp.error.no_such_procedure'));
    });

    test('the same URI may be registered once per match policy; invalid patterns are refused', async () => {
      const p = uri('pol');
      await a.session.register(p, () => 'exact');
      await a.session.register(p, () => 'prefix', { match: 'prefix' });
      await assert.rejects(b.session.register(p, () => 0, { match: 'prefix' }), wampError('wamp.error.procedure_already_exists'));
      await assert.rejects(b.session.register('com.Bad..x', () => 0, { match: 'wildcard' }), wampError('wamp.error.invalid_uri'));
      await assert.rejects(b.session.register('wamp.', () => 0, { match: 'prefix' }), wampError('wamp.error.invalid_uri'));
      assert.equal(await b.session.call(p), 'exact');
      assert.equal(await b.session.call(`${p}.more`), 'prefix');
    });
  });

  describe(`shared registrations (${ser})`, () => {
    test('roundrobin cycles through callees in registration order; a callee that leaves drops out', async () => {
      const p = uri('rr');
      const callees = await Promise.all([0, 1, 2].map(() => connect(r.url, ser)));
      const caller = await connect(r.url, ser);
      try {
        for (const [i, c] of callees.entries()) await c.session.register(p, () => i, { invoke: 'roundrobin' });
        const got: unknown[] = [];
        for (let i = 0; i < 6; i++) got.push(await caller.session.call(p));
        assert.deepEqual(got, [0, 1, 2, 0, 1, 2]);
        await callees[1]!.close();
        const after2: unknown[] = [];
        for (let i = 0; i < 4; i++) after2.push(await caller.session.call(p));
        assert.deepEqual(new Set(after2), new Set([0, 2]));
      } finally {
        await Promise.all([...callees.map((c) => c.close()), caller.close()]);
      }
    });

    test('first and last are hot standby; random reaches every callee; policies must agree', async () => {
      const callees = await Promise.all([0, 1, 2].map(() => connect(r.url, ser)));
      const caller = await connect(r.url, ser);
      try {
        const pf = uri('first');
        const pl = uri('last');
        const pr = uri('random');
        for (const [i, c] of callees.entries()) {
          await c.session.register(pf, () => i, { invoke: 'first' });
          await c.session.register(pl, () => i, { invoke: 'last' });
          await c.session.register(pr, () => i, { invoke: 'random' });
        }
        for (let i = 0; i < 3; i++) {
          assert.equal(await caller.session.call(pf), 0);
          assert.equal(await caller.session.call(pl), 2);
        }
        const seen = new Set<unknown>();
        for (let i = 0; i < 200 && seen.size < 3; i++) seen.add(await caller.session.call(pr));
        assert.equal(seen.size, 3, 'random reaches all three callees within 200 calls');
        await assert.rejects(
          caller.session.register(pf, () => 9, { invoke: 'roundrobin' }),
          wampError('wamp.error.procedure_exists_with_different_invocation_policy'),
        );
        await assert.rejects(caller.session.register(pf, () => 9), wampError('wamp.error.procedure_already_exists'));
      } finally {
        await Promise.all([...callees.map((c) => c.close()), caller.close()]);
      }
    });
  });

  describe(`progressive call results (${ser})`, () => {
    test('each progressive YIELD reaches the caller as RESULT {progress: true}, then the final one', async () => {
      const callee = await connect(r.url, ser);
      const caller = await rawPeer(ser, ['progressive_call_results']);
      try {
        const p = uri('prog');
        await callee.session.register(p, async (_args, _k, details) => {
          const progress = (details as unknown as { progress?: (a: unknown[]) => void }).progress;
          if (!progress) return 'not offered progress';
          for (let i = 0; i < 3; i++) progress([i]);
          return 'done';
        });
        caller.send([48, 1, { receive_progress: true }, p, ['go']]);
        const results: unknown[][] = [];
        for (let i = 0; i < 4; i++) results.push(await caller.next(50));
        assert.deepEqual(results, [
          [50, 1, { progress: true }, [0]],
          [50, 1, { progress: true }, [1]],
          [50, 1, { progress: true }, [2]],
          [50, 1, {}, ['done']],
        ]);
        // Without receive_progress the callee is not offered progress and only the final result comes.
        caller.send([48, 2, {}, p, ['go']]);
        assert.deepEqual(await caller.next(50), [50, 2, {}, ['not offered progress']]);
      } finally {
        caller.close();
        await callee.close();
      }
    });
  });
}

describe('progressive call invocations (raw frames)', () => {
  test('CALLs with one request id stream INVOCATIONs with one invocation id to the same callee', async () => {
    const features = ['progressive_call_invocations', 'call_canceling', 'progressive_call_results'];
    const callee = await rawPeer('msgpack', features);
    const other = await rawPeer('json', features);
    const caller = await rawPeer('json', features);
    try {
      const p = uri('stream');
      callee.send([64, 1, { invoke: 'roundrobin' }, p]);
      await callee.next(65);
      other.send([64, 1, { invoke: 'roundrobin' }, p]);
      await other.next(65);
      caller.send([48, 7, { progress: true }, p, ['chunk-1']]);
      const first = await callee.next(68);
      assert.deepEqual(first.slice(3), [{ progress: true }, ['chunk-1']]);
      caller.send([48, 7, { progress: true }, p, ['chunk-2']]);
      caller.send([48, 7, {}, p, ['last']]);
      const second = await callee.next(68);
      const third = await callee.next(68);
      assert.deepEqual([second[1], second[3], second[4]], [first[1], { progress: true }, ['chunk-2']]);
      assert.deepEqual([third[1], third[3], third[4]], [first[1], {}, ['last']]);
      callee.send([70, first[1], {}, ['got 3']]);
      assert.deepEqual(await caller.next(50), [50, 7, {}, ['got 3']]);
      assert.equal(other.received.filter((m) => m[0] === 68).length, 0, 'the other callee got none of the stream');
    } finally {
      for (const x of [callee, other, caller]) x.close();
    }
  });

  test('progress without announcing the feature is a protocol violation; a callee without it gets feature_not_supported', async () => {
    const callee = await rawPeer('json', []);
    const caller = await rawPeer('json', ['progressive_call_invocations']);
    const rude = await rawPeer('json', []);
    try {
      const p = uri('nofeat');
      callee.send([64, 1, {}, p]);
      await callee.next(65);
      caller.send([48, 1, { progress: true }, p, []]);
      const err = await caller.next(8);
      assert.deepEqual([err[0], err[1], err[2], err[4]], [8, 48, 1, 'wamp.error.feature_not_supported']);
      rude.send([48, 1, { progress: true }, p, []]);
      const abort = await rude.next(3);
      assert.equal(abort[2], 'wamp.error.protocol_violation');
    } finally {
      for (const x of [callee, caller, rude]) x.close();
    }
  });
});

describe('call timeout (milliseconds)', () => {
  for (const calleeFeatures of [['call_canceling'], []]) {
    test(`the caller gets wamp.error.timeout; the callee ${calleeFeatures.length ? 'gets INTERRUPT killnowait' : 'gets no INTERRUPT'}; a late YIELD is dropped`, async () => {
      const callee = await rawPeer('msgpack', calleeFeatures);
      const caller = await connect(r.url, 'json');
      try {
        const p = uri('timeout');
        callee.send([64, 1, {}, p]);
        await callee.next(65);
        const started = Date.now();
        const call = caller.session.call(p, [], {}, { timeout: 300 });
        const inv = await callee.next(68);
        await assert.rejects(within(call, 5000, 'the timeout'), wampError('wamp.error.timeout'));
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 290 && elapsed < 3000, `timed out after ${elapsed} ms (timeout is in ms, not s)`);
        if (calleeFeatures.length) {
          assert.deepEqual(await callee.next(69), [69, inv[1], { mode: 'killnowait', reason: 'wamp.error.timeout' }]);
        }
        callee.send([70, inv[1], {}, ['too late']]); // dropped, not a protocol violation
        callee.send([64, 2, {}, uri('alive')]);
        assert.equal((await callee.next(65))[1], 2);
        if (!calleeFeatures.length) assert.equal(callee.received.filter((m) => m[0] === 69).length, 0);
      } finally {
        callee.close();
        await caller.close();
      }
    });
  }

  // Node's timers hold 2^31−1 ms at most; a longer delay given to one fires after 1 ms.
  for (const ser of ['json', 'msgpack'] as const) {
    test(`timeouts of 2^31−1 ms and beyond (2^31, 30 days, 2^53−1) do not expire early (${ser})`, async () => {
      const callee = await rawPeer('json', ['call_canceling']);
      const caller = await rawPeer(ser, []);
      try {
        const p = uri('long');
        const never = uri('never');
        callee.send([64, 1, {}, p]);
        callee.send([64, 2, {}, never]);
        await callee.next(65);
        await callee.next(65);
        const timeouts = [2 ** 31 - 1, 2 ** 31, 30 * 24 * 3600 * 1000, Number.MAX_SAFE_INTEGER];
        for (const [i, timeout] of timeouts.entries()) caller.send([48, 10 + i, { timeout }, p, [i]]);
        const invocations: unknown[][] = [];
        for (const _ of timeouts) invocations.push(await callee.next(68));
        // A reference call with a 200 ms timeout: timers expire in order, so once it has timed out an
        // early expiry of the long ones would have happened too.
        caller.send([48, 99, { timeout: 200 }, never, []]);
        const refInv = await callee.next(68);
        const ref = await caller.next(8);
        assert.deepEqual([ref[2], ref[4]], [99, 'wamp.error.timeout'], 'the first call to time out is the reference call');
        // (INTERRUPTs travel in order on the callee's connection: one for a long call would come first.)
        assert.deepEqual(await callee.next(69), [69, refInv[1], { mode: 'killnowait', reason: 'wamp.error.timeout' }]);
        // Still pending: each is answered normally.
        for (const inv of invocations) callee.send([70, inv[1], {}, inv[4] as unknown[]]);
        const results = [];
        for (const _ of timeouts) results.push(await caller.next(50));
        results.sort((a, b) => (a[1] as number) - (b[1] as number));
        assert.deepEqual(results.map((m) => [m[1], m[3]]), timeouts.map((_, i) => [10 + i, [i]]));
      } finally {
        callee.close();
        caller.close();
      }
    });
  }

  test('forward_timeout hands the timeout to a callee that supports call_timeout', async () => {
    const callee = await rawPeer('json', ['call_timeout', 'call_canceling']);
    const caller = await rawPeer('json', []);
    try {
      const p = uri('fwd');
      callee.send([64, 1, { forward_timeout: true }, p]);
      await callee.next(65);
      caller.send([48, 1, { timeout: 1234 }, p, []]);
      const inv = await callee.next(68);
      assert.equal((inv[3] as { timeout?: number }).timeout, 1234);
      callee.send([70, inv[1], {}, ['ok']]);
      assert.deepEqual(await caller.next(50), [50, 1, {}, ['ok']]);
    } finally {
      callee.close();
      caller.close();
    }
  });
});

describe('call canceling (raw frames)', () => {
  async function setup(calleeFeatures: string[]) {
    const callee = await rawPeer('json', calleeFeatures);
    const caller = await rawPeer('msgpack', ['call_canceling']);
    const p = uri('cancel');
    callee.send([64, 1, {}, p]);
    await callee.next(65);
    caller.send([48, 5, {}, p, ['work']]);
    const inv = await callee.next(68);
    const close = () => {
      callee.close();
      caller.close();
    };
    return { callee, caller, inv, close };
  }

  test('skip: the caller gets ERROR canceled at once, no INTERRUPT, the late result is dropped', async () => {
    const { callee, caller, inv, close } = await setup(['call_canceling']);
    try {
      caller.send([49, 5, { mode: 'skip' }]);
      const err = await caller.next(8);
      assert.deepEqual([err[1], err[2], err[4]], [48, 5, 'wamp.error.canceled']);
      callee.send([70, inv[1], {}, ['late']]);
      caller.send([48, 6, {}, 'wamp.session.count', []]); // marker: answered after the late YIELD was handled
      assert.equal((await caller.next(50))[1], 6);
      assert.equal(caller.received.filter((m) => m[0] === 50).length, 0);
      assert.equal(callee.received.filter((m) => m[0] === 69).length, 0);
    } finally {
      close();
    }
  });

  test('killnowait: ERROR canceled at once and INTERRUPT {mode: killnowait}', async () => {
    const { callee, caller, inv, close } = await setup(['call_canceling']);
    try {
      caller.send([49, 5, { mode: 'killnowait' }]);
      const err = await caller.next(8);
      assert.equal(err[4], 'wamp.error.canceled');
      assert.deepEqual(await callee.next(69), [69, inv[1], { mode: 'killnowait', reason: 'wamp.error.canceled' }]);
    } finally {
      close();
    }
  });

  test("kill: INTERRUPT {mode: kill}; the caller gets the callee's answer", async () => {
    const { callee, caller, inv, close } = await setup(['call_canceling']);
    try {
      caller.send([49, 5, { mode: 'kill' }]);
      assert.deepEqual(await callee.next(69), [69, inv[1], { mode: 'kill', reason: 'wamp.error.canceled' }]);
      assert.equal(caller.received.filter((m) => m[0] === 8).length, 0, 'no error before the callee answers');
      callee.send([8, 68, inv[1], {}, 'wamp.error.canceled', ['stopped at 40%']]);
      const err = await caller.next(8);
      assert.deepEqual(err, [8, 48, 5, {}, 'wamp.error.canceled', ['stopped at 40%']]);
    } finally {
      close();
    }
  });

  test('a callee without call_canceling: every mode behaves as skip', async () => {
    const { callee, caller, close } = await setup([]);
    try {
      caller.send([49, 5, { mode: 'kill' }]);
      assert.equal((await caller.next(8))[4], 'wamp.error.canceled');
      caller.send([48, 6, {}, 'wamp.session.count', []]);
      await caller.next(50);
      assert.equal(callee.received.filter((m) => m[0] === 69).length, 0);
    } finally {
      close();
    }
  });

  // AutobahnJS 22 rejects a skip or killnowait cancel (and a cancel() without a mode) at once and
  // forgets the request, so the router's ERROR canceled (WAMP spec, "Call Canceling") makes it close
  // its own WebSocket with 3002 "CALL-ERROR received for non-pending request ID"
  // (lib/session.js, _process_CALL_ERROR). Only mode kill waits for the router's answer.
  test('AutobahnJS cancel({mode: kill}) reaches the callee, rejects the call with its answer, the session carries on', async () => {
    const callee = await rawPeer('msgpack', ['call_canceling']);
    const caller = await connect(r.url, 'json');
    try {
      const p = uri('abcancel');
      callee.send([64, 1, {}, p]);
      await callee.next(65);
      const call = caller.session.call(p) as Promise<unknown> & { cancel(o?: unknown): void };
      const rejected = assert.rejects(within(call, 5000, 'the rejection'), (e: { error?: string; args?: unknown[] }) => {
        assert.equal(e.error, 'wamp.error.canceled');
        assert.deepEqual(e.args, ['stopped']);
        return true;
      });
      const inv = await callee.next(68);
      call.cancel({ mode: 'kill' });
      assert.deepEqual(await callee.next(69), [69, inv[1], { mode: 'kill', reason: 'wamp.error.canceled' }]);
      callee.send([8, 68, inv[1], {}, 'wamp.error.canceled', ['stopped']]);
      await rejected;
      assert.equal(typeof (await caller.session.call('wamp.session.count')), 'number', 'the caller session still works');
    } finally {
      callee.close();
      await caller.close(); // fails if AutobahnJS reported an internal error
    }
  });

  test('a caller that leaves interrupts a callee that supports canceling', async () => {
    const { callee, caller, inv, close } = await setup(['call_canceling']);
    try {
      caller.close();
      assert.deepEqual(await callee.next(69), [69, inv[1], { mode: 'killnowait', reason: 'wamp.error.canceled' }]);
    } finally {
      close();
    }
  });
});

describe('payload passthru mode (raw frames)', () => {
  test('ppt_* options travel to INVOCATION and RESULT details with the payload untouched', async () => {
    const callee = await rawPeer('msgpack', ['payload_passthru_mode']);
    const caller = await rawPeer('msgpack', ['payload_passthru_mode']);
    const plain = await rawPeer('msgpack', []);
    try {
      const p = uri('ppt');
      callee.send([64, 1, {}, p]);
      await callee.next(65);
      const blob = new Uint8Array([1, 2, 3, 250]);
      const ppt = { ppt_scheme: 'x_custom', ppt_serializer: 'cbor', ppt_cipher: 'xsalsa20poly1305', ppt_keyid: 'k1' };
      caller.send([48, 1, ppt, p, [blob]]);
      const inv = await callee.next(68);
      assert.deepEqual(inv[3], ppt);
      assert.deepEqual(Buffer.from((inv[4] as Uint8Array[])[0]!), Buffer.from(blob));
      callee.send([70, inv[1], { ppt_scheme: 'x_custom', ppt_serializer: 'cbor' }, [blob]]);
      const res = await caller.next(50);
      assert.deepEqual(res[2], { ppt_scheme: 'x_custom', ppt_serializer: 'cbor' });
      // A callee without the feature cannot receive it; a caller without it may not send it.
      const q = uri('pptplain');
      plain.send([64, 1, {}, q]);
      await plain.next(65);
      caller.send([48, 2, ppt, q, [blob]]);
      assert.equal((await caller.next(8))[4], 'wamp.error.feature_not_supported');
      plain.send([48, 2, ppt, p, [blob]]);
      assert.equal((await plain.next(3))[2], 'wamp.error.protocol_violation');
    } finally {
      for (const x of [callee, caller, plain]) x.close();
    }
  });
});

test('INVOCATION request ids are sequential per callee session', async () => {
  const callee = await rawPeer('json', []);
  const caller = await connect(r.url, 'msgpack');
  try {
    const p = uri('ids');
    callee.send([64, 1, {}, p]);
    await callee.next(65);
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const call = caller.session.call(p, [i]);
      const inv = await callee.next(68);
      ids.push(inv[1] as number);
      callee.send([70, inv[1], {}, [i]]);
      assert.equal(await call, i);
    }
    assert.deepEqual(ids, [ids[0], ids[0]! + 1, ids[0]! + 2]);
  } finally {
    callee.close();
    await caller.close();
  }
});

test('deferred: a callee answering out of order keeps each result with its call', async () => {
  const callee = await rawPeer('json', []);
  const caller = await connect(r.url, 'json');
  try {
    const p = uri('order');
    callee.send([64, 1, {}, p]);
    await callee.next(65);
    const c1 = caller.session.call(p, ['a']);
    const i1 = await callee.next(68);
    const c2 = caller.session.call(p, ['b']);
    const i2 = await callee.next(68);
    callee.send([70, i2[1], {}, ['B']]);
    callee.send([70, i1[1], {}, ['A']]);
    assert.deepEqual(await within(Promise.all([c1, c2]), 5000, 'both results'), ['A', 'B']);
    void deferred;
  } finally {
    callee.close();
    await caller.close();
  }
});

test("Crossbar's force_reregister: the new callee takes the procedure over, the old one is told", async () => {
  const old = await rawPeer('json', ['registration_revocation']);
  const fresh = await rawPeer('msgpack', []);
  const caller = await connect(r.url, 'json');
  try {
    const p = uri('force');
    old.send([64, 1, {}, p]);
    const reg = await old.next(65);
    fresh.send([64, 1, { force_reregister: true }, p]);
    assert.equal((await fresh.next(65))[0], 65);
    assert.deepEqual(await old.next(67), [67, 0, { registration: reg[2], reason: 'wamp.error.force_reregister' }]);
    const call = caller.session.call(p, ['x']);
    const inv = await fresh.next(68);
    fresh.send([70, inv[1], {}, ['fresh']]);
    assert.equal(await call, 'fresh');
  } finally {
    old.close();
    fresh.close();
    await caller.close();
  }
});
