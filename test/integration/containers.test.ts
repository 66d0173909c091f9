import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type Client, connect } from '../helpers/client.js';
import { registered, transportTo } from '../helpers/components.js';
import { makePki } from '../helpers/pki.js';
import { type RouterProcess, spawnRouter } from '../helpers/process.js';
import { Inbox, within } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'crosswire-containers-'));
const write = (name: string, content: string) => {
  const f = join(dir, name);
  writeFileSync(f, content);
  return f;
};

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const ANON_ALL = { name: 'anonymous', permissions: [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true } }] };
const routerWorker = (port: number) => ({
  type: 'router',
  realms: [{ name: 'realm1', roles: [ANON_ALL] }],
  transports: [{ type: 'websocket', endpoint: { type: 'tcp', port, interface: '127.0.0.1' } }],
});


const procs: RouterProcess[] = [];
after(() => {
  for (const p of procs) p.child.kill('SIGKILL');
});

describe('a router with a container', () => {
  test("options.env is the container process's environment: inherit a list of names, then vars", async () => {
    const port = await freePort();
    write('env.mjs', `export default async function (session) {
      await session.register('com.example.env', (args) => process.env[args[0]] ?? null);
    }`);
    const cfg = write('env.json', JSON.stringify({
      version: 2,
      workers: [
        routerWorker(port),
        {
          type: 'container',
          options: { env: { inherit: ['PATH', 'CW_TEST_KEPT'], vars: { GREETING: 'hello', CW_TEST_KEPT: 'overridden' } } },
          components: [{ type: 'module', id: 'env', module: 'env.mjs', realm: 'realm1', transport: transportTo(port) }],
        },
      ],
    }));
    const proc = await spawnRouter(['--config', cfg], { CROSSWIRE_PORT: '', CW_TEST_DROPPED: 'router only', CW_TEST_KEPT: 'from router' });
    procs.push(proc);
    const c = await connect(`ws://127.0.0.1:${port}/ws`, 'json');
    try {
      await registered(c.session, 'com.example.env');
      assert.equal(await c.session.call('com.example.env', ['GREETING']), 'hello');
      assert.equal(await c.session.call('com.example.env', ['CW_TEST_KEPT']), 'overridden');
      assert.equal(await c.session.call('com.example.env', ['CW_TEST_DROPPED']), null, 'a variable not inherited is absent');
      assert.equal(await c.session.call('com.example.env', ['PATH']), process.env.PATH ?? null);
    } finally {
      await c.close();
      proc.child.kill('SIGTERM');
    }
  });

  test('a component registers and subscribes; an external client calls and publishes and sees the effects', async () => {
    const port = await freePort();
    write('add2.mjs', `export default async function (session, details, extra) {
      await session.register('com.example.add2', (args) => args[0] + args[1] + extra.offset);
      await session.subscribe('com.example.topic', (args) => session.publish('com.example.echo', ['component saw', ...args], {}, { acknowledge: true }));
    }`);
    const cfg = write('node.json', JSON.stringify({
      version: 2,
      workers: [routerWorker(port), { type: 'container', components: [{ type: 'module', id: 'adder', module: 'add2.mjs', realm: 'realm1', transport: transportTo(port), extra: { offset: 0 } }] }],
    }));
    const proc = await spawnRouter(['--config', cfg], { CROSSWIRE_PORT: '' });
    procs.push(proc);
    const c = await connect(`ws://127.0.0.1:${port}/ws`, 'json');
    try {
      await registered(c.session, 'com.example.add2');
      assert.equal(await c.session.call('com.example.add2', [2, 3]), 5);
      const echoes = new Inbox<unknown[]>();
      await c.session.subscribe('com.example.echo', (args) => echoes.push(args));
      await c.session.publish('com.example.topic', ['hi'], {}, { acknowledge: true });
      assert.deepEqual(await echoes.waitFor(1), [['component saw', 'hi']]);
      assert.ok(proc.stdout.some((l) => l.includes('"component":"adder"') && l.includes('component running')));
    } finally {
      await c.close();
      proc.child.kill('SIGTERM');
      assert.equal((await within(proc.exited, 10000, 'exit')).code, 0);
      // The container process stops once: no second disconnect of its closed IPC channel (an uncaught ERR_IPC_DISCONNECTED).
      assert.deepEqual(proc.stdout.filter((l) => /uncaught exception|IPC channel|"level":60/.test(l)), []);
    }
  });

  test('restart policies: a failing component is restarted (restart-on-failed) or stays down (restart-never), logged with its id', async () => {
    const port = await freePort();
    write('flaky.mjs', `let calls = 0;
      export default async function (session) {
        calls++;
        if (calls === 1) throw new Error('flaky start ' + calls);
        await session.register('com.example.flaky', () => 'up after ' + calls + ' starts');
      }`);
    write('broken.mjs', `export default async function () { throw new Error('broken on purpose'); }`);
    const cfg = write('policies.json', JSON.stringify({
      version: 2,
      workers: [
        routerWorker(port),
        { type: 'container', id: 'resilient', options: { restart: 'restart-on-failed' }, components: [{ type: 'module', id: 'flaky', module: 'flaky.mjs', realm: 'realm1', transport: transportTo(port, ['json']) }] },
        { type: 'container', id: 'fragile', options: { restart: 'restart-never' }, components: [{ type: 'module', id: 'broken', module: 'broken.mjs', realm: 'realm1', transport: transportTo(port) }] },
      ],
    }));
    const proc = await spawnRouter(['--config', cfg], { CROSSWIRE_PORT: '' });
    procs.push(proc);
    const c = await connect(`ws://127.0.0.1:${port}/ws`, 'msgpack');
    try {
      await registered(c.session, 'com.example.flaky');
      assert.equal(await c.session.call('com.example.flaky'), 'up after 2 starts');
      // The restart-never component may start later than the other container: wait for its failure.
      // A restart would log "restarting component" in the same tick, right after this line.
      await proc.waitForLine((l) => l.includes('"component":"broken"') && l.includes('component failed'), 10000, 'the broken component to fail');
      const lines = proc.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
      const failed = (id: string) => lines.filter((l) => l.component === id && l.msg === 'component failed');
      assert.equal(failed('flaky').length, 1);
      assert.match(JSON.stringify(failed('flaky')[0]!.err), /flaky start 1/);
      assert.ok(lines.some((l) => l.component === 'flaky' && l.msg === 'restarting component' && l.restarts === 1));
      // restart-never: failed once, never restarted.
      assert.equal(failed('broken').length, 1);
      assert.match(JSON.stringify(failed('broken')[0]!.err), /broken on purpose/);
      assert.ok(!lines.some((l) => l.component === 'broken' && l.msg === 'restarting component'));
      assert.equal(lines.find((l) => l.component === 'broken' && l.msg === 'component failed')!.container, 'fragile');
      // ... and in the metrics.
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /^crosswire_components\{state="running"\} 1$/m);
      assert.match(metrics, /^crosswire_components\{state="failed"\} 1$/m);
      assert.match(metrics, /^crosswire_component_restarts_total 1$/m);
    } finally {
      await c.close();
      proc.child.kill('SIGTERM');
      await within(proc.exited, 10000, 'exit');
    }
  });
});

describe('connecting transports', () => {
  test('components reach the router over a unix socket and over TLS with a CA the test generated', async () => {
    const pki = makePki();
    const [port, tlsPort] = [await freePort(), await freePort()];
    const sock = join(dir, 'router.sock');
    write('over-unix.mjs', `export default async function (session) { await session.register('com.example.unix', () => 'over unix'); }`);
    write('over-tls.mjs', `export default async function (session) { await session.register('com.example.tls', () => 'over tls'); }`);
    const router = routerWorker(port);
    router.transports.push(
      { type: 'websocket', id: 'local', endpoint: { type: 'unix', path: sock } } as never,
      {
        type: 'websocket',
        id: 'secure',
        endpoint: {
          type: 'tcp',
          port: tlsPort,
          interface: '127.0.0.1',
          // ca_certificates: client certificates are requested and verified.
          tls: { key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert], ca_certificates: [pki.rootCert] },
        },
      } as never,
    );
    const cfg = write('endpoints.json', JSON.stringify({
      version: 2,
      workers: [
        router,
        {
          type: 'container',
          components: [
            { type: 'module', id: 'unixy', module: 'over-unix.mjs', realm: 'realm1', transport: { type: 'websocket', url: 'ws://localhost/ws', endpoint: { type: 'unix', path: sock } } },
            {
              type: 'module',
              id: 'secure',
              module: 'over-tls.mjs',
              realm: 'realm1',
              transport: {
                type: 'websocket',
                url: `wss://localhost:${tlsPort}/ws`,
                endpoint: {
                  type: 'tcp',
                  host: '127.0.0.1',
                  port: tlsPort,
                  tls: { hostname: 'localhost', ca_certificates: [pki.rootCert], certificate: pki.clientCert, key: pki.clientKey },
                },
              },
            },
          ],
        },
      ],
    }));
    const proc = await spawnRouter(['--config', cfg], { CROSSWIRE_PORT: '' });
    procs.push(proc);
    const c = await connect(`ws://127.0.0.1:${port}/ws`, 'json');
    try {
      await registered(c.session, 'com.example.unix');
      await registered(c.session, 'com.example.tls');
      assert.equal(await c.session.call('com.example.unix'), 'over unix');
      assert.equal(await c.session.call('com.example.tls'), 'over tls');
      // The router saw them arrive on those transports.
      const peers = await Promise.all(
        ['com.example.unix', 'com.example.tls'].map(async (p) => {
          const reg = await c.session.call('wamp.registration.lookup', [p]);
          const [callee] = (await c.session.call('wamp.registration.list_callees', [reg])) as number[];
          return ((await c.session.call('wamp.session.get', [callee])) as { transport: { id: string } }).transport.id;
        }),
      );
      assert.deepEqual(peers, ['local', 'secure']);
    } finally {
      await c.close();
      proc.child.kill('SIGTERM');
      assert.equal((await within(proc.exited, 10000, 'exit')).code, 0);
    }
  });

  test('a TLS component that does not trust the server certificate does not connect, and says why', async () => {
    const pki = makePki();
    const [port, tlsPort] = [await freePort(), await freePort()];
    write('untrusting.mjs', `export default async function (session) { await session.register('com.example.never', () => 0); }`);
    const router = routerWorker(port);
    router.transports.push({
      type: 'websocket',
      id: 'secure',
      endpoint: { type: 'tcp', port: tlsPort, interface: '127.0.0.1', tls: { key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert] } },
    } as never);
    const cfg = write('untrusting.json', JSON.stringify({
      version: 2,
      workers: [
        router,
        {
          type: 'container',
          options: { restart: 'restart-never' },
          components: [
            {
              type: 'module',
              id: 'untrusting',
              module: 'untrusting.mjs',
              realm: 'realm1',
              // Trusts only the stranger's self-signed certificate, not the router's CA.
              transport: { type: 'websocket', url: `wss://localhost:${tlsPort}/ws`, endpoint: { type: 'tcp', host: '127.0.0.1', port: tlsPort, tls: { hostname: 'localhost', ca_certificates: [pki.strangerCert] } }, reconnect: { max_retries: 0 } },
            },
          ],
        },
      ],
    }));
    const proc = await spawnRouter(['--config', cfg], { CROSSWIRE_PORT: '' });
    procs.push(proc);
    try {
      const line = await proc.waitForLine((l) => l.includes('"component":"untrusting"') && l.includes('component failed'), 15000, 'the TLS failure');
      assert.match(line, /unreachable|certificate|unable to verify|self.signed/i);
    } finally {
      proc.child.kill('SIGTERM');
      await within(proc.exited, 10000, 'exit');
    }
  });
});

describe('reconnect', () => {
  test('the upstream router restarts; the component registration comes back by itself', async () => {
    const port = await freePort();
    const upstreamCfg = write('upstream.json', JSON.stringify({ version: 2, workers: [routerWorker(port)] }));
    write('svc.mjs', `export default async function (session) { await session.register('com.example.svc', () => 'svc ' + session.id); }`);
    const containerCfg = write('container-only.json', JSON.stringify({
      version: 2,
      workers: [{ type: 'container', id: 'remote', components: [{ type: 'module', id: 'svc', module: 'svc.mjs', realm: 'realm1', transport: transportTo(port) }] }],
    }));
    let upstream = await spawnRouter(['--config', upstreamCfg], { CROSSWIRE_PORT: '' });
    procs.push(upstream);
    const node = await spawnRouter(['--config', containerCfg], { CROSSWIRE_PORT: '' });
    procs.push(node);
    let c: Client = await connect(`ws://127.0.0.1:${port}/ws`, 'json');
    await registered(c.session, 'com.example.svc');
    const first = await c.session.call('com.example.svc');
    await c.close();
    upstream.child.kill('SIGTERM');
    assert.equal((await within(upstream.exited, 10000, 'the upstream to stop')).code, 0);
    const stoppedAt = Date.now();
    upstream = await spawnRouter(['--config', upstreamCfg], { CROSSWIRE_PORT: '' });
    procs.push(upstream);
    c = await connect(`ws://127.0.0.1:${port}/ws`, 'msgpack');
    try {
      // Backoff: 0.1 s growing ×1.5 up to 0.5 s, so well within 5 s of the restart.
      await registered(c.session, 'com.example.svc', 5000);
      const second = await c.session.call('com.example.svc');
      assert.notEqual(second, first, 'a new session registered it');
      assert.ok(Date.now() - stoppedAt < 10000);
      assert.ok(node.stdout.some((l) => l.includes('component connection lost, reconnecting')));
    } finally {
      await c.close();
      node.child.kill('SIGTERM');
      upstream.child.kill('SIGTERM');
      assert.equal((await within(node.exited, 10000, 'the container node to stop')).code, 0);
    }
  });
});

describe('guest workers', () => {
  test('a guest runs, its output is logged under its id, and it is stopped with the router', async () => {
    const port = await freePort();
    const cfg = write('guest.json', JSON.stringify({
      version: 2,
      workers: [
        routerWorker(port),
        {
          type: 'guest',
          id: 'greeter',
          executable: process.execPath,
          arguments: ['-e', "console.log('hello from ' + process.env.GREETING_TARGET); setInterval(() => {}, 1000)"],
          options: { env: { vars: { GREETING_TARGET: 'the guest' } } },
        },
      ],
    }));
    const proc = await spawnRouter(['--config', cfg], { CROSSWIRE_PORT: '' });
    procs.push(proc);
    try {
      const line = await proc.waitForLine((l) => l.includes('"guest":"greeter"') && l.includes('hello from the guest'), 10000, 'the guest output');
      assert.equal((JSON.parse(line) as Record<string, unknown>).stream, 'stdout');
    } finally {
      proc.child.kill('SIGTERM');
      assert.equal((await within(proc.exited, 10000, 'exit')).code, 0);
    }
  });
});
