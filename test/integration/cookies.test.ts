// Cookie tracking (crossbar.md §4) with the memory, file (JSON lines) and database (LMDB) stores:
// the Set-Cookie Crossbar sends, the cookie id as the anonymous authid, a reconnect that
// presents the cookie is recognised, and the file and database stores survive a router restart.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { open } from 'lmdb';
import WebSocket from 'ws';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { within } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'crosswire-cookies-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function router(cookie: Record<string, unknown>, transport: Record<string, unknown> = {}): Promise<TestRouter> {
  return startRouter({ transport: { cookie, ...transport } });
}

/** Opens a WebSocket (optionally presenting `cookie`), joins realm1; Set-Cookie and WELCOME. */
async function visit(r: TestRouter, cookie?: string): Promise<{ setCookie: string | undefined; authid: string; authmethod: string }> {
  const ws = new WebSocket(r.url, ['wamp.2.json'], cookie === undefined ? {} : { headers: { Cookie: cookie } });
  const upgrade = new Promise<IncomingMessage>((resolve) => ws.once('upgrade', resolve));
  const welcome = new Promise<unknown[]>((resolve) => ws.once('message', (d: Buffer) => resolve(JSON.parse(d.toString()) as unknown[])));
  await within(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 5000, 'open');
  const res = await upgrade;
  ws.send(JSON.stringify([1, 'realm1', { roles: { subscriber: {} }, authid: 'client-chosen' }]));
  const w = await within(welcome, 5000, 'WELCOME');
  assert.equal(w[0], 2, JSON.stringify(w));
  ws.close();
  await within(new Promise((resolve) => ws.once('close', resolve)), 5000, 'close');
  const details = w[2] as { authid: string; authmethod: string };
  const sc = res.headers['set-cookie'];
  return { setCookie: sc?.[0], authid: details.authid, authmethod: details.authmethod };
}
const idOf = (setCookie: string | undefined, name = 'cbtid') => new RegExp(`^${name}=([^;]+);`).exec(setCookie ?? '')?.[1];

describe('memory store', () => {
  test("first contact: Set-Cookie as Crossbar writes it; the cookie id is the anonymous authid", async () => {
    const r = await router({});
    const first = await visit(r);
    assert.match(first.setCookie!, /^cbtid=[A-Za-z0-9+/]{24};max-age=604800$/);
    assert.equal(first.authid, idOf(first.setCookie));
    assert.equal(first.authmethod, 'anonymous');
    // A reconnect presenting the cookie is recognised: same authid, no new cookie.
    const again = await visit(r, `other=1; cbtid=${first.authid}; x=y`);
    assert.deepEqual([again.setCookie, again.authid], [undefined, first.authid]);
    // An unknown cookie gets a fresh one.
    const forged = await visit(r, 'cbtid=AAAAAAAAAAAAAAAAAAAAAAAA');
    assert.notEqual(idOf(forged.setCookie), 'AAAAAAAAAAAAAAAAAAAAAAAA');
    assert.equal(forged.authid, idOf(forged.setCookie));
    await r.stop();
  });

  test('name, length, max_age, secure, http_strict, same_site', async () => {
    const r = await router({ name: 'tracker', length: 40, max_age: 3600, secure: true, http_strict: true, same_site: 'Strict' });
    const v = await visit(r);
    assert.match(v.setCookie!, /^tracker=[A-Za-z0-9+/]{40};max-age=3600;Secure;HttpOnly;SameSite=Strict$/);
    assert.equal(v.authid, idOf(v.setCookie, 'tracker'));
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
    const again = await visit(r2, `cbtid=${first.authid}`);
    assert.notEqual(again.authid, first.authid);
    assert.ok(again.setCookie);
    await r2.stop();
  });
});

for (const type of ['file', 'database'] as const) {
  describe(`${type} store`, () => {
    const where: { filename?: string; path?: string } = type === 'file' ? { filename: join(dir, 'cookies.jsonl') } : { path: join(dir, 'cookies.lmdb') };

    test('survives a router restart; purge_on_startup forgets', async () => {
      const r1 = await router({ store: { type, ...where } });
      const first = await visit(r1);
      assert.ok(first.setCookie);
      await r1.stop();
      const r2 = await router({ store: { type, ...where } });
      const again = await visit(r2, `cbtid=${first.authid}`);
      assert.deepEqual([again.setCookie, again.authid], [undefined, first.authid], 'recognised after the restart');
      await r2.stop();
      if (type === 'database') {
        // What Crossbar keeps per cookie, read back with the lmdb package itself.
        const db = open<Record<string, unknown>, string>({ path: where.path!, noSubdir: false, encoding: 'json', readOnly: true });
        const rec = db.get(first.authid)!;
        await db.close();
        assert.deepEqual([rec.authid, rec.authrole, rec.authmethod, rec.authrealm, rec.max_age], [first.authid, 'anonymous', 'anonymous', 'realm1', 604800]);
      }
      const r3 = await router({ store: { type, ...where, purge_on_startup: true } });
      const purged = await visit(r3, `cbtid=${first.authid}`);
      assert.notEqual(purged.authid, first.authid);
      await r3.stop();
    });

    if (type === 'file') {
      test('the file is JSON lines holding the session authentication; expired cookies are not accepted', async () => {
        const filename = join(dir, 'audit.jsonl');
        const old = { id: 'OLDOLDOLDOLDOLDOLDOLDOLD', created: Date.now() - 2000_000, max_age: 1000, authid: null, authrole: null, authmethod: null, authrealm: null, authextra: null };
        writeFileSync(filename, `${JSON.stringify(old)}\n`);
        const r = await router({ store: { type: 'file', filename } });
        const v = await visit(r, `cbtid=${old.id}`);
        assert.notEqual(v.authid, old.id, 'an expired cookie is replaced');
        await r.stop();
        const lines = readFileSync(filename, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
        const last = lines.filter((l) => l.id === v.authid).at(-1)!;
        assert.deepEqual([last.authid, last.authrole, last.authmethod, last.authrealm, last.max_age], [v.authid, 'anonymous', 'anonymous', 'realm1', 604800]);
      });
    }
  });
}

test('GOODBYE wamp.close.logout forgets the cookie\'s authentication and closes the other connections sharing it', async () => {
  const filename = join(dir, 'logout.jsonl');
  const r = await router({ store: { type: 'file', filename } });
  const first = await visit(r);
  const cookie = `cbtid=${first.authid}`;
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
  const last = lines.filter((l) => l.id === first.authid).at(-1)!;
  assert.equal(last.authid, null, 'the stored authentication is gone');
});
