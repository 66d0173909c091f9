import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect } from '../helpers/client.js';
import { get } from '../helpers/http.js';
import { startRouter, type TestRouter } from '../helpers/router.js';

// The operations endpoints mounted as web-transport path services, with the default
// /metrics, /health, /ready on the transport port switched off.
let r: TestRouter;
let base: string;
before(async () => {
  r = await startRouter({
    transports: [
      {
        type: 'web',
        endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' },
        paths: { '/': { type: 'nodeinfo' }, ws: { type: 'websocket' }, stats: { type: 'metrics' }, alive: { type: 'health' }, ready: { type: 'ready' } },
      },
    ],
    crosswire: { ops: { on_transports: [] } },
  });
  base = `http://127.0.0.1:${r.port}`;
});
after(() => r.stop());

test('metrics, health and ready as path services of a web transport', async () => {
  const c = await connect(`ws://127.0.0.1:${r.port}/ws`, 'json');
  try {
    await c.session.publish('com.example.counted', [], {}, { acknowledge: true });
    const metrics = await get(`${base}/stats`);
    assert.equal(metrics.status, 200);
    const text = await metrics.text();
    assert.match(text, /^crosswire_messages_received_total\{type="PUBLISH",serializer="json"\} 1$/m);
    assert.match(text, /^crosswire_sessions\{realm="realm1"\} 1$/m);
    const alive = await get(`${base}/alive`);
    assert.deepEqual([alive.status, await alive.json()], [200, { status: 'ok' }]);
    const ready = await get(`${base}/ready`);
    assert.deepEqual([ready.status, await ready.json()], [200, { status: 'ready' }]);
    // The transport-wide defaults are off here.
    assert.equal((await get(`${base}/metrics`)).status, 404);
    assert.equal((await get(`${base}/health`)).status, 404);
  } finally {
    await c.close();
  }
});
