import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { connect } from '../helpers/client.js';
import { httpGet, parseMetrics, type Samples, scrape } from '../helpers/metrics.js';
import { RawPeer, type RawSer } from '../helpers/raw.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { within } from '../helpers/wait.js';

let r: TestRouter;
before(async () => {
  r = await startRouter();
});
after(() => r.stop());

/** `after - before` for one sample. */
const delta = (a: Samples, b: Samples, name: string, labels: Record<string, string> = {}) => b.get(name, labels) - a.get(name, labels);

describe('metrics move with known traffic', () => {
  for (const ser of ['json', 'msgpack'] as RawSer[]) {
    test(`10 publishes (${ser}) → received PUBLISH +10, EVENT +10 per subscriber, exact bytes, sessions by realm`, async () => {
      const before = await scrape(r.http);
      const subJson = await RawPeer.open(r.url, 'json');
      const subMsgpack = await RawPeer.open(r.url, 'msgpack');
      const pub = await RawPeer.open(r.url, ser);
      const peers = [subJson, subMsgpack, pub];
      const welcomes = await Promise.all(peers.map((p) => p.join()));
      for (const s of [subJson, subMsgpack]) {
        s.send([32, 1, {}, 'com.example.metrics']);
        await s.next(33);
      }
      for (let i = 0; i < 10; i++) pub.send([16, 100 + i, { acknowledge: true }, 'com.example.metrics', [i]]);
      for (let i = 0; i < 10; i++) await pub.next(17);
      for (const s of [subJson, subMsgpack]) for (let i = 0; i < 10; i++) await s.next(36);
      const during = await scrape(r.http);

      const other: RawSer = ser === 'json' ? 'msgpack' : 'json';
      assert.equal(delta(before, during, 'crosswire_messages_received_total', { type: 'PUBLISH', serializer: ser }), 10);
      assert.equal(delta(before, during, 'crosswire_messages_received_total', { type: 'PUBLISH', serializer: other }), 0);
      assert.equal(delta(before, during, 'crosswire_messages_sent_total', { type: 'PUBLISHED', serializer: ser }), 10);
      assert.equal(delta(before, during, 'crosswire_messages_sent_total', { type: 'EVENT', serializer: 'json' }), 10);
      assert.equal(delta(before, during, 'crosswire_messages_sent_total', { type: 'EVENT', serializer: 'msgpack' }), 10);
      assert.equal(delta(before, during, 'crosswire_messages_received_total', { type: 'HELLO', serializer: ser }), 2);
      assert.equal(delta(before, during, 'crosswire_messages_sent_total', { type: 'WELCOME', serializer: other }), 1);
      assert.equal(delta(before, during, 'crosswire_messages_received_total', { type: 'SUBSCRIBE', serializer: 'json' }), 1);
      // Bytes: exactly what the peers of each serializer sent and received.
      for (const s of ['json', 'msgpack'] as RawSer[]) {
        const mine = peers.filter((p) => p.ser === s);
        assert.equal(delta(before, during, 'crosswire_received_bytes_total', { serializer: s }), mine.reduce((n, p) => n + p.bytesOut, 0), `${s} bytes in`);
        assert.equal(delta(before, during, 'crosswire_sent_bytes_total', { serializer: s }), mine.reduce((n, p) => n + p.bytesIn, 0), `${s} bytes out`);
      }
      assert.equal(during.get('crosswire_sessions', { realm: 'realm1' }), 3);
      assert.equal(delta(before, during, 'crosswire_connections_opened_total', { transport: 'transport1' }), 3);
      assert.equal(during.get('crosswire_connections', { transport: 'transport1' }), 3);
      assert.equal(delta(before, during, 'crosswire_auth_total', { method: 'anonymous', result: 'success' }), 3);
      // Routing latency: observed per batch, so at least once, and every observation in a bucket.
      const count = delta(before, during, 'crosswire_routing_latency_seconds_count');
      assert.ok(count >= 1, `latency observations: ${count}`);
      assert.equal(during.get('crosswire_routing_latency_seconds_bucket', { le: '+Inf' }), during.get('crosswire_routing_latency_seconds_count'));
      assert.ok(delta(before, during, 'crosswire_routing_latency_seconds_sum') > 0);
      // IPC: batches both ways, at least one entry per batch.
      for (const direction of ['to_worker', 'from_worker']) {
        const b = delta(before, during, 'crosswire_ipc_batches_total', { direction, worker: '0' });
        const e = delta(before, during, 'crosswire_ipc_entries_total', { direction, worker: '0' });
        assert.ok(b >= 1 && e >= b, `${direction}: ${b} batches, ${e} entries`);
      }

      // Labels come from closed sets: no URI, session id or peer address anywhere.
      assert.doesNotMatch(during.text, /com\.example\.metrics/);
      assert.doesNotMatch(during.text, /127\.0\.0\.1/);
      for (const w of welcomes) assert.ok(!during.text.includes(String(w[1])), `session id ${String(w[1])} in /metrics`);

      for (const p of peers) p.close();
      await within(Promise.all(peers.map((p) => p.closed)), 5000, 'the peers to close');
      const closed = await scrape(r.http);
      assert.equal(closed.get('crosswire_sessions', { realm: 'realm1' }), 0);
      assert.equal(closed.get('crosswire_connections', { transport: 'transport1' }), 0);
      assert.equal(delta(before, closed, 'crosswire_connections_closed_total', { transport: 'transport1' }), 3);
    });
  }

  test('refusals and protocol violations are counted by reason', async () => {
    const before = await scrape(r.http);
    // No WAMP subprotocol: HTTP 400 at the upgrade.
    const ws = new WebSocket(r.url, ['foo']);
    const status = await within(
      new Promise<number>((resolve) =>
        ws.on('unexpected-response', (req, res) => {
          req.destroy(); // with this listener, ws leaves the request open
          resolve(res.statusCode ?? 0);
        }),
      ),
      5000,
      'the 400',
    );
    assert.equal(status, 400);
    // A realm that does not exist.
    const p1 = await RawPeer.open(r.url, 'json');
    p1.send([1, 'nosuchrealm', { roles: { caller: {} } }]);
    assert.equal((await p1.next(3))[2], 'wamp.error.no_such_realm');
    // Only authentication methods the transport does not enable.
    const p2 = await RawPeer.open(r.url, 'msgpack');
    p2.send([1, 'realm1', { roles: { caller: {} }, authmethods: ['ticket'] }]);
    assert.equal((await p2.next(3))[2], 'wamp.error.no_matching_auth_method');
    // A protocol violation on an established session (found in the worker) and before HELLO (main thread).
    const p3 = await RawPeer.open(r.url, 'json');
    await p3.join();
    p3.send([1, 'realm1', { roles: { caller: {} } }]);
    assert.equal((await p3.next(3))[2], 'wamp.error.protocol_violation');
    const p4 = await RawPeer.open(r.url, 'json');
    p4.send([16, 1, {}, 'com.example.x']);
    assert.equal((await p4.next(3))[2], 'wamp.error.protocol_violation');
    await within(Promise.all([p1.closed, p2.closed, p3.closed, p4.closed]), 5000, 'the closes');
    const after = await scrape(r.http);
    assert.equal(delta(before, after, 'crosswire_connections_refused_total', { reason: 'subprotocol' }), 1);
    assert.equal(delta(before, after, 'crosswire_connections_refused_total', { reason: 'no_such_realm' }), 1);
    assert.equal(delta(before, after, 'crosswire_connections_refused_total', { reason: 'auth' }), 1);
    assert.equal(delta(before, after, 'crosswire_connections_refused_total', { reason: 'draining' }), 0);
    assert.equal(delta(before, after, 'crosswire_auth_total', { method: 'none', result: 'failure' }), 1);
    assert.equal(delta(before, after, 'crosswire_protocol_violations_total', { transport: 'transport1' }), 2);
  });

  test('metric families: types, worker gauges, Node process metrics', async () => {
    const m = await scrape(r.http);
    assert.equal(m.type('crosswire_messages_received_total'), 'counter');
    assert.equal(m.type('crosswire_sessions'), 'gauge');
    assert.equal(m.type('crosswire_routing_latency_seconds'), 'histogram');
    assert.equal(m.get('crosswire_build_info', { version: '0.1.0' }), 1);
    assert.equal(m.get('crosswire_ready'), 1);
    assert.equal(m.get('crosswire_worker_up', { worker: '0' }), 1);
    assert.equal(m.get('crosswire_ipc_queue_depth', { worker: '0' }), 0);
    const used = m.get('crosswire_worker_heap_used_bytes', { worker: '0' });
    assert.ok(used > 0 && used < m.get('crosswire_worker_heap_limit_bytes', { worker: '0' }));
    for (const stat of ['mean', 'p99', 'max']) {
      const v = m.get(`crosswire_worker_eventloop_lag_${stat}_seconds`, { worker: '0' });
      assert.ok(m.has(`crosswire_worker_eventloop_lag_${stat}_seconds`) && v >= 0 && v < 10, `${stat}: ${v}`);
    }
    assert.equal(m.get('crosswire_worker_restarts_total', { worker: '0', cause: 'uncaught_exception' }), 0);
    assert.equal(m.get('crosswire_slow_consumer_closes_total'), 0);
    assert.ok(m.has('process_cpu_user_seconds_total'));
    assert.ok(m.has('nodejs_eventloop_lag_p99_seconds'));
    assert.ok(m.has('nodejs_heap_size_used_bytes'));
    for (const s of m.samples) assert.ok(s.name.startsWith('crosswire_') || s.name.startsWith('process_') || s.name.startsWith('nodejs_'), s.name);
  });
});

// A WebSocket message over max_message_size is closed with 1009 by the router, and counted with
// the protocol violations of its transport, as a RawSocket frame over the limit is.
describe('a WebSocket message over max_message_size (1024 bytes)', () => {
  let small: TestRouter;
  before(async () => {
    small = await startRouter({ transport: { options: { max_message_size: 1024 } } });
  });
  after(() => small.stop());

  test('closed 1009 and counted as one protocol violation of its transport; nothing else moves', async () => {
    const before = await scrape(small.http);
    const p = await RawPeer.open(small.url, 'json');
    await p.join();
    p.send([16, 1, {}, 'com.example.big', ['x'.repeat(1500)]]);
    const closed = await within(p.closed, 5000, 'the router to close the connection');
    assert.equal(closed.code, 1009, `close code (reason '${closed.reason}')`);
    const after = await scrape(small.http);
    assert.equal(delta(before, after, 'crosswire_protocol_violations_total', { transport: 'transport1' }), 1);
    assert.equal(delta(before, after, 'crosswire_slow_consumer_closes_total'), 0);
    for (const reason of ['subprotocol', 'auth', 'no_such_realm', 'other']) assert.equal(delta(before, after, 'crosswire_connections_refused_total', { reason }), 0, reason);
    assert.equal(delta(before, after, 'crosswire_messages_received_total', { type: 'PUBLISH', serializer: 'json' }), 0);
    assert.equal(delta(before, after, 'crosswire_connections_closed_total', { transport: 'transport1' }), 1);
  });

  test('a message within the limit counts no violation', async () => {
    const before = await scrape(small.http);
    const p = await RawPeer.open(small.url, 'json');
    await p.join();
    p.send([16, 1, { acknowledge: true }, 'com.example.small', ['x'.repeat(500)]]);
    await p.next(17);
    p.ws.close(1000);
    await within(p.closed, 5000, 'the close');
    const after = await scrape(small.http);
    assert.equal(delta(before, after, 'crosswire_protocol_violations_total', { transport: 'transport1' }), 0);
  });
});

describe('HTTP endpoints on the router port', () => {
  test('/health 200, /ready 200, other paths the status page, a WAMP client on /metrics still connects', async () => {
    const health = await fetch(`${r.http}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`${r.http}/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready' });
    const page = await httpGet(`${r.http}/ws`);
    assert.equal(page.status, 200);
    assert.match(page.body, /Crosswire WAMP router/);
    // The upgrade is handed on to the WebSocket route, whatever the path.
    const c = await connect(`ws://127.0.0.1:${r.port}/metrics`, 'json');
    assert.equal(await c.session.call('wamp.nope').catch((e: { error: string }) => e.error), 'wamp.error.no_such_procedure');
    await c.close();
  });

  test('concurrent scrapes all get a complete exposition', async () => {
    const texts = await Promise.all(Array.from({ length: 5 }, () => scrape(r.http)));
    for (const t of texts) assert.equal(t.get('crosswire_worker_up', { worker: '0' }), 1);
  });
});

describe('a separate operations endpoint', () => {
  test('crosswire.ops.port serves /metrics, /health and /ready; on_transports [] keeps them off the WebSocket port', async () => {
    const s = await startRouter({ crosswire: { ops: { port: 0, interface: '127.0.0.1', on_transports: [] } } });
    try {
      const ops = `http://127.0.0.1:${s.router.ops!.port}`;
      assert.notEqual(s.router.ops!.port, s.port);
      const m = parseMetrics(await (await fetch(`${ops}/metrics`)).text());
      assert.equal(m.get('crosswire_ready'), 1);
      assert.equal((await fetch(`${ops}/health`)).status, 200);
      assert.equal((await fetch(`${ops}/ready`)).status, 200);
      assert.equal((await fetch(`${ops}/other`)).status, 404);
      // The WebSocket port answers those paths with its status page only.
      for (const path of ['/metrics', '/health', '/ready']) {
        const res = await httpGet(`${s.http}${path}`);
        assert.equal(res.status, 200);
        assert.match(res.body, /Crosswire WAMP router/, path);
      }
    } finally {
      await s.stop();
    }
  });

  test('on_transports ["health"]: /health and /ready on the WebSocket port, /metrics not', async () => {
    const s = await startRouter({ crosswire: { ops: { on_transports: ['health'] } } });
    try {
      assert.equal((await fetch(`${s.http}/ready`)).status, 200);
      assert.match((await httpGet(`${s.http}/metrics`)).body, /Crosswire WAMP router/);
      assert.equal(s.router.ops, null);
    } finally {
      await s.stop();
    }
  });
});
