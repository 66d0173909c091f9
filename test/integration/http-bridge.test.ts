// The HTTP bridge (Crossbar's publisher, caller, webhook; its MessageForwarder as a `subscriber`
// path service) and the `reverseproxy` path service, from a Crossbar-format config file, driven
// with plain HTTP (Node's fetch) against AutobahnJS peers and local HTTP servers on 127.0.0.1.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import autobahn from 'autobahn';
import { buildConfig, ConfigError, loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/shared/log.js';
import { Router } from '../../src/router.js';
import { type Client, connect } from '../helpers/client.js';
import { scrape, type Samples } from '../helpers/metrics.js';
import { makePki } from '../helpers/pki.js';
import { startRouter } from '../helpers/router.js';
import { deferred, Inbox, within } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'crosswire-bridge-'));
let router: Router;
let base: string;
let ws: string;
let peer: Client;
let sink: Server;
let backend: Server;
const forwarded = new Inbox<{ method: string; url: string; type: string; body: string }>();
/** /hang: requests the sink holds until `release` is called. */
const hanging = new Inbox<string>();
/** /fail: attempts the sink answered 500. */
const failing = new Inbox<string>();
let release: () => void = () => {};
const released = new Promise<void>((r) => {
  release = r;
});
const SECRET = 'kkjH68GiuUZ';
const GITHUB = 'hush';

function listen(s: Server): Promise<number> {
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
}
const read = async (req: IncomingMessage) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
};

/** POST JSON (or any text) to a bridge path; the connection is closed after the answer. */
function post(path: string, body: unknown, init: { query?: string; headers?: Record<string, string>; method?: string } = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return fetch(`${base}/${path}${init.query ? `?${init.query}` : ''}`, {
    method: init.method ?? 'POST',
    body: text,
    headers: { connection: 'close', 'content-type': 'application/json', ...init.headers },
  });
}

/** Crossbar's signature, as crossbarconnect computes it: urlsafe base64 (padded) of HMAC-SHA256 over key|timestamp|seq|nonce|body. */
function signedQuery(body: string, opts: { key?: string; secret?: string; timestamp?: string; seq?: number; nonce?: number } = {}): string {
  const key = opts.key ?? 'myapp1';
  const timestamp = opts.timestamp ?? new Date().toISOString();
  const seq = String(opts.seq ?? 1);
  const nonce = String(opts.nonce ?? Math.floor(Math.random() * 2 ** 53));
  const sig = createHmac('sha256', opts.secret ?? SECRET).update(key + timestamp + seq + nonce).update(body).digest('base64').replace(/\+/g, '-').replace(/\//g, '_');
  return new URLSearchParams({ key, timestamp, seq, nonce, signature: sig }).toString();
}

before(async () => {
  const flakySeen = new Set<string>();
  sink = createServer(async (req, res) => {
    const body = await read(req);
    if (req.url === '/hang') {
      hanging.push(body);
      await released;
      res.end('late');
      return;
    }
    // /fail always fails (500): the subscriber service gives up after its retries.
    if (req.url === '/fail') {
      failing.push(body);
      res.statusCode = 500;
      res.end('broken');
      return;
    }
    // /flaky fails each body's first delivery: the subscriber service must retry it.
    if (req.url === '/flaky' && !flakySeen.has(body)) {
      flakySeen.add(body);
      res.statusCode = 503;
      res.end('try again');
      return;
    }
    forwarded.push({ method: req.method!, url: req.url!, type: String(req.headers['content-type']), body });
    res.end('ok');
  });
  backend = createServer(async (req, res) => {
    const body = await read(req);
    res.setHeader('x-backend', 'yes');
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.statusCode = req.url!.includes('missing') ? 404 : 200;
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
  });
  const sinkPort = await listen(sink);
  const backendPort = await listen(backend);
  const file = join(dir, 'config.json');
  const bridge = (type: string, extra: Record<string, unknown> = {}) => ({ type, realm: 'realm1', role: 'bridge', ...extra });
  writeFileSync(
    file,
    JSON.stringify({
      $schema: 'https://raw.githubusercontent.com/crossbario/crossbar/master/crossbar.json',
      version: 2,
      controller: {},
      workers: [
        {
          type: 'router',
          realms: [
            {
              name: 'realm1',
              roles: [
                { name: 'anonymous', permissions: [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true } }] },
                {
                  name: 'bridge',
                  permissions: [
                    { uri: 'com.', match: 'prefix', allow: { call: true, publish: true, subscribe: true }, disclose: { publisher: true, caller: true } },
                    { uri: 'wamp.session.', match: 'prefix', allow: { call: true } },
                  ],
                },
              ],
            },
          ],
          transports: [
            {
              type: 'web',
              endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' },
              paths: {
                ws: { type: 'websocket' },
                publish: bridge('publisher'),
                call: bridge('caller', { options: { call_timeout: 2000 } }),
                few: bridge('caller', { options: { call_timeout: 5000, max_pending: 2 } }),
                signed: bridge('publisher', { options: { key: 'myapp1', secret: SECRET, timestamp_delta_limit: 60 } }),
                faraway: bridge('publisher', { options: { require_ip: ['10.0.0.0/8', '192.168.1.0/255.255.255.0'] } }),
                local: bridge('publisher', { options: { require_ip: ['127.0.0.1/32'] } }),
                small: bridge('publisher', { options: { post_body_limit: 64 } }),
                tls: bridge('publisher', { options: { require_tls: true } }),
                hook: bridge('webhook', { options: { topic: 'com.hooks.github', github_secret: GITHUB } }),
                forward: bridge('subscriber', {
                  subscriptions: [
                    { topic: 'com.forward.', match: 'prefix', url: `http://127.0.0.1:${sinkPort}/events` },
                    { topic: 'com.forward.', match: 'prefix', url: `http://127.0.0.1:${sinkPort}/copy` },
                    { topic: 'com.flaky.topic', url: `http://127.0.0.1:${sinkPort}/flaky` },
                  ],
                  expectedcode: 200,
                }),
                bounded: bridge('subscriber', {
                  subscriptions: [{ topic: 'com.slow.topic', url: `http://127.0.0.1:${sinkPort}/hang` }],
                  options: { concurrency: 2, queue_limit: 3, retries: 0 },
                }),
                broken: bridge('subscriber', {
                  subscriptions: [{ topic: 'com.fail.topic', url: `http://127.0.0.1:${sinkPort}/fail` }],
                  expectedcode: 200,
                  options: { retries: 1 },
                }),
                app: { type: 'reverseproxy', host: '127.0.0.1', port: backendPort, path: '/base', forwarded_proto: 'https', forwarded_port: 443 },
                gone: { type: 'reverseproxy', host: '127.0.0.1', port: 1 },
              },
            },
          ],
        },
      ],
      crosswire: { log_level: process.env.TEST_LOG_LEVEL ?? 'silent', shutdown_timeout: 1000 },
    }),
  );
  const config = loadConfig(file, {});
  router = await Router.start(config, createLogger(config.logLevel), { debugHooks: true });
  base = `http://127.0.0.1:${router.listeners[0]!.port}`;
  ws = `ws://127.0.0.1:${router.listeners[0]!.port}/ws`;
  peer = await connect(ws, 'json');
});

after(async () => {
  await peer?.close();
  await router?.shutdown(500);
  sink?.closeAllConnections();
  backend?.closeAllConnections();
  await Promise.all([new Promise((r) => sink?.close(r)), new Promise((r) => backend?.close(r))]);
  rmSync(dir, { recursive: true, force: true });
});

describe('publisher', () => {
  test('a POST publishes to an AutobahnJS subscriber; the answer is {"id": publication}; Crossbar headers', async () => {
    const events = new Inbox<{ args: unknown[]; kwargs: unknown; details: { publication: number; publisher?: number } }>();
    const sub = await peer.session.subscribe('com.myapp.topic1', (args, kwargs, details) => events.push({ args: args ?? [], kwargs, details: details as unknown as { publication: number; publisher?: number } }));
    const res = await post('publish', { topic: 'com.myapp.topic1', args: ['Hello, world', 23], kwargs: { a: 1 } }, { headers: { origin: 'https://app.example.com' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=UTF-8');
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(res.headers.get('cache-control'), 'no-store,no-cache,must-revalidate,max-age=0');
    const body = (await res.json()) as { id: number };
    const [ev] = await events.waitFor(1);
    assert.deepEqual(ev!.args, ['Hello, world', 23]);
    assert.deepEqual(ev!.kwargs, { a: 1 });
    assert.equal(ev!.details.publication, body.id);
    // The role's disclose.publisher: the bridge session is who published.
    const who = (await peer.session.call('wamp.session.get', [ev!.details.publisher])) as { authrole: string; transport: { type: string } };
    assert.equal(who.authrole, 'bridge');
    assert.equal(who.transport.type, 'http');
    await peer.session.unsubscribe(sub);
  });

  test('the bridge session is authorized by its role; the WAMP error comes back as Crossbar has it (200, error, args)', async () => {
    const res = await post('publish', { topic: 'org.other.topic', args: [1] });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { error: string; args: unknown[]; kwargs: unknown };
    assert.equal(body.error, 'wamp.error.not_authorized');
    assert.deepEqual(body.kwargs, {});
  });

  test('bad requests: method, content type, JSON, missing topic (Crossbar status codes and messages)', async () => {
    const get = await fetch(`${base}/publish`, { headers: { connection: 'close' } });
    assert.equal(get.status, 405);
    assert.deepEqual(await get.json(), { error: 'Method not accepted by the REST bridge. (GET not allowed, only POST, PUT)', args: [], kwargs: {} });
    const options = await fetch(`${base}/publish`, { method: 'OPTIONS', headers: { connection: 'close', 'access-control-request-headers': 'content-type' } });
    assert.equal(options.status, 200);
    assert.equal(options.headers.get('access-control-allow-methods'), 'POST,PUT,OPTIONS');
    assert.equal(options.headers.get('access-control-allow-headers'), 'content-type');
    const text = await post('publish', '{"topic": "com.x"}', { headers: { 'content-type': 'text/plain' } });
    assert.equal(text.status, 400);
    assert.match(((await text.json()) as { error: string }).error, /Non-accepted content type/);
    const latin = await post('publish', '{"topic": "com.x"}', { headers: { 'content-type': 'application/json; charset=latin-1' } });
    assert.equal(latin.status, 400);
    const bad = await post('publish', '{"topic": ');
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: string }).error, 'Request body was invalid JSON.');
    const list = await post('publish', [1]);
    assert.equal(((await list.json()) as { error: string }).error, 'Request body was valid JSON, but not well formed (must be a dict).');
    const noTopic = await post('publish', { args: [1] });
    assert.equal(noTopic.status, 400);
    assert.equal(((await noTopic.json()) as { error: string }).error, "Request body was valid JSON, but not well formed (missing key 'topic').");
    // What would ABORT a WebSocket client is a 400 here: the service's session is shared.
    const numeric = await post('publish', { topic: 123 });
    assert.equal(numeric.status, 400);
    assert.match(((await numeric.json()) as { error: string }).error, /element 3 has the wrong type/);
    const badOption = await post('publish', { topic: 'com.x', options: { exclude: 'me' } });
    assert.equal(badOption.status, 400);
    assert.match(((await badOption.json()) as { error: string }).error, /exclude/);
    const put = await post('publish', { topic: 'com.myapp.put' }, { method: 'PUT' });
    assert.equal(put.status, 200);
  });

  test('the bridge session is in the meta API and the metrics', async () => {
    await (await post('publish', { topic: 'com.myapp.meta' })).json();
    const ids = (await peer.session.call('wamp.session.list')) as number[];
    const details = await Promise.all(ids.map((id) => peer.session.call('wamp.session.get', [id]) as Promise<{ authid: string; authrole: string; transport: { type: string } }>));
    const bridges = details.filter((d) => d.transport.type === 'http').map((d) => d.authid);
    assert.ok(bridges.includes('transport1/publish'), `bridge sessions: ${bridges.join(', ')}`);
    assert.ok(bridges.includes('transport1/forward'), 'the subscriber service joined at startup');
    const { body } = await router.metricsText();
    assert.match(body, /crosswire_http_bridge_requests_total\{service="transport1\/publish",code="200"\} [1-9]/);
    assert.match(body, /crosswire_http_bridge_requests_total\{service="transport1\/publish",code="405"\} [1-9]/);
  });
});

describe('caller', () => {
  let callee: Client;
  before(async () => {
    callee = await connect(ws, 'msgpack');
    await callee.session.register('com.example.add2', (args) => (args![0] as number) + (args![1] as number));
    await callee.session.register('com.example.multi', () => new autobahn.Result([1, 2], { sum: 3 }));
    await callee.session.register('com.example.kwonly', () => new autobahn.Result([], { only: true }));
    await callee.session.register('com.example.nothing', () => null);
    await callee.session.register('com.example.oops', () => {
      throw new autobahn.Error('com.example.error.oops', ['it broke', 7], { code: 42 });
    });
    await callee.session.register('com.example.slow', () => new Promise(() => {}));
  });
  after(() => callee.close());

  test('a POST calls an AutobahnJS callee; results as Crossbar shapes them', async () => {
    const add = await post('call', { procedure: 'com.example.add2', args: [1, 2] });
    assert.equal(add.status, 200);
    assert.deepEqual(await add.json(), { args: [3] });
    assert.deepEqual(await (await post('call', { procedure: 'com.example.multi' })).json(), { args: [1, 2], kwargs: { sum: 3 } });
    assert.deepEqual(await (await post('call', { procedure: 'com.example.kwonly' })).json(), { kwargs: { only: true } });
    assert.deepEqual(await (await post('call', { procedure: 'com.example.nothing' })).json(), { args: [null] });
  });

  test("a callee's error: 200 with its URI, args and kwargs; router errors alike", async () => {
    const oops = await post('call', { procedure: 'com.example.oops' });
    assert.equal(oops.status, 200);
    assert.deepEqual(await oops.json(), { error: 'com.example.error.oops', args: ['it broke', 7], kwargs: { code: 42 } });
    const none = (await (await post('call', { procedure: 'com.example.none' })).json()) as { error: string };
    assert.equal(none.error, 'wamp.error.no_such_procedure');
    const missing = await post('call', { args: [1] });
    assert.equal(missing.status, 400);
    assert.equal(((await missing.json()) as { error: string }).error, "Request body was valid JSON, but not well formed (missing key 'procedure').");
  });

  test('a call that is not answered ends with wamp.error.timeout after call_timeout (or a shorter options.timeout)', async () => {
    const t0 = Date.now();
    const slow = (await (await post('call', { procedure: 'com.example.slow', options: { timeout: 300 } })).json()) as { error: string };
    assert.equal(slow.error, 'wamp.error.timeout');
    assert.ok(Date.now() - t0 < 1900, 'the shorter timeout applied');
    const capped = (await (await post('call', { procedure: 'com.example.slow', options: { timeout: 60_000 } })).json()) as { error: string };
    assert.equal(capped.error, 'wamp.error.timeout', 'call_timeout (2 s) caps what a request asks for');
  });
});

describe('bounds and recovery', () => {
  let callee: Client;
  const hung = new Inbox<number>();
  before(async () => {
    callee = await connect(ws, 'json');
    await callee.session.register('com.example.hang', () => {
      hung.push(1);
      return new Promise(() => {});
    });
  });
  after(() => callee.close());

  test('max_pending: requests beyond it are refused with 503 while the others wait', async () => {
    const waiting = [post('few', { procedure: 'com.example.hang', options: { timeout: 1500 } }), post('few', { procedure: 'com.example.hang', options: { timeout: 1500 } })];
    await hung.waitFor(2);
    const third = await post('few', { procedure: 'com.example.hang', options: { timeout: 1500 } });
    assert.equal(third.status, 503);
    assert.match(((await third.json()) as { error: string }).error, /max_pending 2/);
    for (const r of await Promise.all(waiting)) assert.equal(((await r.json()) as { error: string }).error, 'wamp.error.timeout');
    // Answered, they no longer count.
    const fourth = await post('few', { procedure: 'com.example.hang', options: { timeout: 100 } });
    assert.equal(((await fourth.json()) as { error: string }).error, 'wamp.error.timeout');
  });

  test('a bridge session killed through the meta API is replaced on the next request', async () => {
    await (await post('publish', { topic: 'com.myapp.kill' })).json();
    const find = async () => {
      const ids = (await peer.session.call('wamp.session.list')) as number[];
      for (const id of ids) {
        const d = (await peer.session.call('wamp.session.get', [id])) as { authid: string };
        if (d.authid === 'transport1/publish') return id;
      }
      return null;
    };
    const before = await find();
    assert.ok(before !== null);
    await peer.session.call('wamp.session.kill', [before]);
    assert.equal(await find(), null, 'gone after the kill');
    const res = await post('publish', { topic: 'com.myapp.kill' });
    assert.equal(res.status, 200);
    assert.ok('id' in ((await res.json()) as object));
    const after = await find();
    assert.ok(after !== null && after !== before, 'a new session joined');
  });
});

describe('signed requests', () => {
  test('a correctly signed request is accepted; the same one again (a replay) is refused', async () => {
    const events = new Inbox<unknown[]>();
    const sub = await peer.session.subscribe('com.myapp.signed', (args) => events.push(args ?? []));
    const body = JSON.stringify({ topic: 'com.myapp.signed', args: ['signed'] });
    const query = signedQuery(body);
    const ok = await post('signed', body, { query });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.deepEqual((await events.waitFor(1))[0], ['signed']);
    const replay = await post('signed', body, { query });
    assert.equal(replay.status, 401);
    assert.match(((await replay.json()) as { error: string }).error, /replays are refused/);
    await peer.session.unsubscribe(sub);
    assert.equal(events.items.length, 1);
  });

  test('tampered body, wrong secret, unknown key, stale timestamp, missing fields are refused', async () => {
    const body = JSON.stringify({ topic: 'com.myapp.signed', args: [1] });
    const tampered = await post('signed', body.replace('1', '2'), { query: signedQuery(body) });
    assert.equal(tampered.status, 401);
    assert.equal(((await tampered.json()) as { error: string }).error, 'REST bridge signature secret not valid.');
    assert.equal((await post('signed', body, { query: signedQuery(body, { secret: 'guess' }) })).status, 401);
    const unknownKey = await post('signed', body, { query: signedQuery(body, { key: 'other' }) });
    assert.equal(unknownKey.status, 401);
    assert.equal(((await unknownKey.json()) as { error: string }).error, 'REST bridge signature key not valid.');
    const stale = await post('signed', body, { query: signedQuery(body, { timestamp: new Date(Date.now() - 120_000).toISOString() }) });
    assert.equal(stale.status, 400);
    assert.equal(((await stale.json()) as { error: string }).error, 'Request expired, too old timestamp.');
    const badTime = await post('signed', body, { query: signedQuery(body, { timestamp: '2026-01-01 10:00' }) });
    assert.equal(badTime.status, 400);
    const unsigned = await post('signed', body);
    assert.equal(unsigned.status, 400);
    assert.match(((await unsigned.json()) as { error: string }).error, /missing mandatory field/);
  });
});

describe('request limits', () => {
  test('require_ip: a client outside the networks is refused (400), one inside is served', async () => {
    const far = await post('faraway', { topic: 'com.myapp.ip' });
    assert.equal(far.status, 400);
    assert.equal(((await far.json()) as { error: string }).error, 'Request denied based on IP address.');
    assert.equal((await post('local', { topic: 'com.myapp.ip' })).status, 200);
  });

  test('require_tls: a plain HTTP request is refused', async () => {
    assert.equal((await post('tls', { topic: 'com.myapp.tls' })).status, 400);
  });

  test('post_body_limit: by Content-Length before reading, and while a chunked body streams in', async () => {
    const big = JSON.stringify({ topic: 'com.myapp.big', args: ['x'.repeat(100)] });
    const byLength = await post('small', big);
    assert.equal(byLength.status, 413);
    assert.match(((await byLength.json()) as { error: string }).error, /Request too long/);
    // No Content-Length: the body arrives chunked and is cut off at the limit.
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulled++ >= 2000) return c.close();
        c.enqueue(new TextEncoder().encode('x'.repeat(1024)));
      },
    });
    const chunked = await fetch(`${base}/small`, { method: 'POST', body: stream, duplex: 'half', headers: { 'content-type': 'application/json' } } as RequestInit).catch((e: Error) => e);
    // The router answers 413 as soon as the limit is passed and closes the connection; fetch may
    // see the answer or (when the close wins the race with its upload) a reset, never a 200.
    if (chunked instanceof Error) assert.ok(pulled < 2000, `the upload was cut off (${pulled} chunks pulled)`);
    else assert.equal(chunked.status, 413);
    const fits = await post('small', { topic: 'com.myapp.small' });
    assert.equal(fits.status, 200);
  });
});

/** crosswire_http_bridge_events_dropped_total of one subscriber service and reason. */
const dropped = (m: Samples, service: string, reason: string) => m.get('crosswire_http_bridge_events_dropped_total', { service, reason });

describe('subscriber', () => {
  test('events on the configured topics are POSTed to each URL as {"args", "kwargs"}', async () => {
    const before = forwarded.items.length;
    await peer.session.publish('com.forward.one', ['a', 1], { k: 'v' }, { acknowledge: true, exclude_me: false });
    await peer.session.publish('com.other.none', ['no'], {}, { acknowledge: true });
    await peer.session.publish('com.forward.two', [], {}, { acknowledge: true });
    const got = (await forwarded.waitFor(before + 4)).slice(before);
    // Requests in flight at once may arrive in any order.
    assert.deepEqual(got.map((g) => `${g.method} ${g.url} ${g.type} ${g.body}`).sort(), [
      'POST /copy application/json {"args":["a",1],"kwargs":{"k":"v"}}',
      'POST /copy application/json {"args":[],"kwargs":{}}',
      'POST /events application/json {"args":["a",1],"kwargs":{"k":"v"}}',
      'POST /events application/json {"args":[],"kwargs":{}}',
    ]);
  });

  test('a slow endpoint holds at most concurrency + queue_limit events; the realm carries on meanwhile', async () => {
    const m0 = await scrape(base);
    for (let i = 0; i < 20; i++) await peer.session.publish('com.slow.topic', [i], {}, { acknowledge: true });
    // Two requests are in flight (concurrency 2) and held by the endpoint.
    assert.deepEqual((await hanging.waitFor(2)).slice(0, 2).sort(), ['{"args":[0],"kwargs":{}}', '{"args":[1],"kwargs":{}}']);
    // The realm is not held up: publish and call over HTTP still answer.
    assert.equal((await post('publish', { topic: 'com.myapp.meanwhile' })).status, 200);
    release();
    // Then the three that waited (queue_limit 3); the other 15 were dropped.
    const all = await hanging.waitFor(5);
    assert.deepEqual(all.map((b) => (JSON.parse(b) as { args: number[] }).args[0]).sort((a, b) => a! - b!), [0, 1, 2, 3, 4]);
    // One more publication goes through now that there is room, and nothing dropped comes late.
    await peer.session.publish('com.slow.topic', [99], {}, { acknowledge: true });
    const after = await hanging.waitFor(6);
    assert.equal(after[5], '{"args":[99],"kwargs":{}}');
    // The 15 dropped are counted for this service, as queue_full; none failed.
    const m1 = await scrape(base);
    assert.equal(dropped(m1, 'transport1/bounded', 'queue_full') - dropped(m0, 'transport1/bounded', 'queue_full'), 15);
    assert.equal(dropped(m1, 'transport1/bounded', 'failed') - dropped(m0, 'transport1/bounded', 'failed'), 0);
  });

  test('a delivery that fails (a status other than expectedcode) is retried', async () => {
    const m0 = await scrape(base);
    const before = forwarded.items.length;
    await peer.session.publish('com.flaky.topic', ['again'], {}, { acknowledge: true });
    const [got] = (await forwarded.waitFor(before + 1)).slice(before);
    assert.equal(got!.url, '/flaky');
    assert.equal(got!.body, '{"args":["again"],"kwargs":{}}');
    // Delivered on the retry: nothing dropped.
    const m1 = await scrape(base);
    for (const reason of ['queue_full', 'failed']) assert.equal(dropped(m1, 'transport1/forward', reason) - dropped(m0, 'transport1/forward', reason), 0, reason);
  });

  test('a delivery that fails every attempt (1 + retries) is dropped and counted as failed for its service', async () => {
    const m0 = await scrape(base);
    const before = failing.items.length;
    await peer.session.publish('com.fail.topic', ['lost'], {}, { acknowledge: true });
    assert.deepEqual((await failing.waitFor(before + 2)).slice(before), ['{"args":["lost"],"kwargs":{}}', '{"args":["lost"],"kwargs":{}}']);
    // Counted when the last attempt's answer was read: a bounded wait for the count (STATS come with each scrape).
    let m1 = await scrape(base);
    for (let i = 0; i < 100 && dropped(m1, 'transport1/broken', 'failed') === dropped(m0, 'transport1/broken', 'failed'); i++) {
      await new Promise<void>((r) => setTimeout(r, 20));
      m1 = await scrape(base);
    }
    assert.equal(dropped(m1, 'transport1/broken', 'failed') - dropped(m0, 'transport1/broken', 'failed'), 1);
    assert.equal(dropped(m1, 'transport1/broken', 'queue_full') - dropped(m0, 'transport1/broken', 'queue_full'), 0);
    assert.equal(failing.items.length, before + 2, 'no third attempt');
  });
});

describe('webhook', () => {
  const sign = (body: string, secret = GITHUB) => `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`;
  test('a webhook with a valid GitHub signature is published as {headers, body}; 202 "OK"', async () => {
    const events = new Inbox<unknown[]>();
    const sub = await peer.session.subscribe('com.hooks.github', (args) => events.push(args ?? []));
    const body = '{"zen":"Design for failure."}';
    const res = await post('hook', body, { headers: { 'x-hub-signature': sign(body), 'x-github-event': 'ping' } });
    assert.equal(res.status, 202);
    assert.equal(await res.text(), 'OK');
    const [[hook]] = (await events.waitFor(1)) as [[{ headers: Record<string, string[]>; body: string }]];
    assert.equal(hook.body, body);
    assert.deepEqual(hook.headers['X-Github-Event'], ['ping']);
    assert.deepEqual(hook.headers['Content-Type'], ['application/json']);
    // GitHub's newer header (HMAC-SHA256) is checked when sent.
    const sha256 = `sha256=${createHmac('sha256', GITHUB).update(body).digest('hex')}`;
    assert.equal((await post('hook', body, { headers: { 'x-hub-signature-256': sha256 } })).status, 202);
    await events.waitFor(2);
    await peer.session.unsubscribe(sub);
  });

  test('a missing or wrong GitHub signature is refused (400) and nothing is published', async () => {
    const events = new Inbox<unknown[]>();
    const sub = await peer.session.subscribe('com.hooks.github', (args) => events.push(args ?? []));
    const body = '{"zen":"x"}';
    const wrong = await post('hook', body, { headers: { 'x-hub-signature': sign(body, 'guess') } });
    assert.equal(wrong.status, 400);
    assert.equal(((await wrong.json()) as { error: string }).error, 'GitHub signature missing or invalid.');
    assert.equal((await post('hook', body)).status, 400);
    assert.equal((await post('hook', body, { headers: { 'x-hub-signature': sign('{"zen":"y"}') } })).status, 400);
    // A later valid one arrives first and alone: the refused ones published nothing.
    assert.equal((await post('hook', 'ok', { headers: { 'x-hub-signature': sign('ok') } })).status, 202);
    const [[first]] = (await events.waitFor(1)) as [[{ body: string }]];
    assert.equal(first.body, 'ok');
    await peer.session.unsubscribe(sub);
  });
});

describe('reverseproxy', () => {
  test('requests below the path go to host:port with path prefixed, query kept, X-Forwarded-* set; bodies both ways', async () => {
    const res = await fetch(`${base}/app/login?next=%2Fhome`, { method: 'POST', body: 'user=a', headers: { connection: 'close', 'content-type': 'text/plain', 'x-custom': '1' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-backend'), 'yes');
    assert.deepEqual(res.headers.getSetCookie(), ['a=1', 'b=2']);
    const seen = (await res.json()) as { method: string; url: string; headers: Record<string, string>; body: string };
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/base/login?next=%2Fhome');
    assert.equal(seen.body, 'user=a');
    assert.equal(seen.headers['x-custom'], '1');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-forwarded-port'], '443');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-real-ip'], '127.0.0.1');
    assert.match(seen.headers['x-forwarded-host']!, /^127\.0\.0\.1:\d+$/);
    assert.match(seen.headers.host!, /^127\.0\.0\.1:\d+$/);
    const root = (await (await fetch(`${base}/app`, { headers: { connection: 'close' } })).json()) as { url: string };
    assert.equal(root.url, '/base');
    const big = 'y'.repeat(3 << 20);
    const echoed = (await (await fetch(`${base}/app/big`, { method: 'PUT', body: big, headers: { connection: 'close' } })).json()) as { body: string };
    assert.equal(echoed.body.length, big.length, 'a 3 MiB body streamed through');
    assert.equal((await fetch(`${base}/app/missing`, { headers: { connection: 'close' } })).status, 404, "the backend's status");
  });

  test('a backend that cannot be reached is 502', async () => {
    assert.equal((await within(fetch(`${base}/gone/x`, { headers: { connection: 'close' } }), 10_000, 'the 502')).status, 502);
  });
});

describe('config', () => {
  const web = (paths: Record<string, unknown>) => ({
    version: 2,
    workers: [{ type: 'router', realms: [{ name: 'realm1', roles: [{ name: 'anonymous', 'allow-by-default': true }] }], transports: [{ type: 'web', endpoint: { type: 'tcp', port: 8080 }, paths }] }],
  });
  const refused = (paths: Record<string, unknown>, re: RegExp) =>
    assert.throws(() => buildConfig(web(paths), {}), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, re);
      return true;
    });
  test('wsgi, cgi, resource and longpoll are refused by name, each saying what to use instead', () => {
    refused({ app: { type: 'wsgi', module: 'x', object: 'app' } }, /paths\.app\.type: 'wsgi' path services are not supported: .*"reverseproxy"/);
    refused({ app: { type: 'cgi', directory: '.' } }, /'cgi' path services are not supported: .*"reverseproxy"/);
    refused({ app: { type: 'resource', classname: 'x.Y' } }, /'resource' path services are not supported: .*"reverseproxy"/);
    refused({ lp: { type: 'longpoll' } }, /'longpoll' path services are not supported: .*"websocket" path service.*"publisher" and "caller"/);
  });
  test('bad bridge keys are refused by name', () => {
    refused({ p: { type: 'publisher', realm: 'realm1' } }, /paths\.p\.role: is required/);
    refused({ p: { type: 'publisher', realm: 'nope', role: 'anonymous' } }, /paths\.p\.realm: no realm 'nope'/);
    refused({ p: { type: 'publisher', realm: 'realm1', role: 'ghost' } }, /paths\.p\.role: realm 'realm1' has no role 'ghost'/);
    refused({ p: { type: 'publisher', realm: 'realm1', role: 'anonymous', options: { key: 'k' } } }, /paths\.p\.options\.secret: signed requests need both key and secret/);
    refused({ p: { type: 'publisher', realm: 'realm1', role: 'anonymous', options: { post_body_limit: 2 ** 21 } } }, /post_body_limit: must be an integer from 0 to 1048576/);
    refused({ p: { type: 'caller', realm: 'realm1', role: 'anonymous', options: { timestamp_delta_limit: 100000 } } }, /timestamp_delta_limit: must be an integer from 0 to 86400/);
    refused({ p: { type: 'caller', realm: 'realm1', role: 'anonymous', options: { require_ip: ['10.0.0.300'] } } }, /require_ip: '10\.0\.0\.300' is no IP address/);
    refused({ p: { type: 'caller', realm: 'realm1', role: 'anonymous', options: { requier_tls: true } } }, /paths\.p\.options\.requier_tls: unknown key/);
    refused({ h: { type: 'webhook', realm: 'realm1', role: 'anonymous', options: {} } }, /paths\.h\.options\.topic: is required/);
    refused({ h: { type: 'webhook', realm: 'realm1', role: 'anonymous', options: { topic: 't', key: 'k' } } }, /paths\.h\.options\.key: unknown key/);
    refused({ s: { type: 'subscriber', realm: 'realm1', role: 'anonymous', subscriptions: [{ topic: 't', url: 'ftp://x' }] } }, /subscriptions\[0\]\.url: must be an http/);
    refused({ r: { type: 'reverseproxy' } }, /paths\.r\.host: is required/);
    // Crossbar's MessageForwarder component points at the subscriber path service.
    const forwarder = {
      version: 2,
      workers: [
        {
          type: 'container',
          components: [
            {
              type: 'class',
              classname: 'crossbar.bridge.rest.MessageForwarder',
              realm: 'realm1',
              extra: { subscriptions: [{ url: 'https://httpbin.org/post', topic: 'com.myapp.topic1' }], method: 'POST', expectedcode: 200 },
              transport: { type: 'websocket', endpoint: { type: 'tcp', host: '127.0.0.1', port: 8080 }, url: 'ws://127.0.0.1:8080/ws' },
            },
          ],
        },
      ],
    };
    assert.throws(() => buildConfig(forwarder, {}), /components\[0\]\.classname: Crossbar's HTTP bridge subscriber is a "subscriber" path service/);
    refused({ r: { type: 'reverseproxy', host: 'x', forwarded_proto: 'gopher' } }, /paths\.r\.forwarded_proto/);
  });
});

describe('over TLS', () => {
  test('require_tls: a request over TLS is served', async () => {
    const pki = makePki();
    const r = await startRouter({
      transports: [
        {
          type: 'web',
          endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1', tls: { key: pki.serverKey, certificate: pki.serverCert, chain_certificates: [pki.interCert] } },
          paths: { ws: { type: 'websocket' }, publish: { type: 'publisher', realm: 'realm1', role: 'anonymous', options: { require_tls: true } } },
        },
      ],
    });
    try {
      const body = JSON.stringify({ topic: 'com.myapp.tls', args: [1] });
      const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = httpsRequest(
          { host: '127.0.0.1', servername: 'localhost', port: r.port, path: '/publish', method: 'POST', ca: pki.read(pki.rootCert), headers: { 'content-type': 'application/json', connection: 'close' } },
          async (res) => resolve({ status: res.statusCode!, text: await read(res) }),
        );
        req.on('error', reject);
        req.end(body);
      });
      assert.equal(answer.status, 200, answer.text);
      assert.match(answer.text, /^\{"id":\d+\}$/);
    } finally {
      await r.stop();
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});

// Last: it restarts the realm worker, which ends every session (the shared `peer` too).
describe('realm worker failure', () => {
  test('HTTP requests the failed worker held are answered (500), and the bridge works again after the restart', async () => {
    const callee = await connect(ws, 'json');
    const invoked = deferred();
    await callee.session.register('com.example.stuck', () => {
      invoked.resolve();
      return new Promise(() => {});
    });
    const held = post('call', { procedure: 'com.example.stuck' });
    await within(invoked.promise, 5000, 'the invocation');
    router.debugFailWorker(0, 'throw');
    const res = await within(held, 10_000, 'the held request to be answered');
    assert.equal(res.status, 500);
    assert.equal(((await res.json()) as { error: string }).error, 'wamp.error.runtime_error');
    await within(router.workers[0]!.whenOnline, 15_000, 'the restarted worker');
    const again = await within(post('publish', { topic: 'com.myapp.after' }), 10_000, 'a publish after the restart');
    assert.equal(again.status, 200);
  });
});
