// CookieTracker.auth(): what the main thread hands a realm worker for cookie authentication.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CookieTracker, openCookieStore } from '../../src/transport/cookies.js';

test('the stored identity of a live cookie; null when unknown, unauthenticated, logged out or expired', async () => {
  const store = await openCookieStore({ type: 'memory' });
  const t = new CookieTracker({ name: 'cbtid', length: 24, maxAge: 60, secure: false, httpStrict: false, sameSite: null, store: { type: 'memory' } }, store);
  const now = 1_000_000;
  const { id } = t.track('', now);
  assert.equal(t.auth(id, now), null, 'tracked, never authenticated');
  assert.equal(t.auth('unknown', now), null);
  t.welcomed(id, { realm: 'realm1', authid: 'alice', authrole: 'user', authmethod: 'ticket', authextra: { a: 1 } });
  assert.deepEqual(t.auth(id, now + 59_999), { authid: 'alice', authrole: 'user', authmethod: 'ticket', authrealm: 'realm1', authextra: { a: 1 } });
  assert.equal(t.auth(id, now + 60_000), null, 'expired after max_age');
  t.setAuth(id, { authid: null, authrole: null, authmethod: null, authrealm: null, authextra: null });
  assert.equal(t.auth(id, now), null, 'logged out');
});
