import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { connect } from '../helpers/client.js';
import { runCli, spawnRouter } from '../helpers/process.js';
import { deferred, within } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'crosswire-test-'));
function configFile(name: string, content: unknown): string {
  const f = join(dir, name);
  writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content));
  return f;
}

describe('signals', () => {
  // shutdown_timeout 3 s: SIGTERM drains for all of it, SIGINT for at most 1 s, so the two are told
  // apart by the drain the router logs and by when the hanging call is canceled.
  const SHUTDOWN_TIMEOUT = 3000;
  for (const [signal, drainMs] of [
    ['SIGTERM', SHUTDOWN_TIMEOUT],
    ['SIGINT', 1000],
  ] as const) {
    test(`${signal}: drains ${drainMs} ms; a call still running then is canceled, every session gets GOODBYE wamp.close.system_shutdown, exit 0`, async () => {
      const proc = await spawnRouter([], { CROSSWIRE_SHUTDOWN_TIMEOUT: String(SHUTDOWN_TIMEOUT) });
      const url = `ws://127.0.0.1:${proc.port}/ws`;
      const [a, b] = await Promise.all([connect(url, 'json'), connect(url, 'msgpack')]);
      // An in-flight call when the signal arrives: the caller must not be left hanging.
      const invoked = deferred();
      await a.session.register('com.example.slow', () => {
        invoked.resolve();
        return new Promise(() => {});
      });
      let settledAt = 0;
      const call = b.session.call('com.example.slow').then(
        () => 'result',
        (e: { error?: string }) => {
          settledAt = Date.now();
          return e.error ?? 'error';
        },
      );
      await within(invoked.promise, 5000, 'the invocation');
      const started = Date.now();
      proc.child.kill(signal);
      const draining = await proc.waitForLine((l) => l.includes('"msg":"draining"'), 5000, 'the draining log line');
      assert.equal((JSON.parse(draining) as { drainMs: number }).drainMs, drainMs);
      const [ca, cb] = await within(Promise.all([a.closed, b.closed]), drainMs + 5000, 'both sessions to be closed');
      assert.equal(ca.details.reason, 'wamp.close.system_shutdown');
      assert.equal(cb.details.reason, 'wamp.close.system_shutdown');
      assert.equal(await within(call, 5000, 'the pending call to settle'), 'wamp.error.canceled');
      const took = settledAt - started;
      // Canceled at the end of the drain: not before it, and (for SIGINT) well before shutdown_timeout.
      assert.ok(took >= drainMs - 100, `canceled after the ${drainMs} ms drain (${took} ms)`);
      if (drainMs < SHUTDOWN_TIMEOUT) assert.ok(took < SHUTDOWN_TIMEOUT - 500, `canceled before shutdown_timeout (${took} ms)`);
      const { code } = await within(proc.exited, 5000, 'the process to exit');
      assert.equal(code, 0);
    });
  }

  test('a second signal during the drain exits 1 at once', async () => {
    const proc = await spawnRouter([], { CROSSWIRE_SHUTDOWN_TIMEOUT: '30000' });
    const url = `ws://127.0.0.1:${proc.port}/ws`;
    const [a, b] = await Promise.all([connect(url, 'json'), connect(url, 'json')]);
    // A call that never returns keeps the drain going for the whole 30 s.
    const invoked = deferred();
    await a.session.register('com.example.slow', () => {
      invoked.resolve();
      return new Promise(() => {});
    });
    b.session.call('com.example.slow').catch(() => {});
    await within(invoked.promise, 5000, 'the invocation');
    proc.child.kill('SIGTERM');
    await proc.waitForLine((l) => l.includes('"msg":"draining"'), 5000, 'the draining log line');
    proc.child.kill('SIGINT');
    const { code } = await within(proc.exited, 10000, 'the process to exit on the second signal');
    assert.equal(code, 1);
    assert.ok(proc.stdout.some((l) => l.includes('second signal: exiting now')), 'the second signal is logged');
  });
});

describe('command line', () => {
  test('a config with a misspelled option is refused, naming the key', async () => {
    const f = configFile('typo.json', {
      version: 2,
      workers: [
        {
          type: 'router',
          realms: [{ name: 'realm1', roles: [{ name: 'anonymous', 'allow-by-default': true }] }],
          transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 0 }, options: { max_mesage_size: 1000 } }],
        },
      ],
    });
    for (const cmd of ['check', 'start']) {
      const { code, stderr } = await runCli([cmd, '--config', f]);
      assert.equal(code, 1, cmd);
      assert.match(stderr, /workers\[0\]\.transports\[0\]\.options\.max_mesage_size: unknown key/);
    }
  });

  test('invalid values name the key and the rule', async () => {
    const f = configFile('bad.json', {
      version: 2,
      workers: [
        {
          type: 'router',
          realms: [{ name: 'x', roles: [] }],
          transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 70000 }, serializers: ['json', 'xml'] }],
        },
      ],
    });
    const { code, stderr } = await runCli(['check', '--config', f]);
    assert.equal(code, 1);
    assert.match(stderr, /workers\[0\]\.realms\[0\]\.name: is required and must match/);
  });

  test('check on a valid Crossbar-style config prints what would run', async () => {
    const f = configFile('ok.json', {
      version: 2,
      controller: {},
      workers: [
        {
          type: 'router',
          realms: [{ name: 'realm1', roles: [{ name: 'anonymous', permissions: [{ uri: '*', allow: { call: true } }] }] }],
          transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 9090 }, url: 'ws://localhost:9090/ws', serializers: ['msgpack'] }],
        },
      ],
    });
    const { code, stdout } = await runCli(['check', '--config', f], { CROSSWIRE_PORT: '' });
    assert.equal(code, 0);
    assert.match(stdout, /configuration OK/);
    assert.match(stdout, /transport transport1: websocket on 0\.0\.0\.0:9090 \(msgpack; auth anonymous\)/);
  });

  test('refuses to start on the pure-JS uWebSockets.js fallback unless allowed', async () => {
    const { code, stderr } = await runCli(['start'], { UWS_USE_FALLBACK: '1', CROSSWIRE_PORT: '0' });
    assert.equal(code, 1);
    assert.match(stderr, /fell back to its slow pure-JS implementation/);
    assert.match(stderr, /CROSSWIRE_ALLOW_UWS_FALLBACK/);
  });

  test('--version and --help', async () => {
    const v = await runCli(['--version']);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
    const h = await runCli(['--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /crosswire start \[--config FILE\]/);
  });
});
