// Crossbar's `path` path service: a sub-tree of path services nested under one path segment,
// served on the real router (uWS routes with several segments) and driven with fetch and AutobahnJS.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkFiles } from '../../src/config/files.js';
import { buildConfig, ConfigError } from '../../src/config/load.js';
import { connect } from '../helpers/client.js';
import { get } from '../helpers/http.js';
import { ANONYMOUS_ALL, startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'crosswire-path-svc-'));
const realms = [{ name: 'realm1', roles: [ANONYMOUS_ALL] }];
const tcp = { type: 'tcp', port: 0, interface: '127.0.0.1' };
let r: TestRouter;
let base: string;
let backend: Server;
let backendPort: number;

const paths = () => ({
  '/': { type: 'static', directory: join(dir, 'site') },
  api: {
    type: 'path',
    id: 'api_tree',
    paths: {
      '/': { type: 'json', value: { v: 1 } },
      info: { type: 'nodeinfo' },
      ws: { type: 'websocket' },
      files: { type: 'static', directory: join(dir, 'files') },
      v1: {
        type: 'path',
        paths: {
          push: { type: 'publisher', realm: 'realm1', role: 'anonymous' },
          call: { type: 'caller', realm: 'realm1', role: 'anonymous' },
          up: { type: 'health' },
          app: { type: 'reverseproxy', host: '127.0.0.1', port: backendPort, path: '/backend' },
        },
      },
    },
  },
  // No "/": the path itself (and what is below it that no entry serves) is 404.
  empty: { type: 'path', paths: { x: { type: 'json', value: 'x' }, go: { type: 'redirect', url: 'https://crossbar.io/' } } },
});

before(async () => {
  // The root static directory holds files at the nested paths: they must not answer there.
  mkdirSync(join(dir, 'site', 'api'), { recursive: true });
  mkdirSync(join(dir, 'site', 'empty'), { recursive: true });
  mkdirSync(join(dir, 'files', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'site', 'index.html'), '<h1>home</h1>');
  writeFileSync(join(dir, 'site', 'api', 'info'), 'root static file, not nodeinfo');
  writeFileSync(join(dir, 'site', 'api', 'nothing'), 'root static file below /api');
  writeFileSync(join(dir, 'site', 'empty', 'index.html'), 'root static file at /empty');
  writeFileSync(join(dir, 'files', 'a.txt'), 'nested a');
  writeFileSync(join(dir, 'files', 'sub', 'index.html'), 'nested sub');
  // The reverseproxy's backend answers with the path it was asked for.
  backend = createServer((req, res) => res.end(`backend saw ${req.url}`));
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  backendPort = (backend.address() as AddressInfo).port;
  r = await startRouter({ realms, transports: [{ type: 'web', endpoint: tcp, paths: paths() }] });
  base = `http://127.0.0.1:${r.port}`;
});
after(async () => {
  await r.stop();
  await new Promise((resolve) => backend.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('serving nested paths', () => {
  test('the nested "/" answers at the path itself; the root static still serves the rest', async () => {
    const res = await get(`${base}/api`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^application\/json/);
    assert.deepEqual(await res.json(), { v: 1 });
    const home = await get(`${base}/`);
    assert.equal(await home.text(), '<h1>home</h1>');
  });

  test('nodeinfo at /api/info beats the root static\'s /* (and its file api/info)', async () => {
    const res = await get(`${base}/api/info`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Crosswire node info/);
  });

  test('below a nested path, what no entry serves is 404, not the root static\'s file', async () => {
    assert.equal((await get(`${base}/api/nothing`)).status, 404);
    assert.equal((await get(`${base}/api/v1`)).status, 404);
    assert.equal((await get(`${base}/api/v1/nothing`)).status, 404);
  });

  test('a nested tree without "/" is 404 at its path; its entries answer', async () => {
    const own = await get(`${base}/empty`, { redirect: 'manual' });
    assert.equal(own.status, 404);
    assert.equal((await get(`${base}/empty/`)).status, 404);
    assert.equal((await get(`${base}/empty/index.html`)).status, 404);
    assert.deepEqual(await (await get(`${base}/empty/x`)).json(), 'x');
    const go = await get(`${base}/empty/go`, { redirect: 'manual' });
    assert.deepEqual([go.status, go.headers.get('location')], [302, 'https://crossbar.io/']);
  });

  test('static at a nested path: files, and the trailing-slash redirects keep the whole path', async () => {
    const a = await get(`${base}/api/files/a.txt`);
    assert.deepEqual([a.status, await a.text()], [200, 'nested a']);
    const top = await get(`${base}/api/files`, { redirect: 'manual' });
    assert.deepEqual([top.status, top.headers.get('location')], [301, '/api/files/']);
    const sub = await get(`${base}/api/files/sub`, { redirect: 'manual' });
    assert.deepEqual([sub.status, sub.headers.get('location')], [301, '/api/files/sub/']);
    assert.equal(await (await get(`${base}/api/files/sub/`)).text(), 'nested sub');
    assert.equal((await get(`${base}/api/files/none.txt`)).status, 404);
  });

  test('ops services at a nested path', async () => {
    const res = await get(`${base}/api/v1/up`);
    assert.equal(res.status, 200);
  });

  test('an AutobahnJS client joins at /api/ws and receives what a POST to /api/v1/push publishes', async () => {
    const c = await connect(`ws://127.0.0.1:${r.port}/api/ws`, 'json');
    try {
      const events = new Inbox<unknown[]>();
      await c.session.subscribe('com.example.nested', (args) => events.push(args ?? []));
      const res = await get(`${base}/api/v1/push`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'com.example.nested', args: ['hello', 1] }),
      });
      assert.equal(res.status, 200);
      assert.equal(typeof ((await res.json()) as { id: unknown }).id, 'number');
      const [ev] = await events.waitFor(1);
      assert.deepEqual(ev, ['hello', 1]);
    } finally {
      await c.close();
    }
  });

  test('a POST to the caller at /api/v1/call calls a procedure registered over /api/ws', async () => {
    const c = await connect(`ws://127.0.0.1:${r.port}/api/ws`, 'msgpack');
    try {
      await c.session.register('com.example.add2', (args) => (args![0] as number) + (args![1] as number));
      const res = await get(`${base}/api/v1/call`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ procedure: 'com.example.add2', args: [2, 3] }),
      });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { args: [5] });
    } finally {
      await c.close();
    }
  });

  test('reverseproxy at a nested path forwards what is below it', async () => {
    const res = await get(`${base}/api/v1/app/x/y?q=1`);
    assert.deepEqual([res.status, await res.text()], [200, 'backend saw /backend/x/y?q=1']);
  });

  test('a plain GET on the nested websocket path gets its status page', async () => {
    const res = await get(`${base}/api/ws`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Crosswire/);
  });
});

describe('universal transport', () => {
  test('its web part nests path services too', async () => {
    const u = await startRouter({
      realms,
      transports: [
        {
          type: 'universal',
          endpoint: tcp,
          websocket: { ws: {} },
          web: { paths: { api: { type: 'path', paths: { '/': { type: 'json', value: [2] }, deep: { type: 'path', paths: { ws: { type: 'websocket' } } } } } } },
        },
      ],
    });
    try {
      assert.deepEqual(await (await get(`http://127.0.0.1:${u.port}/api`)).json(), [2]);
      const c = await connect(`ws://127.0.0.1:${u.port}/api/deep/ws`, 'msgpack');
      await c.close();
    } finally {
      await u.stop();
    }
  });
});

/** buildConfig of a router with one web transport with `p` as its paths. */
function build(p: Record<string, unknown>, transport: Record<string, unknown> = { type: 'web', endpoint: tcp, paths: p }) {
  return buildConfig({ version: 2, workers: [{ type: 'router', realms, transports: [transport] }] }, {}, dir);
}
const nest = (inner: Record<string, unknown>) => ({ api: { type: 'path', paths: { v1: { type: 'path', paths: inner } } } });

describe('config', () => {
  test('nested entries are flattened to multi-segment paths', () => {
    const c = build({ '/': { type: 'json', value: 0 }, ...nest({ '/': { type: 'nodeinfo' }, push: { type: 'publisher', realm: 'realm1', role: 'anonymous' } }) });
    const got = c.transports[0]!.paths!.map((p) => `${p.type} ${p.path}`);
    assert.deepEqual(got.sort(), ['json /', 'nodeinfo /api/v1', 'path /api', 'path /api/v1', 'publisher /api/v1/push']);
  });

  test('errors name the nested key as written', () => {
    const err = (p: Record<string, unknown>, re: RegExp, transport?: Record<string, unknown>) => assert.throws(() => build(p, transport), (e: unknown) => e instanceof ConfigError && re.test(e.message), String(re));
    // Checked in load.ts (the realm must exist), from the flattened entry.
    err(nest({ push: { type: 'publisher', realm: 'nope', role: 'anonymous' } }), /^workers\[0\]\.transports\[0\]\.paths\.api\.paths\.v1\.paths\.push\.realm: no realm 'nope'/);
    // Checked in web.ts as at the top level.
    err(nest({ push: { type: 'publisher', role: 'anonymous' } }), /^workers\[0\]\.transports\[0\]\.paths\.api\.paths\.v1\.paths\.push\.realm/);
    err(nest({ 'a/b': { type: 'json' } }), /^workers\[0\]\.transports\[0\]\.paths\.api\.paths\.v1\.paths\.a\/b: a path must be "\/" or one segment/);
    err(nest({ x: { type: 'archive' } }), /paths\.api\.paths\.v1\.paths\.x\.type: 'archive' path services are not implemented/);
    err(nest({ x: { type: 'static' } }), /paths\.api\.paths\.v1\.paths\.x\.directory: is required/);
    err(nest({ '/': { type: 'nodeinfo', extra: 1 } }), /paths\.api\.paths\.v1\.paths\."\/"\.extra: unknown key/);
    // Auth of a nested websocket path (load.ts).
    err(nest({ ws: { type: 'websocket', auth: { tls: { type: 'static', principals: {} } } } }), /^workers\[0\]\.transports\[0\]\.paths\.api\.paths\.v1\.paths\.ws\.auth\.tls: TLS client certificate authentication needs/);
    // The path service's own keys.
    err({ api: { type: 'path', paths: {}, options: {} } }, /^workers\[0\]\.transports\[0\]\.paths\.api\.options: unknown key/);
    err({ api: { type: 'path' } }, /^workers\[0\]\.transports\[0\]\.paths\.api\.paths: is required/);
    err({ api: { type: 'path', paths: [] } }, /paths\.api\.paths: is required/);
    err({ api: { type: 'path', id: 'X!', paths: {} } }, /paths\.api\.id: must match/);
    err({ api: { type: 'path', paths: { '/': { type: 'path', paths: {} } } } }, /paths\.api\.paths\."\/"\.type: a "\/" path service cannot be of type 'path'/);
    err({ '/': { type: 'path', paths: {} } }, /paths\."\/"\.type: a "\/" path service cannot be of type 'path'/);
    // A universal transport's web part: the key as written there.
    err({}, /^workers\[0\]\.transports\[0\]\.web\.paths\.api\.paths\.v1\.paths\.push\.realm: no realm/, {
      type: 'universal',
      endpoint: tcp,
      web: { paths: nest({ push: { type: 'publisher', realm: 'nope', role: 'anonymous' } }) },
    });
  });

  test('nesting is bounded', () => {
    const deep = (n: number): Record<string, unknown> => (n === 0 ? { x: { type: 'json', value: n } } : { d: { type: 'path', paths: deep(n - 1) } });
    const c = build(deep(16));
    assert.equal(c.transports[0]!.paths!.find((p) => p.type === 'json')!.path, `${'/d'.repeat(16)}/x`);
    assert.throws(() => build(deep(17)), (e: unknown) => e instanceof ConfigError && /^workers\[0\]\.transports\[0\](\.paths\.d){17}: path services nest at most 16 levels deep/.test(e.message));
  });

  test('crosswire check: nested static directories are checked, naming the nested key', () => {
    const raw = (t: Record<string, unknown>) => ({ version: 2, workers: [{ type: 'router', realms, transports: [t] }] });
    const missing = { api: { type: 'path', paths: { v1: { type: 'path', paths: { www: { type: 'static', directory: 'no-such-dir' } } } } } };
    const w = checkFiles(raw({ type: 'web', endpoint: tcp, paths: missing }), dir, {});
    assert.equal(w.length, 1, w.join('\n'));
    assert.match(w[0]!, /^workers\[0\]\.transports\[0\]\.paths\.api\.paths\.v1\.paths\.www\.directory: .*the path answers 404 until it exists/);
    const u = checkFiles(raw({ type: 'universal', endpoint: tcp, web: { paths: missing } }), dir, {});
    assert.match(u[0]!, /^workers\[0\]\.transports\[0\]\.web\.paths\.api\.paths\.v1\.paths\.www\.directory: /);
  });
});
