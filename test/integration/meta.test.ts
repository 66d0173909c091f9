import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/shared/log.js';
import { Router } from '../../src/router.js';
import { type Client, connect, SERIALIZERS, type SerializerName } from '../helpers/client.js';
import { RawPeer } from '../helpers/raw.js';
import { ANONYMOUS_ALL } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';

type Dict = Record<string, unknown>;
type Ev = { topic: string; args: unknown[]; kwargs: Dict };

// Three transports: sessions get authrole 'anonymous', 'guest' or 'doomed' depending on the port.
const ROLES = ['anonymous', 'guest', 'doomed'];
let router: Router;
let urls: Record<string, string>;
before(async () => {
  const roles = ROLES.map((name) => ({ ...ANONYMOUS_ALL, name }));
  const config = buildConfig(
    {
      version: 2,
      workers: [
        {
          type: 'router',
          realms: [
            { name: 'realm1', roles },
            { name: 'killall', roles },
            { name: 'nometa', roles, options: { enable_meta_api: false } },
          ],
          transports: ROLES.map((role) => ({
            type: 'websocket',
            endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' },
            auth: { anonymous: { type: 'static', role } },
          })),
        },
      ],
      crosswire: { log_level: process.env.TEST_LOG_LEVEL ?? 'silent', shutdown_timeout: 1000 },
    },
    {},
  );
  router = await Router.start(config, createLogger(config.logLevel));
  urls = Object.fromEntries(ROLES.map((role, i) => [role, `ws://127.0.0.1:${router.listeners[i]!.port}/ws`]));
});
after(() => router.shutdown(500));

let seq = 0;
const ns = (ser: string) => `com.meta.${ser}.n${++seq}`;
const join = (ser: SerializerName, opts: { role?: string; authid?: string; realm?: string } = {}) =>
  connect(urls[opts.role ?? 'anonymous']!, ser, opts.realm ?? 'realm1', opts.authid === undefined ? {} : { authid: opts.authid });

async function wampError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { error: string }).error;
  }
  return assert.fail('expected a WAMP error');
}
const sorted = (v: unknown) => [...(v as number[])].sort((x, y) => x - y);

/** Subscribes `c` to each topic; every event lands in one inbox, in arrival order. */
async function feed(c: Client, topics: string[]): Promise<Inbox<Ev>> {
  const inbox = new Inbox<Ev>();
  for (const t of topics) await c.session.subscribe(t, (args, kwargs) => inbox.push({ topic: t.split('.').pop()!, args, kwargs }));
  return inbox;
}
/** The items of `inbox` up to and including the first one `pred` accepts (waits for it). */
async function until<T>(inbox: Inbox<T>, pred: (v: T) => boolean, ms = 5000): Promise<T[]> {
  const deadline = Date.now() + ms;
  for (let n = 1; ; n++) {
    const items = await inbox.waitFor(n, Math.max(1, deadline - Date.now()));
    if (pred(items[n - 1]!)) return items.slice(0, n);
  }
}
/** Meta events about session `sid` from index `from` up to the first `topic` event with args[1] === `arg1`. */
const eventsOf = async (log: Inbox<Ev>, sid: number, topic: string, arg1: unknown, from = 0) =>
  (await until(log, (e) => e.args[0] === sid && e.topic === topic && e.args[1] === arg1))
    .slice(from)
    .filter((e) => e.args[0] === sid)
    .map((e) => [e.topic, e.args[1]]);

async function rawJoin(ser: SerializerName, roles: Dict): Promise<{ p: RawPeer; id: number }> {
  const p = await RawPeer.open(urls.anonymous!, ser);
  const welcome = await p.join('realm1', { roles });
  return { p, id: welcome[1] as number };
}
async function rawRequest(p: RawPeer, msg: unknown[], reply: number): Promise<unknown[]> {
  p.send(msg);
  const m = await p.next(reply);
  assert.equal(m[1], msg[1]);
  return m;
}


for (const ser of SERIALIZERS) {
  describe(`session meta API (${ser})`, () => {
    let a: Client;
    let b: Client;
    let g: Client;
    before(async () => {
      [a, b, g] = await Promise.all([join(ser), join(ser, { authid: `bee-${ser}` }), join(ser, { role: 'guest' })]);
    });
    after(() => Promise.all([a.close(), b.close(), g.close()]));

    test('wamp.session.count / list, with and without an authrole filter', async () => {
      const ids = [a, b, g].map((c) => c.session.id);
      const all = (await a.session.call('wamp.session.list')) as number[];
      for (const id of ids) assert.ok(all.includes(id));
      assert.equal(await a.session.call('wamp.session.count'), all.length);
      const guests = (await a.session.call('wamp.session.list', [['guest']])) as number[];
      assert.ok(guests.includes(g.session.id) && !guests.includes(a.session.id) && !guests.includes(b.session.id));
      assert.equal(await a.session.call('wamp.session.count', [['guest']]), guests.length);
      const anon = (await a.session.call('wamp.session.list', [['anonymous', 'nobody']])) as number[];
      assert.ok(anon.includes(a.session.id) && anon.includes(b.session.id) && !anon.includes(g.session.id));
      assert.equal(await a.session.call('wamp.session.count', [['nobody']]), 0);
    });

    test('wamp.session.get: details incl. authid, authrole, transport; unknown id → no_such_session', async () => {
      const d = (await a.session.call('wamp.session.get', [b.session.id])) as Dict;
      const tr = d.transport as Dict;
      assert.deepEqual(
        [d.session, d.authid, d.authrole, d.authmethod, d.authprovider, tr.type, tr.serializer],
        [b.session.id, `bee-${ser}`, 'anonymous', 'anonymous', 'static', 'websocket', ser],
      );
      assert.match(String(tr.peer), /127\.0\.0\.1/);
      assert.equal(((await a.session.call('wamp.session.get', [g.session.id])) as Dict).authrole, 'guest');
      assert.equal(await wampError(a.session.call('wamp.session.get', [424242])), 'wamp.error.no_such_session');
    });

    test('wamp.session.kill: GOODBYE wamp.close.killed, the connection ends, the session is gone', async () => {
      const v = await join(ser);
      const vid = v.session.id;
      await a.session.call('wamp.session.kill', [vid]);
      // (AutobahnJS on Node reports 'lost' here: it closes the WebSocket without a status code, 1005.)
      const { details } = await within(v.closed, 5000, 'the killed session to close');
      assert.equal(details.reason, 'wamp.close.killed');
      assert.equal(v.connection.isOpen, false);
      assert.equal(await wampError(a.session.call('wamp.session.get', [vid])), 'wamp.error.no_such_session');
    });

    test('wamp.session.kill GOODBYE frames: default, with reason and message; invalid reason → invalid_uri', async () => {
      const [r1, r2] = [await rawJoin(ser, { subscriber: {} }), await rawJoin(ser, { subscriber: {} })];
      try {
        assert.equal(await wampError(a.session.call('wamp.session.kill', [r1.id], { reason: 'not a uri' })), 'wamp.error.invalid_uri');
        await a.session.call('wamp.session.kill', [r1.id]);
        assert.deepEqual(await r1.p.next(6), [6, {}, 'wamp.close.killed']);
        await a.session.call('wamp.session.kill', [r2.id], { reason: 'com.example.kicked', message: 'out you go' });
        assert.deepEqual(await r2.p.next(6), [6, { message: 'out you go' }, 'com.example.kicked']);
        r2.p.send([6, {}, 'wamp.close.goodbye_and_out']);
        assert.equal(await wampError(a.session.call('wamp.session.get', [r2.id])), 'wamp.error.no_such_session');
      } finally {
        r1.p.close();
        r2.p.close();
      }
      const v = await join(ser);
      await a.session.call('wamp.session.kill', [v.session.id], { reason: 'com.example.kicked', message: 'bye' });
      assert.deepEqual((await within(v.closed, 5000, 'the close')).details.message, 'bye');
    });

    test('killing yourself → no_such_session', async () => {
      assert.equal(await wampError(a.session.call('wamp.session.kill', [a.session.id])), 'wamp.error.no_such_session');
      assert.ok(a.session.isOpen);
    });

    test('kill_by_authid returns the killed ids; the caller is excluded', async () => {
      const authid = `victim-${ser}`;
      const [v1, v2, caller] = await Promise.all([join(ser, { authid }), join(ser, { authid, role: 'guest' }), join(ser, { authid })]);
      const ids = [v1.session.id, v2.session.id];
      const killed = await caller.session.call('wamp.session.kill_by_authid', [authid]);
      assert.deepEqual(sorted(killed), sorted(ids));
      for (const v of [v1, v2]) assert.equal((await within(v.closed, 5000, 'the close')).details.reason, 'wamp.close.killed');
      assert.ok(((await caller.session.call('wamp.session.list')) as number[]).includes(caller.session.id));
      await caller.close();
    });

    test('kill_by_authrole kills every session of the role', async () => {
      const [d1, d2] = await Promise.all([join(ser, { role: 'doomed' }), join(ser, { role: 'doomed' })]);
      const n = await a.session.call('wamp.session.kill_by_authrole', ['doomed'], { reason: 'com.example.doomed' });
      assert.equal(n, 2);
      for (const d of [d1, d2]) assert.equal((await within(d.closed, 5000, 'the close')).details.reason, 'com.example.doomed');
      assert.equal(await a.session.call('wamp.session.count', [['doomed']]), 0);
    });

    test('kill_all kills every other session of the realm', async () => {
      const [caller, v1, v2] = await Promise.all([0, 1, 2].map(() => join(ser, { realm: 'killall' })));
      assert.equal(await caller!.session.call('wamp.session.kill_all'), 2);
      for (const v of [v1!, v2!]) assert.equal((await within(v.closed, 5000, 'the close')).details.reason, 'wamp.close.killed');
      assert.deepEqual(await caller!.session.call('wamp.session.list'), [caller!.session.id]);
      await caller!.close();
    });

    test('kill_all publishes neither on_leave nor testaments (absence proven with markers)', async () => {
      const [caller, v1, v2] = await Promise.all([0, 1, 2].map(() => join(ser, { realm: 'killall' })));
      const t = ns(ser);
      const log = await feed(caller!, ['wamp.session.on_leave', t]);
      await v1!.session.call('wamp.session.add_testament', [t, ['testament'], {}]);
      await caller!.session.call('wamp.session.kill_all');
      await Promise.all([v1!.closed, v2!.closed]);
      // Markers: a later session's on_leave, then a publication on the testament topic.
      const m = await join(ser, { realm: 'killall' });
      const mid = m.session.id;
      await m.close();
      await caller!.session.publish(t, ['marker'], {}, { acknowledge: true, exclude_me: false });
      const got = await until(log, (e) => e.args[0] === 'marker');
      await caller!.close();
      assert.deepEqual(got.map((e) => e.args[0]), [mid, 'marker']);
    });

    test('on_join carries the new session details; on_leave is [session, authid, authrole]', async () => {
      const log = await feed(a, ['wamp.session.on_join', 'wamp.session.on_leave']);
      const n = await join(ser, { authid: `joiner-${ser}`, role: 'guest' });
      const nid = n.session.id;
      const [joined] = (await until(log, (e) => e.topic === 'on_join' && (e.args[0] as Dict).session === nid)).slice(-1);
      const d = joined!.args[0] as Dict;
      assert.deepEqual([d.authid, d.authrole, d.authmethod, (d.transport as Dict).serializer], [`joiner-${ser}`, 'guest', 'anonymous', ser]);
      await n.close();
      const [left] = (await until(log, (e) => e.topic === 'on_leave' && e.args[0] === nid)).slice(-1);
      assert.deepEqual(left!.args, [nid, `joiner-${ser}`, 'guest']);
    });
  });

  describe(`registration and subscription meta API (${ser})`, () => {
    let a: Client;
    let c: Client;
    let d: Client;
    let regLog: Inbox<Ev>;
    let subLog: Inbox<Ev>;
    const call = (proc: string, args?: unknown[], kwargs?: Dict) => a.session.call(proc, args, kwargs);
    before(async () => {
      [a, c, d] = await Promise.all([join(ser), join(ser), join(ser)]);
      regLog = await feed(a, ['on_create', 'on_register', 'on_unregister', 'on_delete'].map((t) => `wamp.registration.${t}`));
      subLog = await feed(a, ['on_create', 'on_subscribe', 'on_unsubscribe', 'on_delete'].map((t) => `wamp.subscription.${t}`));
    });
    after(() => Promise.all([a.close(), c.close(), d.close()]));

    test('registration: on_create before on_register, procedures, on_unregister before on_delete', async () => {
      const n = ns(ser);
      const reg = await c.session.register(`${n}.proc`, () => 1);
      const ev = await eventsOf(regLog, c.session.id, 'on_register', reg.id);
      const created = ev[0]![1] as Dict;
      const info = { id: reg.id, created: created.created, uri: `${n}.proc`, match: 'exact', invoke: 'single' };
      assert.ok(!Number.isNaN(Date.parse(created.created as string)));
      assert.deepEqual(ev, [['on_create', info], ['on_register', reg.id]]);
      const pfx = await c.session.register(`${n}.pfx`, () => 2, { match: 'prefix' });
      const s1 = await c.session.register(`${n}.shared`, () => 3, { invoke: 'roundrobin' });
      const s2 = await d.session.register(`${n}.shared`, () => 4, { invoke: 'roundrobin' });
      assert.equal(s1.id, s2.id);
      const list = (await call('wamp.registration.list')) as Record<string, number[]>;
      assert.ok(list.exact!.includes(reg.id) && list.exact!.includes(s1.id) && list.prefix!.includes(pfx.id));
      assert.equal(await call('wamp.registration.lookup', [`${n}.proc`]), reg.id);
      assert.equal(await call('wamp.registration.lookup', [`${n}.pfx`, { match: 'prefix' }]), pfx.id);
      assert.equal(await call('wamp.registration.lookup', [`${n}.pfx`]), null);
      assert.equal(await call('wamp.registration.match', [`${n}.pfx.deep`]), pfx.id);
      assert.equal(await call('wamp.registration.match', [`${n}.proc`]), reg.id);
      assert.equal(await call('wamp.registration.match', [`${n}.nothing`]), null);
      assert.deepEqual(await call('wamp.registration.get', [reg.id]), info);
      assert.equal(await wampError(call('wamp.registration.get', [424242])), 'wamp.error.no_such_registration');
      assert.deepEqual(await call('wamp.registration.list_callees', [reg.id]), [c.session.id]);
      assert.deepEqual(sorted(await call('wamp.registration.list_callees', [s1.id])), sorted([c.session.id, d.session.id]));
      assert.equal(await call('wamp.registration.count_callees', [s1.id]), 2);
      await c.session.unregister(reg);
      assert.deepEqual((await eventsOf(regLog, c.session.id, 'on_delete', reg.id)).slice(-2), [['on_unregister', reg.id], ['on_delete', reg.id]]);
    });

    test('remove_callee: revocation UNREGISTERED to a callee that announced it; the procedure is gone', async () => {
      const n = ns(ser);
      const r1 = await rawJoin(ser, { callee: { features: { registration_revocation: true } } });
      const r2 = await rawJoin(ser, { callee: {}, subscriber: {} });
      try {
        const [, , reg1] = await rawRequest(r1.p, [64, 1, {}, `${n}.one`], 65);
        const [, , reg2] = await rawRequest(r2.p, [64, 1, {}, `${n}.two`], 65);
        const [, , markerSub] = await rawRequest(r2.p, [32, 2, {}, `${n}.marker`], 33);
        await call('wamp.registration.remove_callee', [reg1, r1.id], { reason: 'com.example.revoked' });
        assert.deepEqual(await r1.p.next(67), [67, 0, { registration: reg1, reason: 'com.example.revoked' }]);
        assert.equal(await wampError(call(`${n}.one`)), 'wamp.error.no_such_procedure');
        assert.deepEqual((await eventsOf(regLog, r1.id, 'on_delete', reg1)).slice(-2), [['on_unregister', reg1], ['on_delete', reg1]]);
        // Without registration_revocation announced: the registration goes, silently.
        await call('wamp.registration.remove_callee', [reg2, r2.id]);
        assert.equal(await wampError(call(`${n}.two`)), 'wamp.error.no_such_procedure');
        await a.session.publish(`${n}.marker`, ['marker'], {}, { acknowledge: true });
        assert.equal((await r2.p.next(36))[1], markerSub);
        assert.deepEqual(r2.p.received.filter((m) => m[0] === 67), []);
      } finally {
        r1.p.close();
        r2.p.close();
      }
      // AutobahnJS announces registration_revocation too: its registration's on_unregister resolves.
      const reg = await c.session.register(`${n}.ab`, () => 1);
      await call('wamp.registration.remove_callee', [reg.id, c.session.id], { reason: 'com.example.ab' });
      assert.equal(await within((reg as unknown as { on_unregister: Promise<string> }).on_unregister, 5000, 'on_unregister'), 'com.example.ab');
      assert.equal(await wampError(call(`${n}.ab`)), 'wamp.error.no_such_procedure');
    });

    test('subscription: on_create/on_subscribe, procedures, on_unsubscribe/on_delete', async () => {
      const n = ns(ser);
      const s1 = await c.session.subscribe(`${n}.t`, () => {});
      const s2 = await d.session.subscribe(`${n}.t`, () => {});
      const pfx = await c.session.subscribe(n, () => {}, { match: 'prefix' });
      assert.equal(s1.id, s2.id);
      const evC = await eventsOf(subLog, c.session.id, 'on_subscribe', pfx.id);
      const [c1, c2] = [evC[0]![1] as Dict, evC[2]![1] as Dict];
      const info = { id: s1.id, created: c1.created, uri: `${n}.t`, match: 'exact' };
      assert.ok(!Number.isNaN(Date.parse(c1.created as string)));
      const pinfo = { id: pfx.id, created: c2.created, uri: n, match: 'prefix' };
      assert.deepEqual(evC, [['on_create', info], ['on_subscribe', s1.id], ['on_create', pinfo], ['on_subscribe', pfx.id]]);
      assert.deepEqual(await eventsOf(subLog, d.session.id, 'on_subscribe', s1.id), [['on_subscribe', s1.id]]);
      const list = (await call('wamp.subscription.list')) as Record<string, number[]>;
      assert.ok(list.exact!.includes(s1.id) && list.prefix!.includes(pfx.id) && !list.exact!.includes(pfx.id));
      assert.equal(await call('wamp.subscription.lookup', [`${n}.t`]), s1.id);
      assert.equal(await call('wamp.subscription.lookup', [n, { match: 'prefix' }]), pfx.id);
      assert.equal(await call('wamp.subscription.lookup', [n]), null);
      assert.deepEqual(sorted(await call('wamp.subscription.match', [`${n}.t`])), sorted([s1.id, pfx.id]));
      assert.deepEqual(await call('wamp.subscription.match', [`${n}.zzz`]), [pfx.id]);
      assert.equal(await call('wamp.subscription.match', ['com.nothing.here']), null);
      assert.deepEqual(await call('wamp.subscription.get', [s1.id]), info);
      assert.equal(await wampError(call('wamp.subscription.get', [424242])), 'wamp.error.no_such_subscription');
      assert.deepEqual(sorted(await call('wamp.subscription.list_subscribers', [s1.id])), sorted([c.session.id, d.session.id]));
      assert.equal(await call('wamp.subscription.count_subscribers', [s1.id]), 2);
      await d.session.unsubscribe(s2);
      await c.session.unsubscribe(s1);
      assert.deepEqual((await eventsOf(subLog, c.session.id, 'on_delete', s1.id)).slice(-2), [['on_unsubscribe', s1.id], ['on_delete', s1.id]]);
      assert.deepEqual((await eventsOf(subLog, d.session.id, 'on_unsubscribe', s1.id)).slice(-1), [['on_unsubscribe', s1.id]]);
    });

    test('remove_subscriber: revocation UNSUBSCRIBED; later publications no longer reach it', async () => {
      const n = ns(ser);
      for (const features of [{ subscription_revocation: true }, {}]) {
        const r = await rawJoin(ser, { subscriber: { features } });
        try {
          const [, , sub] = await rawRequest(r.p, [32, 1, {}, `${n}.t`], 33);
          const [, , marker] = await rawRequest(r.p, [32, 2, {}, `${n}.m`], 33);
          await call('wamp.subscription.remove_subscriber', [sub, r.id], { reason: 'com.example.revoked' });
          if (features.subscription_revocation) {
            assert.deepEqual(await r.p.next(35), [35, 0, { subscription: sub, reason: 'com.example.revoked' }]);
          }
          assert.equal(await call('wamp.subscription.lookup', [`${n}.t`]), null);
          await a.session.publish(`${n}.t`, ['after'], {}, { acknowledge: true });
          await a.session.publish(`${n}.m`, ['marker'], {}, { acknowledge: true });
          const ev = await r.p.next(36);
          assert.deepEqual([ev[1], ev[4]], [marker, ['marker']]);
          assert.deepEqual(r.p.received.filter((m) => m[0] === 35 || m[0] === 36), []);
        } finally {
          r.p.close();
        }
      }
    });

    test("remove_subscriber / remove_callee take Crossbar's positional reason", async () => {
      const n = ns(ser);
      const roles = { subscriber: { features: { subscription_revocation: true } }, callee: { features: { registration_revocation: true } } };
      const r = await rawJoin(ser, roles);
      try {
        const [, , sub] = await rawRequest(r.p, [32, 1, {}, `${n}.t`], 33);
        const [, , reg] = await rawRequest(r.p, [64, 2, {}, `${n}.p`], 65);
        await call('wamp.registration.remove_callee', [reg, r.id, 'com.example.positional']);
        await call('wamp.subscription.remove_subscriber', [sub, r.id, 'com.example.positional']);
        assert.deepEqual([await r.p.next(67), await r.p.next(35)], [
          [67, 0, { registration: reg, reason: 'com.example.positional' }],
          [35, 0, { subscription: sub, reason: 'com.example.positional' }],
        ]);
      } finally {
        r.p.close();
      }
    });

    test('no meta events for subscriptions on wamp.* URIs (proven with a marker subscription)', async () => {
      const n = ns(ser);
      const start = subLog.items.length;
      const w1 = await d.session.subscribe('wamp.session.on_join', () => {});
      const w2 = await d.session.subscribe('wamp.session', () => {}, { match: 'prefix' });
      const m = await d.session.subscribe(`${n}.marker`, () => {});
      const ev = await eventsOf(subLog, d.session.id, 'on_subscribe', m.id, start);
      assert.deepEqual(ev.map(([t, x]) => [t, t === 'on_create' ? (x as Dict).uri : x]), [['on_create', `${n}.marker`], ['on_subscribe', m.id]]);
      const start2 = subLog.items.length;
      await d.session.unsubscribe(w1);
      await d.session.unsubscribe(w2);
      await d.session.unsubscribe(m);
      assert.deepEqual(await eventsOf(subLog, d.session.id, 'on_delete', m.id, start2), [['on_unsubscribe', m.id], ['on_delete', m.id]]);
    });
  });

  describe(`testaments (${ser})`, () => {
    let o: Client;
    before(async () => {
      o = await join(ser);
    });
    after(() => o.close());

    async function watch(topic: string): Promise<{ events: Inbox<Ev>; leaves: Inbox<Ev> }> {
      return { events: await feed(o, [topic]), leaves: await feed(o, ['wamp.session.on_leave']) };
    }

    test('a lost connection (no GOODBYE) publishes the testament', async () => {
      const t = ns(ser);
      const { events } = await watch(t);
      const { p } = await rawJoin(ser, { caller: {} });
      await rawRequest(p, [48, 1, {}, 'wamp.session.add_testament', [t, ['gone'], { who: 'raw' }]], 50);
      p.ws.terminate();
      const [ev] = await events.waitFor(1);
      assert.deepEqual([ev!.args, ev!.kwargs], [['gone'], { who: 'raw' }]);
    });

    test('GOODBYE publishes testaments too: detached scope first, then destroyed, in insertion order', async () => {
      const t = ns(ser);
      const { events } = await watch(t);
      const c = await join(ser);
      await c.session.call('wamp.session.add_testament', [t, ['d1'], {}]);
      await c.session.call('wamp.session.add_testament', [t, ['x1'], {}], { scope: 'detached' });
      await c.session.call('wamp.session.add_testament', [t, ['d2'], { n: 2 }]);
      await c.close();
      assert.deepEqual((await events.waitFor(3)).map((e) => [e.args[0], e.kwargs]), [['x1', {}], ['d1', {}], ['d2', { n: 2 }]]);
    });

    test('flush_testaments removes the testaments of a scope (absence proven with a marker)', async () => {
      const t = ns(ser);
      const { events, leaves } = await watch(t);
      const c = await join(ser);
      await c.session.call('wamp.session.add_testament', [t, ['a'], {}]);
      await c.session.call('wamp.session.add_testament', [t, ['b'], {}], { scope: 'detached' });
      await c.session.call('wamp.session.flush_testaments'); // default scope: destroyed
      await c.session.call('wamp.session.add_testament', [t, ['c'], {}]);
      await c.session.call('wamp.session.flush_testaments', [], { scope: 'detached' });
      const id = c.session.id;
      await c.close();
      // on_leave and the testaments are published together; anything published later comes after them.
      await until(leaves, (e) => e.args[0] === id);
      await o.session.publish(t, ['marker'], {}, { acknowledge: true, exclude_me: false });
      assert.deepEqual((await until(events, (e) => e.args[0] === 'marker')).map((e) => e.args[0]), ['c', 'marker']);
    });

    test('add_testament on a wamp.* topic is refused with wamp.error.invalid_uri', async () => {
      try {
        const forged = ['wamp.session.on_leave', [424242, 'forged', 'admin'], {}];
        assert.equal(await wampError(o.session.call('wamp.session.add_testament', forged)), 'wamp.error.invalid_uri');
      } finally {
        await o.session.call('wamp.session.flush_testaments');
      }
    });
  });

  test(`enable_meta_api: false → no meta procedures, no *_meta_api features in WELCOME (${ser})`, async () => {
    const c = await join(ser, { realm: 'nometa' });
    try {
      assert.equal(await wampError(c.session.call('wamp.session.count')), 'wamp.error.no_such_procedure');
      assert.equal(await wampError(c.session.call('wamp.session.add_testament', ['com.x', [], {}])), 'wamp.error.no_such_procedure');
      const roles = c.details.roles as Record<string, { features: Dict }>;
      const meta = Object.values(roles).flatMap((r) => Object.keys(r.features).filter((f) => f.endsWith('_meta_api')));
      assert.deepEqual(meta, []);
      assert.ok(roles.broker!.features.pattern_based_subscription);
    } finally {
      await c.close();
    }
  });
}
