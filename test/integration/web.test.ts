// A `web` transport (Crossbar.io docs, "Web Services") sharing one port: static files, a WAMP WebSocket path,
// nodeinfo, json and redirect services, driven with Node's fetch and AutobahnJS.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildConfig, ConfigError } from '../../src/config/load.js';
import { connect } from '../helpers/client.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { get } from '../helpers/http.js';
import { Inbox } from '../helpers/wait.js';
import { rawHttp, WireClient } from '../helpers/wire.js';

const dir = mkdtempSync(join(tmpdir(), 'crosswire-web-'));
let r: TestRouter;
let base: string;

const paths = () => ({
  '/': { type: 'static', directory: join(dir, 'site'), options: { mime_types: { '.md': 'text/markdown; charset=utf-8' } } },
  ws: { type: 'websocket', serializers: ['json', 'msgpack'], cookie: {}, options: { allowed_origins: ['https://*.example.com'] } },
  files: { type: 'static', directory: join(dir, 'files'), options: { enable_directory_listing: true, default_file: 'app.html', cache_timeout: null } },
  info: { type: 'nodeinfo' },
  config: { type: 'json', value: { realm: 'realm1', n: [1, 2] }, options: { prettify: true, discourage_caching: true } },
  home: { type: 'redirect', url: 'https://crossbar.io/' },
});

before(async () => {
  mkdirSync(join(dir, 'site', 'sub'), { recursive: true });
  mkdirSync(join(dir, 'files', 'docs'), { recursive: true });
  writeFileSync(join(dir, 'site', 'index.html'), '<h1>home</h1>');
  writeFileSync(join(dir, 'site', 'notes.md'), '# notes');
  writeFileSync(join(dir, 'site', 'sub', 'a.txt'), 'a');
  writeFileSync(join(dir, 'secret.txt'), 'secret');
  writeFileSync(join(dir, 'files', 'app.html'), '<div id=app></div>');
  writeFileSync(join(dir, 'files', 'docs', 'b.json'), '{}');
  // Symlinks out of the served directories (relative, absolute, through a subdirectory) and in.
  symlinkSync('../secret.txt', join(dir, 'site', 'link.txt'));
  symlinkSync('..', join(dir, 'site', 'up'));
  symlinkSync('../..', join(dir, 'site', 'sub', 'deep'));
  symlinkSync(join(dir, 'secret.txt'), join(dir, 'files', 'abs.txt'));
  symlinkSync('notes.md', join(dir, 'site', 'notes-link.md'));
  symlinkSync('sub', join(dir, 'site', 'sub-link'));
  symlinkSync('../site/sub/a.txt', join(dir, 'files', 'other-static.txt'));
  // A FIFO as a directory's index.html: opening it must not wait for a writer.
  mkdirSync(join(dir, 'site', 'pipe'));
  execFileSync('mkfifo', [join(dir, 'site', 'pipe', 'index.html')]);
  r = await startRouter({ transports: [{ type: 'web', endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' }, paths: paths() }] });
  base = `http://127.0.0.1:${r.port}`;
});
after(async () => {
  await r.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('static', () => {
  test('the root directory: index.html, Crossbar headers, MIME types (with mime_types overrides)', async () => {
    const res = await get(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '<h1>home</h1>');
    assert.match(res.headers.get('content-type')!, /^text\/html/);
    assert.equal(res.headers.get('cache-control'), 'max-age=43200', 'cache_timeout defaults to 12 h');
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.equal(res.headers.get('server'), 'Crosswire');
    const md = await get(`${base}/notes.md`);
    assert.equal(md.headers.get('content-type'), 'text/markdown; charset=utf-8');
    assert.equal((await get(`${base}/sub/a.txt`)).status, 200);
  });

  test('no listing unless enabled; no way out of the directory', async () => {
    assert.equal((await get(`${base}/sub/`)).status, 404);
    assert.equal((await get(`${base}/nothing.html`)).status, 404);
    assert.equal((await rawHttp(r.port, 'GET /../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n')).status, 404);
    assert.equal((await get(`${base}/%2e%2e/secret.txt`)).status, 404);
    assert.equal((await get(`${base}/sub%2f..%2f..%2fsecret.txt`)).status, 404);
  });

  test('symlinks that lead out of the directory are 404, whatever the route to them', async () => {
    for (const path of ['/link.txt', '/up/secret.txt', '/up/', '/up', '/sub/deep/secret.txt', '/sub/deep/', '/sub-link/../link.txt']) {
      const res = await rawHttp(r.port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.equal(res.status, 404, path);
    }
    // Also where default_file would answer an unknown path: out is 404, not the app page.
    const abs = await get(`${base}/files/abs.txt`);
    assert.deepEqual([abs.status, await abs.text()], [404, 'Not Found\n']);
  });

  test('symlinks that stay inside the directory are served like what they point at', async () => {
    const md = await get(`${base}/notes-link.md`);
    assert.deepEqual([md.status, await md.text()], [200, '# notes']);
    assert.equal((await get(`${base}/sub-link/a.txt`)).status, 200);
    const redirect = await get(`${base}/sub-link`, { redirect: 'manual' });
    assert.deepEqual([redirect.status, redirect.headers.get('location')], [301, '/sub-link/']);
    // Inside means inside this service's directory, not another static directory of the router.
    assert.equal((await get(`${base}/files/other-static.txt`)).status, 404);
  });

  test('a FIFO is no file: 404 at once, nothing waits for a writer', async () => {
    assert.equal((await rawHttp(r.port, 'GET /pipe/ HTTP/1.1\r\nHost: x\r\n\r\n')).status, 404);
    assert.equal((await rawHttp(r.port, 'GET /pipe/index.html HTTP/1.1\r\nHost: x\r\n\r\n')).status, 404);
  });

  test('the trailing-slash redirect never points at another host', async () => {
    const cases: [string, string][] = [
      ['//evil.example/..', '/'],
      ['/\\evil.example/..', '/'],
      ['/%2F%2Fevil.example/..', '/'],
      ['/%5Cevil.example/..', '/'],
      ['/files//evil.example/..', '/files/'],
      ['/sub/./', ''],
      ['//sub', '/sub/'],
    ];
    for (const [path, location] of cases) {
      const res = await rawHttp(r.port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      if (location === '') {
        assert.notEqual(res.status, 301, path);
        continue;
      }
      assert.deepEqual([res.status, res.headers.location], [301, location], path);
    }
  });

  test('a static path below the root: directory listing, default_file for unknown paths, no cache header', async () => {
    const redirect = await get(`${base}/files`, { redirect: 'manual' });
    assert.deepEqual([redirect.status, redirect.headers.get('location')], [301, '/files/']);
    const list = await get(`${base}/files/`);
    const html = await list.text();
    assert.match(html, /href="app\.html"/);
    assert.match(html, /href="docs\/"/);
    assert.equal(list.headers.get('cache-control'), null);
    const spa = await get(`${base}/files/some/client/route`);
    assert.deepEqual([spa.status, await spa.text()], [200, '<div id=app></div>']);
  });
});

describe('services', () => {
  test('websocket: a WAMP endpoint on /ws with its own options and cookie; a plain GET gets its status page', async () => {
    const [sub, pub] = await Promise.all([connect(`ws://127.0.0.1:${r.port}/ws`, 'msgpack'), connect(`ws://127.0.0.1:${r.port}/ws`, 'json')]);
    const got = new Inbox<unknown[]>();
    await sub.session.subscribe('com.example.web', (a) => got.push(a ?? []));
    await pub.session.publish('com.example.web', ['over the web transport'], {}, { acknowledge: true });
    assert.deepEqual(await got.waitFor(1), [['over the web transport']]);
    await Promise.all([sub.close(), pub.close()]);
    const up = await rawHttp(r.port, WireClient.request('/ws', { Origin: 'https://app.example.com' }));
    assert.equal(up.status, 101);
    assert.match(up.headers['set-cookie']!, /^cbtid=/);
    assert.equal((await rawHttp(r.port, WireClient.request('/ws', { Origin: 'https://evil.org' }))).status, 403);
    const page = await get(`${base}/ws`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Crosswire WAMP router/);
    // Other paths are no WebSocket endpoints.
    assert.notEqual((await rawHttp(r.port, WireClient.request('/info'))).status, 101);
  });

  test('nodeinfo, json (prettify, cross-origin, no caching), redirect (302), unknown paths 404', async () => {
    const info = await get(`${base}/info`);
    const text = await info.text();
    assert.match(text, /Crosswire \d+\.\d+\.\d+/);
    assert.match(text, new RegExp(`<td>${process.pid}</td>`));
    const json = await get(`${base}/config`);
    assert.equal(await json.text(), JSON.stringify({ realm: 'realm1', n: [1, 2] }, null, 2));
    assert.equal(json.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(json.headers.get('access-control-allow-origin'), '*');
    assert.equal(json.headers.get('cache-control'), 'no-store, no-cache, must-revalidate, max-age=0');
    const home = await get(`${base}/home`, { redirect: 'manual' });
    assert.deepEqual([home.status, home.headers.get('location')], [302, 'https://crossbar.io/']);
  });
});

describe('config', () => {
  const web = (p: Record<string, unknown>, options: Record<string, unknown> = {}) => ({
    version: 2,
    workers: [{ type: 'router', realms: [{ name: 'realm1', roles: [{ name: 'anonymous', 'allow-by-default': true }] }], transports: [{ type: 'web', endpoint: { type: 'tcp', port: 8080 }, paths: p, options }] }],
  });
  const refused = (raw: unknown, re: RegExp) =>
    assert.throws(() => buildConfig(raw, {}), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, re);
      return true;
    });
  test('path services Crosswire does not implement and bad keys are refused by name', () => {
    refused(web({ '/': { type: 'websocket-reverseproxy', url: 'ws://x' } }), /paths\."\/"\.type: 'websocket-reverseproxy' path services are not implemented/);
    refused(web({ '/': { type: 'nodeinfo' }, 'a/b': { type: 'nodeinfo' } }), /paths\.a\/b: a path must be "\/" or one segment/);
    refused(web({ '/': { type: 'nodeinfo' }, ws: { type: 'websocket', endpoint: { type: 'tcp', port: 1 } } }), /paths\.ws\.endpoint: a websocket path service has no endpoint/);
    refused(web({ '/': { type: 'nodeinfo' }, ws: { type: 'websocket', options: { auto_ping_intervall: 1 } } }), /paths\.ws\.options\.auto_ping_intervall: unknown key/);
    refused(web({ '/': { type: 'static', directory: '.', options: { enable_directory_listng: true } } }), /paths\."\/"\.options\.enable_directory_listng: unknown key/);
    refused(web({ '/': { type: 'static', package: 'mypkg', resource: 'web' } }), /package: Python package resources/);
    assert.deepEqual(buildConfig(web({ '/': { type: 'nodeinfo' } }, { client_timeout: 60 }), {}).warnings, [
      'workers[0].transports[0].options.client_timeout: 60 is not applied: uWebSockets.js closes idle HTTP connections after a fixed ~10 s',
    ]);
    refused(web({ '/': { type: 'nodeinfo' } }, { client_timeout: 'long' }), /options\.client_timeout: must be null or an integer >= 0/);
    refused(web({ '/': { type: 'nodeinfo' } }, { hsts: true }), /options\.hsts: HSTS needs a TLS endpoint/);
    refused(web({ '/': { type: 'nodeinfo' }, ws: { type: 'websocket', auth: { anonymous: { type: 'static', role: 'nobody' } } } }), /transports\[0\]\.paths\.ws\.auth\.anonymous\.role: no realm has a role 'nobody'/);
  });
});
