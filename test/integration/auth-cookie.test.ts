// Cookie authentication (Crossbar.io docs, "Cookie Authentication") with raw WebSocket peers (no client library offers
// `cookie`): a ticket login stores its identity on the tracking cookie; a later connection that
// presents the cookie and offers "cookie" is welcomed at once with that identity; an unknown or
// unauthenticated cookie, another realm, or a client not offering "cookie" gets no cookie auth;
// GOODBYE wamp.close.logout invalidates it.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RawPeer } from '../helpers/raw.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { within } from '../helpers/wait.js';

const ALL = [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true } }];
const REALMS = [
  { name: 'realm1', roles: [{ name: 'user', permissions: ALL }] },
  { name: 'realm2', roles: [{ name: 'user', permissions: ALL }] },
];
const TICKET = { type: 'static', principals: { alice: { ticket: 'alice-secret', role: 'user' } } };

let r: TestRouter;
before(async () => {
  r = await startRouter({ realms: REALMS, transport: { cookie: {}, auth: { ticket: TICKET, cookie: {} } }, crosswire: { auth_fail_delay: 0 } });
});
after(() => r.stop());

/** Opens a raw JSON peer (presenting `cookie` if given); the cookie id the router tracks it with. */
async function connect(url: string, cookie?: string): Promise<{ peer: RawPeer; cbtid: string | null }> {
  const peer = new RawPeer(url, 'json', cookie === undefined ? {} : { headers: { Cookie: `cbtid=${cookie}` } });
  const upgrade = new Promise<IncomingMessage>((resolve) => peer.ws.once('upgrade', resolve));
  await within(peer.opened, 5000, 'the WebSocket to open');
  const setCookie = (await upgrade).headers['set-cookie']?.[0];
  const m = /^cbtid=([^;]+);/.exec(setCookie ?? '');
  return { peer, cbtid: m?.[1] ?? cookie ?? null };
}

/** A ticket login as alice on a fresh connection; returns its (now authenticated) cookie id. */
async function ticketLogin(url = r.url): Promise<string> {
  const { peer, cbtid } = await connect(url);
  peer.send([1, 'realm1', { roles: { caller: {} }, authmethods: ['ticket'], authid: 'alice' }]);
  const ch = await peer.next(4);
  assert.equal(ch[1], 'ticket');
  peer.send([5, 'alice-secret', {}]);
  const w = await peer.nextOf([2, 3]);
  assert.equal(w[0], 2, JSON.stringify(w));
  assert.equal((w[2] as Record<string, unknown>).authmethod, 'ticket');
  peer.ws.close();
  await within(peer.closed, 5000, 'close');
  assert.ok(cbtid !== null, 'the first connection got a Set-Cookie');
  return cbtid;
}

async function hello(cookie: string | undefined, realm: string, authmethods: string[], url = r.url): Promise<{ peer: RawPeer; reply: unknown[] }> {
  const { peer } = await connect(url, cookie);
  peer.send([1, realm, { roles: { caller: {}, subscriber: {} }, authmethods, authid: 'alice' }]);
  return { peer, reply: await peer.nextOf([2, 3, 4]) };
}

describe('cookie authentication', () => {
  test('a cookie that authenticated by ticket admits a later connection without CHALLENGE (original authmethod, authprovider cookie)', async () => {
    const cbtid = await ticketLogin();
    const { peer, reply } = await hello(cbtid, 'realm1', ['cookie', 'ticket']);
    assert.equal(reply[0], 2, `WELCOME, got ${JSON.stringify(reply)}`);
    const d = reply[2] as Record<string, unknown>;
    assert.deepEqual([d.authid, d.authrole, d.authmethod, d.authprovider, d.realm], ['alice', 'user', 'ticket', 'cookie', 'realm1']);
    // The session is real: it can subscribe with its role's permissions.
    peer.send([32, 1, {}, 'com.example.topic']);
    assert.equal((await peer.nextOf([33, 8]))[0], 33);
    peer.ws.close();
    await within(peer.closed, 5000, 'close');
  });

  test('an unknown cookie, or one that never authenticated, is skipped: the next method runs, or ABORT no_matching_auth_method', async () => {
    const forged = await hello('AAAAAAAAAAAAAAAAAAAAAAAA', 'realm1', ['cookie']);
    assert.equal(forged.reply[0], 3);
    assert.equal(forged.reply[2], 'wamp.error.no_matching_auth_method');
    assert.match(String((forged.reply[1] as Record<string, unknown>).message), /cookie has not authenticated/);
    await within(forged.peer.closed, 5000, 'close after ABORT');

    // A tracked cookie whose connection never got a WELCOME has no identity stored.
    const { peer, cbtid } = await connect(r.url);
    peer.ws.close();
    await within(peer.closed, 5000, 'close');
    const fresh = await hello(cbtid!, 'realm1', ['cookie', 'ticket']);
    assert.deepEqual([fresh.reply[0], fresh.reply[1]], [4, 'ticket'], 'falls through to ticket: CHALLENGE');
    fresh.peer.ws.close();
  });

  test('a client that does not offer "cookie" is authenticated as usual; a cookie is not valid on another realm', async () => {
    const cbtid = await ticketLogin();
    const notOffered = await hello(cbtid, 'realm1', ['ticket']);
    assert.deepEqual([notOffered.reply[0], notOffered.reply[1]], [4, 'ticket'], 'CHALLENGE, not WELCOME');
    notOffered.peer.ws.close();
    const otherRealm = await hello(cbtid, 'realm2', ['cookie']);
    assert.deepEqual([otherRealm.reply[0], otherRealm.reply[2]], [3, 'wamp.error.no_matching_auth_method']);
  });

  test('GOODBYE wamp.close.logout invalidates the cookie: the next connection presenting it is not admitted', async () => {
    const cbtid = await ticketLogin();
    const first = await hello(cbtid, 'realm1', ['cookie']);
    assert.equal(first.reply[0], 2);
    first.peer.send([6, {}, 'wamp.close.logout']);
    assert.equal((await first.peer.next(6))[0], 6);
    first.peer.ws.close();
    const again = await hello(cbtid, 'realm1', ['cookie']);
    assert.deepEqual([again.reply[0], again.reply[2]], [3, 'wamp.error.no_matching_auth_method']);
    // Another method still works on the same cookie, and stores the identity again.
    const relogin = await hello(cbtid, 'realm1', ['ticket']);
    assert.equal(relogin.reply[0], 4);
    relogin.peer.send([5, 'alice-secret', {}]);
    assert.equal((await relogin.peer.nextOf([2, 3]))[0], 2);
    relogin.peer.ws.close();
    const back = await hello(cbtid, 'realm1', ['cookie']);
    assert.equal(back.reply[0], 2);
    back.peer.ws.close();
  });
});

test('cookie tracking without "cookie" in auth: offering "cookie" alone gets ABORT no_matching_auth_method', async () => {
  const r2 = await startRouter({ realms: REALMS, transport: { cookie: {}, auth: { ticket: TICKET } } });
  try {
    const { peer } = await connect(r2.url);
    peer.send([1, 'realm1', { roles: { caller: {} }, authmethods: ['cookie'] }]);
    const reply = await peer.nextOf([2, 3, 4]);
    assert.deepEqual([reply[0], reply[2]], [3, 'wamp.error.no_matching_auth_method']);
  } finally {
    await r2.stop();
  }
});

test('with the file store, a cookie login survives a router restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'crosswire-cookie-auth-'));
  const transport = { cookie: { store: { type: 'file', filename: join(dir, 'cookies.jsonl') } }, auth: { ticket: TICKET, cookie: {} } };
  try {
    const r1 = await startRouter({ realms: REALMS, transport });
    const cbtid = await ticketLogin(r1.url);
    await r1.stop();
    const r2 = await startRouter({ realms: REALMS, transport });
    try {
      const { peer, reply } = await hello(cbtid, 'realm1', ['cookie'], r2.url);
      assert.equal(reply[0], 2, JSON.stringify(reply));
      assert.deepEqual([(reply[2] as Record<string, unknown>).authid, (reply[2] as Record<string, unknown>).authprovider], ['alice', 'cookie']);
      peer.ws.close();
    } finally {
      await r2.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
