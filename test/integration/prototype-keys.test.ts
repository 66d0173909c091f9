// Dicts from a peer are data: a key named like an Object.prototype member (`__proto__`,
// `hasOwnProperty`, `valueOf`, …) in Options, Details, authextra or kwargs of any message a client
// sends, in any serializer (json, msgpack, cbor and their batched variants), is handled like any
// other unknown key. Nothing is looked up through the prototype chain and nothing pollutes it: a
// `__proto__` key whose value is {match: "prefix"} leaves a SUBSCRIBE or REGISTER exact.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Decoder } from 'cbor-x';
import { Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import { serializerBySubprotocol } from '../../src/shared/serializers/index.js';
import { type Client, connect } from '../helpers/client.js';
import { ANONYMOUS_ALL, startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox, within } from '../helpers/wait.js';

type Msg = unknown[];
type Dict = Record<string, unknown>;

/** constructor, __proto__, hasOwnProperty, isPrototypeOf, valueOf, toString, toLocaleString, … */
const KEYS = Object.getOwnPropertyNames(Object.prototype);
const PROTOCOLS = ['wamp.2.json', 'wamp.2.msgpack', 'wamp.2.cbor', 'wamp.2.json.batched', 'wamp.2.msgpack.batched', 'wamp.2.cbor.batched'];
/** What a polluted prototype would turn an exact SUBSCRIBE or REGISTER into. */
const V = { match: 'prefix' };
/** `extra` plus key `k` as an own property (a computed key: even "__proto__" is an own key here). */
const withKey = (k: string, extra: Dict = {}): Dict => ({ ...extra, [k]: V });
/** Every prototype-member key at once. */
const allKeys = (extra: Dict = {}): Dict => KEYS.reduce((d, k) => withKey(k, d), extra);

// Frames are decoded here with independently configured codecs (not the router's serializers).
const cbor = new Decoder({ mapsAsObjects: true, int64AsNumber: true } as ConstructorParameters<typeof Decoder>[0]);
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

function unframe(proto: string, data: Buffer): Msg[] {
  const [, , ser, batched] = proto.split('.');
  const one = (b: Buffer): Msg => (ser === 'json' ? JSON.parse(b.toString()) : ser === 'msgpack' ? unpackr.unpack(b) : cbor.decode(b)) as Msg;
  if (batched === undefined) return [one(data)];
  if (ser === 'json') return data.toString('latin1').split('\x18').slice(0, -1).map((part) => one(Buffer.from(part, 'latin1')));
  const out: Msg[] = [];
  for (let off = 0; off < data.length; off += 4 + data.readUInt32BE(off)) out.push(one(data.subarray(off + 4, off + 4 + data.readUInt32BE(off))));
  return out;
}

class Peer {
  readonly inbox = new Inbox<Msg>();
  readonly closed: Promise<{ code: number; reason: string }>;
  #read = 0;
  constructor(readonly ws: WebSocket) {
    ws.on('error', () => {});
    ws.on('message', (d: Buffer) => {
      for (const m of unframe(ws.protocol, d)) this.inbox.push(m);
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }
  static async open(url: string, proto: string): Promise<Peer> {
    const ws = new WebSocket(url, [proto]);
    const p = new Peer(ws);
    await within(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 5000, `a ${proto} WebSocket`);
    assert.equal(ws.protocol, proto);
    return p;
  }
  send(msg: Msg): void {
    this.ws.send(serializerBySubprotocol(this.ws.protocol)!.encode(msg), { binary: !this.ws.protocol.startsWith('wamp.2.json') });
  }
  /** The next `n` messages not read yet, in any order, sorted by type (bounded wait; fails on a close). */
  async nextN(n: number, what: string): Promise<Msg[]> {
    if (this.inbox.items.length < this.#read + n) {
      const closed = this.closed.then((c) => assert.fail(`${what}: connection closed (${JSON.stringify(c)}) after ${JSON.stringify(this.unread())}`));
      await Promise.race([this.inbox.waitFor(this.#read + n), closed]);
    }
    const got = this.inbox.items.slice(this.#read, this.#read + n);
    this.#read += n;
    return got.sort((a, b) => (a[0] as number) - (b[0] as number));
  }
  /** The next message not read yet, which must be of type `type`. */
  async next(type: number, what: string): Promise<Msg> {
    const [got] = (await this.nextN(1, what)) as [Msg];
    assert.equal(got[0], type, `${what}: got ${JSON.stringify(got)}`);
    return got;
  }
  unread(): Msg[] {
    return this.inbox.items.slice(this.#read);
  }
}

/** The key as it comes back: msgpackr and cbor-x decode a "__proto__" map key as "__proto_". */
const echoed = (proto: string, k: string) => (k === '__proto__' && !proto.startsWith('wamp.2.json') ? '__proto_' : k);

const FEATURES = { call_canceling: true, progressive_call_results: true };
const helloDetails = (extra: Dict = {}): Dict => ({
  roles: {
    caller: allKeys({ features: allKeys(FEATURES) }),
    callee: allKeys({ features: allKeys(FEATURES) }),
    publisher: allKeys({ features: allKeys() }),
    subscriber: allKeys({ features: allKeys() }),
  },
  authextra: allKeys(),
  ...allKeys(extra),
});

let r: TestRouter;
let bystander: Client;
const bystanderEvents = new Inbox<unknown>();
before(async () => {
  r = await startRouter();
  bystander = await connect(r.url, 'msgpack');
  await bystander.session.subscribe('com.pk.bystander', (a) => bystanderEvents.push(a?.[0]));
  await bystander.session.register('com.pk.echo', (a) => a[0]);
});
after(async () => {
  await bystander.close();
  await r.stop();
});

/** The bystander, joined before, still gets events and answers calls; a new session joins. */
async function bystanderUnaffected(tag: string): Promise<void> {
  const c = await connect(r.url, 'json');
  try {
    assert.equal(await c.session.call('com.pk.echo', [tag]), tag);
    await c.session.publish('com.pk.bystander', [tag], {}, { acknowledge: true });
    await within(
      (async () => {
        while (!bystanderEvents.items.includes(tag)) await bystanderEvents.waitFor(bystanderEvents.items.length + 1);
      })(),
      5000,
      `the bystander's event ${tag}`,
    );
  } finally {
    await c.close();
  }
}

for (const proto of PROTOCOLS) {
  describe(proto, () => {
    test('every prototype-member key in every dict of every message a client sends: handled as any unknown key', async () => {
      const p = await Peer.open(r.url, proto);
      let rid = 0;
      p.send([1, 'realm1', helloDetails()]);
      await p.next(2, 'HELLO with prototype-member keys in Details, roles, features and authextra');
      for (const [i, k] of KEYS.entries()) {
        const at = (what: string) => `${k}: ${what}`;
        const uri = `com.pk.${proto.replaceAll('.', '_')}.${i}`;
        // SUBSCRIBE and REGISTER stay exact: the key is data, not a prototype.
        p.send([32, ++rid, withKey(k), uri]);
        const subscribed = await p.next(33, at('SUBSCRIBE'));
        p.send([64, ++rid, withKey(k), uri]);
        await p.next(65, at('REGISTER'));
        p.send([16, ++rid, withKey(k, { acknowledge: true, exclude_me: false }), `${uri}.below`, ['below'], withKey(k)]);
        await p.next(17, at('PUBLISH below the topic'));
        p.send([16, ++rid, withKey(k, { acknowledge: true, exclude_me: false }), uri, ['exact'], withKey(k)]);
        // (The PUBLISHED and the EVENT travel in either order.)
        const [published, event] = (await p.nextN(2, at('PUBLISH'))) as [Msg, Msg];
        assert.equal(published[0], 17, at(`PUBLISHED: got ${JSON.stringify(published)}`));
        assert.equal(event[0], 36, at(`EVENT: got ${JSON.stringify(event)}`));
        assert.deepEqual([event[1], event[4]], [subscribed[2], ['exact']], at('EVENT (none from below the topic: the subscription is exact)'));
        assert.deepEqual(Object.entries(event[5] as Dict), [[echoed(proto, k), V]], at('EVENT.ArgumentsKw'));
        p.send([48, ++rid, withKey(k), `${uri}.below`, []]);
        const none = await p.next(8, at('CALL below the procedure'));
        assert.deepEqual([none[1], none[2], none[4]], [48, rid, 'wamp.error.no_such_procedure'], at('CALL below the procedure'));
        // CALL → INVOCATION → YIELD → RESULT, each with the key in Options/Details and kwargs.
        p.send([48, ++rid, withKey(k, { receive_progress: true }), uri, ['y'], withKey(k)]);
        let inv = await p.next(68, at('CALL'));
        assert.deepEqual(Object.entries(inv[5] as Dict), [[echoed(proto, k), V]], at('INVOCATION.ArgumentsKw'));
        p.send([70, inv[1], withKey(k), ['y'], withKey(k)]);
        const result = await p.next(50, at('YIELD'));
        assert.deepEqual([result[1], result[3]], [rid, ['y']], at('RESULT'));
        // CALL → INVOCATION → ERROR → ERROR.
        p.send([48, ++rid, withKey(k), uri, ['e']]);
        inv = await p.next(68, at('CALL'));
        p.send([8, 68, inv[1], withKey(k), 'com.pk.error', ['e'], withKey(k)]);
        const err = await p.next(8, at('ERROR from the callee'));
        assert.deepEqual([err[1], err[2], err[4]], [48, rid, 'com.pk.error'], at('ERROR'));
        // CALL → INVOCATION → CANCEL → ERROR canceled (and INTERRUPT, in either order).
        p.send([48, ++rid, withKey(k), uri, ['c']]);
        inv = await p.next(68, at('CALL'));
        p.send([49, rid, withKey(k)]);
        const [canceled, interrupt] = (await p.nextN(2, at('CANCEL'))) as [Msg, Msg];
        assert.deepEqual([canceled[0], canceled[2], canceled[4]], [8, rid, 'wamp.error.canceled'], at('CANCEL'));
        assert.deepEqual([interrupt[0], interrupt[1]], [69, inv[1]], at('INTERRUPT'));
        // Meta procedures with the key in Options, kwargs and their options argument.
        p.send([48, ++rid, withKey(k), 'wamp.subscription.lookup', [uri, withKey(k)], withKey(k)]);
        assert.deepEqual((await p.next(50, at('wamp.subscription.lookup')))[3], [subscribed[2]], at('lookup finds the exact subscription'));
        p.send([48, ++rid, withKey(k), 'wamp.session.count', [], withKey(k)]);
        await p.next(50, at('wamp.session.count'));
        p.send([34, ++rid, subscribed[2]]);
        await p.next(35, at('UNSUBSCRIBE'));
      }
      p.send([6, allKeys(), 'wamp.close.close_realm']);
      await p.next(6, 'GOODBYE with prototype-member keys in Details');
      assert.deepEqual(p.unread(), []);
      assert.equal(p.ws.readyState, WebSocket.OPEN, 'the router left the connection open (the client closes it after GOODBYE)');
      p.ws.close();
      await bystanderUnaffected(proto);
    });
  });
}

describe('authentication: prototype-member names as authmethods, authids and role names', () => {
  let auth: TestRouter;
  before(async () => {
    auth = await startRouter({
      crosswire: { auth_fail_delay: 0, auth_max_failures: 0 },
      realms: [{ name: 'realm1', roles: [{ ...ANONYMOUS_ALL, name: 'user' }] }],
      transport: { auth: { ticket: { type: 'static', principals: { joe: { ticket: 't', role: 'user' } } } } },
    });
  });
  after(() => auth.stop());

  for (const proto of ['wamp.2.json', 'wamp.2.cbor']) {
    test(`${proto}: each key as an authmethod is not a method; as an authid it is nobody; in authextra it is data`, async () => {
      for (const k of KEYS) {
        // Offered before ticket: skipped as unknown, ticket is used; extras carry every key.
        const a = await Peer.open(auth.url, proto);
        a.send([1, 'realm1', helloDetails({ authmethods: [k, 'ticket'], authid: 'joe' })]);
        assert.equal((await a.next(4, `${k}: HELLO authmethods [${k}, ticket]`))[1], 'ticket');
        a.send([5, 't', allKeys()]);
        const welcome = await a.next(2, `${k}: AUTHENTICATE with every key in Extra`);
        assert.deepEqual([(welcome[2] as Dict).authid, (welcome[2] as Dict).authrole], ['joe', 'user']);
        a.ws.close();
        // Offered alone: no such method on this transport.
        const b = await Peer.open(auth.url, proto);
        b.send([1, 'realm1', helloDetails({ authmethods: [k], authid: 'joe' })]);
        assert.equal((await b.next(3, `${k}: HELLO authmethods [${k}]`))[2], 'wamp.error.no_matching_auth_method');
        assert.notEqual((await within(b.closed, 5000, 'the close')).code, 1011);
        // As an authid: no principal of that name (refused at HELLO, or at AUTHENTICATE).
        const c = await Peer.open(auth.url, proto);
        c.send([1, 'realm1', helloDetails({ authmethods: ['ticket'], authid: k })]);
        let [reply] = (await c.nextN(1, `${k}: HELLO authid ${k}`)) as [Msg];
        if (reply[0] === 4) {
          c.send([5, 't', {}]);
          reply = await c.next(3, `${k}: AUTHENTICATE as ${k}`);
        }
        assert.equal(reply[0], 3, `${k}: ABORT expected, got ${JSON.stringify(reply)}`);
        assert.match(reply[2] as string, /^wamp\.error\.(no_such_principal|authentication_failed)$/, `${k}: ABORT reason`);
        assert.notEqual((await within(c.closed, 5000, 'the close')).code, 1011);
      }
      // Unaffected: joe still logs in.
      const d = await Peer.open(auth.url, proto);
      d.send([1, 'realm1', { roles: { caller: {} }, authmethods: ['ticket'], authid: 'joe' }]);
      await d.next(4, 'CHALLENGE');
      d.send([5, 't', {}]);
      await d.next(2, 'WELCOME');
      d.ws.close();
    });
  }

  test('prototype-member names as HELLO roles: ABORT protocol_violation (close 1002), not an internal error', async () => {
    for (const k of KEYS) {
      const p = await Peer.open(auth.url, 'wamp.2.json');
      p.send([1, 'realm1', { roles: { caller: {}, [k]: {} }, authmethods: ['ticket'], authid: 'joe' }]);
      assert.equal((await p.next(3, `role ${k}`))[2], 'wamp.error.protocol_violation');
      assert.equal((await within(p.closed, 5000, 'the close')).code, 1002);
    }
  });
});
