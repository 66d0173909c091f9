// Cookie tracking (Crossbar.io docs, "Cookie Tracking") with the memory, file (JSON lines) and database (LMDB) stores:
// the Set-Cookie Crossbar sends, an anonymous authid derived from the cookie (never the cookie), a
// reconnect that presents the cookie is recognised, the file and database stores survive a router
// restart, and the store holds only cookies that authenticated someone, forgets expired
// ones and its file stays proportional to what it holds.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { open } from 'lmdb';
import WebSocket from 'ws';
import { scrape } from '../helpers/metrics.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { within } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'crosswire-cookies-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function router(cookie: Record<string, unknown>, transport: Record<string, unknown> = {}): Promise<TestRouter> {
  return startRouter({ transport: { cookie, ...transport } });
}

/**
 * Opens a WebSocket (optionally presenting `cookie`), joins realm1 (anonymously, or with `ticket`
 * as alice); Set-Cookie, WELCOME and the cookie the connection is tracked with.
 */
async function visit(
  r: TestRouter,
  cookie?: string,
  how: { ticket?: string; authmethods?: string[] } = {},
): Promise<{ setCookie: string | undefined; cbtid: string; authid: string; authmethod: string; authprovider: string }> {
  const ws = new WebSocket(r.url, ['wamp.2.json'], cookie === undefined ? {} : { headers: { Cookie: cookie } });
  const upgrade = new Promise<IncomingMessage>((resolve) => ws.once('upgrade', resolve));
  const messages: unknown[][] = [];
  let arrived = () => {};
  ws.on('message', (d: Buffer) => {
    messages.push(JSON.parse(d.toString()) as unknown[]);
    arrived();
  });
  const next = () => within(new Promise<unknown[]>((resolve) => (messages.length > 0 ? resolve(messages.shift()!) : (arrived = () => resolve(messages.shift()!)))), 5000, 'a reply');
  await within(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 5000, 'open');
  const res = await upgrade;
  const authmethods = how.authmethods ?? (how.ticket !== undefined ? ['ticket'] : ['anonymous']);
  ws.send(JSON.stringify([1, 'realm1', { roles: { subscriber: {} }, authid: how.ticket !== undefined ? 'alice' : 'client-chosen', authmethods }]));
  let w = await next();
  if (w[0] === 4) {
    ws.send(JSON.stringify([5, how.ticket, {}]));
    w = await next();
  }
  assert.equal(w[0], 2, JSON.stringify(w));
  ws.close();
  await within(new Promise((resolve) => ws.once('close', resolve)), 5000, 'close');
  const details = w[2] as { authid: string; authmethod: string; authprovider: string };
  const sc = res.headers['set-cookie'];
  const cbtid = idOf(sc?.[0]) ?? /cbtid=([^;]+)/.exec(cookie ?? '')?.[1] ?? '';
  return { setCookie: sc?.[0], cbtid, authid: details.authid, authmethod: details.authmethod, authprovider: details.authprovider };
}
const idOf = (setCookie: string | undefined, name = 'cbtid') => new RegExp(`^${name}=([^;]+);`).exec(setCookie ?? '')?.[1];
/** Crossbar's anonymous authid style. */
const SERIAL = /^[0-9A-Z]{4}(-[0-9A-Z]{4}){5}$/;
/** Anonymous, ticket (alice) and cookie authentication, for the stores that keep logins. */
const AUTH = {
  anonymous: { type: 'static', role: 'anonymous' },
  ticket: { type: 'static', principals: { alice: { ticket: 'alice-secret', role: 'anonymous' } } },
  cookie: {},
};

describe('memory store', () => {
  test('first contact: Set-Cookie as Crossbar writes it; the anonymous authid is derived from the cookie, not the cookie', async () => {
    const r = await router({});
    const first = await visit(r);
    assert.match(first.setCookie!, /^cbtid=[A-Za-z0-9+/]{24};max-age=604800$/);
    assert.match(first.authid, SERIAL);
    assert.notEqual(first.authid, first.cbtid);
    assert.equal(first.authmethod, 'anonymous');
    // A reconnect presenting the cookie is recognised: same authid, no new cookie.
    const again = await visit(r, `other=1; cbtid=${first.cbtid}; x=y`);
    assert.deepEqual([again.setCookie, again.authid], [undefined, first.authid]);
    // An unknown cookie gets a fresh one (and another authid).
    const forged = await visit(r, 'cbtid=AAAAAAAAAAAAAAAAAAAAAAAA');
    assert.notEqual(forged.cbtid, 'AAAAAAAAAAAAAAAAAAAAAAAA');
    assert.ok(forged.setCookie);
    assert.notEqual(forged.authid, first.authid);
    await r.stop();
  });

  test('name, length, max_age, secure, http_strict, same_site', async () => {
    const r = await router({ name: 'tracker', length: 40, max_age: 3600, secure: true, http_strict: true, same_site: 'Strict' });
    const v = await visit(r);
    assert.match(v.setCookie!, /^tracker=[A-Za-z0-9+/]{40};max-age=3600;Secure;HttpOnly;SameSite=Strict$/);
    assert.match(v.authid, SERIAL);
    await r.stop();
  });

  test('without cookie tracking: no Set-Cookie; the authid is not a cookie id', async () => {
    const r = await startRouter();
    const v = await visit(r);
    assert.equal(v.setCookie, undefined);
    assert.equal(v.authid, 'client-chosen');
    await r.stop();
  });

  test('a restart forgets memory cookies', async () => {
    const r1 = await router({});
    const first = await visit(r1);
    await r1.stop();
    const r2 = await router({});
    const again = await visit(r2, `cbtid=${first.cbtid}`);
    assert.notEqual(again.cbtid, first.cbtid);
    assert.ok(again.setCookie);
    await r2.stop();
  });
});

for (const type of ['file', 'database'] as const) {
  describe(`${type} store`, () => {
    const where: { filename?: string; path?: string } = type === 'file' ? { filename: join(dir, 'cookies.jsonl') } : { path: join(dir, 'cookies.lmdb') };

    test('a login survives a router restart; purge_on_startup forgets', async () => {
      const r1 = await router({ store: { type, ...where } }, { auth: AUTH });
      const first = await visit(r1, undefined, { ticket: 'alice-secret' });
      assert.ok(first.setCookie);
      await r1.stop();
      const r2 = await router({ store: { type, ...where } }, { auth: AUTH });
      const again = await visit(r2, `cbtid=${first.cbtid}`, { authmethods: ['cookie'] });
      assert.deepEqual([again.setCookie, again.authid, again.authprovider], [undefined, 'alice', 'cookie'], 'recognised after the restart');
      await r2.stop();
      if (type === 'database') {
        // What Crossbar keeps per cookie, read back with the lmdb package itself.
        const db = open<Record<string, unknown>, string>({ path: where.path!, noSubdir: false, encoding: 'json', readOnly: true });
        const rec = db.get(first.cbtid)!;
        await db.close();
        assert.deepEqual([rec.authid, rec.authrole, rec.authmethod, rec.authrealm, rec.max_age], ['alice', 'anonymous', 'ticket', 'realm1', 604800]);
      }
      const r3 = await router({ store: { type, ...where, purge_on_startup: true } }, { auth: AUTH });
      const purged = await visit(r3, `cbtid=${first.cbtid}`);
      assert.notEqual(purged.cbtid, first.cbtid);
      await r3.stop();
    });

    if (type === 'file') {
      test('the file is JSON lines holding the session authentication; expired cookies are not accepted', async () => {
        const filename = join(dir, 'audit.jsonl');
        const old = { id: 'OLDOLDOLDOLDOLDOLDOLDOLD', created: Date.now() - 2000_000, max_age: 1000, authid: 'alice', authrole: 'anonymous', authmethod: 'ticket', authrealm: 'realm1', authextra: null };
        writeFileSync(filename, `${JSON.stringify(old)}\n`);
        const r = await router({ store: { type: 'file', filename } }, { auth: AUTH });
        const v = await visit(r, `cbtid=${old.id}`, { ticket: 'alice-secret' });
        assert.notEqual(v.cbtid, old.id, 'an expired cookie is replaced');
        await r.stop();
        const lines = readFileSync(filename, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
        assert.deepEqual(lines.map((l) => l.id), [v.cbtid], 'the expired record is gone from the file');
        assert.deepEqual([lines[0]!.authid, lines[0]!.authrole, lines[0]!.authmethod, lines[0]!.authrealm, lines[0]!.max_age], ['alice', 'anonymous', 'ticket', 'realm1', 604800]);
      });
    }
  });
}

test('GOODBYE wamp.close.logout forgets the cookie\'s authentication and closes the other connections sharing it', async () => {
  const filename = join(dir, 'logout.jsonl');
  const r = await router({ store: { type: 'file', filename } }, { auth: AUTH });
  const first = await visit(r, undefined, { ticket: 'alice-secret' });
  const cookie = `cbtid=${first.cbtid}`;
  const open = async (headers: Record<string, string>) => {
    const ws = new WebSocket(r.url, ['wamp.2.json'], { headers });
    const msgs: unknown[][] = [];
    ws.on('message', (d: Buffer) => msgs.push(JSON.parse(d.toString()) as unknown[]));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    await within(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 5000, 'open');
    ws.send(JSON.stringify([1, 'realm1', { roles: { subscriber: {} } }]));
    await within(new Promise<void>((resolve) => ws.once('message', () => resolve())), 5000, 'WELCOME');
    return { ws, msgs, closed };
  };
  const a = await open({ Cookie: cookie });
  const b = await open({ Cookie: cookie });
  const other = await open({});
  a.ws.send(JSON.stringify([6, {}, 'wamp.close.logout']));
  assert.deepEqual(await within(b.closed, 5000, 'the other tab to close'), { code: 1000, reason: 'wamp.close.logout' });
  await within(new Promise<void>((resolve) => (a.msgs.some((m) => m[0] === 6) ? resolve() : a.ws.once('message', () => resolve()))), 5000, 'the GOODBYE reply');
  assert.equal(other.ws.readyState, WebSocket.OPEN, 'a connection with another cookie stays');
  a.ws.close();
  other.ws.close();
  await r.stop();
  const lines = readFileSync(filename, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const last = lines.filter((l) => l.id === first.cbtid).at(-1)!;
  assert.equal(last.deleted, true, 'the stored authentication is gone');
});

describe('the cookie store stays bounded', () => {
  /** `n` cookieless connections joining anonymously, `width` at a time (a raw HELLO each). */
  async function churn(r: TestRouter, n: number, width = 50): Promise<Set<string>> {
    const cookies = new Set<string>();
    let started = 0;
    const one = async (): Promise<void> => {
      while (started < n) {
        started++;
        const ws = new WebSocket(r.url, ['wamp.2.json']);
        ws.once('upgrade', (res: IncomingMessage) => cookies.add(idOf(res.headers['set-cookie']?.[0])!));
        const welcome = new Promise<void>((resolve) => ws.once('message', () => resolve()));
        await within(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 10_000, 'open');
        ws.send('[1,"realm1",{"roles":{"subscriber":{}}}]');
        await within(welcome, 10_000, 'WELCOME');
        ws.terminate();
      }
    };
    await Promise.all(Array.from({ length: width }, one));
    return cookies;
  }

  test('1,000 cookieless anonymous sessions: nothing written to the file store; in memory at most cookie.max_anonymous, counted', async () => {
    const filename = join(dir, 'churn.jsonl');
    const r = await router({ store: { type: 'file', filename }, max_anonymous: 200 }, { auth: AUTH });
    const tracker = r.router.listeners[0]!.services[0]!.cookies!;
    const cookies = await churn(r, 1000);
    assert.equal(cookies.size, 1000, 'each got its own cookie');
    const held = { stored: tracker.store.size, anonymous: tracker.anonymousCount };
    const m = await scrape(r.http);
    const transport = r.router.listeners[0]!.services[0]!.info.authKey;
    assert.equal(m.get('crosswire_cookies', { transport, kind: 'anonymous' }), 200);
    assert.equal(m.get('crosswire_cookies', { transport, kind: 'stored' }), 0);
    assert.equal(m.get('crosswire_cookies_forgotten_total', { transport, reason: 'anonymous_limit' }), 800);
    // A login still stores its cookie.
    await visit(r, undefined, { ticket: 'alice-secret' });
    await r.stop();
    assert.equal(readFileSync(filename, 'utf8').trim().split('\n').length, 1, 'one line: the login');
    assert.deepEqual(held, { stored: 0, anonymous: 200 });
  });

  test('expired records are dropped at startup; repeated logins on one cookie keep the file short', async () => {
    const filename = join(dir, 'compact.jsonl');
    const old = (i: number) => ({ id: `old${i}`, created: Date.now() - 2000_000, max_age: 1000, authid: 'alice', authrole: 'anonymous', authmethod: 'ticket', authrealm: 'realm1', authextra: null });
    writeFileSync(filename, Array.from({ length: 5000 }, (_, i) => `${JSON.stringify(old(i))}\n`).join(''));
    const r = await router({ store: { type: 'file', filename } }, { auth: AUTH });
    assert.equal(readFileSync(filename, 'utf8'), '', 'rewritten without the 5,000 expired records');
    assert.equal(r.router.listeners[0]!.services[0]!.cookies!.store.size, 0);
    // 600 ticket logins on one cookie rewrite its record each time: the file is compacted.
    const { cbtid } = await visit(r, undefined, { ticket: 'alice-secret' });
    let started = 0;
    await Promise.all(
      Array.from({ length: 25 }, async () => {
        while (started++ < 600) await visit(r, `cbtid=${cbtid}`, { ticket: 'alice-secret' });
      }),
    );
    await r.stop();
    const lines = readFileSync(filename, 'utf8').trim().split('\n');
    assert.ok(lines.length <= 256, `${lines.length} lines for one record`);
    assert.equal((JSON.parse(lines.at(-1)!) as { id: string }).id, cbtid);
  });

  test('300 logins of one principal, each on a fresh cookie: the store keeps the 50 most recent (cookie.max_per_principal), counted', async () => {
    const filename = join(dir, 'principal.jsonl');
    const r = await router({ store: { type: 'file', filename }, max_per_principal: 50 }, { auth: AUTH });
    const tracker = r.router.listeners[0]!.services[0]!.cookies!;
    const logins: string[] = [];
    let started = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (started++ < 300) logins.push((await visit(r, undefined, { ticket: 'alice-secret' })).cbtid);
      }),
    );
    const stored = tracker.store.size;
    const m = await scrape(r.http);
    const transport = r.router.listeners[0]!.services[0]!.info.authKey;
    assert.equal(m.get('crosswire_cookies', { transport, kind: 'stored' }), 50);
    assert.equal(m.get('crosswire_cookies_forgotten_total', { transport, reason: 'principal_limit' }), 250);
    await r.stop();
    const live = new Map<string, unknown>();
    for (const line of readFileSync(filename, 'utf8').trim().split('\n')) {
      const rec = JSON.parse(line) as { id: string; deleted?: boolean };
      if (rec.deleted === true) live.delete(rec.id);
      else live.set(rec.id, rec);
    }
    assert.equal(live.size, 50, 'the file replays to 50 records');
    assert.equal(stored, 50);
    assert.ok(logins.slice(-10).every((id) => live.has(id)), 'the latest logins are kept');
  });
});
