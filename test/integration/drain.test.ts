import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import { type Client, connect } from '../helpers/client.js';
import { parseMetrics } from '../helpers/metrics.js';
import { spawnRouter } from '../helpers/process.js';
import { startRouter } from '../helpers/router.js';
import { deferred, within } from '../helpers/wait.js';

/** A callee whose one procedure answers only when the test says so. */
async function slowCallee(url: string) {
  const callee = await connect(url, 'json');
  const invoked = deferred();
  const release = deferred<string>();
  await callee.session.register('com.example.slow', () => {
    invoked.resolve();
    return release.promise;
  });
  return { callee, invoked: invoked.promise, release: release.resolve };
}

const callError = (p: Promise<unknown>) => p.then((v) => `result:${String(v)}`, (e: { error?: string }) => e.error ?? 'error');

/** The HTTP status of a WebSocket upgrade the router refuses. */
function upgradeStatus(url: string): Promise<number> {
  const ws = new WebSocket(url, ['wamp.2.json']);
  return within(
    new Promise<number>((resolve, reject) => {
      ws.on('unexpected-response', (req, res) => {
        // With this listener, ws leaves the request open: close it, or the server keeps it alive.
        req.destroy();
        resolve(res.statusCode ?? 0);
      });
      ws.on('open', () => reject(new Error('the upgrade was accepted during the drain')));
      ws.on('error', reject);
    }),
    5000,
    'the refused upgrade',
  );
}

describe('graceful drain (in-process)', () => {
  test('/ready flips to 503, upgrades get 503, idle sessions get GOODBYE at once, an in-flight call finishes, then its sessions get GOODBYE', async () => {
    const s = await startRouter({ crosswire: { shutdown_timeout: 8000 } });
    const { callee, invoked, release } = await slowCallee(s.url);
    const [caller, idle] = await Promise.all([connect(s.url, 'msgpack'), connect(s.url, 'json')]);
    const call = callError(caller.session.call('com.example.slow', ['x']));
    await within(invoked, 5000, 'the invocation');
    assert.equal((await fetch(`${s.http}/ready`)).status, 200);

    const started = Date.now();
    const stopping = s.router.shutdown(8000);
    const ready = await fetch(`${s.http}/ready`);
    assert.equal(ready.status, 503);
    assert.deepEqual(await ready.json(), { status: 'draining' });
    assert.equal((await fetch(`${s.http}/health`)).status, 200, 'still live while draining');
    assert.equal(await upgradeStatus(s.url), 503);
    // A session with nothing in flight is told to leave at once.
    const idleClosed = await within(idle.closed, 5000, 'the idle session to be closed');
    assert.equal(idleClosed.details.reason, 'wamp.close.system_shutdown');
    // The busy caller may not start new calls, but its in-flight call still completes.
    assert.equal(await within(callError(caller.session.call('com.example.slow')), 5000, 'the refused call'), 'wamp.error.canceled');
    assert.equal(caller.connection.isOpen, true);
    assert.equal(callee.connection.isOpen, true);
    const m = parseMetrics(await (await fetch(`${s.http}/metrics`)).text());
    assert.equal(m.get('crosswire_ready'), 0);
    assert.equal(m.get('crosswire_connections_refused_total', { reason: 'draining' }), 1);

    release('done');
    assert.equal(await within(call, 5000, 'the in-flight call'), 'result:done');
    const [cc, ce] = await within(Promise.all([caller.closed, callee.closed]), 5000, 'caller and callee to get GOODBYE');
    assert.equal(cc.details.reason, 'wamp.close.system_shutdown');
    assert.equal(ce.details.reason, 'wamp.close.system_shutdown');
    await within(stopping, 5000, 'shutdown to finish');
    // Everyone left, so the drain ended long before its 8 s timeout.
    assert.ok(Date.now() - started < 6000, `${Date.now() - started} ms`);
  });

  test('a call still running at the drain timeout: the caller gets wamp.error.canceled, both sessions GOODBYE', async () => {
    const s = await startRouter();
    const { callee, invoked } = await slowCallee(s.url);
    const caller: Client = await connect(s.url, 'json');
    const call = callError(caller.session.call('com.example.slow'));
    await within(invoked, 5000, 'the invocation');
    const started = Date.now();
    const stopping = s.router.shutdown(300);
    assert.equal(await within(call, 5000, 'the pending call'), 'wamp.error.canceled');
    const waited = Date.now() - started;
    assert.ok(waited >= 250, `canceled after ${waited} ms, before the drain timeout`);
    const [cc, ce] = await within(Promise.all([caller.closed, callee.closed]), 5000, 'both sessions to close');
    assert.equal(cc.details.reason, 'wamp.close.system_shutdown');
    assert.equal(ce.details.reason, 'wamp.close.system_shutdown');
    await within(stopping, 5000, 'shutdown to finish');
  });
});

describe('graceful drain (SIGTERM to the process)', () => {
  test('SIGTERM with open sessions and an in-flight call: /ready 503, the call completes, GOODBYE system_shutdown, exit 0', async () => {
    const proc = await spawnRouter([], { CROSSWIRE_SHUTDOWN_TIMEOUT: '8000' });
    const url = `ws://127.0.0.1:${proc.port}/ws`;
    const { callee, invoked, release } = await slowCallee(url);
    const caller = await connect(url, 'msgpack');
    const call = callError(caller.session.call('com.example.slow', [1]));
    await within(invoked, 5000, 'the invocation');
    const started = Date.now();
    proc.child.kill('SIGTERM');
    // /ready flips as soon as the signal is handled (asked until it does: the signal is asynchronous).
    let status = 200;
    for (let i = 0; i < 50 && status === 200; i++) status = (await fetch(`http://127.0.0.1:${proc.port}/ready`)).status;
    assert.equal(status, 503);
    release('finished during the drain');
    assert.equal(await within(call, 5000, 'the in-flight call'), 'result:finished during the drain');
    const [cc, ce] = await within(Promise.all([caller.closed, callee.closed]), 5000, 'both sessions to close');
    assert.equal(cc.details.reason, 'wamp.close.system_shutdown');
    assert.equal(ce.details.reason, 'wamp.close.system_shutdown');
    const { code } = await within(proc.exited, 5000, 'the process to exit');
    assert.equal(code, 0);
    assert.ok(Date.now() - started < 6000, 'the drain ended when the sessions left, not at its timeout');
    assert.ok(proc.stdout.some((l) => l.includes('"draining"')));
  });
});
