// The brute-force throttle's arithmetic: failures plus attempts in flight never pass the limit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Throttle } from '../../workers/auth/throttle.js';

test('attempts in flight count against the limit; failures block until they leave the window', () => {
  const t = new Throttle(3, 1000);
  const k = ['peer\0a', 'authid\0alice'];
  assert.deepEqual([t.acquire(k, 0), t.acquire(k, 0), t.acquire(k, 0)], ['ok', 'ok', 'ok']);
  assert.deepEqual(t.acquire(k, 0), { busy: 'peer\0a' }, 'a 4th waits while 3 are in flight');
  assert.deepEqual(t.acquire(['peer\0b', 'authid\0alice'], 0), { busy: 'authid\0alice' }, 'another address, same authid');
  assert.equal(t.acquire(['peer\0b', 'authid\0bob'], 0), 'ok', 'another address and authid');
  t.fail(k, 10);
  t.release(k);
  assert.deepEqual(t.acquire(k, 10), { busy: 'peer\0a' }, '1 failure + 2 in flight');
  t.release(k);
  t.release(k);
  assert.equal(t.acquire(k, 10), 'ok', 'a success frees its slot');
  t.fail(k, 20);
  t.release(k);
  t.fail(k, 30);
  assert.equal(t.blocked(k, 30), true);
  assert.equal(t.acquire(k, 30), 'blocked');
  assert.equal(t.blocked(['peer\0c', 'authid\0alice'], 30), true, 'the authid is blocked from any address');
  assert.equal(t.blocked(k, 1010), false, 'the first failure left the window');
});

test('no limit (0): always admitted, nothing kept', () => {
  const t = new Throttle(0, 1000);
  for (let i = 0; i < 100; i++) {
    assert.equal(t.acquire(['p'], 0), 'ok');
    t.fail(['p'], 0);
  }
  assert.equal(t.blocked(['p'], 0), false);
  assert.equal(t.keys, 0);
});
