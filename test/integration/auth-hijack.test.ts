// Session hijack through the tracking cookie. With cookie tracking, an anonymous
// session's authid must not be its cookie: authids reach other sessions (caller and publisher
// identification, the session meta API), and a cookie that later authenticated a login admits
// whoever presents it. The attack end to end with real clients: an attacker collects every authid
// the router hands out about the victim, the victim logs in with a ticket on its cookie, and the
// attacker presents each collected authid as the cookie, offering authmethod "cookie".
// Also: the caller's role decides disclosure (`disclose`, Crossbar.io docs, "Authorization"), not a callee's
// REGISTER.Options.disclose_caller or a caller's or publisher's Options.disclose_me.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { type Client, connect } from '../helpers/client.js';
import { RawPeer } from '../helpers/raw.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';

type Dict = Record<string, unknown>;
const ALLOW = { call: true, register: true, publish: true, subscribe: true };
const role = (name: string, disclose: boolean) => ({
  name,
  permissions: [{ uri: '', match: 'prefix', allow: ALLOW, disclose: { caller: disclose, publisher: disclose } }],
});

let r: TestRouter;
before(async () => {
  r = await startRouter({
    crosswire: { auth_fail_delay: 0 },
    realms: [
      // realm1: the roles do not disclose; realm2: they do.
      { name: 'realm1', roles: [role('anonymous', false), role('user', false)] },
      { name: 'realm2', roles: [role('anonymous', true), role('user', true)] },
    ],
    transport: {
      cookie: {},
      auth: {
        anonymous: { type: 'static', role: 'anonymous' },
        ticket: { type: 'static', principals: { alice: { ticket: 'alice-secret', role: 'user', realm: 'realm1' } } },
        cookie: {},
      },
    },
  });
});
after(() => r.stop());

/** A browser's first contact: a WebSocket without cookie; the cookie id from Set-Cookie. */
async function firstContact(): Promise<string> {
  const p = new RawPeer(r.url, 'json');
  const upgrade = new Promise<IncomingMessage>((resolve) => p.ws.once('upgrade', resolve));
  await within(p.opened, 5000, 'the WebSocket to open');
  const m = /^cbtid=([^;]+);/.exec((await upgrade).headers['set-cookie']?.[0] ?? '');
  p.close();
  assert.ok(m, 'a Set-Cookie on first contact');
  return m[1]!;
}

/** An AutobahnJS session presenting the cookie (what a browser tab does on reconnect). */
function withCookie(cbtid: string, realm: string, extra: Dict = {}): Promise<Client> {
  return connect(r.url, 'json', realm, { transports: [{ type: 'websocket', url: r.url, headers: { Cookie: `cbtid=${cbtid}` } }], ...extra });
}

/** A raw HELLO presenting `cbtid` and offering only "cookie": the reply (WELCOME or ABORT). */
async function cookieLogin(cbtid: string): Promise<unknown[]> {
  const p = await RawPeer.open(r.url, 'json', { headers: { Cookie: `cbtid=${cbtid}` } });
  p.send([1, 'realm1', { roles: { caller: {} }, authmethods: ['cookie'] }]);
  const reply = await p.nextOf([2, 3]);
  p.close();
  return reply;
}

/** What an attacker in `realm` learns about the victim: every authid the router hands out. */
async function collect(realm: string, victimCookie: string): Promise<{ leaked: Set<string>; details: Dict[]; victimAuthid: string }> {
  const attacker = await connect(r.url, 'json', realm);
  const victim = await withCookie(victimCookie, realm);
  try {
    const invocations = new Inbox<Dict>();
    const events = new Inbox<Dict>();
    // The callee asks for caller disclosure whatever the role says.
    await attacker.session.register('com.example.whoami', (_a, _k, details) => {
      invocations.push(details as Dict);
      return null;
    }, { disclose_caller: true });
    await attacker.session.subscribe('com.example.chat', (_a, _k, details) => events.push(details as unknown as Dict));
    await victim.session.call('com.example.whoami', []);
    await victim.session.call('com.example.whoami', [], {}, { disclose_me: true });
    await victim.session.publish('com.example.chat', ['hi'], {}, { disclose_me: true, acknowledge: true });
    const details = [...(await invocations.waitFor(2)), ...(await events.waitFor(1))];
    const leaked = new Set<string>();
    for (const d of details) for (const k of ['caller_authid', 'publisher_authid']) if (typeof d[k] === 'string') leaked.add(d[k] as string);
    // The session meta API (the roles allow calling wamp.*).
    const info = (await attacker.session.call('wamp.session.get', [victim.session.id])) as Dict;
    leaked.add(info.authid as string);
    return { leaked, details, victimAuthid: victim.details.authid as string };
  } finally {
    await victim.close();
    await attacker.close();
  }
}

describe('cookie hijack through disclosed authids', () => {
  test('no authid handed out about an anonymous cookie session admits its later ticket login', async () => {
    const cookie = await firstContact();
    const fromRealm1 = await collect('realm1', cookie);
    const fromRealm2 = await collect('realm2', cookie);
    // The victim logs in with its ticket on the same cookie; the cookie now authenticates alice.
    const login = await withCookie(cookie, 'realm1', { authmethods: ['ticket'], authid: 'alice', onchallenge: () => 'alice-secret' });
    assert.equal(login.details.authid, 'alice');
    await login.close();
    const own = await cookieLogin(cookie);
    assert.deepEqual([own[0], (own[2] as Dict).authid], [2, 'alice'], 'the victim\'s own cookie is admitted as alice (the path the attack takes)');

    const leaked = new Set([...fromRealm1.leaked, ...fromRealm2.leaked]);
    assert.ok(leaked.size > 0, 'the attacker learnt the victim\'s authid (meta API, and disclosure where the role allows it)');
    for (const authid of leaked) {
      const reply = await cookieLogin(authid);
      assert.notEqual(reply[0], 2, `presenting the disclosed authid ${authid} as the cookie was welcomed as ${JSON.stringify(reply[2])}`);
      assert.deepEqual([reply[0], reply[2]], [3, 'wamp.error.no_matching_auth_method']);
    }
    assert.ok(!leaked.has(cookie), 'the cookie value is never an authid');
  });

  test('an anonymous cookie session keeps one opaque authid across reconnects and realms', async () => {
    const cookie = await firstContact();
    const a = await withCookie(cookie, 'realm1');
    const b = await withCookie(cookie, 'realm2');
    const other = await withCookie(await firstContact(), 'realm1');
    try {
      assert.equal(a.details.authid, b.details.authid);
      assert.notEqual(a.details.authid, cookie);
      assert.notEqual(other.details.authid, a.details.authid);
      assert.match(a.details.authid as string, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){5}$/, 'in the style of any other anonymous authid');
    } finally {
      await Promise.all([a.close(), b.close(), other.close()]);
    }
  });
});

describe('disclosure follows the caller\'s and publisher\'s role', () => {
  test('role disclose false: disclose_caller and disclose_me are not honoured (silently, as Crossbar)', async () => {
    const { details } = await collect('realm1', await firstContact());
    assert.equal(details.length, 3);
    for (const d of details) {
      for (const k of ['caller', 'caller_authid', 'caller_authrole', 'publisher', 'publisher_authid', 'publisher_authrole']) {
        assert.equal(d[k], undefined, `${k} disclosed in ${JSON.stringify(d)}`);
      }
    }
  });

  test('role disclose true: the caller and publisher are disclosed, with their (opaque) authid', async () => {
    const { details, victimAuthid } = await collect('realm2', await firstContact());
    const [plain, asked, event] = details as [Dict, Dict, Dict];
    assert.deepEqual([plain.caller_authid, plain.caller_authrole, typeof plain.caller], [victimAuthid, 'anonymous', 'number']);
    assert.equal(asked.caller_authid, victimAuthid);
    assert.deepEqual([event.publisher_authid, event.publisher_authrole, typeof event.publisher], [victimAuthid, 'anonymous', 'number']);
  });
});
