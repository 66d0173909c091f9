import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import { envVars } from '../../src/config/effective.js';
import { CLI, runCli, spawnRouter } from '../helpers/process.js';
import { RawPeer } from '../helpers/raw.js';
import { within } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'crosswire-cli-'));
function configFile(name: string, content: unknown): string {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify(content));
  return f;
}
function routerConfig(crosswire: Record<string, unknown> = {}, transport: Record<string, unknown> = {}) {
  return {
    version: 2,
    workers: [
      {
        type: 'router',
        realms: [{ name: 'realm1', roles: [{ name: 'anonymous', 'allow-by-default': true }] }],
        transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 9090 }, ...transport }],
      },
    ],
    crosswire,
  };
}
/** Unsets every CROSSWIRE_* variable the machine may have set (spawn ignores undefined values). */
const CLEAN: Record<string, undefined> = Object.fromEntries(envVars().map((v) => [v.name, undefined]));

describe('crosswire check', { concurrency: true }, () => {
  test('a valid config: exit 0, and what would run, operations endpoints included', async () => {
    const f = configFile('ops.json', routerConfig({ ops: { port: 9100, on_transports: ['health'] }, shutdown_timeout: 5000 }));
    const { code, stdout, stderr } = await runCli(['check', '--config', f], CLEAN);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^configuration OK\n/);
    assert.match(stdout, /transport transport1: websocket on 0\.0\.0\.0:9090/);
    assert.match(stdout, /operations endpoints on the transport ports: \/health, \/ready\n/);
    assert.match(stdout, /operations endpoint: http:\/\/127\.0\.0\.1:9100 \(\/metrics, \/health, \/ready\)/);
    assert.match(stdout, /drain on SIGTERM: 5000 ms/);
  });

  test('invalid configs, a bad environment override, a missing file: exit 1, every message names the key', async () => {
    const ok = configFile('ok.json', routerConfig());
    const cases: [string[], Record<string, string | undefined>, RegExp][] = [
      [['check', '--config', configFile('bad0.json', routerConfig({ ops: { prot: 9100 } }))], CLEAN, /crosswire\.ops\.prot: unknown key/],
      [['check', '--config', configFile('bad1.json', routerConfig({ ops: { on_transports: ['graphs'] } }))], CLEAN, /crosswire\.ops\.on_transports: .*'graphs'/],
      [['check', '--config', configFile('bad2.json', routerConfig({ shutdown_timeout: 'soon' }))], CLEAN, /crosswire\.shutdown_timeout/],
      [['check', '--config', configFile('bad3.json', routerConfig({}, { endpoint: { type: 'tcp', port: 70000 } }))], CLEAN, /workers\[0\]\.transports\[0\]\.endpoint\.port/],
      [['check', '--config', ok], { ...CLEAN, CROSSWIRE_OPS_PORT: '99999' }, /crosswire\.ops\.port/],
      [['print-config', '--config', configFile('bad4.json', routerConfig({ nope: 1 }))], CLEAN, /crosswire\.nope: unknown key/],
      [['check', '--config', join(dir, 'nope.json')], CLEAN, /cannot read config file .*nope\.json/],
    ];
    const runs = await Promise.all(cases.map(([args, env]) => runCli(args, env)));
    for (const [i, { code, stdout, stderr }] of runs.entries()) {
      assert.equal(code, 1, `case ${i}: ${stdout}`);
      assert.match(stderr, /^crosswire: invalid configuration:\n/);
      assert.match(stderr, cases[i]![2]);
    }
  });
});

describe('crosswire print-config, --help', { concurrency: true }, () => {
  test('print-config: the effective config as JSON with defaults and environment overrides', async () => {
    const { code, stdout } = await runCli(['print-config'], { ...CLEAN, CROSSWIRE_SHUTDOWN_TIMEOUT: '4321', CROSSWIRE_OPS_PORT: '9100' });
    assert.equal(code, 0);
    // biome-ignore lint/suspicious/noExplicitAny: walks the printed JSON
    const c = JSON.parse(stdout) as { crosswire: Record<string, any>; workers: Record<string, any>[] };
    assert.equal(c.crosswire.shutdown_timeout, 4321);
    assert.equal(c.crosswire.ops.port, 9100);
    assert.equal(c.crosswire.log_level, 'info');
    assert.equal(c.workers[0]!.transports[0].options.max_message_size, 16777216);
  });

  test('--help documents every command, and every environment variable from the schema', async () => {
    const { code, stdout } = await runCli(['--help']);
    assert.equal(code, 0);
    for (const cmd of ['start [--config FILE]', 'check [--config FILE]', 'print-config [--config FILE]', '--version', '--cbdir DIR', 'CROSSBAR_DIR']) assert.ok(stdout.includes(cmd), cmd);
    for (const v of envVars()) assert.match(stdout, new RegExp(`${v.name} +${v.key.replace(/\./g, '\\.')} `), v.name);
    const unknown = await runCli(['frobnicate']);
    assert.equal(unknown.code, 2);
  });
});

describe('logging', () => {
  test('JSON lines with component loggers; each refused connection and protocol violation logged once with peer and reason', async () => {
    const proc = await spawnRouter();
    const url = `ws://127.0.0.1:${proc.port}/ws`;
    try {
      // Upgrade without a WAMP subprotocol.
      const ws = new WebSocket(url, ['foo']);
      await within(new Promise<void>((resolve) => ws.on('unexpected-response', (req) => {
            req.destroy();
            resolve();
          })), 5000, 'the 400');
      // HELLO for a realm that does not exist; HELLO offering only a disabled method.
      const a = await RawPeer.open(url, 'json');
      a.send([1, 'nosuchrealm', { roles: { caller: {} } }]);
      await a.next(3);
      const b = await RawPeer.open(url, 'json');
      b.send([1, 'realm1', { roles: { caller: {} }, authmethods: ['wampcra'] }]);
      await b.next(3);
      // A violation found on the main thread, and one found in the realm worker.
      const c = await RawPeer.open(url, 'msgpack');
      c.send([16, 1, {}, 'com.example.x']);
      await c.next(3);
      const d = await RawPeer.open(url, 'json');
      await d.join();
      d.send([1, 'realm1', {}]);
      await d.next(3);
      await within(Promise.all([a.closed, b.closed, c.closed, d.closed]), 5000, 'the closes');
    } finally {
      proc.child.kill('SIGTERM');
      await within(proc.exited, 15000, 'the router to exit');
    }
    const lines = proc.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines.every((l) => typeof l.level === 'number' && typeof l.time === 'string'));
    const components = new Set(lines.map((l) => l.component));
    for (const cpt of ['cli', 'router', 'realm']) assert.ok(components.has(cpt), `component ${cpt}: ${[...components].join(', ')}`);
    const expect = (msg: string, reason: RegExp) => {
      const hits = lines.filter((l) => l.msg === msg && reason.test(String(l.reason)));
      assert.equal(hits.length, 1, `${msg} ${reason}: ${JSON.stringify(hits)}`);
      assert.match(String(hits[0]!.peer), /^tcp:127\.0\.0\.1$/);
    };
    expect('connection refused', /^subprotocol$/);
    expect('session refused', /^wamp\.error\.no_such_realm$/);
    expect('session refused', /^wamp\.error\.no_matching_auth_method$/);
    expect('protocol violation', /first message of a session must be HELLO/);
    expect('protocol violation', /HELLO received on an established session/);
  });

  test('log_format pretty: human-readable lines from the main thread and from realm workers', async () => {
    const child = spawn(process.execPath, [CLI, 'start'], {
      env: { ...process.env, ...CLEAN, CROSSWIRE_PORT: '0', CROSSWIRE_LOG_FORMAT: 'pretty', CROSSWIRE_LOG_LEVEL: 'debug', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const seen = (pattern: RegExp) =>
      within(
        new Promise<void>((resolve) => {
          const check = () => pattern.test(out) && resolve();
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            check();
          });
          check();
        }),
        10000,
        `${pattern} in the output`,
      );
    // "realm worker started" is logged by the worker thread (debug), "crosswire ready" by the main thread.
    await Promise.all([seen(/DEBUG.*realm worker started/), seen(/INFO.*crosswire ready/)]);
    child.kill('SIGTERM');
    assert.equal(await within(exited, 10000, 'the router to exit'), 0);
    assert.match(out, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO/m);
    assert.ok(!out.split('\n').some((l) => l.startsWith('{')), 'no JSON lines');
    assert.match(out, /component: "realm"/);
  });
});
