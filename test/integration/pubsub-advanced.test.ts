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
type Ev = { args: unknown[]; kwargs: Dict; details: Dict };

// Two transports on one router: sessions on the first get authrole 'anonymous', on the second
// 'guest' (authrole black/whitelisting needs two roles). realm1 has an event history store;
// realm2 has none (WELCOME must not announce event_history there).
const HISTORY = SERIALIZERS.flatMap((s) => [
  { uri: `com.hist.${s}.exact`, match: 'exact', limit: 3 },
  { uri: `com.hist.${s}.acl`, match: 'exact', limit: 10 },
  { uri: `com.hist.${s}.pfx`, match: 'prefix', limit: 10 },
]);
let router: Router;
let url: string;
let guestUrl: string;
before(async () => {
  const roles = [ANONYMOUS_ALL, { ...ANONYMOUS_ALL, name: 'guest' }];
  const config = buildConfig(
    {
      version: 2,
      workers: [
        {
          type: 'router',
          realms: [
            { name: 'realm1', roles, store: { type: 'memory', 'event-history': HISTORY } },
            { name: 'realm2', roles },
          ],
          transports: ['anonymous', 'guest'].map((role) => ({
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
  [url, guestUrl] = router.listeners.map((l) => `ws://127.0.0.1:${l.port}/ws`) as [string, string];
});
after(() => router.shutdown(500));

let seq = 0;
const ns = (ser: string) => `com.adv.${ser}.n${++seq}`;

async function sub(c: Client, topic: string, options?: Dict): Promise<{ id: number; inbox: Inbox<Ev> }> {
  const inbox = new Inbox<Ev>();
  const h = await c.session.subscribe(topic, (args, kwargs, details) => inbox.push({ args, kwargs, details: details as unknown as Dict }), options);
  return { id: h.id, inbox };
}
const pub = async (c: Client, topic: string, args: unknown[], kwargs: Dict = {}, options: Dict = {}): Promise<number> =>
  (await c.session.publish(topic, args, kwargs, { acknowledge: true, ...options }))!.id;

/** The items of `inbox` up to and including the first one `pred` accepts (waits for it). */
async function until<T>(inbox: Inbox<T>, pred: (v: T) => boolean, ms = 5000): Promise<T[]> {
  const deadline = Date.now() + ms;
  for (let n = 1; ; n++) {
    const items = await inbox.waitFor(n, Math.max(1, deadline - Date.now()));
    if (pred(items[n - 1]!)) return items.slice(0, n);
  }
}
const isMarker = (e: Ev) => e.args[0] === 'marker';
const argsUntilMarker = async (inbox: Inbox<Ev>) => (await until(inbox, isMarker)).map((e) => e.args[0]);

async function wampError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { error: string }).error;
  }
  return assert.fail('expected a WAMP error');
}

/** A binary value as bytes, whichever serializer delivered it ("\0" + base64 in JSON). */
const bytesOf = (v: unknown): Buffer =>
  typeof v === 'string' && v.charCodeAt(0) === 0 ? Buffer.from(v.slice(1), 'base64') : Buffer.from(v as Uint8Array);

async function rawJoin(ser: SerializerName, roles: Dict, realm = 'realm1'): Promise<{ p: RawPeer; welcome: unknown[] }> {
  const p = await RawPeer.open(url, ser);
  return { p, welcome: await p.join(realm, { roles }) };
}
async function rawSubscribe(p: RawPeer, req: number, topic: string, options: Dict = {}): Promise<number> {
  p.send([32, req, options, topic]);
  const m = await p.next(33);
  assert.equal(m[1], req);
  return m[2] as number;
}


for (const ser of SERIALIZERS) {
  describe(`pattern-based subscriptions (${ser})`, () => {
    let a: Client;
    let b: Client;
    let c: Client;
    before(async () => {
      [a, b, c] = await Promise.all([connect(url, ser), connect(url, ser), connect(url, ser)]);
    });
    after(() => Promise.all([a.close(), b.close(), c.close()]));

    test('prefix is a string prefix; Details.topic is the concrete topic', async () => {
      const n = ns(ser);
      const { inbox } = await sub(b, `${n}.a`, { match: 'prefix' });
      const topics = [`${n}.a.b`, `${n}.ab`, `${n}.a`, `${n}.b`, `${n}.x.a`, `${n}.a.marker`];
      for (const t of topics) await pub(a, t, [t.endsWith('marker') ? 'marker' : t]);
      const got = await until(inbox, isMarker);
      assert.deepEqual(got.map((e) => e.details.topic), [`${n}.a.b`, `${n}.ab`, `${n}.a`, `${n}.a.marker`]);
      assert.deepEqual(got.slice(0, 3).map((e) => e.args[0]), [`${n}.a.b`, `${n}.ab`, `${n}.a`]);
    });

    test('wildcard: an empty component matches exactly one component', async () => {
      const n = ns(ser);
      const { inbox } = await sub(b, `${n}..update`, { match: 'wildcard' });
      const topics = [`${n}.x.update`, `${n}.x.y.update`, `${n}.update`, `${n}.x.updated`, `${n}.y.update`];
      for (const t of topics) await pub(a, t, [t === `${n}.y.update` ? 'marker' : t]);
      const got = await until(inbox, isMarker);
      assert.deepEqual(got.map((e) => e.details.topic), [`${n}.x.update`, `${n}.y.update`]);
    });

    test('exact + prefix + wildcard on one session: one EVENT per subscription, same publication (raw)', async () => {
      const n = ns(ser);
      const t = `${n}.x.update`;
      const { p } = await rawJoin(ser, { subscriber: {} });
      try {
        const exact = await rawSubscribe(p, 1, t);
        const prefix = await rawSubscribe(p, 2, `${n}.x`, { match: 'prefix' });
        const wild = await rawSubscribe(p, 3, `${n}..update`, { match: 'wildcard' });
        const marker = await rawSubscribe(p, 4, `${n}.marker`);
        assert.equal(new Set([exact, prefix, wild, marker]).size, 4);
        const pid = await pub(a, t, ['once'], { k: 1 });
        await pub(a, `${n}.marker`, ['marker']);
        const evs = [await p.next(36), await p.next(36), await p.next(36)];
        const bySub = new Map(evs.map((e) => [e[1] as number, e]));
        assert.deepEqual([...bySub.keys()].sort(), [exact, prefix, wild].sort());
        for (const e of evs) assert.deepEqual(e.slice(2), [pid, e[1] === exact ? {} : { topic: t }, ['once'], { k: 1 }]);
        // Details.topic is absent for the exact subscription (checked above: {}); no fourth copy.
        assert.equal((await p.next(36))[1], marker);
      } finally {
        p.close();
      }
    });

    test('one subscription id per (topic, match), shared by all its subscribers', async () => {
      const n = ns(ser);
      const [bp, cp, bw, cw, be] = [
        await sub(b, n, { match: 'prefix' }),
        await sub(c, n, { match: 'prefix' }),
        await sub(b, `${n}.`, { match: 'wildcard' }),
        await sub(c, `${n}.`, { match: 'wildcard' }),
        await sub(b, n),
      ];
      assert.equal(bp.id, cp.id);
      assert.equal(bw.id, cw.id);
      assert.equal(new Set([bp.id, bw.id, be.id]).size, 3);
      const pid = await pub(a, `${n}.z`, ['marker']);
      for (const s of [bp, cp, bw, cw]) assert.deepEqual((await s.inbox.waitFor(1)).map((e) => e.details.publication), [pid]);
    });

    for (const [uri, match] of [
      ['com..a', 'prefix'],
      ['com.A', 'prefix'],
      ['com.a b', 'prefix'],
      ['com.#.a', 'wildcard'],
      ['com.X..a', 'wildcard'],
      ['com..a', 'exact'],
    ] as const) {
      test(`invalid pattern '${uri}' (${match}) is refused with wamp.error.invalid_uri`, async () => {
        assert.equal(await wampError(b.session.subscribe(uri, () => {}, { match })), 'wamp.error.invalid_uri');
      });
    }
  });

  describe(`black/whitelisting and retention (${ser})`, () => {
    type Name = 'pub' | 'alice' | 'bob' | 'carol';
    const names: Name[] = ['pub', 'alice', 'bob', 'carol'];
    const cl = {} as Record<Name, Client>;
    const id = {} as Record<Name, number>;
    before(async () => {
      const cs = await Promise.all(names.map((n) => connect(n === 'carol' ? guestUrl : url, ser, 'realm1', { authid: n })));
      names.forEach((n, i) => {
        cl[n] = cs[i]!;
        id[n] = cs[i]!.session.id;
      });
      assert.equal(cl.carol.details.authrole, 'guest');
      assert.equal(cl.alice.details.authid, 'alice');
    });
    after(() => Promise.all(names.map((n) => cl[n].close())));

    const CASES: [string, (i: Record<Name, number>) => Dict, Name[]][] = [
      ['exclude (session ids)', (i) => ({ exclude: [i.alice] }), ['bob', 'carol']],
      ['exclude_authid', () => ({ exclude_authid: ['bob'] }), ['alice', 'carol']],
      ['exclude_authrole guest', () => ({ exclude_authrole: ['guest'] }), ['alice', 'bob']],
      ['exclude_authrole anonymous', () => ({ exclude_authrole: ['anonymous'] }), ['carol']],
      ['eligible (session ids)', (i) => ({ eligible: [i.bob, i.carol] }), ['bob', 'carol']],
      ['eligible_authid', () => ({ eligible_authid: ['alice', 'nobody'] }), ['alice']],
      ['eligible_authrole guest', () => ({ eligible_authrole: ['guest'] }), ['carol']],
      ['eligible_authrole anonymous', () => ({ eligible_authrole: ['anonymous'] }), ['alice', 'bob']],
      ['empty eligible list', () => ({ eligible: [] }), []],
      ['AND: eligible_authrole + exclude_authid', () => ({ eligible_authrole: ['anonymous'], exclude_authid: ['alice'] }), ['bob']],
      ['AND: eligible + eligible_authid', (i) => ({ eligible: [i.alice, i.bob], eligible_authid: ['bob', 'carol'] }), ['bob']],
      ['AND: eligible + exclude', (i) => ({ eligible: [i.alice, i.bob], exclude: [i.bob] }), ['alice']],
      ['AND: exclude_authrole + eligible_authid', () => ({ exclude_authrole: ['guest'], eligible_authid: ['carol', 'bob'] }), ['bob']],
      ['publisher eligible, excluded by default', (i) => ({ eligible: [i.pub, i.alice] }), ['alice']],
      ['publisher eligible with exclude_me: false', (i) => ({ eligible: [i.pub, i.alice], exclude_me: false }), ['pub', 'alice']],
      ['exclude_me: false but publisher excluded by authid', () => ({ exclude_me: false, exclude_authid: ['pub'] }), ['alice', 'bob', 'carol']],
      ['exclude_me: false, eligible_authrole anonymous', () => ({ exclude_me: false, eligible_authrole: ['anonymous'] }), ['pub', 'alice', 'bob']],
    ];
    for (const [name, options, expected] of CASES) {
      test(`${name} → ${expected.join(', ') || 'nobody'}`, async () => {
        const t = ns(ser);
        const inboxes = await Promise.all(names.map(async (n) => (await sub(cl[n], t)).inbox));
        await pub(cl.pub, t, ['filtered'], {}, options(id));
        await pub(cl.pub, t, ['marker'], {}, { exclude_me: false });
        const got: Name[] = [];
        for (const [i, n] of names.entries()) {
          const seen = await argsUntilMarker(inboxes[i]!);
          assert.ok(seen.length <= 2 && seen.slice(0, -1).every((x) => x === 'filtered'), `${n}: ${JSON.stringify(seen)}`);
          if (seen.length === 2) got.push(n);
        }
        assert.deepEqual(got, expected);
      });
    }

    test('retain + get_retained: the last retained event, Details.retained, exact and pattern subscriptions', async () => {
      const n = ns(ser);
      const t = `${n}.temp`;
      await pub(cl.pub, t, ['r1'], {}, { retain: true });
      await pub(cl.pub, t, ['r2'], { k: 2 }, { retain: true });
      await pub(cl.pub, t, ['r3']); // not retained: does not replace r2
      const exact = await sub(cl.alice, t, { get_retained: true });
      const prefix = await sub(cl.bob, n, { match: 'prefix', get_retained: true });
      const wild = await sub(cl.carol, `${n}.`, { match: 'wildcard', get_retained: true });
      const none = await sub(cl.bob, t); // no get_retained: nothing
      await pub(cl.pub, t, ['marker']);
      for (const [s, topic] of [[exact, t], [prefix, t], [wild, t]] as const) {
        const got = await until(s.inbox, isMarker);
        assert.deepEqual(got.map((e) => [e.args, e.kwargs, e.details.retained]), [[['r2'], { k: 2 }, true], [['marker'], {}, false]]);
        assert.equal(got[0]!.details.topic, topic);
      }
      assert.deepEqual(await argsUntilMarker(none.inbox), ['marker']);
    });

    test('a retained event honours the eligibility lists of its publication', async () => {
      const t1 = ns(ser);
      const t2 = ns(ser);
      await pub(cl.pub, t1, ['alice only'], {}, { retain: true, eligible_authid: ['alice'] });
      await pub(cl.pub, t2, ['not bob'], {}, { retain: true, exclude: [id.bob] });
      const [a1, b1, a2, b2] = [await sub(cl.alice, t1, { get_retained: true }), await sub(cl.bob, t1, { get_retained: true }),
        await sub(cl.alice, t2, { get_retained: true }), await sub(cl.bob, t2, { get_retained: true })];
      await pub(cl.pub, t1, ['marker']);
      await pub(cl.pub, t2, ['marker']);
      assert.deepEqual(await argsUntilMarker(a1.inbox), ['alice only', 'marker']);
      assert.deepEqual(await argsUntilMarker(b1.inbox), ['marker']);
      assert.deepEqual(await argsUntilMarker(a2.inbox), ['not bob', 'marker']);
      assert.deepEqual(await argsUntilMarker(b2.inbox), ['marker']);
    });

    test('get_retained sends the most recent retained event the subscriber was eligible for', async () => {
      const t = ns(ser);
      await pub(cl.pub, t, ['for all'], {}, { retain: true });
      await pub(cl.pub, t, ['alice only'], {}, { retain: true, eligible_authid: ['alice'] });
      const [sa, sb] = [await sub(cl.alice, t, { get_retained: true }), await sub(cl.bob, t, { get_retained: true })];
      await pub(cl.pub, t, ['marker']);
      assert.deepEqual(await argsUntilMarker(sa.inbox), ['alice only', 'marker']);
      // WAMP spec, "Event Retention": "the most recent Retained Event that they would have received".
      assert.deepEqual(await argsUntilMarker(sb.inbox), ['for all', 'marker']);
    });

    test('event history: get_events(subscription, limit) newest first, limit honoured', async () => {
      const t = `com.hist.${ser}.exact`;
      const s = await sub(cl.alice, t);
      const pids: number[] = [];
      for (let i = 1; i <= 5; i++) pids.push(await pub(cl.pub, t, [i], { i }));
      const all = (await cl.alice.session.call('wamp.subscription.get_events', [s.id, 10])) as Dict[];
      assert.deepEqual(all.map((e) => e.publication), [pids[4], pids[3], pids[2]]); // store limit 3
      for (const [k, e] of all.entries()) {
        assert.equal(e.subscription, s.id);
        assert.equal(e.topic, t);
        assert.deepEqual([e.args, e.kwargs], [[5 - k], { i: 5 - k }]);
        assert.ok(typeof e.timestamp === 'string' && !Number.isNaN(Date.parse(e.timestamp)), String(e.timestamp));
      }
      const two = (await cl.alice.session.call('wamp.subscription.get_events', [s.id, 2])) as Dict[];
      assert.deepEqual(two.map((e) => e.publication), [pids[4], pids[3]]);
    });

    test('event history for a prefix subscription carries each concrete topic', async () => {
      const base = `com.hist.${ser}.pfx`;
      const s = await sub(cl.alice, base, { match: 'prefix' });
      const p1 = await pub(cl.pub, `${base}.a`, ['a']);
      const p2 = await pub(cl.pub, `${base}.b`, ['b']);
      const evs = (await cl.alice.session.call('wamp.subscription.get_events', [s.id, 10])) as Dict[];
      assert.deepEqual(evs.map((e) => [e.publication, e.topic, e.args]), [[p2, `${base}.b`, ['b']], [p1, `${base}.a`, ['a']]]);
    });

    test('event history re-applies authid lists and skips session-id lists', async () => {
      const t = `com.hist.${ser}.acl`;
      const s = await sub(cl.alice, t);
      await sub(cl.bob, t);
      const pAll = await pub(cl.pub, t, ['all']);
      const pAlice = await pub(cl.pub, t, ['alice'], {}, { eligible_authid: ['alice'] });
      await pub(cl.pub, t, ['by id'], {}, { exclude: [id.carol] });
      const get = async (c: Client) => ((await c.session.call('wamp.subscription.get_events', [s.id, 10])) as Dict[]).map((e) => e.publication);
      assert.deepEqual(await get(cl.alice), [pAlice, pAll]);
      assert.deepEqual(await get(cl.bob), [pAll]);
    });

    test('get_events on a subscription without configured history: wamp.error.history_unavailable', async () => {
      const s = await sub(cl.alice, ns(ser));
      assert.equal(await wampError(cl.alice.session.call('wamp.subscription.get_events', [s.id, 5])), 'wamp.error.history_unavailable');
    });
  });

  describe(`WELCOME, payload passthru, option checks (${ser})`, () => {
    test('WELCOME announces event_history only on a realm with a store', async () => {
      for (const [realm, expected] of [['realm1', true], ['realm2', undefined]] as const) {
        const { p, welcome } = await rawJoin(ser, { subscriber: {} }, realm);
        p.close();
        const broker = ((welcome[2] as Dict).roles as Dict).broker as { features: Dict };
        assert.equal(broker.features.event_history, expected, realm);
        assert.equal(broker.features.event_retention, true);
      }
    });

    test('payload passthru: ppt_* details and an untouched binary payload, only to subscribers that announced it', async () => {
      const ppt = { features: { payload_passthru_mode: true } };
      const other: SerializerName = ser === 'json' ? 'msgpack' : 'json';
      const P = await rawJoin(ser, { publisher: ppt });
      const same = await rawJoin(ser, { subscriber: ppt });
      const cross = await rawJoin(other, { subscriber: ppt });
      const plain = await rawJoin(ser, { subscriber: {} });
      const peers = [P.p, same.p, cross.p, plain.p];
      try {
        const n = ns(ser);
        const subs = await Promise.all([same.p, cross.p, plain.p].map(async (p) => [await rawSubscribe(p, 1, n), await rawSubscribe(p, 2, `${n}.m`)]));
        const bytes = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f, 0x01, 0x02]);
        const opts = { ppt_scheme: 'x_test', ppt_serializer: 'cbor', ppt_cipher: 'xsalsa20poly1305', ppt_keyid: 'key-1' };
        P.p.send([16, 1, { acknowledge: true, ...opts }, n, [bytes]]);
        const [, , pid] = await P.p.next(17);
        P.p.send([16, 2, { acknowledge: true }, `${n}.m`, ['marker']]);
        await P.p.next(17);
        for (const [i, p] of [same.p, cross.p].entries()) {
          const ev = await p.next(36);
          assert.equal(ev.length, 5, 'no ArgumentsKw');
          assert.deepEqual(ev.slice(0, 4), [36, subs[i]![0], pid, opts]);
          assert.equal((ev[4] as unknown[]).length, 1);
          assert.deepEqual(bytesOf((ev[4] as unknown[])[0]), bytes);
        }
        const first = await plain.p.next(36);
        assert.deepEqual([first[1], first[4]], [subs[2]![1], ['marker']]);
      } finally {
        for (const p of peers) p.close();
      }
    });

    test('a retained passthru event is not sent to a get_retained subscriber that did not announce it', async () => {
      const P = await rawJoin(ser, { publisher: { features: { payload_passthru_mode: true } } });
      const S = await rawJoin(ser, { subscriber: {} });
      try {
        const n = ns(ser);
        P.p.send([16, 1, { acknowledge: true, retain: true, ppt_scheme: 'x_test' }, n, [Buffer.from([1, 2, 3])]]);
        await P.p.next(17);
        await rawSubscribe(S.p, 1, n, { get_retained: true });
        const marker = await rawSubscribe(S.p, 2, `${n}.m`);
        P.p.send([16, 2, { acknowledge: true }, `${n}.m`, ['marker']]);
        await P.p.next(17);
        const first = await S.p.next(36);
        assert.deepEqual([first[1], first[3], first[4]], [marker, {}, ['marker']]);
      } finally {
        P.p.close();
        S.p.close();
      }
    });

    test('ppt_scheme without announcing payload_passthru_mode: ABORT protocol_violation', async () => {
      const { p } = await rawJoin(ser, { publisher: {} });
      p.send([16, 1, { ppt_scheme: 'x_test' }, 'com.adv.ppt', [Buffer.from([1, 2])]]);
      const abort = await p.next(3);
      assert.equal(abort[2], 'wamp.error.protocol_violation');
      assert.match((abort[1] as { message: string }).message, /payload_passthru_mode/);
      await within(p.closed, 5000, 'the connection to close');
    });

    for (const [type, opts, key] of [
      [16, { exclude: 'x' }, 'exclude'],
      [16, { eligible: ['x'] }, 'eligible'],
      [16, { exclude_authid: [1] }, 'exclude_authid'],
      [16, { eligible_authrole: 'guest' }, 'eligible_authrole'],
      [16, { retain: 'yes' }, 'retain'],
      [32, { get_retained: 1 }, 'get_retained'],
      [32, { match: 'regex' }, 'match'],
    ] as const) {
      test(`${type === 16 ? 'PUBLISH' : 'SUBSCRIBE'} with ${JSON.stringify(opts)}: ABORT protocol_violation naming '${key}'`, async () => {
        const { p } = await rawJoin(ser, { publisher: {}, subscriber: {} });
        p.send([type, 1, opts, 'com.adv.bad']);
        const abort = await p.next(3);
        assert.equal(abort[2], 'wamp.error.protocol_violation');
        assert.match((abort[1] as { message: string }).message, new RegExp(`\\b${key}\\b`));
        await within(p.closed, 5000, 'the connection to close');
      });
    }
  });
}
