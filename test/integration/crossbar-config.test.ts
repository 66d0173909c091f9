// A Crossbar.io node config in the style of its docs, with the production WebSocket options of
// Crossbar.io docs, "WebSocket Options", verbatim, runs unchanged through the real CLI; a misspelled option does not.
// Configs Crossbar accepts: Crosswire runs them, or refuses them naming the key (the other two parts:
// crossbar-config-auth.test.ts, crossbar-config-workers.test.ts).
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Guest } from '../../src/container/guest.js';
import { connect } from '../helpers/client.js';
import { checks, crossbarFile, refusedByBoth } from '../helpers/crossbar-files.js';
import { PRODUCTION_OPTIONS } from '../helpers/crossbar-examples.js';
import { captureLog } from '../helpers/log.js';
import { makePki } from '../helpers/pki.js';
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

// ---- Crossbar configs that must start, or be refused naming the key ---------------------------

describe('item 7: bugs', () => {
  test("controller.options.title (Crossbar's documented example) is accepted; other controller keys are named", async () => {
    await checks(crossbarFile(dir, {}, { controller: { id: 'mynode1', options: { title: 'mycontroller' } } }));
    await Promise.all([
      refusedByBoth(crossbarFile(dir, {}, { controller: { options: { shutdown: ['shutdown_on_worker_exit'] } } }), /controller\.options\.shutdown: not implemented/),
      refusedByBoth(crossbarFile(dir, {}, { controller: { manhole: {} } }), /controller\.manhole: not implemented/),
    ]);
  });

  test('an auth error in a web transport names the websocket path where the auth is written', async () => {
    const web = (auth: unknown) => ({
      transports: [{ type: 'web', endpoint: { type: 'tcp', port: 8080 }, paths: { '/': { type: 'json', value: {} }, ws: { type: 'websocket', auth } } }],
    });
    await Promise.all([
      refusedByBoth(crossbarFile(dir, web({ anonymous: { type: 'static', role: 'nobody' } })), /workers\[0\]\.transports\[0\]\.paths\.ws\.auth\.anonymous\.role: no realm has a role 'nobody'/),
      refusedByBoth(
        crossbarFile(dir, web({ ticket: { type: 'dynamic', authenticator: 'com.example.auth', 'authenticator-realm': 'nowhere' } })),
        /workers\[0\]\.transports\[0\]\.paths\.ws\.auth\.ticket\.authenticator-realm: no realm 'nowhere'/,
      ),
    ]);
  });

  test('a missing guest watch directory is refused by check and start, naming the key; the router never dies of it', async () => {
    const guest = { type: 'guest', executable: process.execPath, arguments: ['-e', 'setInterval(() => {}, 1000)'], options: { watch: { directories: ['no-such-dir'] } } };
    await refusedByBoth(crossbarFile(dir, {}, {}, [guest]), /workers\[1\]\.options\.watch\.directories\[0\]: .*no-such-dir does not exist/);
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
      const component = {
        type: 'container',
        components: [{ module: 'no-such-component.js', realm: 'realm1', transport: { type: 'websocket', url: 'ws://127.0.0.1:8080/ws', endpoint: { type: 'tcp', host: '127.0.0.1', port: 8080 } } }],
      };
      // A static directory that does not exist yet: Crossbar starts and answers 404; check warns.
      const web = { transports: [{ type: 'web', endpoint: { type: 'tcp', port: 8080 }, paths: { '/': { type: 'static', directory: 'no-web-root' }, ws: { type: 'websocket' } } }] };
      const [, , , , , , , warned] = await Promise.all([
        checks(crossbarFile(dir, tls({ key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert], ca_certificates: [pki.rootCert] }))),
        refusedByBoth(crossbarFile(dir, tls({ key: join(pki.dir, 'nope.key'), certificate: pki.serverCert })), /transports\[0\]\.endpoint\.tls\.key: cannot read .*nope\.key: ENOENT/),
        refusedByBoth(crossbarFile(dir, tls({ key: pki.clientKey, certificate: pki.serverCert })), /transports\[0\]\.endpoint\.tls\.key: does not belong to the certificate/),
        refusedByBoth(crossbarFile(dir, tls({ key: pki.serverKey, certificate: pki.serverKey })), /transports\[0\]\.endpoint\.tls\.certificate: .* is not a PEM certificate/),
        refusedByBoth(crossbarFile(dir, tls({ key: pki.serverKey, certificate: pki.serverCert, ca_certificates: ['missing-ca.pem'] })), /endpoint\.tls\.ca_certificates\[0\]: cannot read/),
        refusedByBoth(crossbarFile(dir, {}, {}, [component]), /workers\[1\]\.components\[0\]\.module: cannot read .*no-such-component\.js: ENOENT/),
        refusedByBoth(crossbarFile(dir, {}, {}, [{ type: 'guest', executable: 'no-such-program-crosswire' }]), /workers\[1\]\.executable: 'no-such-program-crosswire' is not an executable file on PATH/),
        checks(crossbarFile(dir, web)),
      ]);
      assert.match(warned, /warning: workers\[0\]\.transports\[0\]\.paths\."\/"\.directory: .*no-web-root does not exist .*404/);
    } finally {
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});

describe('item 1: a web transport without "/"', () => {
  test('starts; "/" answers 404 and the other paths work', async () => {
    const file = crossbarFile(dir, {
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

