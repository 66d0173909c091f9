import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { UWS_BUILDS } from '../../src/uws.js';
import { baseImage, DEBIAN_GLIBC, envOf, execForm, healthcheck, NODE_ABI, parseDockerfile } from '../helpers/dockerfile.js';

const stages = parseDockerfile();
const final = stages.at(-1)!;
const ops = (op: string) => final.instructions.filter((i) => i.op === op);
const root = (p: string) => new URL(`../../../${p}`, import.meta.url);

describe('Dockerfile (static: no Docker engine here)', () => {
  test('multi-stage: a build stage compiles, the final stage installs production dependencies only', () => {
    assert.ok(stages.length >= 2, `${stages.length} stages`);
    const build = stages.find((s) => s.name === 'build');
    assert.ok(build, 'a stage named build');
    assert.ok(build.instructions.some((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args)));
    assert.ok(build.instructions.some((i) => i.op === 'RUN' && /\btsc\b/.test(i.args)));
    // Both stages on the same base image.
    assert.equal(new Set(stages.map((s) => s.from)).size, 1, stages.map((s) => s.from).join(', '));
    const installs = ops('RUN').filter((i) => /\bnpm (ci|install)\b/.test(i.args));
    assert.equal(installs.length, 1);
    assert.match(installs[0]!.args, /npm ci --omit=dev/);
    // The final stage takes compiled output from the build stage, no TypeScript sources.
    const copies = ops('COPY');
    assert.ok(copies.some((c) => c.args.startsWith('--from=build /app/dist/src ')));
    assert.ok(copies.some((c) => c.args.startsWith('--from=build /app/dist/workers ')));
    assert.ok(!copies.some((c) => /^(src|workers|test)\b/.test(c.args)), 'no sources copied into the final stage');
    assert.ok(existsSync(root('dist/src/cli.js')) && existsSync(root('dist/workers/realm-worker.js')), 'what the COPY --from lines name is what the build produces');
  });

  test("the base image is a Node LTS that package.json's engines supports, on a Debian whose glibc loads uWebSockets.js 20.57", () => {
    const base = baseImage(final.from);
    assert.ok(base, `FROM ${final.from}: expected node:<major>-<debian codename>[-slim]`);
    // Even majors are LTS lines; package.json's engines names each supported major as ^major.
    assert.equal(base.major % 2, 0, `Node ${base.major} is not an LTS line`);
    assert.ok(base.major >= 22, `Node ${base.major} is past its end of life (Node 20: 2026-04-30)`);
    const engines = (JSON.parse(readFileSync(root('package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    assert.match(engines, new RegExp(`\\^${base.major}\\.`), `engines.node ${engines} does not include Node ${base.major}`);
    // The preferred build (src/uws.ts): its glibc need against the image's, and a binary for the image's Node ABI.
    const newest = UWS_BUILDS[0];
    const glibc = DEBIAN_GLIBC[base.codename];
    assert.ok(glibc, `unknown Debian codename ${base.codename}`);
    const [have, need] = [glibc, newest.glibc].map((v) => v.split('.').map(Number)) as [[number, number], [number, number]];
    assert.ok(have[0] > need[0] || (have[0] === need[0] && have[1] >= need[1]), `${base.codename} has glibc ${glibc}; uWebSockets.js ${newest.version} needs ${newest.glibc}`);
    const dir = dirname(createRequire(import.meta.url).resolve(newest.module));
    assert.ok(existsSync(join(dir, `uws_linux_x64_${NODE_ABI[base.major]}.node`)), `uWebSockets.js ${newest.version} has no binary for Node ${base.major}`);
  });

  test('runs as a non-root user, listens on 0.0.0.0 via the environment, exposes that port', () => {
    const users = ops('USER');
    assert.ok(users.length >= 1);
    assert.ok(!['root', '0', '0:0'].includes(users.at(-1)!.args), `USER ${users.at(-1)!.args}`);
    const env = envOf(final);
    assert.equal(env.CROSSWIRE_INTERFACE, '0.0.0.0');
    assert.equal(env.CROSSWIRE_OPS_INTERFACE, '0.0.0.0');
    assert.equal(env.NODE_ENV, 'production');
    const port = env.CROSSWIRE_PORT;
    assert.match(port ?? '', /^\d+$/);
    assert.ok(ops('EXPOSE').some((e) => e.args.split(/\s+/).includes(port!)), `EXPOSE ${port}`);
  });

  test('HEALTHCHECK: exec form, GET /health on the configured port', () => {
    const { options, cmd } = healthcheck(final);
    assert.equal(cmd[0], 'node');
    assert.match(cmd.join(' '), /\/health'/);
    assert.match(cmd.join(' '), /process\.env\.CROSSWIRE_PORT/);
    for (const k of ['interval', 'timeout', 'retries']) assert.ok(options[k], `--${k}`);
  });

  test('exec-form ENTRYPOINT and CMD: node is the process that gets SIGTERM (no shell wrapper)', () => {
    const entry = execForm(ops('ENTRYPOINT').at(-1)!.args);
    assert.deepEqual(entry, ['node', 'dist/src/cli.js']);
    assert.deepEqual(execForm(ops('CMD').at(-1)!.args), ['start']);
    const stop = ops('STOPSIGNAL').at(-1)?.args ?? 'SIGTERM';
    assert.equal(stop, 'SIGTERM');
  });

  test('Python components: a WITH_PYTHON build arg (default off) adds python3-autobahn; the runner is where the compiled code looks for it', () => {
    const arg = ops('ARG').find((a) => a.args.startsWith('WITH_PYTHON'));
    assert.equal(arg?.args, 'WITH_PYTHON=0', 'off by default: the default image has no Python');
    const installs = ops('RUN').filter((r) => /apt-get install/.test(r.args));
    assert.equal(installs.length, 1);
    assert.match(installs[0]!.args.replace(/\s+/g, " "), /^if \[ "\$WITH_PYTHON" = 1 \]; then .*apt-get install -y --no-install-recommends python3 python3-autobahn && rm -rf \/var\/lib\/apt\/lists\/\*; fi$/);
    // The ARG comes before the RUN that reads it (ARG scope starts at its line).
    assert.ok(final.instructions.indexOf(arg!) < final.instructions.indexOf(installs[0]!));
    // src/container/python.ts finds the runner at ../../../python/ from dist/src/container: /app/python.
    const copy = ops('COPY').find((c) => c.args === 'python ./python');
    assert.ok(copy, 'COPY python ./python');
    assert.equal(new URL('../../../python/crosswire_component.py', 'file:///app/dist/src/container/python.js').pathname, '/app/python/crosswire_component.py');
    assert.ok(existsSync(root('python/crosswire_component.py')));
  });

  test('.dockerignore keeps node_modules and dist out of the build context', () => {
    const ignore = readFileSync(root('.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const p of ['node_modules', 'dist']) assert.ok(ignore.includes(p), p);
  });
});
