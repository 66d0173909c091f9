import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { connect } from '../helpers/client.js';
import { envOf, execForm, healthcheck, parseDockerfile } from '../helpers/dockerfile.js';
import { spawnRouter } from '../helpers/process.js';
import { startRouter } from '../helpers/router.js';
import { deferred, within } from '../helpers/wait.js';

const final = parseDockerfile().at(-1)!;

/** Runs the Dockerfile's HEALTHCHECK command as Docker would (exec form), with the container's port. */
function runHealthcheck(port: number): Promise<number | null> {
  const [cmd, ...args] = healthcheck(final).cmd;
  const child = spawn(cmd === 'node' ? process.execPath : cmd!, args, { env: { ...process.env, CROSSWIRE_PORT: String(port) }, stdio: 'ignore' });
  return within(new Promise((resolve) => child.on('exit', resolve)), 10000, 'the healthcheck command');
}

describe('the Dockerfile run without Docker', { concurrency: true }, () => {
  test('its HEALTHCHECK command passes against a live router, also while it drains, and fails when nothing listens', async () => {
    const r = await startRouter({ crosswire: { shutdown_timeout: 8000 } });
    assert.equal(await runHealthcheck(r.port), 0);
    const conn = await connect(r.url, 'json');
    // A session with a pending call keeps the drain going.
    const invoked = deferred();
    const release = deferred<string>();
    await conn.session.register('com.example.slow', () => {
      invoked.resolve();
      return release.promise;
    });
    const call = conn.session.call('com.example.slow');
    await within(invoked.promise, 5000, 'the invocation');
    const stopping = r.router.shutdown(8000);
    assert.equal((await fetch(`${r.http}/ready`)).status, 503);
    assert.equal(await runHealthcheck(r.port), 0, 'liveness stays green during a drain');
    // The call completes, the session leaves, the drain ends long before its timeout.
    release.resolve('done');
    assert.equal(await within(call, 5000, 'the call'), 'done');
    await within(stopping, 10000, 'the shutdown');
    assert.equal(await runHealthcheck(r.port), 1);
  });

  test("its ENTRYPOINT + CMD with the image's environment: listens on 0.0.0.0, SIGTERM exits 0", async () => {
    const env = envOf(final);
    const last = (op: string) => final.instructions.filter((i) => i.op === op).at(-1)!.args;
    const [cmd, ...args] = [...execForm(last('ENTRYPOINT')), ...execForm(last('CMD'))];
    assert.equal(cmd, 'node');
    assert.deepEqual(args, ['dist/src/cli.js', 'start']);
    // spawnRouter runs the same entry point; the image's variables, but an ephemeral port.
    const proc = await spawnRouter([], { ...env, CROSSWIRE_PORT: '0', CROSSWIRE_LOG_LEVEL: 'info' });
    const listening = proc.stdout.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'listening');
    assert.equal(listening?.host, '0.0.0.0');
    assert.equal((await fetch(`http://127.0.0.1:${proc.port}/health`)).status, 200);
    proc.child.kill('SIGTERM');
    assert.equal((await within(proc.exited, 10000, 'the exit')).code, 0);
  });
});
