// Which config file runs, by Crossbar's rules for its node directory (crossbar/node/main.py):
// --cbdir (else CROSSBAR_DIR) with --config relative to it, defaulting to its config.json, then
// config.yaml; paths in the file relative to the node directory; a ./.crossbar node directory
// found as `crossbar start` finds it (src/config/load.ts locateConfig).
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { connect } from '../helpers/client.js';
import { runCli, spawnRouter } from '../helpers/process.js';
import { within } from '../helpers/wait.js';

const top = mkdtempSync(join(tmpdir(), 'crosswire-cbdir-'));
after(() => rmSync(top, { recursive: true, force: true }));

/** A version-2 config whose one realm is named `realm` (so the run shows which file was read). */
function config(realm: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 2,
    workers: [
      {
        type: 'router',
        realms: [{ name: realm, roles: [{ name: 'anonymous', permissions: [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true } }] }] }],
        transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 8080 }, ...extra }],
      },
    ],
  };
}

function nodeDir(name: string, files: Record<string, string>): string {
  const dir = join(top, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}

const yaml = (realm: string) => `version: 2\nworkers:\n- type: router\n  realms:\n  - name: ${realm}\n    roles: [{name: anonymous}]\n  transports:\n  - type: websocket\n    endpoint: {type: tcp, port: 8080}\n`;

describe('the config file of a Crossbar node directory', () => {
  test('--cbdir DIR: its config.json, else its config.yaml; --config relative to it', async () => {
    const both = nodeDir('both', { 'config.json': JSON.stringify(config('from_json')), 'config.yaml': yaml('from_yaml') });
    const yamlOnly = nodeDir('yaml-only', { 'config.yaml': yaml('from_yaml'), 'other.json': JSON.stringify(config('from_other')) });
    const cases: [string[], string, string][] = [
      [['--cbdir', both], join(both, 'config.json'), 'from_json'],
      [['--cbdir', yamlOnly], join(yamlOnly, 'config.yaml'), 'from_yaml'],
      [['--cbdir', yamlOnly, '--config', 'other.json'], join(yamlOnly, 'other.json'), 'from_other'],
    ];
    for (const [args, file, realm] of cases) {
      const r = await runCli(['check', ...args], {}, top);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^configuration OK\\nconfig: ${file.replace(/[.]/g, '\\.')}\\n`), args.join(' '));
      assert.match(r.stdout, new RegExp(`^realm ${realm} `, 'm'), args.join(' '));
    }
  });

  test('CROSSBAR_DIR as --cbdir (which wins over it); an empty or missing node directory is an error naming it', async () => {
    const a = nodeDir('env-a', { 'config.yaml': yaml('realm_a') });
    const b = nodeDir('env-b', { 'config.json': JSON.stringify(config('realm_b')) });
    const viaEnv = await runCli(['check'], { CROSSBAR_DIR: a }, top);
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.match(viaEnv.stdout, /^realm realm_a /m);
    const flagWins = await runCli(['check', '--cbdir', b], { CROSSBAR_DIR: a }, top);
    assert.match(flagWins.stdout, /^realm realm_b /m);
    const empty = nodeDir('empty', {});
    const none = await runCli(['check', '--cbdir', empty], {}, top);
    assert.equal(none.code, 1);
    assert.match(none.stderr, new RegExp(`no --config given, and the node directory ${empty.replace(/[.]/g, '\\.')} \\(--cbdir\\) has neither config\\.json nor config\\.yaml`));
    const missing = await runCli(['check'], { CROSSBAR_DIR: join(top, 'nope') }, top);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /CROSSBAR_DIR .*nope: no such directory/);
  });

  test("paths in the file are relative to the node directory, as in Crossbar (a static directory '../web')", async () => {
    const dir = nodeDir('paths/.crossbar', {
      'config.json': JSON.stringify({
        version: 2,
        workers: [{ type: 'router', realms: [{ name: 'realm1', roles: [] }], transports: [{ type: 'web', endpoint: { type: 'tcp', port: 8080 }, paths: { '/': { type: 'static', directory: '../web' } } }] }],
      }),
    });
    // From another working directory, with the file named relative to the node directory.
    const r = await runCli(['check', '--cbdir', dir, '--config', 'config.json'], {}, tmpdir());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`warning: .*paths\\."/"\\.directory: ${join(top, 'paths', 'web').replace(/[.]/g, '\\.')} does not exist`));
  });

  test('crosswire start in a folder with a .crossbar node directory runs its config, as crossbar start does; elsewhere the embedded default', async () => {
    const project = join(top, 'project');
    nodeDir('project/.crossbar', { 'config.yaml': yaml('project_realm') });
    const p = await spawnRouter([], {}, project);
    try {
      assert.ok(p.stdout.some((l) => l.includes(`"config":"${join(project, '.crossbar', 'config.yaml')}"`)), p.stdout.join('\n'));
      const c = await connect(`ws://127.0.0.1:${p.port}/ws`, 'json', 'project_realm');
      await c.close();
    } finally {
      p.child.kill('SIGTERM');
      await within(p.exited, 10_000, 'the router to exit');
    }
    const elsewhere = await runCli(['check'], {}, top);
    assert.equal(elsewhere.code, 0, elsewhere.stderr);
    assert.match(elsewhere.stdout, /^configuration OK\nconfig: the embedded default\n/);
    assert.match(elsewhere.stdout, /^realm realm1 /m);
  });
});
