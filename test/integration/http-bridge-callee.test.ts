// Crossbar's HTTP bridge callee (crossbar.bridge.rest.RESTCallee) as a container component: a
// real router process with a container, AutobahnJS callers, and a node:http backend on 127.0.0.1.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildConfig } from '../../src/config/load.js';
import { type Client, connect } from '../helpers/client.js';
import { registered, transportTo } from '../helpers/components.js';
import { type RouterProcess, spawnRouter } from '../helpers/process.js';
import { Inbox, within } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'crosswire-restcallee-'));

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const ANON_ALL = { name: 'anonymous', permissions: [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true } }] };


interface Seen {
  method: string;
  url: string;
  rawHeaders: string[];
  body: string;
}
interface Reply {
  code: number;
  content: string;
  headers: Record<string, string[]>;
}

/** The HTTP backend: records every request; its routes answer as the tests need. */
const seen = new Inbox<Seen>();
const held: ServerResponse[] = [];
const heldInbox = new Inbox<string>();
let backend: Server;
let other: Server;
let otherSeen = 0;
let backendPort: number;
let proc: RouterProcess;
let c: Client;

function handle(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (d: Buffer) => chunks.push(d));
  req.on('end', () => {
    seen.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString('utf8') });
    const path = new URL(req.url!, 'http://x').pathname;
    if (path === '/api/echo') {
      res.writeHead(200, [
        ['Content-Type', 'application/json'],
        ['X-Twice', 'one'],
        ['X-Twice', 'two'],
        ['ETag', '"abc"'],
      ].flat());
      res.end(JSON.stringify({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString('utf8'), text: 'grüße' }));
    } else if (path === '/api/latin1') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(Buffer.from([0x67, 0x72, 0xfc, 0xdf, 0x65])); // "grüße" in ISO-8859-1
    } else if (path === '/api/redirect-in') {
      res.writeHead(302, { Location: '/api/echo?from=redirect' });
      res.end();
    } else if (path === '/api/redirect-out') {
      res.writeHead(302, { Location: `http://127.0.0.1:${(other.address() as AddressInfo).port}/api/echo` });
      res.end();
    } else if (path === '/api/big') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }); // chunked: no Content-Length to refuse early
      res.write('x'.repeat(600));
      res.end('y'.repeat(600));
    } else if (path === '/api/big-declared') {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '5000' });
      res.end('z'.repeat(5000));
    } else if (path === '/api/hold') {
      held.push(res); // answered when the test says so (or never: the timeout test)
      heldInbox.push(req.url!);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('no such thing');
    }
  });
}

const isError = (uri: string, message?: RegExp) => (e: { error?: string; args?: unknown[] }) => {
  assert.equal(e.error, uri, `ERROR ${String(e.error)} ${JSON.stringify(e.args)}`);
  if (message !== undefined) assert.match(String(e.args?.[0]), message);
  return true;
};

const rest = (kwargs: Record<string, unknown>, procedure = 'com.myapp.rest') => c.session.call(procedure, [], kwargs) as Promise<Reply>;

describe('crossbar.bridge.rest.RESTCallee in a container', () => {
  before(async () => {
    backend = createHttpServer(handle);
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    backendPort = (backend.address() as AddressInfo).port;
    other = createHttpServer((_req, res) => {
      otherSeen++;
      res.end('other');
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const port = await freePort();
    const closed = await freePort(); // nothing listens there
    const cfg = join(dir, 'config.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        version: 2,
        workers: [
          { type: 'router', realms: [{ name: 'realm1', roles: [ANON_ALL] }], transports: [{ type: 'websocket', endpoint: { type: 'tcp', port, interface: '127.0.0.1' } }] },
          {
            type: 'container',
            components: [
              // As in Crossbar's docs, with Crosswire's limits small enough to test.
              {
                type: 'class',
                classname: 'crossbar.bridge.rest.RESTCallee',
                id: 'rest',
                realm: 'realm1',
                extra: { procedure: 'com.myapp.rest', baseurl: `http://127.0.0.1:${backendPort}/api/`, timeout: 1, content_limit: 1000 },
                transport: transportTo(port),
              },
              {
                type: 'class',
                classname: 'crossbar.bridge.rest.RESTCallee',
                id: 'rest2',
                realm: 'realm1',
                extra: { procedure: 'com.myapp.rest2', baseurl: `http://127.0.0.1:${backendPort}/api/v1`, timeout: 60, concurrency: 2 },
                transport: transportTo(port),
              },
              {
                type: 'class',
                classname: 'crossbar.bridge.rest.RESTCallee',
                id: 'rest3',
                realm: 'realm1',
                extra: { procedure: 'com.myapp.rest3', baseurl: `http://127.0.0.1:${closed}/` },
                transport: transportTo(port),
              },
            ],
          },
        ],
      }),
    );
    proc = await spawnRouter(['--config', cfg], { CROSSWIRE_PORT: '' });
    c = await connect(`ws://127.0.0.1:${port}/ws`, 'json');
    await registered(c.session, 'com.myapp.rest', 15000);
    await registered(c.session, 'com.myapp.rest2', 15000);
    await registered(c.session, 'com.myapp.rest3', 15000);
  });

  after(async () => {
    await c?.close();
    proc?.child.kill('SIGTERM');
    if (proc !== undefined) await within(proc.exited, 10000, 'router exit');
    backend?.closeAllConnections();
    other?.closeAllConnections();
    backend?.close();
    other?.close();
  });

  test('GET with params: the result is {code, content, headers}; the backend saw exactly the request', async () => {
    const before = seen.items.length;
    const r = await rest({ method: 'get', url: 'echo', params: { q: 'a b&c', n: '1' }, headers: { 'X-Token': 'secret' } });
    assert.equal(r.code, 200);
    assert.deepEqual(JSON.parse(r.content), { method: 'GET', url: '/api/echo?q=a%20b%26c&n=1', body: '', text: 'grüße' });
    assert.deepEqual(r.headers['X-Twice'], ['one', 'two'], 'each header line is one list entry, as Crossbar');
    assert.deepEqual(r.headers['Content-Type'], ['application/json']);
    assert.deepEqual(r.headers.ETag, ['"abc"'], "names as Twisted's Headers gives them");
    const s = (await seen.waitFor(before + 1))[before]!;
    assert.equal(s.method, 'GET');
    assert.equal(s.url, '/api/echo?q=a%20b%26c&n=1');
    assert.equal(s.body, '');
    const names = s.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    assert.ok(names.includes('x-token') && s.rawHeaders[names.indexOf('x-token') * 2 + 1] === 'secret');
  });

  test('POST with a body and headers (a list of values), positional arguments too', async () => {
    const before = seen.items.length;
    const r = await rest({ method: 'POST', url: 'echo?keep=1', body: '{"hello": "wörld"}', headers: { 'Content-Type': 'application/json', 'X-Multi': ['1', '2'] }, params: { add: 'yes' } });
    assert.equal(r.code, 200);
    assert.deepEqual(JSON.parse(r.content), { method: 'POST', url: '/api/echo?keep=1&add=yes', body: '{"hello": "wörld"}', text: 'grüße' });
    const s = (await seen.waitFor(before + 1))[before]!;
    assert.equal(s.method, 'POST');
    assert.equal(s.body, '{"hello": "wörld"}');
    const pairs: [string, string][] = [];
    for (let i = 0; i < s.rawHeaders.length; i += 2) pairs.push([s.rawHeaders[i]!.toLowerCase(), s.rawHeaders[i + 1]!]);
    assert.deepEqual(pairs.filter(([n]) => n === 'x-multi').map(([, v]) => v), ['1', '2']);
    assert.deepEqual(pairs.filter(([n]) => n === 'content-type').map(([, v]) => v), ['application/json']);
    assert.deepEqual(pairs.filter(([n]) => n === 'content-length').map(([, v]) => v), [String(Buffer.byteLength('{"hello": "wörld"}'))]);
    // Crossbar's on_call(method, url, body, headers, params) takes them positionally as well.
    const p = (await c.session.call('com.myapp.rest', ['PUT', 'echo', 'positional'])) as Reply;
    assert.equal(JSON.parse(p.content).body, 'positional');
    assert.equal(JSON.parse(p.content).method, 'PUT');
  });

  test("a 404 is a result with code 404, as Crossbar's; text without a charset is ISO-8859-1 (treq)", async () => {
    const r = await rest({ method: 'GET', url: 'nothing-here' });
    assert.equal(r.code, 404);
    assert.equal(r.content, 'no such thing');
    const l = await rest({ method: 'GET', url: 'latin1' });
    assert.equal(l.content, 'grüße');
    // No url: the baseurl itself (Crossbar's urljoin(baseurl, None)).
    const b = await rest({ method: 'GET' });
    assert.equal(b.code, 404);
    assert.equal(seen.items.at(-1)!.url, '/api/');
  });

  test('a url that leads outside the baseurl is refused (invalid_argument) and never requested', async () => {
    const before = seen.items.length;
    const otherPort = (other.address() as AddressInfo).port;
    for (const url of [`http://127.0.0.1:${otherPort}/api/echo`, `//127.0.0.1:${otherPort}/api/echo`, '../secret', '/secret', '%2e%2e/secret', `https://127.0.0.1:${backendPort}/api/echo`, 'http://localhost:1/api/', 'file:///etc/passwd']) {
      await assert.rejects(rest({ method: 'GET', url }), isError('wamp.error.invalid_argument', /leads outside the baseurl/), url);
    }
    // The baseurl's directory: /api/v1 joins "users" to /api/users (urljoin), which is inside /api/.
    const r = await rest({ method: 'GET', url: 'echo' }, 'com.myapp.rest2');
    assert.equal(JSON.parse(r.content).url, '/api/echo');
    await assert.rejects(rest({ method: 'GET', url: '../echo' }, 'com.myapp.rest2'), isError('wamp.error.invalid_argument', /leads outside/));
    assert.equal(seen.items.length, before + 1, 'only the one allowed request reached the backend');
    assert.equal(otherSeen, 0);
  });

  test('bad arguments are refused with wamp.error.invalid_argument and a message', async () => {
    const before = seen.items.length;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ url: 'echo' }, /'method' is required/],
      [{ method: 42 }, /'method' is required/],
      [{ method: 'GE T' }, /'method' is required/],
      [{ method: 'GET', url: 5 }, /'url' must be a string/],
      [{ method: 'GET', body: { a: 1 } }, /'body' must be a string/],
      [{ method: 'GET', headers: ['X-A', 'b'] }, /'headers' must be a dict/],
      [{ method: 'GET', headers: { 'X-A': 5 } }, /header 'X-A' must be a string or a list of strings/],
      [{ method: 'GET', headers: { 'X-A': ['ok', 7] } }, /header 'X-A' must be a string or a list/],
      [{ method: 'GET', headers: { 'X A': 'b' } }, /not an HTTP token/],
      [{ method: 'GET', headers: { 'X-A': 'b\r\nX-Injected: 1' } }, /not allowed in a header value/],
      [{ method: 'POST', body: 'x', headers: { 'Content-Length': '100' } }, /header 'Content-Length' is set from the body/],
      [{ method: 'POST', body: 'x', headers: { 'transfer-encoding': 'chunked' } }, /header 'transfer-encoding' is set from the body/],
      [{ method: 'GET', headers: { Host: 'internal.example' } }, /header 'Host' is the baseurl's host/],
      [{ method: 'GET', params: { a: 1 } }, /query parameter 'a' must be a string/],
      [{ method: 'GET', params: 'a=1' }, /'params' must be a dict/],
      [{ method: 'GET', verb: 'x' }, /unknown keyword argument 'verb'/],
    ];
    for (const [kwargs, message] of cases) await assert.rejects(rest(kwargs), isError('wamp.error.invalid_argument', message), JSON.stringify(kwargs));
    await assert.rejects(c.session.call('com.myapp.rest', ['GET', 'echo', '', {}, {}, 'sixth']), isError('wamp.error.invalid_argument', /at most 5 positional/));
    await assert.rejects(c.session.call('com.myapp.rest', ['GET'], { method: 'POST' }), isError('wamp.error.invalid_argument', /given twice/));
    assert.equal(seen.items.length, before, 'nothing reached the backend');
  });

  test('redirects are followed for GET inside the baseurl only', async () => {
    const r = await rest({ method: 'GET', url: 'redirect-in' });
    assert.equal(r.code, 200);
    assert.equal(JSON.parse(r.content).url, '/api/echo?from=redirect');
    const out = await rest({ method: 'GET', url: 'redirect-out' });
    assert.equal(out.code, 302, 'a redirect elsewhere is the result, not followed');
    assert.match(out.headers.Location![0]!, /\/api\/echo$/);
    assert.equal(otherSeen, 0);
  });

  test('a backend that does not answer in time: ERROR runtime_error (timeout); the component serves on', async () => {
    const held0 = heldInbox.items.length;
    const t0 = Date.now();
    await assert.rejects(rest({ method: 'GET', url: 'hold' }), (e: { error: string; args: unknown[]; kwargs: Record<string, unknown> }) => {
      isError('wamp.error.runtime_error', /no complete answer within 1 s \(extra\.timeout\)/)(e);
      assert.deepEqual(e.kwargs, { reason: 'timeout', method: 'GET', url: '/api/hold' });
      return true;
    });
    assert.ok(Date.now() - t0 >= 900, 'not before the timeout');
    await heldInbox.waitFor(held0 + 1);
    assert.equal((await rest({ method: 'GET', url: 'echo' })).code, 200);
  });

  test('a backend that cannot be reached: ERROR runtime_error (network) naming the cause; the component serves on', async () => {
    for (let i = 0; i < 2; i++) {
      await assert.rejects(rest({ method: 'POST', url: 'x', body: 'b' }, 'com.myapp.rest3'), (e: { error: string; args: unknown[]; kwargs: Record<string, unknown> }) => {
        isError('wamp.error.runtime_error', /^POST \/x: ECONNREFUSED/)(e);
        assert.deepEqual(e.kwargs, { reason: 'network', method: 'POST', url: '/x' });
        return true;
      });
    }
  });

  test('an answer over content_limit: ERROR runtime_error (too_large), streamed or declared; the component serves on', async () => {
    for (const url of ['big', 'big-declared']) {
      await assert.rejects(rest({ method: 'GET', url }), (e: { error: string; args: unknown[]; kwargs: Record<string, unknown> }) => {
        isError('wamp.error.runtime_error', /larger than 1000 bytes \(extra\.content_limit\)/)(e);
        assert.equal(e.kwargs.reason, 'too_large');
        return true;
      });
    }
    assert.equal((await rest({ method: 'GET', url: 'echo' })).code, 200);
  });

  test('at most extra.concurrency requests in flight: one more is refused (crossbar.error.max_concurrency_reached)', async () => {
    const held0 = heldInbox.items.length;
    const first = rest({ method: 'GET', url: 'hold?n=1' }, 'com.myapp.rest2');
    const second = rest({ method: 'GET', url: 'hold?n=2' }, 'com.myapp.rest2');
    await heldInbox.waitFor(held0 + 2, 15000);
    await assert.rejects(rest({ method: 'GET', url: 'echo' }, 'com.myapp.rest2'), isError('crossbar.error.max_concurrency_reached'));
    for (const res of held.splice(0)) if (!res.writableEnded && !res.destroyed) res.end('released');
    assert.deepEqual([(await first).content, (await second).content], ['released', 'released']);
    assert.equal((await rest({ method: 'GET', url: 'echo' }, 'com.myapp.rest2')).code, 200);
  });
});

describe('RESTCallee config', () => {
  const withComponent = (component: Record<string, unknown>) => ({
    version: 2,
    workers: [
      {
        type: 'container',
        components: [
          {
            type: 'class',
            classname: 'crossbar.bridge.rest.RESTCallee',
            realm: 'realm1',
            extra: { procedure: 'com.myapp.rest', baseurl: 'https://httpbin.org/' },
            transport: { type: 'websocket', url: 'ws://127.0.0.1:8080/ws', endpoint: { type: 'tcp', host: '127.0.0.1', port: 8080 } },
            ...component,
          },
        ],
      },
    ],
  });

  test("Crossbar's config is accepted: a built-in JavaScript component with the checked extra", () => {
    const cfg = buildConfig(withComponent({}), {});
    assert.equal(cfg.pythonComponents.length, 0, 'no Python');
    const comp = cfg.containers[0]!.components[0]!;
    assert.match(comp.module, /container[/\\]rest-callee\.js$/);
    assert.deepEqual(comp.extra, { procedure: 'com.myapp.rest', baseurl: 'https://httpbin.org/', timeout: 10, content_limit: 1048576, concurrency: 16 });
    // The classname of Crossbar's earlier releases, too.
    assert.equal(buildConfig(withComponent({ classname: 'crossbar.adapter.rest.RESTCallee' }), {}).containers[0]!.components.length, 1);
  });

  test('bad config is refused naming the key', () => {
    const refused = (component: Record<string, unknown>, re: RegExp) => assert.throws(() => buildConfig(withComponent(component), {}), re);
    refused({ extra: { baseurl: 'https://httpbin.org/' } }, /components\[0\]\.extra\.procedure: is required/);
    refused({ extra: { procedure: 'not a uri', baseurl: 'https://httpbin.org/' } }, /components\[0\]\.extra\.procedure: is required/);
    refused({ extra: { procedure: 'com.myapp.rest' } }, /components\[0\]\.extra\.baseurl: is required/);
    refused({ extra: { procedure: 'com.myapp.rest', baseurl: 'ftp://example.com/' } }, /components\[0\]\.extra\.baseurl: must be an http:\/\/ or https:\/\/ URL/);
    refused({ extra: { procedure: 'com.myapp.rest', baseurl: 'not a url' } }, /components\[0\]\.extra\.baseurl: 'not a url' is not a URL/);
    refused({ extra: { procedure: 'com.myapp.rest', baseurl: 'https://httpbin.org/', timout: 5 } }, /components\[0\]\.extra\.timout: unknown key/);
    refused({ extra: { procedure: 'com.myapp.rest', baseurl: 'https://httpbin.org/', timeout: 0 } }, /components\[0\]\.extra\.timeout: must be seconds/);
    refused({ extra: { procedure: 'com.myapp.rest', baseurl: 'https://httpbin.org/', content_limit: 1.5 } }, /components\[0\]\.extra\.content_limit: must be bytes/);
    refused({ extra: { procedure: 'com.myapp.rest', baseurl: 'https://httpbin.org/', concurrency: 0 } }, /components\[0\]\.extra\.concurrency: must be an integer/);
    refused({ extra: null }, /components\[0\]\.extra: must be an object/);
    refused({ transport: null }, /components\[0\]\.transport: is required/);
    refused({ transport: { type: 'rawsocket', serializer: 'json', endpoint: { type: 'tcp', host: '127.0.0.1', port: 8080 } } }, /components\[0\]\.transport\.type: 'rawsocket' is not available to the RESTCallee/);
    refused({ role: 'backend' }, /components\[0\]\.role/);
  });

  test("a router worker's RESTCallee component is refused, pointing at a container", () => {
    const cfg = {
      version: 2,
      workers: [
        {
          type: 'router',
          realms: [{ name: 'realm1', roles: [ANON_ALL] }],
          transports: [{ type: 'websocket', endpoint: { type: 'tcp', port: 8080 } }],
          components: [{ type: 'class', classname: 'crossbar.bridge.rest.RESTCallee', realm: 'realm1', role: 'anonymous', extra: { procedure: 'com.myapp.rest', baseurl: 'https://httpbin.org/' } }],
        },
      ],
    };
    assert.throws(() => buildConfig(cfg, {}), /workers\[0\]\.components\[0\]\.classname: Crossbar's HTTP bridge callee runs in a container worker in Crosswire/);
  });
});
