import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import autobahn, { type Error as WampErr, type Result } from 'autobahn';
import { type Client, connect, SERIALIZERS } from '../helpers/client.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { deferred, within } from '../helpers/wait.js';

// The embedded default's role, plus caller disclosure (`disclose`, Crossbar.io docs, "Authorization") on one prefix.
const ALLOW = { call: true, register: true, publish: true, subscribe: true };
let r: TestRouter;
before(async () => {
  r = await startRouter({
    realms: [
      {
        name: 'realm1',
        roles: [
          {
            name: 'anonymous',
            permissions: [
              { uri: '', match: 'prefix', allow: ALLOW },
              { uri: 'com.example.rpc.disclosed.', match: 'prefix', allow: ALLOW, disclose: { caller: true } },
            ],
          },
        ],
      },
    ],
  });
});
after(() => r.stop());

let seq = 0;
const proc = () => `com.example.rpc.p${++seq}`;

function wampError(uri: string) {
  return (e: unknown) => {
    assert.equal((e as { error: string }).error, uri);
    return true;
  };
}

for (const callerSer of SERIALIZERS) {
  for (const calleeSer of SERIALIZERS) {
    describe(`RPC: ${callerSer} caller, ${calleeSer} callee`, () => {
      let caller: Client;
      let callee: Client;
      before(async () => {
        [caller, callee] = await Promise.all([connect(r.url, callerSer), connect(r.url, calleeSer)]);
      });
      after(async () => {
        await Promise.all([caller.close(), callee.close()]);
      });

      test('call and result with args and kwargs', async () => {
        const p = proc();
        await callee.session.register(p, (args, kwargs) => new autobahn.Result([...args].reverse(), { got: kwargs }));
        const res = (await caller.session.call(p, [1, 'two', 2 ** 45], { k: [true, null] })) as Result;
        assert.deepEqual(res.args, [2 ** 45, 'two', 1]);
        assert.deepEqual(res.kwargs, { got: { k: [true, null] } });
      });

      test('a single return value and concurrent calls answered out of order', async () => {
        const p = proc();
        const gates = [deferred(), deferred(), deferred()];
        await callee.session.register(p, async (args) => {
          const i = args[0] as number;
          await gates[i]!.promise;
          return i * 10;
        });
        const calls = [0, 1, 2].map((i) => caller.session.call(p, [i]));
        gates[2]!.resolve();
        gates[0]!.resolve();
        gates[1]!.resolve();
        assert.deepEqual(await within(Promise.all(calls), 5000, 'three results'), [0, 10, 20]);
      });

      test('an application error from the callee reaches the caller with its payload', async () => {
        const p = proc();
        await callee.session.register(p, () => {
          throw new autobahn.Error('com.example.error.bad_input', ['detail', 7], { field: 'x' });
        });
        await assert.rejects(caller.session.call(p, []), (e: WampErr) => {
          assert.equal(e.error, 'com.example.error.bad_input');
          assert.deepEqual(e.args, ['detail', 7]);
          assert.deepEqual(e.kwargs, { field: 'x' });
          return true;
        });
      });

      test('no callee: wamp.error.no_such_procedure', async () => {
        await assert.rejects(caller.session.call(proc(), []), wampError('wamp.error.no_such_procedure'));
      });

      test('a second REGISTER of the same procedure: wamp.error.procedure_already_exists', async () => {
        const p = proc();
        await callee.session.register(p, () => 1);
        await assert.rejects(caller.session.register(p, () => 2), wampError('wamp.error.procedure_already_exists'));
        assert.equal(await caller.session.call(p), 1);
      });

      test('unregister: later calls get no_such_procedure, and the URI can be registered again', async () => {
        const p = proc();
        const reg = await callee.session.register(p, () => 'first');
        assert.equal(await caller.session.call(p), 'first');
        await callee.session.unregister(reg);
        await assert.rejects(caller.session.call(p), wampError('wamp.error.no_such_procedure'));
        await caller.session.register(p, () => 'second');
        assert.equal(await callee.session.call(p), 'second');
      });

      test("caller identification: the caller's role decides (disclose.caller), not disclose_me or disclose_caller", async () => {
        const p = proc();
        const disclosed = `com.example.rpc.disclosed.p${++seq}`;
        const who = (_a: unknown, _k: unknown, details: { caller?: number; caller_authrole?: string }) => [details.caller ?? null, details.caller_authrole ?? null];
        await callee.session.register(disclosed, who);
        await callee.session.register(p, who, { disclose_caller: true });
        assert.deepEqual(await caller.session.call(disclosed, []), [caller.session.id, 'anonymous']);
        assert.deepEqual(await caller.session.call(p, [], {}, { disclose_me: true }), [null, null]);
      });
    });
  }
}

describe('sessions leaving in the middle of a call', () => {
  for (const ser of SERIALIZERS) {
    test(`callee leaves with a call pending: the caller gets an ERROR (${ser})`, async () => {
      const [caller, callee] = await Promise.all([connect(r.url, ser), connect(r.url, ser)]);
      try {
        const p = proc();
        const invoked = deferred();
        await callee.session.register(p, () => {
          invoked.resolve();
          return new Promise(() => {}); // never answers
        });
        const call = caller.session.call(p, []);
        await within(invoked.promise, 5000, 'the invocation');
        const failed = assert.rejects(within(call, 5000, 'the call to fail'), wampError('wamp.error.canceled'));
        await callee.close();
        await failed;
        // The registration went with the callee.
        await assert.rejects(caller.session.call(p, []), wampError('wamp.error.no_such_procedure'));
      } finally {
        await caller.close();
      }
    });

    test(`caller leaves with a call pending: the late result is dropped and the callee carries on (${ser})`, async () => {
      const [caller, callee, other] = await Promise.all([connect(r.url, ser), connect(r.url, ser), connect(r.url, ser)]);
      try {
        const p = proc();
        const invoked = deferred();
        const release = deferred();
        let n = 0;
        await callee.session.register(p, async () => {
          n++;
          if (n === 1) {
            invoked.resolve();
            await release.promise;
            return 'late';
          }
          return 'fresh';
        });
        caller.session.call(p, []).catch(() => {}); // its connection goes away
        await within(invoked.promise, 5000, 'the invocation');
        await caller.close();
        release.resolve(); // the callee now YIELDs for a caller that is gone
        assert.equal(await other.session.call(p, []), 'fresh');
        assert.ok(callee.connection.isOpen, 'the callee keeps its session');
      } finally {
        await Promise.all([callee.close(), other.close()]);
      }
    });
  }
});
