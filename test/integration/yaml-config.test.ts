// A Crossbar.io node config written in YAML (Crossbar reads `.yaml` with PyYAML's safe_load:
// YAML 1.1) starts Crosswire as its JSON twin would, through the real CLI; YAML mistakes are
// refused naming the file and the line (src/config/load.ts readConfigFile).
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { buildConfig, readConfigFile } from '../../src/config/load.js';
import { connect } from '../helpers/client.js';
import { runCli, spawnRouter } from '../helpers/process.js';
import { within } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'crosswire-yaml-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

// In the style of Crossbar's docs' config.yaml: an anchor and a merge key for the shared
// permission, YAML 1.1 booleans (yes/no, on/off), a ticket taken from the environment.
const CONFIG_YAML = `
version: 2
controller: {}
workers:
- type: router
  realms:
  - name: realm1
    roles:
    - name: backend
      permissions:
      - &all
        uri: ''
        match: prefix
        allow: {call: yes, register: on, publish: yes, subscribe: yes}
        disclose: {caller: no, publisher: off}
        cache: yes
    - name: frontend
      permissions:
      - <<: *all
        allow: {call: yes, register: no, publish: no, subscribe: yes}
  transports:
  - type: websocket
    endpoint:
      type: tcp
      port: 8080
    serializers: [json, msgpack]
    auth:
      ticket:
        type: static
        principals:
          service: {ticket: "\${YAML_TEST_TICKET}", role: backend}
          viewer: {ticket: viewer-secret, role: frontend}
`;

const CONFIG_JSON = {
  version: 2,
  controller: {},
  workers: [
    {
      type: 'router',
      realms: [
        {
          name: 'realm1',
          roles: [
            {
              name: 'backend',
              permissions: [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true }, disclose: { caller: false, publisher: false }, cache: true }],
            },
            {
              name: 'frontend',
              permissions: [{ uri: '', match: 'prefix', allow: { call: true, register: false, publish: false, subscribe: true }, disclose: { caller: false, publisher: false }, cache: true }],
            },
          ],
        },
      ],
      transports: [
        {
          type: 'websocket',
          endpoint: { type: 'tcp', port: 8080 },
          serializers: ['json', 'msgpack'],
          auth: { ticket: { type: 'static', principals: { service: { ticket: '${YAML_TEST_TICKET}', role: 'backend' }, viewer: { ticket: 'viewer-secret', role: 'frontend' } } } },
        },
      ],
    },
  ],
};

describe('YAML config files', () => {
  test('a config.yaml reads as its JSON twin (YAML 1.1 booleans, anchors and merge keys as PyYAML reads them)', () => {
    const env = { YAML_TEST_TICKET: 'service-secret' };
    const yaml = readConfigFile(file('config.yaml', CONFIG_YAML));
    assert.deepEqual(yaml, CONFIG_JSON);
    assert.deepEqual(buildConfig(yaml, env, dir), buildConfig(CONFIG_JSON, env, dir));
    // .yml too; `y`/`n` stay strings as in PyYAML (YAML 1.1's type repository would make them booleans).
    assert.deepEqual(readConfigFile(file('other.yml', 'version: 2\nanswer: y\nflag: n\nbool: Off\n')), { version: 2, answer: 'y', flag: 'n', bool: false });
  });

  test('crosswire start --config config.yaml: the router runs it (ticket from the environment, the merged role enforced)', async () => {
    const f = file('start.yaml', CONFIG_YAML);
    const check = await runCli(['check', '--config', f], { YAML_TEST_TICKET: 'service-secret' });
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /configuration OK/);
    const p = await spawnRouter(['--config', f], { YAML_TEST_TICKET: 'service-secret' });
    const url = `ws://127.0.0.1:${p.port}/ws`;
    try {
      const service = await connect(url, 'msgpack', 'realm1', { authmethods: ['ticket'], authid: 'service', onchallenge: () => 'service-secret' });
      const viewer = await connect(url, 'json', 'realm1', { authmethods: ['ticket'], authid: 'viewer', onchallenge: () => 'viewer-secret' });
      try {
        assert.deepEqual([service.details.authid, service.details.authrole, service.details.authmethod], ['service', 'backend', 'ticket']);
        assert.deepEqual([viewer.details.authid, viewer.details.authrole], ['viewer', 'frontend']);
        await service.session.register('com.example.add', (args?: unknown[]) => (args![0] as number) + (args![1] as number));
        assert.equal(await viewer.session.call('com.example.add', [2, 3]), 5);
        // `register: no` in the merged mapping overrides the anchor's `register: on`.
        await assert.rejects(viewer.session.register('com.example.mine', () => 1), (e: { error?: string }) => e.error === 'wamp.error.not_authorized');
      } finally {
        await viewer.close();
        await service.close();
      }
      await assert.rejects(connect(url, 'json', 'realm1', { authmethods: ['ticket'], authid: 'service', onchallenge: () => 'wrong', on_user_error: () => {} }), /authentication_failed|wamp\.error/);
    } finally {
      p.child.kill('SIGTERM');
      await within(p.exited, 10_000, 'the router to exit');
    }
  });

  test('YAML mistakes are refused naming the file and the line; other extensions name what is read', async () => {
    const cases: [string, string, RegExp][] = [
      ['dup.yaml', 'version: 2\nworkers: []\nversion: 2\n', /dup\.yaml: not valid YAML: Map keys must be unique at line 3, column 1/],
      ['syntax.yaml', 'version: 2\nworkers: [\n  {type: router}\ncontroller: {}\n', /syntax\.yaml: not valid YAML: .* at line \d+, column \d+/],
      ['tag.yaml', 'version: 2\nworkers: !!python/object:crossbar.Worker {}\n', /tag\.yaml: not valid YAML: Unresolved tag: tag:yaml\.org,2002:python\/object:crossbar\.Worker at line 2/],
      ['two.yaml', 'version: 2\n---\nversion: 2\n', /two\.yaml: not a YAML config: more than one YAML document \(a "---" line at 2\); a config file is one document/],
      ['config.toml', 'version = 2\n', /config\.toml: a config file is JSON \(\.json\) or YAML \(\.yaml, \.yml\)/],
    ];
    for (const [name, text, pattern] of cases) {
      const r = await runCli(['check', '--config', file(name, text)]);
      assert.notEqual(r.code, 0, name);
      assert.match(r.stderr, pattern, name);
    }
  });
});
