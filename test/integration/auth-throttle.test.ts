// The brute-force throttle must hold whatever the concurrency. 1,000 connections
// (raw WebSocket peers) each HELLO and guess at once; once the limit is exceeded no one is admitted,
// the right secret included, and no more than `auth_max_failures` guesses are ever decided —
// per peer address, and per authid when the guesses come from many addresses (X-Forwarded-For
// behind a trusted proxy), and with an asynchronous check (a dynamic authenticator).
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, describe, test } from 'node:test';
import autobahn from 'autobahn';
import { connect } from '../helpers/client.js';
import { scrape } from '../helpers/metrics.js';
import { RawPeer } from '../helpers/raw.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { deferred, Inbox, within } from '../helpers/wait.js';

type Dict = Record<string, unknown>;
const MAX = 10;
const N = 1000;
const ROLES = { caller: {}, callee: {} };
const USER = { name: 'user', permissions: [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true } }] };
const THROTTLED = /too many failed authentication attempts/;

const routers: TestRouter[] = [];
after(() => Promise.all(routers.map((r) => r.stop())));

async function router(transport: Dict, roles: Dict[] = [USER]): Promise<TestRouter> {
  const r = await startRouter({
    crosswire: { auth_fail_delay: 0, auth_max_failures: MAX, auth_failure_window: 60_000, auth_timeout: 30_000 },
    realms: [{ name: 'realm1', roles }],
    transport,
  });
  routers.push(r);
  return r;
}

/** Opens `n` raw peers, at most 200 opening at a time; `headers(i)` for each. */
async function swarm(url: string, n: number, headers: (i: number) => Dict = () => ({})): Promise<RawPeer[]> {
  const peers: RawPeer[] = [];
  for (let i = 0; i < n; i += 200) {
    const batch = Array.from({ length: Math.min(200, n - i) }, (_, j) => RawPeer.open(url, 'json', { headers: headers(i + j) as Record<string, string> }));
    peers.push(...(await within(Promise.all(batch), 30_000, 'the connections to open')));
  }
  return peers;
}

/**
 * The attack: every peer sends HELLO; every peer but the last answers its CHALLENGE with a wrong
 * guess; once MAX replies to those arrived (the limit is reached), the last answers with the right
 * secret. `answer(i, challenge, right)` computes the AUTHENTICATE signature.
 */
async function attack(
  peers: RawPeer[],
  hello: (i: number) => Dict,
  answer: (i: number, challenge: unknown[], right: boolean) => string,
): Promise<{ challenges: number; welcomes: unknown[][]; decided: unknown[][]; throttled: unknown[][]; last: unknown[] }> {
  for (const [i, p] of peers.entries()) p.send([1, 'realm1', { roles: ROLES, ...hello(i) }]);
  const first = await within(Promise.all(peers.map((p) => p.nextOf([2, 3, 4], 30_000))), 30_000, 'the replies to HELLO');
  const replies: unknown[][] = first.filter((m) => m[0] !== 4);
  const enough = deferred();
  let ended = 0;
  const lastIndex = peers.length - 1;
  const pending: Promise<unknown>[] = [];
  for (const [i, p] of peers.entries()) {
    if (first[i]![0] !== 4 || i === lastIndex) continue;
    p.send([5, answer(i, first[i]!, false), {}]);
    pending.push(
      p.nextOf([2, 3], 30_000).then((m) => {
        replies.push(m);
        if (++ended >= MAX) enough.resolve();
      }),
    );
  }
  await within(enough.promise, 30_000, `${MAX} guesses to be answered`);
  let last: unknown[] = first[lastIndex]!;
  if (last[0] === 4) {
    peers[lastIndex]!.send([5, answer(lastIndex, last, true), {}]);
    last = await peers[lastIndex]!.nextOf([2, 3], 30_000);
  }
  await within(Promise.all(pending), 30_000, 'every guess to be answered');
  for (const p of peers) p.ws.terminate();
  const msg = (m: unknown[]) => String((m[1] as Dict).message);
  return {
    challenges: first.filter((m) => m[0] === 4).length,
    welcomes: [...replies, last].filter((m) => m[0] === 2),
    decided: replies.filter((m) => m[0] === 3 && !THROTTLED.test(msg(m))),
    throttled: replies.filter((m) => m[0] === 3 && THROTTLED.test(msg(m))),
    last,
  };
}

function assertHeld(out: Awaited<ReturnType<typeof attack>>): void {
  assert.equal(out.welcomes.length, 0, `admitted: ${JSON.stringify(out.welcomes.map((w) => (w[2] as Dict).authid))}`);
  assert.ok(out.decided.length <= MAX, `${out.decided.length} guesses were decided (limit ${MAX})`);
  assert.equal(out.decided.length + out.throttled.length, N - 1, 'every guess got an ABORT');
  assert.equal(out.last[0], 3, 'the right secret, sent once the limit was exceeded, is refused');
  assert.match(String((out.last[1] as Dict).message), THROTTLED);
}

describe('1,000 parallel guesses', () => {
  test('from one address for one ticket principal: no more than the limit decided, no one admitted', async () => {
    const r = await router({ auth: { ticket: { type: 'static', principals: { alice: { ticket: 'alice-secret', role: 'user' } } } } });
    const peers = await swarm(r.url, N);
    const out = await attack(peers, () => ({ authmethods: ['ticket'], authid: 'alice' }), (i, _c, right) => (right ? 'alice-secret' : `guess-${i}`));
    assertHeld(out);
  });

  test('from 1,000 addresses (trusted proxy) for one WAMP-CRA user: the authid is throttled too', async () => {
    const r = await router({
      options: { trusted_proxies: ['127.0.0.1'] },
      auth: { wampcra: { type: 'static', users: { carol: { secret: 'carol-secret', role: 'user' } } } },
    });
    const peers = await swarm(r.url, N, (i) => ({ 'X-Forwarded-For': `10.0.${i >> 8}.${i & 255}` }));
    assert.equal(new Set(r.router.peers()).size, N, 'each connection is its own peer');
    const out = await attack(
      peers,
      () => ({ authmethods: ['wampcra'], authid: 'carol' }),
      (_i, c, right) => createHmac('sha256', right ? 'carol-secret' : 'guess').update((c[2] as Dict).challenge as string).digest('base64'),
    );
    assertHeld(out);
  });

  test('from one address with a dynamic authenticator (an asynchronous check): at most the limit reach it', async () => {
    let calls = 0;
    const r = await router(
      {
        auth: {
          anonymous: { type: 'static', role: 'backend' },
          ticket: { type: 'dynamic', authenticator: 'com.example.authenticate' },
        },
      },
      [USER, { ...USER, name: 'backend' }],
    );
    const authenticator = await connect(r.url, 'json');
    try {
      // Holds the first MAX checks until all MAX arrived (so they are in flight together), then
      // denies them; denies any later one at once.
      const held: (() => void)[] = [];
      await authenticator.session.register('com.example.authenticate', (args) => {
        calls++;
        const details = args![2] as Dict;
        if (details.ticket === 'the-right-one') return 'user';
        const denied = () => new autobahn.Error('wamp.error.not_authorized', ['wrong ticket']);
        if (calls > MAX) throw denied();
        const deny = new Promise((_, reject) => held.push(() => reject(denied())));
        if (held.length === MAX) for (const release of held.splice(0)) release();
        return deny;
      });
      const peers = await swarm(r.url, N);
      const out = await attack(peers, (i) => ({ authmethods: ['ticket'], authid: `user${i}` }), (_i, _c, right) => (right ? 'the-right-one' : 'wrong'));
      assertHeld(out);
      assert.ok(calls <= MAX, `the authenticator was asked ${calls} times`);
    } finally {
      await authenticator.close();
    }
  });
});

// A login whose guess waits for the throttle (a slow check of the same address in flight) and
// reaches auth_timeout meanwhile is overload, not a wrong credential: counted apart in the metrics
// (result throttle_timeout), and no failure of its address or authid.
describe('a login that times out waiting for the throttle', () => {
  test('is counted as throttle_timeout, not as a failure, and does not block its authid', async () => {
    const r = await startRouter({
      crosswire: { auth_fail_delay: 0, auth_max_failures: 1, auth_failure_window: 60_000, auth_timeout: 1500 },
      realms: [{ name: 'realm1', roles: [USER, { ...USER, name: 'backend' }] }],
      transport: {
        options: { trusted_proxies: ['127.0.0.1'] },
        auth: { anonymous: { type: 'static', role: 'backend' }, ticket: { type: 'dynamic', authenticator: 'com.example.authenticate' } },
      },
    });
    routers.push(r);
    const authenticator = await connect(r.url, 'json');
    try {
      // The right ticket is admitted at once; any other is held until the test denies it.
      const held = new Inbox<() => void>();
      await authenticator.session.register('com.example.authenticate', (args) => {
        if ((args![2] as Dict).ticket === 'right') return 'user';
        return new Promise((_, reject) => held.push(() => reject(new autobahn.Error('wamp.error.not_authorized', ['wrong ticket']))));
      });
      const m0 = await scrape(r.http);
      const open = (ip: string) => RawPeer.open(r.url, 'json', { headers: { 'X-Forwarded-For': ip } });
      const hello = (authid: string) => [1, 'realm1', { roles: ROLES, authmethods: ['ticket'], authid }];
      // bob says HELLO first, so his auth_timeout passes before alice's check could time out.
      const bob = await open('10.9.0.1');
      bob.send(hello('bob'));
      await bob.next(4);
      const alice = await open('10.9.0.1');
      alice.send(hello('alice'));
      await alice.next(4);
      alice.send([5, 'wrong', {}]);
      const [deny] = await held.waitFor(1, 10_000);
      // alice's guess holds the one slot of 10.9.0.1 (auth_max_failures 1): bob's right ticket waits, and times out.
      bob.send([5, 'right', {}]);
      const abort = await bob.nextOf([2, 3], 10_000);
      assert.equal(abort[0], 3, `bob: ${JSON.stringify(abort)}`);
      assert.equal(abort[2], 'wamp.error.authentication_failed');
      assert.match(String((abort[1] as Dict).message), /did not complete within 1500 ms/);
      deny!();
      assert.equal((await alice.nextOf([2, 3], 10_000))[0], 3, 'alice is refused (denied, or timed out first)');
      // bob's timeout was no failure of his authid: from another address he gets in.
      const again = await open('10.9.0.2');
      again.send(hello('bob'));
      const challenge = await again.nextOf([3, 4], 10_000);
      assert.equal(challenge[0], 4, `bob again: ${JSON.stringify(challenge)}`);
      again.send([5, 'right', {}]);
      assert.equal((await again.nextOf([2, 3], 10_000))[0], 2);
      const m1 = await scrape(r.http);
      const d = (result: string) => m1.get('crosswire_auth_total', { method: 'ticket', result }) - m0.get('crosswire_auth_total', { method: 'ticket', result });
      assert.deepEqual({ failure: d('failure'), throttle_timeout: d('throttle_timeout'), success: d('success') }, { failure: 1, throttle_timeout: 1, success: 1 });
      for (const p of [bob, alice, again]) p.ws.terminate();
    } finally {
      await authenticator.close();
    }
  });
});

// A refusal by the throttle (the key is blocked, no credential checked) is counted apart from
// wrong credentials, under the method the login chose, whether it comes at HELLO or AUTHENTICATE.
describe('logins refused because their key is blocked', () => {
  test('count as result blocked under their method, at HELLO and at AUTHENTICATE; not as failures', async () => {
    const r = await startRouter({
      crosswire: { auth_fail_delay: 0, auth_max_failures: 2, auth_failure_window: 60_000, auth_timeout: 30_000 },
      realms: [{ name: 'realm1', roles: [USER] }],
      transport: { auth: { ticket: { type: 'static', principals: { alice: { ticket: 'alice-secret', role: 'user' } } } } },
    });
    routers.push(r);
    const m0 = await scrape(r.http);
    const open = () => RawPeer.open(r.url, 'json');
    const hello = (methods: string[]) => [1, 'realm1', { roles: ROLES, authmethods: methods, authid: 'alice' }];
    // late gets its CHALLENGE before the key is blocked, and answers after.
    const late = await open();
    late.send(hello(['ticket']));
    await late.next(4);
    // Two wrong tickets: failures, and the key (this address, alice) is blocked.
    for (let i = 0; i < 2; i++) {
      const p = await open();
      p.send(hello(['ticket']));
      await p.next(4);
      p.send([5, `wrong-${i}`, {}]);
      const abort = await p.nextOf([2, 3], 10_000);
      assert.equal(abort[0], 3);
      assert.doesNotMatch(String((abort[1] as Dict).message), THROTTLED);
    }
    // Refused at AUTHENTICATE (the right ticket, undecided) and at HELLO (wampcra is not enabled, ticket is).
    late.send([5, 'alice-secret', {}]);
    const a1 = await late.nextOf([2, 3], 10_000);
    assert.equal(a1[0], 3);
    assert.match(String((a1[1] as Dict).message), THROTTLED);
    const early = await open();
    early.send(hello(['wampcra', 'ticket']));
    const a2 = await early.nextOf([2, 3, 4], 10_000);
    assert.equal(a2[0], 3);
    assert.match(String((a2[1] as Dict).message), THROTTLED);
    // No offered method enabled: still none / failure.
    const none = await open();
    none.send(hello(['wampcra']));
    assert.equal((await none.next(3))[2], 'wamp.error.no_matching_auth_method');
    const m1 = await scrape(r.http);
    const d = (method: string, result: string) => m1.get('crosswire_auth_total', { method, result }) - m0.get('crosswire_auth_total', { method, result });
    assert.deepEqual(
      { ticketFailure: d('ticket', 'failure'), ticketBlocked: d('ticket', 'blocked'), ticketSuccess: d('ticket', 'success'), noneFailure: d('none', 'failure'), noneBlocked: d('none', 'blocked'), wampcraBlocked: d('wampcra', 'blocked') },
      { ticketFailure: 2, ticketBlocked: 2, ticketSuccess: 0, noneFailure: 1, noneBlocked: 0, wampcraBlocked: 0 },
    );
    for (const p of [late, early, none]) p.ws.terminate();
  });
});

// The throttle must not key failures by the authid as sent: an authid is any string a HELLO
// carries (up to max_message_size), and a key is kept until the table is full, so failed HELLOs
// with megabyte authids from a few addresses would fill the realm worker's heap.
describe('the throttle table under long authids', () => {
  test('failures with 1 MiB authids from many addresses do not exhaust the worker (worker_max_heap_mb: 32)', async () => {
    const r = await startRouter({
      crosswire: { worker_max_heap_mb: 32, realm_threads: 1, auth_fail_delay: 0, auth_max_failures: MAX, auth_failure_window: 60_000 },
      realms: [{ name: 'realm1', roles: [USER] }],
      transport: {
        options: { trusted_proxies: ['127.0.0.1'] },
        auth: {
          anonymous: { type: 'static', role: 'user' },
          ticket: { type: 'static', principals: { alice: { ticket: 'alice-secret', role: 'user' } } },
        },
      },
    });
    routers.push(r);
    const bystander = await connect(r.url, 'json');
    await bystander.session.register('com.example.echo', (args) => args);
    // 96 failures (96 MiB of authids, three times the heap), 8 addresses at a time, 2 per address.
    const ATTEMPTS = 96;
    for (let i = 0; i < ATTEMPTS; i += 8) {
      await within(
        Promise.all(
          Array.from({ length: 8 }, async (_, j) => {
            const n = i + j;
            const p = await RawPeer.open(r.url, 'json', { headers: { 'X-Forwarded-For': `10.1.0.${n >> 1}` } });
            p.send([1, 'realm1', { roles: ROLES, authmethods: ['ticket'], authid: `${n}-${'x'.repeat(1024 * 1024)}` }]);
            const m = await Promise.race([p.nextOf([3, 4], 30_000), p.closed.then(({ code }) => [`closed ${code}`])]);
            assert.equal(m[0], 4, `attempt ${n}: ${String(m[0])}`);
            p.send([5, 'wrong', {}]);
            const abort = await Promise.race([p.nextOf([2, 3], 30_000), p.closed.then(({ code }) => [`closed ${code}`])]);
            assert.equal(abort[0], 3, `attempt ${n}: ${String(abort[0])}`);
            assert.equal(abort[2], 'wamp.error.authentication_failed');
            p.ws.terminate();
          }),
        ),
        60_000,
        `attempts ${i}..${i + 7}`,
      );
    }
    const alive = await Promise.race([bystander.session.call('com.example.echo', ['still here']), bystander.closed.then(({ reason }) => `closed: ${reason}`)]);
    assert.deepEqual(alive, ['still here']);
    await bystander.close();
  });
});
