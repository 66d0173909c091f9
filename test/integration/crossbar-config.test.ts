// A Crossbar.io node config in the style of its docs, with the production WebSocket options of
// crossbar.md §2 verbatim, runs unchanged through the real CLI; a misspelled option does not.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { connect } from '../helpers/client.js';
import { PRODUCTION_OPTIONS } from '../helpers/crossbar-examples.js';
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
