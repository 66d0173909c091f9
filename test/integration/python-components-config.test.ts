// Python components, configuration side: errors that name the component and what to do, interpreter
// discovery, `check`, and the router components' private socket driven in process.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { checkFiles } from '../../src/config/files.js';
import { buildConfig, readConfigFile } from '../../src/config/load.js';
import { createLogger } from '../../src/shared/log.js';
import { Router } from '../../src/router.js';
import { MsgType } from '../../src/shared/wamp/codes.js';
import { checks, configDir, crossbarFile, refusedByBoth } from '../helpers/crossbar-files.js';
import { type RouterProcess, runCli, spawnRouter } from '../helpers/process.js';
import { RawPeer } from '../helpers/raw.js';
import { within } from '../helpers/wait.js';

const FIXTURE = new URL('../../../test/fixtures/python-components/', import.meta.url).pathname;
const CONFIG = join(FIXTURE, 'config.json');
const dir = configDir('crosswire-python-config-');
const ROLES = { call: true, register: true, publish: true, subscribe: true };

type Line = Record<string, unknown>;
/** The first log line (seen or future) with these fields. */
const line = (p: RouterProcess, fields: Line, ms = 30_000): Promise<Line> =>
  p
    .waitForLine((l) => {
      if (!l.startsWith('{')) return false;
      const o = JSON.parse(l) as Line;
      return Object.entries(fields).every(([k, v]) => o[k] === v);
    }, ms, JSON.stringify(fields))
    .then((l) => JSON.parse(l) as Line);

describe('Python component errors', () => {
  test('a classname that cannot be imported: the traceback\'s last line and the pythonpath, under the component; restarted with backoff', async () => {
    const file = crossbarFile(dir, {
      options: { pythonpath: ['.'] },
      components: [{ type: 'class', id: 'ghost', classname: 'nosuchmodule.Thing', realm: 'realm1', role: 'anonymous' }],
      transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 8080, interface: '127.0.0.1' } }],
    });
    const p = await spawnRouter(['--config', file], { CROSSWIRE_LOG_FORMAT: 'json' });
    try {
      const err = await line(p, { component: 'ghost', level: 50 });
      assert.match(String(err.msg), /^cannot import classname 'nosuchmodule\.Thing': ModuleNotFoundError: No module named 'nosuchmodule' \(pythonpath: \[".*"\]\)$/);
      assert.deepEqual(err.pythonpath, [dir]);
      await line(p, { component: 'ghost', msg: 'restarting component', restarts: 1 });
    } finally {
      p.child.kill('SIGTERM');
      await within(p.exited, 10_000, 'exit');
    }
  });

  test('no Autobahn|Python in the interpreter: check and start refuse, naming the component and what to install', async () => {
    // A real Python without Autobahn|Python: Debian's, with its site-packages switched off (-S).
    const bare = join(dir, 'bare-python');
    writeFileSync(bare, '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n');
    chmodSync(bare, 0o755);
    const file = crossbarFile(dir, { components: [{ type: 'class', id: 'auth', classname: 'app.Auth', realm: 'realm1' }] });
    await refusedByBoth(
      file,
      /workers\[0\]\.components\[0\] \(router 'router', component 'auth'\): the Python interpreter crosswire\.python \(CROSSWIRE_PYTHON\) names, .*bare-python, cannot run Python components: ModuleNotFoundError: No module named 'autobahn'\. Install Autobahn\|Python for it \(Debian\/Ubuntu: apt-get install python3-autobahn; elsewhere: pip install autobahn\[twisted\]\)/,
      { CROSSWIRE_PYTHON: bare },
    );
    // The same through the worker's own options.python (Crossbar's key), which wins over crosswire.python.
    const own = crossbarFile(dir, {}, {}, [
      { type: 'container', id: 'box', options: { python: bare }, components: [{ type: 'class', id: 'job', classname: 'app.Job', realm: 'realm1', transport: { type: 'websocket', url: 'ws://127.0.0.1:8080/ws', endpoint: { type: 'tcp', host: '127.0.0.1', port: 8080 } } }] },
    ]);
    await refusedByBoth(own, /workers\[1\]\.components\[0\] \(container 'box', component 'job'\): the Python interpreter workers\[1\]\.options\.python names, .*bare-python, cannot run Python components: ModuleNotFoundError: No module named 'autobahn'/, { CROSSWIRE_PYTHON: '/usr/bin/python3' });
  });

  test('print-config shows the Python components (container workers as written)', async () => {
    const r = await runCli(['print-config', '--config', CONFIG], { CROSSWIRE_PORT: '8080' });
    assert.equal(r.code, 0, r.stderr);
    const c = JSON.parse(r.stdout) as { workers: { type: string; components: { classname: string }[] }[] };
    assert.deepEqual(c.workers.map((w) => [w.type, w.components.map((x) => x.classname)]), [
      ['router', ['backend.Backend', 'raises.RaisesOnJoin']],
      ['container', ['listener.Listener', 'exits.Exits']],
    ]);
  });

  test('interpreter discovery: python3 on PATH without Autobahn|Python is passed over for /usr/bin/python3', async () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'python3'), '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n');
    chmodSync(join(bin, 'python3'), 0o755);
    const file = crossbarFile(dir, { components: [{ type: 'class', id: 'auth', classname: 'app.Auth', realm: 'realm1' }] });
    const out = await checks(file, { PATH: `${bin}:${process.env.PATH}`, CROSSWIRE_PYTHON: '' });
    assert.match(out, /^python component router\/auth: app\.Auth on realm realm1 as role anonymous \(\/usr\/bin\/python3: Python 3\.\d+\.\d+, Autobahn\|Python [\d.]+\)$/m);
  });

  test('check and start refuse bad component entries, naming the key', async () => {
    const py = (extra: Record<string, unknown>) => ({ type: 'class', classname: 'app.Thing', realm: 'realm1', ...extra });
    const transport = { type: 'websocket', url: 'ws://127.0.0.1:8080/ws', endpoint: { type: 'tcp', host: '127.0.0.1', port: 8080 } };
    const cases: [string, RegExp][] = [
      [crossbarFile(dir, { components: [py({ classname: 'Thing' })] }), /workers\[0\]\.components\[0\]\.classname: 'Thing' is not a dotted Python name \(module\.Class\)/],
      [crossbarFile(dir, { components: [{ type: 'class', realm: 'realm1' }] }), /workers\[0\]\.components\[0\]\.classname: is required/],
      [crossbarFile(dir, { components: [py({ role: 'admin' })] }), /workers\[0\]\.components\[0\]\.role: realm 'realm1' has no role 'admin'/],
      [crossbarFile(dir, { components: [py({ realm: 'realm2' })] }), /workers\[0\]\.components\[0\]\.realm: no realm 'realm2' on this router/],
      [crossbarFile(dir, { components: [py({ extra: [1, 2] })] }), /workers\[0\]\.components\[0\]\.extra: must be an object/],
      [crossbarFile(dir, { components: [py({ password: 'x' })] }), /workers\[0\]\.components\[0\]\.password: unknown key/],
      [crossbarFile(dir, { components: [{ type: 'wamplet', package: 'app', entrypoint: 'make' }] }), /workers\[0\]\.components\[0\]\.type: 'wamplet' components are not supported .*"type": "class" and "classname": "package\.module\.Class"/],
      [crossbarFile(dir, { components: [{ type: 'function', realm: 'realm1', callbacks: { join: 'app.on_join' } }] }), /workers\[0\]\.components\[0\]\.type: 'function' components \(Python callbacks\) are not implemented/],
      [crossbarFile(dir, { options: { pythonpath: ['no/such/dir'] }, components: [py({})] }), /workers\[0\]\.options\.pythonpath\[0\]: .*no\/such\/dir does not exist/],
      [crossbarFile(dir, { options: { env: { inherit: 'yes' } } }), /workers\[0\]\.options\.env\.inherit: must be true, false or a list of environment variable names/],
      [crossbarFile(dir, {}, {}, [{ type: 'container', components: [py({ transport: { type: 'rawsocket', endpoint: transport.endpoint } })] }]), /workers\[1\]\.components\[0\]\.transport\.serializer: is required for a connecting rawsocket transport/],
      [crossbarFile(dir, {}, {}, [{ type: 'container', components: [py({})] }]), /workers\[1\]\.components\[0\]\.transport: is required/],
      [crossbarFile(dir, {}, {}, [{ type: 'container', components: [py({ transport, role: 'x' })] }]), /workers\[1\]\.components\[0\]\.role: unknown key/],
      [crossbarFile(dir, {}, {}, [{ type: 'container', components: [py({ transport, classname: 'a..b' })] }]), /workers\[1\]\.components\[0\]\.classname: 'a\.\.b' is not a dotted Python name/],
    ];
    // Each case in process (what check and start both run: buildConfig, then checkFiles) ...
    const validate = (file: string) => {
      const raw = readConfigFile(file);
      buildConfig(raw, {}, dirname(file));
      checkFiles(raw, dirname(file), {});
    };
    for (const [file, pattern] of cases) assert.throws(() => validate(file), pattern);
    // ... and two through the CLI.
    await Promise.all([cases[6]!, cases[8]!].map(([file, pattern]) => refusedByBoth(file, pattern)));
  });
});

describe("the router components' private socket, in process", () => {
  test('a token admits one session with the configured role and authid; used, forged or for another realm it is refused', async () => {
    const config = buildConfig(
      {
        version: 2,
        workers: [
          {
            type: 'router',
            realms: [
              { name: 'realm1', roles: [{ name: 'backend', permissions: [{ uri: '', match: 'prefix', allow: ROLES }] }] },
              { name: 'realm2', roles: [{ name: 'anonymous', permissions: [] }] },
            ],
            transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' } }],
            components: [{ type: 'class', id: 'svc', classname: 'app.Svc', realm: 'realm1', role: 'backend', authid: 'svc-1' }],
          },
        ],
        crosswire: { log_level: 'silent', shutdown_timeout: 500 },
      },
      {},
    );
    const router = await Router.start(config, createLogger('silent'));
    const gate = router.componentGate!;
    const sock = `ws+unix://${gate.socket}:/ws`;
    try {
      assert.deepEqual(readdirSync(gate.dir), ['router.sock']);
      const token = gate.issue(config.pythonComponents[0]!);
      const hello = (realm: string, t: unknown) => [MsgType.HELLO, realm, { roles: { callee: {} }, authrole: 'admin', authid: 'mallory', authextra: { crosswire_component_token: t } }];
      // Another realm: refused (and the token stays unusable for it).
      const wrongRealm = await RawPeer.open(sock, 'json');
      wrongRealm.send(hello('realm2', gate.issue(config.pythonComponents[0]!)));
      assert.equal((await wrongRealm.next(MsgType.ABORT))[2], 'wamp.error.authentication_failed');
      // The token: WELCOME with the configured role and authid, whatever the HELLO asked for.
      const first = await RawPeer.open(sock, 'msgpack');
      first.send(hello('realm1', token));
      const welcome = (await first.next(MsgType.WELCOME)) as [number, number, Record<string, unknown>];
      assert.deepEqual([welcome[2].authrole, welcome[2].authid, welcome[2].authmethod], ['backend', 'svc-1', 'trusted']);
      // The same token again, while the first session is on and after it left: refused.
      for (const when of ['while joined', 'after leaving']) {
        if (when === 'after leaving') {
          first.send([MsgType.GOODBYE, {}, 'wamp.close.normal']);
          await first.next(MsgType.GOODBYE);
        }
        const again = await RawPeer.open(sock, 'json');
        again.send(hello('realm1', token));
        const abort = await again.next(MsgType.ABORT);
        assert.deepEqual([abort[2], (abort[1] as { message: string }).message], ['wamp.error.authentication_failed', 'unknown, revoked or already used component token'], when);
      }
      // A revoked token (its process exited) is refused too.
      const revoked = gate.issue(config.pythonComponents[0]!);
      gate.revoke(revoked);
      const late = await RawPeer.open(sock, 'json');
      late.send(hello('realm1', revoked));
      assert.equal((await late.next(MsgType.ABORT))[2], 'wamp.error.authentication_failed');
    } finally {
      await router.shutdown(500);
    }
    assert.throws(() => statSync(gate.dir), /ENOENT/, 'the private directory is removed on shutdown');
  });
});
