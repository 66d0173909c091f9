// Which uWebSockets.js build runs (src/uws.ts): the newest whose binary loads on this Node and
// libc. The expectation is worked out here from the platform (glibc at run time, the binaries
// each package ships), independently of the loader, which only tries to load them in order.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { loadUws, UWS_BUILDS } from '../../src/uws.js';
import { connect } from '../helpers/client.js';
import { spawnRouter } from '../helpers/process.js';
import { within } from '../helpers/wait.js';

const require = createRequire(import.meta.url);
const glibc = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime ?? null;
const atLeast = (have: string, need: string) => {
  const [a, b] = [have, need].map((v) => v.split('.').map(Number));
  return a![0]! > b![0]! || (a![0] === b![0] && a![1]! >= b![1]!);
};
const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
const installed = (module: string): string | null => {
  try {
    return dirname(require.resolve(module));
  } catch {
    return null; // uWebSockets.js-20.30 is optional
  }
};
/** The first installed build that ships a binary for this Node ABI and whose glibc need this machine meets. */
const expected = UWS_BUILDS.find((b) => {
  const dir = installed(b.module);
  return dir !== null && existsSync(join(dir, b.binaryDir, binary)) && (glibc === null || atLeast(glibc, b.glibc));
});

describe(`uWebSockets.js build on Node ${process.version} (ABI ${process.versions.modules}), glibc ${glibc ?? 'none'}`, () => {
  test('the loader picks the newest build whose binary loads here, native', () => {
    assert.ok(expected, 'no build should load here: this platform is not supported (docs/platforms.md)');
    const loaded = loadUws(false, {});
    assert.equal(loaded.native, true);
    assert.equal(loaded.version, expected.version, `expected ${expected.version} (${expected.npm}), loaded ${loaded.build}`);
    // 20.57 wherever its glibc need is met: the old build only where nothing newer loads.
    if (glibc !== null && atLeast(glibc, UWS_BUILDS[0].glibc) && ['115', '127', '137', '141'].includes(process.versions.modules)) {
      assert.equal(loaded.version, '20.57.0');
    }
  });

  test('UWS_USE_FALLBACK asks for the pure-JS fallback: refused unless allowed, and the refusal says how to allow it', () => {
    assert.throws(() => loadUws(false, { UWS_USE_FALLBACK: '1' }), /UWS_USE_FALLBACK is set.*slow pure-JS implementation.*CROSSWIRE_ALLOW_UWS_FALLBACK=true/s);
    const allowed = loadUws(true, { UWS_USE_FALLBACK: 'true' });
    assert.equal(allowed.native, false);
    assert.match(allowed.build, /pure-JS fallback/);
  });

  test('the router names the build it runs on at startup and serves WAMP on it', async () => {
    const proc = await spawnRouter();
    try {
      const line = proc.stdout.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'uWebSockets.js loaded');
      assert.ok(line, proc.stdout.join('\n'));
      assert.match(String(line.uws), new RegExp(`^${expected!.version.replaceAll('.', '\\.')} \\(`));
      const conn = await connect(`ws://127.0.0.1:${proc.port}/ws`, 'msgpack');
      assert.equal(await conn.session.call('wamp.session.count'), 1);
      await conn.close();
    } finally {
      proc.child.kill('SIGTERM');
      await within(proc.exited, 10000, 'the router to exit');
    }
  });
});
