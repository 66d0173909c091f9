/** Crossbar-format node config files for the issue-16 tests, and the CLI checks they go through. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { runCli } from './process.js';

export const ALL = { call: true, register: true, publish: true, subscribe: true };

/** A temporary directory for this test file's configs, removed after its tests. */
export function configDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A Crossbar node config file in `dir`: one router worker (realm1, anonymous may do everything), `router` keys replaced, then `workers` and top-level `more`. */
export function crossbarFile(dir: string, router: Record<string, unknown>, more: Record<string, unknown> = {}, workers: unknown[] = []): string {
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

/** `crosswire check` accepts the file; resolves with its output. */
export async function checks(file: string, env: Record<string, string | undefined> = {}): Promise<string> {
  const r = await runCli(['check', '--config', file], env);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** `crosswire check` and `crosswire start` both refuse the file with a message matching `pattern`. */
export async function refusedByBoth(file: string, pattern: RegExp, env: Record<string, string | undefined> = {}): Promise<void> {
  const run = (cmd: string) => runCli([cmd, '--config', file], { CROSSWIRE_PORT: '0', CROSSWIRE_INTERFACE: '127.0.0.1', ...env });
  const [check, start] = await Promise.all([run('check'), run('start')]);
  for (const [cmd, r] of [['check', check], ['start', start]] as const) {
    assert.equal(r.code, 1, `${cmd}: ${r.stdout}`);
    assert.match(r.stderr, pattern, cmd);
  }
}

/** A TCP port that was free a moment ago (for configs whose components must know the router's port). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}
