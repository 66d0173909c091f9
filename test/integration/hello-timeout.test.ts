import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RawPeer } from '../helpers/raw.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { within } from '../helpers/wait.js';

let r: TestRouter;
before(async () => {
  r = await startRouter({ crosswire: { hello_timeout: 300 } });
});
after(() => r.stop());

test('a WebSocket that never says HELLO is closed (1008); one that joined in time is not', async () => {
  const joined = await RawPeer.open(r.url, 'json');
  await joined.join();
  const silent = await RawPeer.open(r.url, 'msgpack');
  const started = Date.now();
  const { code, reason } = await within(silent.closed, 5000, 'the silent connection to be closed');
  assert.equal(code, 1008);
  assert.match(reason, /no HELLO within 300 ms/);
  assert.ok(Date.now() - started >= 250);
  // The joined session outlived the timeout and still works.
  joined.send([32, 1, {}, 'com.example.still_here']);
  assert.equal((await joined.next(33))[0], 33);
  joined.close();
});

test('after a GOODBYE the transport gets the same time to start a new session', async () => {
  const p = await RawPeer.open(r.url, 'json');
  await p.join();
  p.send([6, {}, 'wamp.close.close_realm']);
  await p.next(6);
  const { code } = await within(p.closed, 5000, 'the idle transport to be closed');
  assert.equal(code, 1008);
});
