// CookieTracker: what the main thread hands a realm worker for cookie authentication, and what
// the cookie store is made to hold.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CookieTracker, openCookieStore } from '../../src/transport/cookies.js';

const CONFIG = { name: 'cbtid', length: 24, maxAge: 60, secure: false, httpStrict: false, sameSite: null, store: { type: 'memory' }, maxAnonymous: 10_000, maxPerPrincipal: 100 } as const;

test('the stored identity of a live cookie; null when unknown, unauthenticated, logged out or expired', async () => {
  const store = await openCookieStore({ type: 'memory' });
  const t = new CookieTracker(CONFIG, store);
  const now = 1_000_000;
  const { id } = t.track('', now);
  assert.equal(t.auth(id, now), null, 'tracked, never authenticated');
  assert.equal(t.auth('unknown', now), null);
  t.welcomed(id, { realm: 'realm1', authid: 'alice', authrole: 'user', authmethod: 'ticket', authextra: { a: 1 } }, now);
  assert.deepEqual(t.auth(id, now + 59_999), { authid: 'alice', authrole: 'user', authmethod: 'ticket', authrealm: 'realm1', authextra: { a: 1 } });
  assert.equal(t.auth(id, now + 60_000), null, 'expired after max_age');
  t.logout(id);
  assert.equal(t.auth(id, now), null, 'logged out');
  assert.equal(t.track(`cbtid=${id}`, now).setCookie, null, 'a logged-out cookie is still ours');
  await t.close();
});

test('only a cookie that authenticated someone is stored; the others are remembered in memory, boundedly', async () => {
  const store = await openCookieStore({ type: 'memory' });
  const t = new CookieTracker(CONFIG, store, 3);
  const now = 1_000_000;
  const ids = [0, 1, 2, 3, 4].map(() => t.track('', now).id);
  for (const id of ids) t.welcomed(id, { realm: 'realm1', authid: 'X', authrole: 'anonymous', authmethod: 'anonymous' }, now);
  assert.deepEqual([store.size, t.anonymousCount], [0, 3], 'anonymous WELCOMEs store nothing; 3 remembered');
  assert.notEqual(t.track(`cbtid=${ids[0]}`, now).setCookie, null, 'the oldest was forgotten: a new cookie');
  assert.equal(t.track(`cbtid=${ids[4]}`, now).setCookie, null, 'the newest is still known');
  t.welcomed(ids[4]!, { realm: 'realm1', authid: 'alice', authrole: 'user', authmethod: 'ticket' }, now);
  t.welcomed(ids[4]!, { realm: 'realm1', authid: 'alice', authrole: 'user', authmethod: 'ticket', authprovider: 'cookie' }, now);
  assert.equal(store.size, 1);
  assert.equal(store.get(ids[4]!)!.created, now, 'created when issued');
  t.purge(now + 60_000);
  assert.deepEqual([store.size, t.anonymousCount], [0, 0], 'expired cookies are forgotten, stored or not');
  await t.close();
});

test('the anonymous authid of a cookie: stable, not the cookie, different per cookie', async () => {
  const t = new CookieTracker(CONFIG, await openCookieStore({ type: 'memory' }));
  const a = t.track('').id;
  const b = t.track('').id;
  assert.equal(t.anonymousAuthid(a), t.anonymousAuthid(a));
  assert.notEqual(t.anonymousAuthid(a), t.anonymousAuthid(b));
  assert.ok(!t.anonymousAuthid(a).includes(a));
  await t.close();
});

test('one principal holds at most perPrincipalMax stored cookies: the least recently logged in forgets its login', async () => {
  const store = await openCookieStore({ type: 'memory' });
  const t = new CookieTracker(CONFIG, store, 100, 2);
  const now = 1_000_000;
  const alice = { realm: 'realm1', authid: 'alice', authrole: 'user', authmethod: 'ticket' };
  const [a, b, c] = [0, 1, 2].map(() => t.track('', now).id) as [string, string, string];
  t.welcomed(a, alice, now);
  t.welcomed(b, alice, now);
  t.welcomed(a, alice, now); // a logs in again: b is now the least recent
  t.welcomed(c, alice, now);
  t.welcomed(t.track('', now).id, { ...alice, authid: 'bob' }, now);
  assert.equal(store.size, 3, "two of alice's, one of bob's");
  assert.equal(t.auth(b, now), null, 'b forgot its login');
  assert.equal(t.track(`cbtid=${b}`, now).setCookie, null, 'b is still a cookie the router issued');
  assert.deepEqual([t.auth(a, now)?.authid, t.auth(c, now)?.authid], ['alice', 'alice']);
  // At startup the index is rebuilt from the store.
  const again = new CookieTracker(CONFIG, store, 100, 2);
  again.welcomed(again.track('', now + 1).id, alice, now + 1);
  assert.equal(store.size, 3);
  await t.close();
  await again.close();
});
