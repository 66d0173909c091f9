import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import autobahn from 'autobahn';
import { Op } from '../../src/shared/ipc/protocol.js';
import { connect } from '../helpers/client.js';
import { captureLog } from '../helpers/log.js';
import { scrape } from '../helpers/metrics.js';
import { RawPeer } from '../helpers/raw.js';
import { ANONYMOUS_ALL, startRouter, type TestRouter } from '../helpers/router.js';
import { deferred, within } from '../helpers/wait.js';

/** realm1 in worker 0, realm2 in worker 1. */
function twoWorkers(extra: Record<string, unknown> = {}) {
  const capture = captureLog();
  return startRouter({
    realms: [
      { name: 'realm1', roles: [ANONYMOUS_ALL] },
      { name: 'realm2', roles: [ANONYMOUS_ALL] },
    ],
    crosswire: { realm_threads: 2, ...extra },
    options: { debugHooks: true },
    log: capture.log,
  }).then((r) => ({ r, lines: capture.lines }));
}

function online(r: TestRouter, index: number): Promise<void> {
  return within(r.router.workers[index]!.whenOnline, 10000, `worker ${index} to be online again`);
}

const callError = (p: Promise<unknown>) => p.then((v) => `result:${String(v)}`, (e: { error?: string }) => e.error ?? 'error');

describe('realm worker recovery', () => {
  test('an uncaught exception in a worker: pending call canceled, its sessions closed 1011 with the cause, other realms unaffected, new sessions join', async () => {
    const { r, lines } = await twoWorkers();
    try {
      // realm1 (worker 0): a callee that never answers, a caller waiting on it, and a raw session.
      const callee = await connect(r.url, 'json', 'realm1');
      const invoked = deferred();
      await callee.session.register('com.example.hang', () => {
        invoked.resolve();
        return new Promise(() => {});
      });
      const caller = await connect(r.url, 'msgpack', 'realm1');
      const pending = callError(caller.session.call('com.example.hang'));
      await within(invoked.promise, 5000, 'the invocation');
      const raw = await RawPeer.open(r.url, 'json');
      await raw.join('realm1');
      // realm2 (worker 1): a pair that must not notice anything.
      const other = await connect(r.url, 'json', 'realm2');
      await other.session.register('com.example.echo', (args) => args[0]);

      r.router.debugFailWorker(0, 'throw');

      assert.equal(await within(pending, 5000, 'the pending call to be answered'), 'wamp.error.canceled');
      const closed = await within(raw.closed, 5000, 'the realm1 session to be closed');
      assert.equal(closed.code, 1011);
      assert.equal(closed.reason, 'realm worker failed (uncaught_exception); reconnect');
      await within(Promise.all([callee.closed, caller.closed]), 5000, 'the other realm1 sessions to be closed');
      // The other realm's worker carries on.
      assert.equal(await other.session.call('com.example.echo', ['still here']), 'still here');
      // A new session joins realm1 on the restarted worker, and routing works there.
      await online(r, 0);
      const again = await connect(r.url, 'msgpack', 'realm1');
      await again.session.register('com.example.add', (args) => (args[0] as number) + (args[1] as number));
      const c2 = await connect(r.url, 'json', 'realm1');
      assert.equal(await c2.session.call('com.example.add', [2, 3]), 5);

      const failure = lines.find((l) => l.msg === 'realm worker failed; its sessions were closed and it is being restarted');
      assert.ok(failure, 'the failure is logged');
      assert.equal(failure.cause, 'uncaught_exception');
      assert.equal(failure.worker, 0);
      assert.deepEqual(failure.realms, ['realm1']);
      assert.equal(failure.sessions, 3);
      assert.equal(failure.canceledCalls, 1);
      assert.match(String((failure.err as { message?: string }).message), /DEBUG_FAIL: deliberate uncaught exception/);

      const m = await scrape(r.http);
      assert.equal(m.get('crosswire_worker_restarts_total', { worker: '0', cause: 'uncaught_exception' }), 1);
      assert.equal(m.get('crosswire_worker_restarts_total', { worker: '1', cause: 'uncaught_exception' }), 0);
      assert.equal(m.get('crosswire_worker_up', { worker: '0' }), 1);
      assert.equal(m.get('crosswire_sessions', { realm: 'realm1' }), 2);
      assert.equal(m.get('crosswire_sessions', { realm: 'realm2' }), 1);
      assert.equal((await fetch(`${r.http}/ready`)).status, 200);
      await Promise.all([again.close(), c2.close(), other.close()]);
    } finally {
      await r.stop();
    }
  });

  test('an AutobahnJS client with retries reconnects by itself and rejoins the restarted worker', async () => {
    const { r } = await twoWorkers();
    try {
      const joins: number[] = [];
      const rejoined = deferred<void>();
      const conn = new autobahn.Connection({
        url: r.url,
        realm: 'realm1',
        max_retries: 3,
        initial_retry_delay: 0.05,
        retry_delay_jitter: 0,
        use_es6_promises: true,
      });
      const firstJoin = deferred<void>();
      conn.onopen = (session) => {
        joins.push(session.id);
        if (joins.length === 1) firstJoin.resolve();
        else rejoined.resolve();
      };
      conn.open();
      await within(firstJoin.promise, 5000, 'the first join');
      r.router.debugFailWorker(0, 'exit');
      await within(rejoined.promise, 10000, 'the automatic rejoin');
      assert.equal(joins.length, 2);
      assert.notEqual(joins[0], joins[1]);
      const m = await scrape(r.http);
      assert.equal(m.get('crosswire_worker_restarts_total', { worker: '0', cause: 'exit' }), 1);
      const closed = deferred<void>();
      conn.onclose = () => {
        closed.resolve();
        return true;
      };
      conn.close();
      await within(closed.promise, 5000, 'the close');
    } finally {
      await r.stop();
    }
  });

  test('a worker over its heap limit (worker_max_heap_mb) is restarted as resource_limits; repeated failures back off and still recover', async () => {
    const { r, lines } = await twoWorkers({ worker_max_heap_mb: 16 });
    try {
      for (const [round, mode] of (['oom', 'exit'] as const).entries()) {
        const p = await RawPeer.open(r.url, 'msgpack');
        await p.join('realm1');
        r.router.debugFailWorker(0, mode);
        const closed = await within(p.closed, 15000, `the session to be closed (${mode})`);
        assert.equal(closed.code, 1011);
        await online(r, 0);
        const again = await RawPeer.open(r.url, 'json');
        await again.join('realm1');
        again.close();
        const failures = lines.filter((l) => l.msg === 'realm worker failed; its sessions were closed and it is being restarted');
        assert.equal(failures.length, round + 1);
        // The first failure in a minute restarts at once, the next after 250 ms.
        assert.equal(failures[round]!.restartInMs, round === 0 ? 0 : 250);
      }
      const m = await scrape(r.http);
      assert.equal(m.get('crosswire_worker_restarts_total', { worker: '0', cause: 'resource_limits' }), 1);
      assert.equal(m.get('crosswire_worker_restarts_total', { worker: '0', cause: 'exit' }), 1);
      // V8's limit is the old generation (16 MB here) plus the young one: far below its default of gigabytes.
      const limit = m.get('crosswire_worker_heap_limit_bytes', { worker: '0' });
      assert.ok(limit > 16 * 2 ** 20 && limit < 256 * 2 ** 20, `heap limit ${limit}`);
    } finally {
      await r.stop();
    }
  });

  test('the debug hook cannot fire unless the router was started with debugHooks', async () => {
    const r = await startRouter();
    try {
      assert.throws(() => r.router.debugFailWorker(0, 'exit'), /debug hooks are not enabled/);
      // Even an op smuggled past the main thread's check is ignored by the worker: the HELLO
      // queued behind it on the same port is answered by the same, still running, worker.
      const before = r.router.workers[0]!;
      before.outbox.push2(Op.DEBUG_FAIL, 'exit');
      const p = await RawPeer.open(r.url, 'json');
      await p.join();
      p.close();
      assert.equal(r.router.workers[0], before);
      const m = await scrape(r.http);
      assert.equal(m.get('crosswire_worker_restarts_total', { worker: '0', cause: 'exit' }), 0);
      assert.equal(m.get('crosswire_worker_up', { worker: '0' }), 1);
    } finally {
      await r.stop();
    }
  });
});
