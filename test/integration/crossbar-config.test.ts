// A Crossbar.io node config in the style of its docs, with the production WebSocket options of
// crossbar.md §2 verbatim, runs unchanged through the real CLI; a misspelled option does not.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import autobahn from 'autobahn';
import { Agent as HttpsAgent } from 'node:https';
import { createServer } from 'node:net';
import { loadConfig } from '../../src/config/load.js';
import { Guest } from '../../src/container/guest.js';
import { CrosswireNode } from '../../src/node.js';
import { connect } from '../helpers/client.js';
import { PRODUCTION_OPTIONS } from '../helpers/crossbar-examples.js';
import { captureLog } from '../helpers/log.js';
import { makePki } from '../helpers/pki.js';
import { RawPeer } from '../helpers/raw.js';
import { runCli, spawnRouter } from '../helpers/process.js';
import { Inbox, within } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'crosswire-crossbar-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function nodeConfig(options: Record<string, unknown>): string {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  const config = {
    $schema: 'https://raw.githubusercontent.com/crossbario/crossbar/master/crossbar.json',
    version: 2,
    controller: {},
    workers: [
      {
        type: 'router',
        realms: [
          {
            name: 'realm1',
            roles: [{ name: 'anonymous', permissions: [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true }, disclose: { caller: false, publisher: false }, cache: true }] }],
          },
        ],
        transports: [
          {
            type: 'websocket',
            endpoint: { type: 'tcp', port: 8080 },
            url: 'ws://localhost:8080/ws',
            serializers: ['cbor', 'msgpack', 'json'],
            options,
            cookie: { name: 'cbtid', length: 24, max_age: 604800, store: { type: 'memory' } },
          },
        ],
      },
    ],
  };
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

test('the production options of the Crossbar.io docs start unchanged (and say what uWS does differently)', async () => {
  const file = nodeConfig({ ...PRODUCTION_OPTIONS, compression: { deflate: { request_max_window_bits: 11, max_window_bits: 11, memory_level: 4 } } });
  const check = await runCli(['check', '--config', file]);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /configuration OK/);
  const p = await spawnRouter(['--config', file]);
  try {
    const url = `ws://127.0.0.1:${p.port}/ws`;
    const [sub, pub] = await Promise.all([connect(url, 'msgpack'), connect(url, 'json')]);
    const got = new Inbox<unknown[]>();
    await sub.session.subscribe('com.example.prod', (args) => got.push(args ?? []));
    await pub.session.publish('com.example.prod', ['hello'], {}, { acknowledge: true });
    assert.deepEqual(await got.waitFor(1), [['hello']]);
    await Promise.all([sub.close(), pub.close()]);
    const warned = p.stdout.filter((l) => l.includes('"option":"open_handshake_timeout"') || l.includes('"option":"close_handshake_timeout"'));
    assert.equal(warned.length, 2, 'the two timeouts uWS fixes are named at startup');
  } finally {
    p.child.kill('SIGTERM');
    await within(p.exited, 10_000, 'the router to exit');
  }
});

test('a misspelled option fails with a message naming it', async () => {
  const file = nodeConfig({ ...PRODUCTION_OPTIONS, auto_ping_intervall: 10000 });
  for (const cmd of ['check', 'start']) {
    const r = await runCli([cmd, '--config', file], { CROSSWIRE_PORT: '0' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /workers\[0\]\.transports\[0\]\.options\.auto_ping_intervall: unknown key/);
  }
});

// ---- issue 16: Crossbar configs that must start (or be refused naming the key) -------------

const ALL = { call: true, register: true, publish: true, subscribe: true };

/** A Crossbar node config file: one router worker (realm1, anonymous may do everything) plus `more`. */
function crossbarFile(router: Record<string, unknown>, more: Record<string, unknown> = {}, workers: unknown[] = []): string {
  const file = join(dir, `node-${Math.random().toString(36).slice(2)}.json`);
  const config = {
    version: 2,
    controller: {},
    workers: [
      {
        type: 'router',
        realms: [{ name: 'realm1', roles: [{ name: 'anonymous', permissions: [{ uri: '', match: 'prefix', allow: ALL }] }] }],
        transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 8080 } }],
        ...router,
      },
      ...workers,
    ],
    ...more,
  };
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

async function checks(file: string, env: Record<string, string | undefined> = {}): Promise<string> {
  const r = await runCli(['check', '--config', file], env);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

async function refusedByBoth(file: string, pattern: RegExp, env: Record<string, string | undefined> = {}): Promise<void> {
  for (const cmd of ['check', 'start']) {
    const r = await runCli([cmd, '--config', file], { CROSSWIRE_PORT: '0', CROSSWIRE_INTERFACE: '127.0.0.1', ...env });
    assert.equal(r.code, 1, `${cmd}: ${r.stdout}`);
    assert.match(r.stderr, pattern, cmd);
  }
}

describe('item 7: bugs', () => {
  test("controller.options.title (Crossbar's documented example) is accepted; other controller keys are named", async () => {
    await checks(crossbarFile({}, { controller: { id: 'mynode1', options: { title: 'mycontroller' } } }));
    await refusedByBoth(crossbarFile({}, { controller: { options: { shutdown: ['shutdown_on_worker_exit'] } } }), /controller\.options\.shutdown: not implemented/);
    await refusedByBoth(crossbarFile({}, { controller: { manhole: {} } }), /controller\.manhole: not implemented/);
  });

  test('an auth error in a web transport names the websocket path where the auth is written', async () => {
    const web = (auth: unknown) => ({
      transports: [{ type: 'web', endpoint: { type: 'tcp', port: 8080 }, paths: { '/': { type: 'json', value: {} }, ws: { type: 'websocket', auth } } }],
    });
    await refusedByBoth(crossbarFile(web({ anonymous: { type: 'static', role: 'nobody' } })), /workers\[0\]\.transports\[0\]\.paths\.ws\.auth\.anonymous\.role: no realm has a role 'nobody'/);
    await refusedByBoth(
      crossbarFile(web({ ticket: { type: 'dynamic', authenticator: 'com.example.auth', 'authenticator-realm': 'nowhere' } })),
      /workers\[0\]\.transports\[0\]\.paths\.ws\.auth\.ticket\.authenticator-realm: no realm 'nowhere'/,
    );
  });

  test('a missing guest watch directory is refused by check and start, naming the key; the router never dies of it', async () => {
    const guest = { type: 'guest', executable: process.execPath, arguments: ['-e', 'setInterval(() => {}, 1000)'], options: { watch: { directories: ['no-such-dir'] } } };
    await refusedByBoth(crossbarFile({}, {}, [guest]), /workers\[1\]\.options\.watch\.directories\[0\]: .*no-such-dir does not exist/);
    // A directory that goes away after the check: the Guest logs it under the key and carries on.
    const { log, lines } = captureLog();
    const g = new Guest({ id: 'g', executable: process.execPath, arguments: ['-e', 'setInterval(() => {}, 1000)'], env: null, inheritEnv: true, workdir: dir, watch: [join(dir, 'gone')] }, log);
    try {
      assert.doesNotThrow(() => g.start());
      const err = lines.find((l) => l.key === 'options.watch.directories[0]');
      assert.ok(err !== undefined && err.level === 50, JSON.stringify(lines));
    } finally {
      await g.stop(2000);
    }
  });

  test('check opens the files the config names, as start does', async () => {
    const pki = makePki();
    try {
      const tls = (t: Record<string, unknown>) => ({ transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 8080, tls: t } }] });
      await checks(crossbarFile(tls({ key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert], ca_certificates: [pki.rootCert] })));
      await refusedByBoth(crossbarFile(tls({ key: join(pki.dir, 'nope.key'), certificate: pki.serverCert })), /transports\[0\]\.endpoint\.tls\.key: cannot read .*nope\.key: ENOENT/);
      await refusedByBoth(crossbarFile(tls({ key: pki.clientKey, certificate: pki.serverCert })), /transports\[0\]\.endpoint\.tls\.key: does not belong to the certificate/);
      await refusedByBoth(crossbarFile(tls({ key: pki.serverKey, certificate: pki.serverKey })), /transports\[0\]\.endpoint\.tls\.certificate: .* is not a PEM certificate/);
      await refusedByBoth(crossbarFile(tls({ key: pki.serverKey, certificate: pki.serverCert, ca_certificates: ['missing-ca.pem'] })), /endpoint\.tls\.ca_certificates\[0\]: cannot read/);
      const component = {
        type: 'container',
        components: [{ module: 'no-such-component.js', realm: 'realm1', transport: { type: 'websocket', url: 'ws://127.0.0.1:8080/ws', endpoint: { type: 'tcp', host: '127.0.0.1', port: 8080 } } }],
      };
      await refusedByBoth(crossbarFile({}, {}, [component]), /workers\[1\]\.components\[0\]\.module: cannot read .*no-such-component\.js: ENOENT/);
      const guest = { type: 'guest', executable: 'no-such-program-crosswire' };
      await refusedByBoth(crossbarFile({}, {}, [guest]), /workers\[1\]\.executable: 'no-such-program-crosswire' is not an executable file on PATH/);
      // A static directory that does not exist yet: Crossbar starts and answers 404; check warns.
      const web = { transports: [{ type: 'web', endpoint: { type: 'tcp', port: 8080 }, paths: { '/': { type: 'static', directory: 'no-web-root' }, ws: { type: 'websocket' } } }] };
      assert.match(await checks(crossbarFile(web)), /warning: workers\[0\]\.transports\[0\]\.paths\."\/"\.directory: .*no-web-root does not exist .*404/);
    } finally {
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});

describe('item 1: a web transport without "/"', () => {
  test('starts; "/" answers 404 and the other paths work', async () => {
    const file = crossbarFile({
      transports: [
        {
          type: 'web',
          endpoint: { type: 'tcp', port: 8080 },
          paths: { ws: { type: 'websocket', serializers: ['json'] }, info: { type: 'json', value: { app: 'demo' } } },
        },
      ],
    });
    await checks(file);
    const p = await spawnRouter(['--config', file]);
    try {
      const base = `http://127.0.0.1:${p.port}`;
      const root = await fetch(`${base}/`);
      assert.equal(root.status, 404);
      assert.equal((await fetch(`${base}/elsewhere`)).status, 404);
      const info = await fetch(`${base}/info`);
      assert.deepEqual([info.status, await info.json()], [200, { app: 'demo' }]);
      const c = await connect(`ws://127.0.0.1:${p.port}/ws`, 'json');
      await c.session.register('com.example.add', (args) => (args![0] as number) + (args![1] as number));
      assert.equal(await c.session.call('com.example.add', [2, 3]), 5);
      await c.close();
    } finally {
      p.child.kill('SIGTERM');
      await within(p.exited, 10_000, 'the router to exit');
    }
  });
});

describe('item 3: "${VAR}" secrets whose variable is unset', () => {
  const authConfig = (ticket: string) =>
    crossbarFile({
      realms: [{ name: 'realm1', roles: [{ name: 'user', permissions: [{ uri: '', match: 'prefix', allow: ALL }] }] }],
      transports: [
        {
          type: 'websocket',
          endpoint: { type: 'tcp', port: 8080 },
          auth: {
            ticket: { type: 'static', principals: { joe: { ticket: '${JOE_TICKET}', role: 'user' }, ann: { ticket, role: 'user' } } },
            wampcra: { type: 'static', users: { peter: { secret: '${PETER_SECRET}', role: 'user' } } },
          },
        },
      ],
    });
  const login = (port: number, authmethod: 'ticket' | 'wampcra', authid: string, secret: string) =>
    connect(`ws://127.0.0.1:${port}/ws`, 'json', 'realm1', {
      authmethods: [authmethod],
      authid,
      onchallenge: (_s: unknown, _m: string, extra: Record<string, unknown>) => (authmethod === 'ticket' ? secret : autobahn.auth_cra.sign(secret, extra.challenge as string)),
    });

  test('start with a warning naming the key and the variable; that principal cannot log in, the others can', async () => {
    const file = authConfig('${ANN_TICKET}');
    const env = { JOE_TICKET: 'joe-ticket', ANN_TICKET: undefined, PETER_SECRET: '', CROSSWIRE_AUTH_FAIL_DELAY: '0' };
    const out = await checks(file, env);
    assert.match(out, /warning: workers\[0\]\.transports\[0\]\.auth\.ticket\.principals\.ann\.ticket: environment variable ANN_TICKET is not set/);
    assert.match(out, /warning: workers\[0\]\.transports\[0\]\.auth\.wampcra\.users\.peter\.secret: environment variable PETER_SECRET is not set/);
    const p = await spawnRouter(['--config', file], env);
    try {
      assert.ok(p.stdout.some((l) => l.includes('"level":40') && l.includes('ANN_TICKET is not set')), p.stdout.join('\n'));
      const joe = await login(p.port, 'ticket', 'joe', 'joe-ticket');
      assert.equal(joe.details.authid, 'joe');
      await joe.close();
      for (const guess of ['', '${ANN_TICKET}', 'undefined', 'null']) {
        await assert.rejects(login(p.port, 'ticket', 'ann', guess), /wamp\.error\.authentication_failed/);
      }
      await assert.rejects(login(p.port, 'wampcra', 'peter', ''), /wamp\.error\.authentication_failed/);
    } finally {
      p.child.kill('SIGTERM');
      await within(p.exited, 10_000, 'the router to exit');
    }
  });

  test('a malformed reference is still refused, naming the key', async () => {
    for (const bad of ['${}', '${1ABC}', '${ANN-TICKET}', '${ANN_TICKET']) {
      await refusedByBoth(authConfig(bad), /auth\.ticket\.principals\.ann\.ticket: '\$\{.*' is not an environment reference/, { JOE_TICKET: 'x', PETER_SECRET: 'y' });
    }
  });
});

describe('item 4: worker and component ids as Crossbar accepts them', () => {
  test('container, guest and component ids of any non-empty string run; their status, metrics and logs stay apart', async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    await new Promise((r) => s.close(r));
    const transport = { type: 'websocket', url: `ws://127.0.0.1:${port}/ws`, endpoint: { type: 'tcp', host: '127.0.0.1', port }, reconnect: { initial_retry_delay: 0.1, max_retry_delay: 0.5 } };
    writeFileSync(join(dir, 'reg.mjs'), 'export default async function (session, details, extra) { await session.register(extra.uri, () => extra.uri); }');
    // "Backend/eu" + "api" and "Backend" + "eu/api": the same joined string, two components.
    const file = crossbarFile(
      { transports: [{ type: 'websocket', endpoint: { type: 'tcp', port, interface: '127.0.0.1' } }] },
      {},
      [
        { type: 'container', id: 'Backend/eu', components: [{ id: 'api', module: 'reg.mjs', realm: 'realm1', transport, extra: { uri: 'com.example.one' } }] },
        { type: 'container', id: 'Backend', components: [{ id: 'eu/api', module: 'reg.mjs', realm: 'realm1', transport, extra: { uri: 'com.example.two' } }] },
        { type: 'guest', id: 'WampADCP', executable: process.execPath, arguments: ['-e', "console.log('adcp up'); setInterval(() => {}, 1000)"] },
      ],
    );
    assert.match(await checks(file), /configuration OK/);
    const { log, waitFor } = captureLog();
    const node = await CrosswireNode.start(loadConfig(file, {}), log);
    try {
      const running = new Inbox<string>();
      node.containers.on('status', (st: { container: string; component: string; state: string }) => {
        if (st.state === 'running') running.push(`${st.container} ${st.component}`);
      });
      assert.deepEqual((await running.waitFor(2, 20_000)).slice().sort(), ['Backend eu/api', 'Backend/eu api']);
      assert.equal(node.containers.componentsRunning, 2);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /^crosswire_components\{state="running"\} 2$/m);
      const c = await connect(`ws://127.0.0.1:${port}/ws`, 'json');
      assert.deepEqual([await c.session.call('com.example.one'), await c.session.call('com.example.two')], ['com.example.one', 'com.example.two']);
      await c.close();
      await waitFor((l) => l.guest === 'WampADCP' && l.msg === 'adcp up', 10_000, 'the guest output under its id');
    } finally {
      await node.shutdown(2000);
    }
  });

  test('"controller" and empty ids are refused, naming the key', async () => {
    await refusedByBoth(crossbarFile({}, {}, [{ type: 'guest', id: 'controller', executable: process.execPath }]), /workers\[1\]\.id: 'controller' is the node controller's own id/);
    await refusedByBoth(crossbarFile({ id: 'controller' }), /workers\[0\]\.id: 'controller' is the node controller's own id/);
    await refusedByBoth(crossbarFile({}, {}, [{ type: 'guest', id: '', executable: process.execPath }]), /workers\[1\]\.id: must be a non-empty string/);
    // Transport ids keep Crossbar's pattern (checkconfig.check_id).
    await refusedByBoth(crossbarFile({ transports: [{ type: 'websocket', id: 'Public WS', endpoint: { type: 'tcp', port: 8080 } }] }), /transports\[0\]\.id: must match/);
  });
});

describe('item 5: values the socket layer applies differently start with one warning', () => {
  test("a Let's Encrypt-style TLS endpoint with backlog 1024 and dhparam starts; each key is named once with its value and what applies", async () => {
    const pki = makePki();
    try {
      const file = crossbarFile({
        transports: [
          {
            type: 'websocket',
            endpoint: { type: 'tcp', port: 443, backlog: 1024, tls: { key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert], dhparam: join(pki.dir, 'dhparam.pem') } },
            url: 'wss://example.com/ws',
          },
        ],
      });
      const out = await checks(file);
      const warned = out.split('\n').filter((l) => l.startsWith('warning: '));
      assert.equal(warned.length, 2, out);
      assert.match(out, /^warning: workers\[0\]\.transports\[0\]\.endpoint\.backlog: 1024 is not applied: uWebSockets\.js always listens with a backlog of 512$/m);
      assert.match(out, /^warning: workers\[0\]\.transports\[0\]\.endpoint\.tls\.dhparam: '.*dhparam\.pem' is not used: .*no DHE key exchange, so the ECDHE suites of the cipher list apply/m);
      const p = await spawnRouter(['--config', file]);
      try {
        const warnLines = p.stdout.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 40);
        assert.equal(warnLines.filter((l) => /endpoint\.backlog: 1024/.test(String(l.msg))).length, 1);
        assert.equal(warnLines.filter((l) => /endpoint\.tls\.dhparam/.test(String(l.msg))).length, 1);
        const url = `wss://127.0.0.1:${p.port}/ws`;
        const agent = new HttpsAgent({ ca: pki.read(pki.rootCert) });
        const c = await connect(url, 'json', 'realm1', { transports: [{ type: 'websocket', url, agent, serializers: [new autobahn.serializer.JSONSerializer()] }] });
        await c.session.register('com.example.ping', () => 'pong');
        assert.equal(await c.session.call('com.example.ping'), 'pong');
        await c.close();
        agent.destroy();
      } finally {
        p.child.kill('SIGTERM');
        await within(p.exited, 10_000, 'the router to exit');
      }
    } finally {
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});

/** Keys that occur more than once at the top level of one JSON line (JSON.parse keeps only the last). */
function duplicateKeys(line: string): string[] {
  const seen = new Set<string>();
  const dups: string[] = [];
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === '"') {
      let j = i + 1;
      while (line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      const text = line.slice(i, j + 1);
      if (depth === 1 && line[j + 1] === ':') {
        const key = JSON.parse(text) as string;
        if (seen.has(key)) dups.push(key);
        seen.add(key);
      }
      i = j;
    } else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
  }
  return dups;
}

describe('item 13: one key per log line', () => {
  test('startup warnings, access log, traffic debug, refusals, guests and containers log each key once', async () => {
    assert.deepEqual(duplicateKeys('{"a":1,"b":{"a":2},"c":"\\"a\\":","a":3}'), ['a']); // the scanner itself
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    await new Promise((r) => s.close(r));
    writeFileSync(join(dir, 'quiet.mjs'), 'export default async function (session) { await session.register("com.example.quiet", () => 1); }');
    const file = crossbarFile(
      {
        transports: [
          {
            type: 'websocket',
            endpoint: { type: 'tcp', port, interface: '127.0.0.1' },
            debug: true,
            options: { open_handshake_timeout: 2500, validate_utf8: false, allowed_origins: ['https://example.com'] },
          },
          {
            type: 'web',
            endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' },
            options: { access_log: true },
            paths: { info: { type: 'nodeinfo' }, ws: { type: 'websocket', options: { close_handshake_timeout: 1000 } } },
          },
        ],
      },
      {},
      [
        { type: 'guest', id: 'echo', executable: process.execPath, arguments: ['-e', "console.log('guest says hi'); setInterval(() => {}, 1000)"] },
        { type: 'container', id: 'box', components: [{ id: 'quiet', module: 'quiet.mjs', realm: 'realm1', transport: { type: 'websocket', url: `ws://127.0.0.1:${port}/ws`, endpoint: { type: 'tcp', host: '127.0.0.1', port } } }] },
      ],
    );
    const p = await spawnRouter(['--config', file], { CROSSWIRE_PORT: '' });
    try {
      const webPort = (JSON.parse(p.stdout.find((l) => l.includes('"crosswire ready"'))!) as { ports: number[] }).ports[1]!;
      await p.waitForLine((l) => l.includes('component running'), 15_000, 'the component to run');
      await p.waitForLine((l) => l.includes('guest says hi'), 15_000, 'the guest output');
      assert.equal((await fetch(`http://127.0.0.1:${webPort}/info`)).status, 200);
      await p.waitForLine((l) => l.includes('"http request"'), 5000, 'the access log line');
      const c = await connect(`ws://127.0.0.1:${port}/ws`, 'json');
      assert.equal(await c.session.call('com.example.quiet'), 1);
      await c.close();
      await assert.rejects(RawPeer.open(`ws://127.0.0.1:${port}/ws`, 'json', { headers: { Origin: 'https://evil.example' } }), /403/);
      await p.waitForLine((l) => l.includes('"connection refused"'), 5000, 'the refusal log line');
    } finally {
      p.child.kill('SIGTERM');
      await within(p.exited, 10_000, 'the router to exit');
    }
    const json = p.stdout.filter((l) => l.startsWith('{'));
    assert.ok(json.length > 10, `${json.length} log lines`);
    for (const msg of ['wamp message', 'container started', 'guest started']) assert.ok(json.some((l) => l.includes(`"${msg}"`)), msg);
    assert.ok(json.some((l) => l.includes('"option":"open_handshake_timeout"')));
    // The traffic log keeps the WAMP message (pino's own message key is msg).
    assert.ok(json.map((l) => JSON.parse(l) as Record<string, unknown>).some((o) => o.msg === 'wamp message' && Array.isArray(o.wamp)));
    const bad = json.map((l) => ({ l, d: duplicateKeys(l) })).filter((x) => x.d.length > 0);
    assert.deepEqual(bad, []);
  });
});

describe('item 8: version-1 configs', () => {
  // A node config in Crossbar's version-1 format (no "version" key, flat permission flags).
  const V1 = {
    controller: {},
    workers: [
      {
        type: 'router',
        realms: [
          {
            name: 'realm1',
            roles: [
              { name: 'anonymous', permissions: [{ uri: '*', publish: true, subscribe: true, call: true, register: true }] },
              { name: 'frontend', permissions: [{ uri: 'com.example.*.get', call: true }, { uri: 'com.example.ping', subscribe: true }] },
            ],
          },
        ],
        transports: [{ type: 'web', endpoint: { type: 'tcp', port: 8080 }, paths: { ws: { type: 'websocket' } } }],
      },
    ],
  };

  test('check and start say it is a version-1 file and how to upgrade; upgrade-config writes version 2, which runs', async () => {
    const file = join(dir, `v1-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(V1, null, 2));
    await refusedByBoth(file, /version: this is a version-1 config file \(no "version" key\).*crosswire upgrade-config FILE/);
    const up = await runCli(['upgrade-config', file]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /upgraded from version 1 to version 2 \(3 permissions rewritten\)/);
    const v2 = JSON.parse(readFileSync(file, 'utf8')) as { version: number; workers: { realms: { roles: { permissions: unknown[] }[] }[] }[] };
    assert.equal(Object.keys(v2)[0], 'version');
    assert.equal(v2.version, 2);
    const none = { call: false, register: false, publish: false, subscribe: false };
    const disclose = { caller: false, publisher: false };
    assert.deepEqual(v2.workers[0]!.realms[0]!.roles.map((r) => r.permissions), [
      [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true }, disclose, cache: true }],
      [
        { uri: 'com.example..get', match: 'wildcard', allow: { ...none, call: true }, disclose, cache: true },
        { uri: 'com.example.ping', match: 'exact', allow: { ...none, subscribe: true }, disclose, cache: true },
      ],
    ]);
    await checks(file);
    const again = await runCli(['upgrade-config', file]);
    assert.match(again.stdout, /already is version 2: nothing to upgrade/);
    const p = await spawnRouter(['--config', file]);
    try {
      const c = await connect(`ws://127.0.0.1:${p.port}/ws`, 'json');
      await c.session.register('com.example.x.get', () => 'got');
      assert.equal(await c.session.call('com.example.x.get'), 'got');
      await c.close();
    } finally {
      p.child.kill('SIGTERM');
      await within(p.exited, 10_000, 'the router to exit');
    }
  });
});

describe('item 2: a different auth per websocket path of one web transport', () => {
  test('public /ws is anonymous, backend /auth takes tickets, on one port; each path applies only its own', async () => {
    const file = crossbarFile({
      realms: [
        {
          name: 'realm1',
          roles: [
            { name: 'anonymous', permissions: [{ uri: 'com.example.public.', match: 'prefix', allow: { call: true, subscribe: true } }] },
            { name: 'backend', permissions: [{ uri: 'com.example.', match: 'prefix', allow: ALL }] },
          ],
        },
      ],
      transports: [
        {
          type: 'web',
          endpoint: { type: 'tcp', port: 8080 },
          paths: {
            ws: { type: 'websocket', cookie: { store: { type: 'memory' } } },
            auth: { type: 'websocket', auth: { ticket: { type: 'static', principals: { svc: { ticket: 'svc-secret', role: 'backend' } } } } },
          },
        },
      ],
    });
    await checks(file);
    const p = await spawnRouter(['--config', file], { CROSSWIRE_AUTH_FAIL_DELAY: '0' });
    try {
      const ws = `ws://127.0.0.1:${p.port}/ws`;
      const auth = `ws://127.0.0.1:${p.port}/auth`;
      const ticket = { authmethods: ['ticket'], authid: 'svc', onchallenge: () => 'svc-secret' };
      const backend = await connect(auth, 'msgpack', 'realm1', ticket);
      assert.deepEqual([backend.details.authid, backend.details.authrole, backend.details.authmethod], ['svc', 'backend', 'ticket']);
      await backend.session.register('com.example.public.time', () => 'noon');
      const anon = await connect(ws, 'json');
      assert.equal(anon.details.authrole, 'anonymous');
      assert.equal(await anon.session.call('com.example.public.time'), 'noon');
      // /auth offers no anonymous access; /ws knows no tickets.
      await assert.rejects(connect(auth, 'json'), /wamp\.error\.no_matching_auth_method|no_auth_method/);
      await assert.rejects(connect(ws, 'json', 'realm1', ticket), /wamp\.error\.no_matching_auth_method|no_auth_method/);
      // Operations endpoints and metrics still answer on the port; connections are counted per transport.
      assert.equal((await fetch(`http://127.0.0.1:${p.port}/ready`)).status, 200);
      assert.match(await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text(), /^crosswire_connections\{transport="transport1"\} 2$/m);
      await Promise.all([anon.close(), backend.close()]);
    } finally {
      p.child.kill('SIGTERM');
      await within(p.exited, 10_000, 'the router to exit');
    }
  });
});

describe('the README example of a Crossbar-style web transport (config/crossbar-web.json)', () => {
  // The example's device key (README: generate your own); its public key is in the config.
  const DEVICE_SEED = Buffer.from('2deace91045510a02869ca11948a67fe5650ea43b45c9a1cd01bd45c93075699', 'hex');
  const DEVICE_PUB = Buffer.from('86c9aaff6c0a87639c135fe81e4852c872b0d1ed6d57009c9dd5c5179aa9f049', 'hex');

  test('no "/", backlog 1024, dhparam: it starts with two warnings, anonymous on /ws and ticket, wampcra, cryptosign on /auth log in', async () => {
    const pki = makePki();
    // The config as shipped, beside the files it names (tls/: a server certificate with its chain).
    const home = mkdtempSync(join(tmpdir(), 'crosswire-web-example-'));
    mkdirSync(join(home, 'tls'));
    copyFileSync(new URL('../../../config/crossbar-web.json', import.meta.url).pathname, join(home, 'config.json'));
    copyFileSync(pki.serverKey, join(home, 'tls', 'server.key'));
    writeFileSync(join(home, 'tls', 'server.crt'), Buffer.concat([pki.read(pki.serverCert), pki.read(pki.interCert)]));
    const agent = new HttpsAgent({ ca: pki.read(pki.rootCert) });
    const p = await spawnRouter(['--config', join(home, 'config.json')], { SERVICE1_TICKET: 'svc-ticket', JOE_SECRET: 'joe-secret', CROSSWIRE_AUTH_FAIL_DELAY: '0' });
    try {
      const warned = p.stdout.filter((l) => l.includes('"level":40')).map((l) => String((JSON.parse(l) as Record<string, unknown>).msg));
      assert.deepEqual(warned.map((m) => m.replace(/:.*/, '')).sort(), ['workers[0].transports[0].endpoint.backlog', 'workers[0].transports[0].endpoint.tls.dhparam']);
      const at = (path: string, ser: 'json' | 'msgpack', extra: Record<string, unknown> = {}) => {
        const url = `wss://127.0.0.1:${p.port}/${path}`;
        const serializer = ser === 'json' ? new autobahn.serializer.JSONSerializer() : new autobahn.serializer.MsgpackSerializer();
        return connect(url, ser, 'realm1', { transports: [{ type: 'websocket', url, agent, serializers: [serializer] }], ...extra });
      };
      const service = await at('auth', 'msgpack', { authmethods: ['ticket'], authid: 'service1', onchallenge: () => 'svc-ticket' });
      const joe = await at('auth', 'json', {
        authmethods: ['wampcra'],
        authid: 'joe',
        onchallenge: (_s: unknown, _m: string, x: Record<string, unknown>) => autobahn.auth_cra.sign('joe-secret', x.challenge as string),
      });
      const device = await at('auth', 'json', {
        authmethods: ['cryptosign'],
        authextra: { pubkey: DEVICE_PUB.toString('hex') },
        onchallenge: (_s: unknown, _m: string, extra: Record<string, unknown>) =>
          autobahn.auth_cryptosign.sign_challenge({ publicKey: new Uint8Array(DEVICE_PUB), secretKey: new Uint8Array(Buffer.concat([DEVICE_SEED, DEVICE_PUB])) }, extra),
      });
      const visitor = await at('ws', 'json');
      try {
        assert.deepEqual(
          [service, joe, device].map((c) => [c.details.authid, c.details.authrole, c.details.authmethod]),
          [['service1', 'backend', 'ticket'], ['joe', 'frontend', 'wampcra'], ['device1', 'backend', 'cryptosign']],
        );
        assert.deepEqual([visitor.details.authrole, visitor.details.authmethod], ['anonymous', 'anonymous']);
        await service.session.register('com.example.public.hello', () => 'hello');
        await device.session.register('com.example.api.add', (a) => (a![0] as number) + (a![1] as number));
        assert.equal(await visitor.session.call('com.example.public.hello'), 'hello');
        assert.equal(await joe.session.call('com.example.api.add', [2, 3]), 5);
        await assert.rejects(at('auth', 'json'), /no_matching_auth_method|no_auth_method/);
      } finally {
        for (const c of [service, joe, device, visitor]) await c.close();
      }
    } finally {
      agent.destroy();
      p.child.kill('SIGTERM');
      await within(p.exited, 10_000, 'the router to exit');
      rmSync(home, { recursive: true, force: true });
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});

describe('item 6: authenticator-realm whatever the realm thread count', () => {
  test('with 2 realm threads asked (as auto gives on 3 cores), the file starts and the authenticator admits clients', async () => {
    const file = crossbarFile({
      realms: [
        { name: 'realm1', roles: [{ name: 'user', permissions: [{ uri: 'com.example.', match: 'prefix', allow: ALL }] }] },
        { name: 'auth', roles: [{ name: 'authenticator', permissions: [{ uri: 'com.example.authenticate', match: 'exact', allow: { register: true } }] }] },
      ],
      transports: [
        {
          type: 'websocket',
          endpoint: { type: 'tcp', port: 8080 },
          auth: {
            anonymous: { type: 'static', role: 'authenticator' },
            ticket: { type: 'dynamic', authenticator: 'com.example.authenticate', 'authenticator-realm': 'auth' },
          },
        },
      ],
    });
    const env = { CROSSWIRE_REALM_THREADS: '2', CROSSWIRE_AUTH_FAIL_DELAY: '0' };
    assert.match(await checks(file, env), /realm threads: 1\n[\s\S]*warning: crosswire\.realm_threads: 2 is not applied: with authenticator-realm 'auth'/);
    const p = await spawnRouter(['--config', file], env);
    try {
      const url = `ws://127.0.0.1:${p.port}/ws`;
      // The authenticator throws on purpose for a wrong ticket: AutobahnJS need not log it.
      const backend = await connect(url, 'msgpack', 'auth', { on_user_error: () => {} });
      await backend.session.register('com.example.authenticate', (args) => {
        const [, authid, details] = args as [string, string, Record<string, unknown>];
        if (details.ticket !== `${authid}-ticket`) throw new autobahn.Error('wamp.error.not_authorized', ['wrong ticket']);
        return { role: 'user' };
      });
      const ann = await connect(url, 'json', 'realm1', { authmethods: ['ticket'], authid: 'ann', onchallenge: () => 'ann-ticket' });
      assert.deepEqual([ann.details.authid, ann.details.authrole, ann.details.authprovider], ['ann', 'user', 'dynamic']);
      await assert.rejects(connect(url, 'json', 'realm1', { authmethods: ['ticket'], authid: 'bob', onchallenge: () => 'nope', on_user_error: () => {} }), /not_authorized|authentication_failed/);
      await Promise.all([ann.close(), backend.close()]);
    } finally {
      p.child.kill('SIGTERM');
      await within(p.exited, 10_000, 'the router to exit');
    }
  });
});
