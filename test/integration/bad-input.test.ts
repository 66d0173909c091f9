// Bad input from one connection must cost that connection only: every case below asserts exactly
// what the offending peer receives (ABORT, then the WebSocket close code), then that a fresh
// session still joins and that a bystander session, joined before the bad input, still gets events.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { Decoder as CborDecoder, Encoder as CborEncoder } from 'cbor-x';
import { Packr, Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import { SERIALIZERS as CODECS } from '../../src/shared/serializers/index.js';
import { type Client, connect, SERIALIZERS, type SerializerName as Ser } from '../helpers/client.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { deferred, Inbox, within } from '../helpers/wait.js';

type Msg = unknown[];
const PV = 'wamp.error.protocol_violation';
const NO_SUCH_REALM = 'wamp.error.no_such_realm';
// src/router.ts `Close.PROTOCOL_ERROR` and workers/realm.ts `CloseCode.PROTOCOL_ERROR` / `NORMAL`.
const PROTOCOL_ERROR = 1002;
const NORMAL = 1000;
const ROLES = { publisher: {}, subscriber: {}, caller: {}, callee: {} };
const TOPIC = 'com.bystander.topic';
const ECHO = 'com.bystander.echo';
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const cborEnc = new CborEncoder({ useRecords: false, tagUint8Array: false });
const cborDec = new CborDecoder({ mapsAsObjects: true, int64AsNumber: true } as ConstructorParameters<typeof CborDecoder>[0]);
/** The raw peer also speaks CBOR (AutobahnJS does not). */
type RawSer = Ser | 'cbor';

// ---- a raw WebSocket peer (ws), decoding independently of the router's serializers -------------

interface Frame {
  msg: unknown;
  binary: boolean;
}

function decode(data: Buffer, binary: boolean, ser: RawSer): unknown {
  try {
    return binary ? (ser === 'cbor' ? cborDec.decode(data) : unpackr.unpack(data)) : JSON.parse(data.toString());
  } catch {
    return data; // not decodable: kept raw, so an assertion shows it
  }
}

class Raw {
  readonly frames = new Inbox<Frame>();
  readonly closed: Promise<{ code: number; reason: string }>;
  #read = 0;
  #arrived = deferred();
  constructor(
    readonly ws: WebSocket,
    readonly ser: RawSer,
  ) {
    ws.on('error', () => {}); // a reset surfaces as close code 1006
    ws.on('message', (data: Buffer, binary: boolean) => {
      this.frames.push({ msg: decode(data, binary, ser), binary });
      this.#arrived.resolve();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }
  /** Waits (bounded) until a message not read yet is there or the connection closed. */
  async settled(): Promise<void> {
    if (this.unread().length > 0) return;
    this.#arrived = deferred();
    await within(Promise.race([this.#arrived.promise, this.closed]), 5000, 'a message or a close');
  }
  send(msg: Msg): void {
    this.ws.send(CODECS[this.ser].encode(msg), { binary: this.ser !== 'json' });
  }
  sendRaw(data: string | Uint8Array, binary: boolean): void {
    this.ws.send(data, { binary });
  }
  /** The next message not read yet (bounded wait). */
  async next(): Promise<Msg> {
    const items = await this.frames.waitFor(++this.#read);
    return items[this.#read - 1]!.msg as Msg;
  }
  unread(): Frame[] {
    return this.frames.items.slice(this.#read);
  }
  async hello(): Promise<void> {
    this.send([1, 'realm1', { roles: ROLES }]);
    const welcome = await this.next();
    assert.equal(welcome[0], 2, `WELCOME expected, got ${JSON.stringify(welcome)}`);
  }
}

const raws: Raw[] = [];
async function open(url: string, ser: RawSer): Promise<Raw> {
  const ws = new WebSocket(url, [`wamp.2.${ser}`]);
  const c = new Raw(ws, ser);
  raws.push(c);
  await within(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 5000, `a raw ${ser} WebSocket`);
  assert.equal(ws.protocol, `wamp.2.${ser}`);
  return c;
}

/** The connection closes having received exactly one more message: [3, {message}, reason]. */
async function expectAbort(c: Raw, reason: string, code: number): Promise<void> {
  // Whatever comes first: a wrong answer fails at once instead of waiting for a close.
  await c.settled();
  const got = c.unread();
  assert.ok(got.length === 0 || (got[0]!.msg as Msg)[0] === 3, `ABORT expected, got ${JSON.stringify(got.map((f) => f.msg))}`);
  const closed = await within(c.closed, 5000, 'the router to close the connection');
  assert.equal(got.length, 1, `exactly one ABORT expected, got ${JSON.stringify(got.map((f) => f.msg))}`);
  const [{ msg, binary }] = got as [Frame];
  assert.equal(binary, c.ser !== 'json', 'the ABORT travels in the frame type of the negotiated serializer');
  const m = msg as Msg;
  assert.equal(m.length, 3, `ABORT expected, got ${JSON.stringify(m)}`);
  assert.equal(m[0], 3);
  assert.equal(m[2], reason);
  const text = (m[1] as { message?: unknown }).message;
  assert.ok(typeof text === 'string' && text.length > 0, 'ABORT.Details.message is a non-empty string');
  assert.equal(closed.code, code, `close code (reason '${closed.reason}')`);
}

/** An AutobahnJS subscriber (msgpack) and publisher/callee (json), joined before any bad input. */
class Bystander {
  sub: Client | undefined;
  pub: Client | undefined;
  #tags = new Map<string, ReturnType<typeof deferred<void>>>();
  #n = 0;
  constructor(readonly r: () => TestRouter) {}
  #tag(t: string): ReturnType<typeof deferred<void>> {
    let d = this.#tags.get(t);
    if (d === undefined) this.#tags.set(t, (d = deferred()));
    return d;
  }
  async start(): Promise<void> {
    this.sub = await connect(this.r().url, 'msgpack');
    await this.sub.session.subscribe(TOPIC, (args) => this.#tag(String(args?.[0])).resolve());
    this.pub = await connect(this.r().url, 'json');
    await this.pub.session.register(ECHO, (args) => args[0]);
  }
  /** After a bad input: a fresh `ser` session joins, and the bystander gets an event published now. */
  async unaffected(ser: RawSer): Promise<void> {
    const fresh = await open(this.r().url, ser);
    await fresh.hello();
    fresh.ws.close();
    const tag = `after-${++this.#n}`;
    await this.pub!.session.publish(TOPIC, [tag], {}, { acknowledge: true });
    await within(this.#tag(tag).promise, 5000, `the bystander's event '${tag}'`);
  }
  async stop(): Promise<void> {
    await this.sub?.close();
    await this.pub?.close();
  }
}

let r: TestRouter;
const by = new Bystander(() => r);
before(async () => {
  r = await startRouter();
  await by.start();
});
after(async () => {
  for (const c of raws) c.ws.terminate();
  await by.stop();
  await r.stop();
});

// ---- 1, 2, 5: frames that are not WAMP messages (checked on the main thread) -------------------

function notWamp(ser: Ser): { name: string; data: string | Uint8Array; binary: boolean }[] {
  const bin = ser === 'msgpack';
  const enc = (v: unknown): string | Uint8Array => (bin ? packr.pack(v) : JSON.stringify(v));
  const hello = [1, 'realm1', { roles: ROLES }];
  return [
    bin
      ? { name: 'malformed msgpack (truncated list)', data: Uint8Array.of(0x93, 0x01), binary: true }
      : { name: 'malformed JSON', data: '[1, "realm1"', binary: false },
    bin
      ? { name: 'malformed msgpack (never-used byte 0xc1)', data: Uint8Array.of(0xc1), binary: true }
      : { name: 'JSON with trailing garbage', data: `${JSON.stringify(hello)} x`, binary: false },
    { name: 'a map, not a list', data: enc({ a: 1 }), binary: bin },
    { name: 'an empty list', data: enc([]), binary: bin },
    { name: 'unknown type code 999', data: enc([999, {}]), binary: bin },
    { name: 'type code as a string', data: enc(['HELLO']), binary: bin },
    { name: `a ${bin ? 'text' : 'binary'} frame`, data: bin ? JSON.stringify(hello) : packr.pack(hello), binary: !bin },
  ];
}

describe('frames that are not WAMP messages: ABORT protocol_violation, close 1002', () => {
  for (const ser of SERIALIZERS) {
    for (const established of [false, true]) {
      for (const row of notWamp(ser)) {
        test(`${ser}, ${established ? 'after WELCOME' : 'before HELLO'}: ${row.name}`, async () => {
          const c = await open(r.url, ser);
          if (established) await c.hello();
          c.sendRaw(row.data, row.binary);
          await expectAbort(c, PV, PROTOCOL_ERROR);
          await by.unaffected(ser);
        });
      }
    }
  }
});

// ---- 3, 7, 8: the first message of a session -------------------------------------------------

const FIRST: { name: string; msg: Msg; reason: string; code: number }[] = [
  { name: 'SUBSCRIBE before HELLO', msg: [32, 1, {}, 'com.x'], reason: PV, code: PROTOCOL_ERROR },
  { name: 'WELCOME from a client', msg: [2, 1, {}], reason: PV, code: PROTOCOL_ERROR },
  { name: 'HELLO without Details', msg: [1, 'realm1'], reason: PV, code: PROTOCOL_ERROR },
  { name: 'HELLO with a list as Details', msg: [1, 'realm1', []], reason: PV, code: PROTOCOL_ERROR },
  { name: 'HELLO with a realm that is not a string', msg: [1, 42, { roles: ROLES }], reason: PV, code: PROTOCOL_ERROR },
  { name: 'HELLO without roles', msg: [1, 'realm1', {}], reason: PV, code: PROTOCOL_ERROR },
  { name: 'HELLO with empty roles', msg: [1, 'realm1', { roles: {} }], reason: PV, code: PROTOCOL_ERROR },
  { name: 'HELLO with an unknown role', msg: [1, 'realm1', { roles: { publisher: {}, foo: {} } }], reason: PV, code: PROTOCOL_ERROR },
  { name: 'HELLO with a role that is not a dict', msg: [1, 'realm1', { roles: { subscriber: true } }], reason: PV, code: PROTOCOL_ERROR },
  { name: 'HELLO for a realm that does not exist', msg: [1, 'no.such.realm', { roles: ROLES }], reason: NO_SUCH_REALM, code: NORMAL },
];

describe('a bad first message: ABORT, then close', () => {
  for (const ser of SERIALIZERS) {
    for (const row of FIRST) {
      test(`${ser}: ${row.name} -> ABORT ${row.reason}, close ${row.code}`, async () => {
        const c = await open(r.url, ser);
        c.send(row.msg);
        await expectAbort(c, row.reason, row.code);
        await by.unaffected(ser);
      });
    }
  }
});

// ---- 4, 9, 10, 11: protocol violations on an established session (checked in the worker) -------

const ESTABLISHED: { name: string; msg: Msg }[] = [
  { name: 'a second HELLO', msg: [1, 'realm1', { roles: ROLES }] },
  { name: 'SUBSCRIBE with a string request id', msg: [32, 'x', {}, 'com.t'] },
  { name: 'SUBSCRIBE with request id 0', msg: [32, 0, {}, 'com.t'] },
  { name: 'PUBLISH with a number as topic', msg: [16, 1, {}, 42] },
  { name: 'CALL with a list as Options', msg: [48, 1, [], 'com.p'] },
  { name: 'SUBSCRIBE with too many elements', msg: [32, 1, {}, 'com.t', 'extra'] },
  { name: 'WELCOME from a client', msg: [2, 1, {}] },
  { name: 'EVENT from a client', msg: [36, 1, 2, {}] },
  { name: 'ERROR for a CALL (not an INVOCATION)', msg: [8, 48, 1, {}, 'wamp.error.x'] },
  { name: 'YIELD for an unknown invocation', msg: [70, 12345, {}] },
];

describe('violations on an established session: ABORT protocol_violation, close 1002', () => {
  for (const ser of SERIALIZERS) {
    for (const row of ESTABLISHED) {
      test(`${ser}: ${row.name}`, async () => {
        const c = await open(r.url, ser);
        await c.hello();
        c.send(row.msg);
        await expectAbort(c, PV, PROTOCOL_ERROR);
        await by.unaffected(ser);
      });
    }
  }
});

// ---- 12, 13: transport-level bad input ---------------------------------------------------------

// uWS fails the connection without a close frame (no 1007 / 1009), so the client sees 1006.
const NO_CLOSE_FRAME = 1006;

test('json: invalid UTF-8 in a text frame -> uWS drops the connection (1006), no WAMP message', async () => {
  const c = await open(r.url, 'json');
  await c.hello();
  c.sendRaw(Buffer.from([0x5b, 0x31, 0xff, 0xfe, 0x5d]), false); // "[1\xff\xfe]"
  const closed = await within(c.closed, 5000, 'the router to close the connection');
  assert.deepEqual(c.unread(), []);
  assert.equal(closed.code, NO_CLOSE_FRAME, `close code (reason '${closed.reason}')`);
  await by.unaffected('json');
});

/** Resolves with the HTTP status of a refused upgrade (ws 'unexpected-response'). */
function upgradeStatus(url: string, protocols: string[]): Promise<number> {
  const ws = new WebSocket(url, protocols);
  ws.on('error', () => {});
  const status = new Promise<number>((resolve, reject) => {
    ws.once('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    ws.once('open', () => reject(new Error(`upgrade accepted with subprotocol '${ws.protocol}'`)));
  });
  return within(status, 5000, 'the upgrade response');
}

for (const protocols of [['foo'], [], ['wamp.2.ubjson', 'wamp.2.flatbuffers']]) {
  test(`no WAMP subprotocol offered (${JSON.stringify(protocols)}) -> HTTP 400`, async () => {
    assert.equal(await upgradeStatus(r.url, protocols), 400);
    await by.unaffected('json');
  });
}

// ---- 14: invalid URIs are answered with ERROR and the session stays ----------------------------

for (const ser of SERIALIZERS) {
  test(`${ser}: invalid URIs -> ERROR wamp.error.invalid_uri, and the session keeps working`, async () => {
    const c = await open(r.url, ser);
    await c.hello();
    const expectError = async (type: number, requestId: number): Promise<void> => {
      const m = await c.next();
      assert.equal(m.length, 5, `ERROR expected, got ${JSON.stringify(m)}`);
      assert.deepEqual([m[0], m[1], m[2], m[4]], [8, type, requestId, 'wamp.error.invalid_uri']);
      assert.equal(typeof m[3], 'object');
    };
    c.send([32, 1, {}, 'com.Example..x']);
    await expectError(32, 1);
    c.send([64, 2, {}, 'wamp.foo']);
    await expectError(64, 2);
    c.send([48, 3, {}, 'com.bad uri']);
    await expectError(48, 3);
    c.send([32, 4, {}, TOPIC]);
    const subscribed = await c.next();
    assert.deepEqual(subscribed.slice(0, 2), [33, 4]);
    await by.unaffected(ser); // publishes to TOPIC: this session gets the event too
    const event = await c.next();
    assert.deepEqual([event[0], event[1]], [36, subscribed[2]]);
    c.send([6, {}, 'wamp.close.close_realm']);
    assert.deepEqual(await c.next(), [6, {}, 'wamp.close.goodbye_and_out']);
  });
}

// ---- msgpack values WAMP does not have ---------------------------------------------------------

test(
  'msgpack: PUBLISH whose payload holds the never-used byte 0xc1 -> ABORT protocol_violation',
  async () => {
    const c = await open(r.url, 'msgpack');
    await c.hello();
    const head = packr.pack([16, 1, { acknowledge: true }, 'com.c1', 0]); // 0x95 ... 0x00
    c.sendRaw(Buffer.concat([head.subarray(0, head.length - 1), Uint8Array.of(0x91, 0xc1)]), true);
    await expectAbort(c, PV, PROTOCOL_ERROR);
    await by.unaffected('msgpack');
  },
);

/** The router in a child process, so that a crash is observed instead of killing this test run. */
async function childRouter(): Promise<{ url: string; exit: Promise<number | null>; stderr: () => string; kill: () => void }> {
  const helper = new URL('../helpers/router.js', import.meta.url).href;
  // CommonJS -e: a worker thread would inherit --input-type=module and refuse to start.
  const code = `import(${JSON.stringify(helper)}).then(async ({ startRouter }) => console.log((await startRouter()).port));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const port = new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    void exit.then((c) => reject(new Error(`router process exited with ${c}: ${stderr}`)));
  });
  return { url: `ws://127.0.0.1:${await within(port, 10000, 'the router process')}/ws`, exit, stderr: () => stderr, kill: () => child.kill() };
}

const EXTENSIONS: { name: string; value: Uint8Array }[] = [
  { name: 'ext 0x42 (msgpackr BigInt)', value: Uint8Array.of(0xd4, 0x42, 0x05) },
  { name: 'ext 0x69/0x70 (msgpackr reference: a list that contains itself)', value: Uint8Array.of(0xd6, 0x69, 0, 0, 0, 1, 0x91, 0xd6, 0x70, 0, 0, 0, 1) },
];

for (const { name, value } of EXTENSIONS) {
  test(
    `msgpack: PUBLISH with ${name} in its arguments, to a json subscriber -> ABORT, router survives`,
    async () => {
      const child = await childRouter();
      try {
        const sub = await open(child.url, 'json');
        await sub.hello();
        sub.send([32, 1, {}, 'com.t']);
        assert.equal((await sub.next())[0], 33);
        const pub = await open(child.url, 'msgpack');
        await pub.hello();
        const head = packr.pack([16, 1, { acknowledge: true }, 'com.t', 0]);
        pub.sendRaw(Buffer.concat([head.subarray(0, head.length - 1), Uint8Array.of(0x91), value]), true);
        await pub.settled();
        const alive = await within(
          Promise.race([child.exit.then(() => false), open(child.url, 'json').then((c) => c.hello().then(() => true), () => false)]),
          5000,
          'the router process to answer or exit',
        );
        assert.ok(alive, `the router process died: ${child.stderr().split('\n').find((l) => /Error/.test(l)) ?? child.stderr()}`);
        await expectAbort(pub, PV, PROTOCOL_ERROR);
        assert.deepEqual(sub.unread(), []);
        assert.equal(sub.ws.readyState, WebSocket.OPEN, 'the subscriber is untouched');
      } finally {
        child.kill();
      }
    },
  );
}

// ---- CBOR: malformed frames, values WAMP does not have, mutated frames -------------------------

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const DEEP = Uint8Array.from([...new Array<number>(3000).fill(0x81), 0x01]);

/** Frames that are no WAMP message, decoded on the main thread. */
const CBOR_FRAMES: { name: string; data: Uint8Array }[] = [
  { name: 'truncated list', data: bytes(0x83, 0x01) },
  { name: 'reserved additional information 28', data: bytes(0x1c) },
  { name: 'a lone break byte', data: bytes(0xff) },
  { name: 'an indefinite-length list never closed', data: bytes(0x9f, 0x01) },
  { name: 'a list declaring 2^32 elements', data: bytes(0x9b, 0, 0, 0, 1, 0, 0, 0, 0) },
  { name: 'a list declaring 100 million elements', data: bytes(0x9a, 0x06, 0, 0, 0) },
  { name: 'a map, not a list', data: cborEnc.encode({ a: 1 }) },
  { name: 'an empty list', data: cborEnc.encode([]) },
  { name: 'unknown type code 999', data: cborEnc.encode([999, {}]) },
  { name: 'type code as a string', data: cborEnc.encode(['HELLO']) },
  { name: 'nested 3000 lists deep', data: DEEP },
];

/** CBOR values that are no WAMP values, in the payload of a PUBLISH (decoded in the realm worker). */
const CBOR_VALUES: { name: string; value: Uint8Array }[] = [
  { name: 'a truncated list', value: bytes(0x82, 0x01) },
  { name: 'reserved additional information 28', value: bytes(0x1c) },
  { name: 'tag 1 (a date)', value: bytes(0xc1, 0x01) },
  { name: 'tag 2 (a bignum)', value: bytes(0xc2, 0x41, 0x05) },
  // CBOR undefined (0xf7) is read as absent/null (test/integration/client-compat.test.ts).
  { name: 'simple value 0', value: bytes(0xe0) },
  { name: 'tag 258 (a set)', value: bytes(0xd9, 0x01, 0x02, 0x80) },
  { name: 'tags 28/29 (a list that contains itself)', value: bytes(0xd8, 0x1c, 0x81, 0xd8, 0x1d, 0x00) },
  { name: "tag 105 (cbor-x's records)", value: bytes(0xd8, 0x69, 0x82, 0x81, 0x61, 0x61, 0x01) },
  { name: 'a map whose key is a list', value: bytes(0xa1, 0x81, 0x01, 0x02) },
  { name: 'lists nested 3000 deep', value: DEEP },
  { name: 'a list declaring 100 million elements', value: bytes(0x9a, 0x06, 0, 0, 0) },
];

describe('cbor: bad input -> ABORT protocol_violation, close 1002', () => {
  for (const established of [false, true]) {
    for (const row of CBOR_FRAMES) {
      test(`${established ? 'after WELCOME' : 'before HELLO'}: ${row.name}`, async () => {
        const c = await open(r.url, 'cbor');
        if (established) await c.hello();
        c.sendRaw(row.data, true);
        await expectAbort(c, PV, PROTOCOL_ERROR);
        await by.unaffected('cbor');
      });
    }
  }
  test('a text frame on a cbor session', async () => {
    const c = await open(r.url, 'cbor');
    await c.hello();
    c.sendRaw(JSON.stringify([16, 1, {}, 'com.t']), false);
    await expectAbort(c, PV, PROTOCOL_ERROR);
    await by.unaffected('cbor');
  });
  for (const { name, value } of CBOR_VALUES) {
    test(`PUBLISH whose payload holds ${name}`, async () => {
      const c = await open(r.url, 'cbor');
      await c.hello();
      const head = cborEnc.encode([16, 1, { acknowledge: true }, 'com.cbor', 0]); // 0x85 ... 0x00
      c.sendRaw(Buffer.concat([head.subarray(0, head.length - 1), bytes(0x81), value]), true);
      await expectAbort(c, PV, PROTOCOL_ERROR);
      await by.unaffected('cbor');
    });
  }

  test('mutated frames (bounded count and time): normal answers or an ABORT for the sender, never an internal error', async () => {
    // xorshift32 with a fixed seed: the same frames on every run.
    let seed = 0x2545f491;
    const rand = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const bases = [
      [16, 1, { acknowledge: true, exclude_me: false }, 'com.fuzz.t', [1, 'two', [3.5, null, true], { four: Buffer.from([4]) }], { k: { n: [1, 2] } }],
      [32, 2, { match: 'prefix' }, 'com.fuzz'],
      [64, 3, { invoke: 'roundrobin' }, 'com.fuzz.p'],
      [48, 4, { timeout: 1000 }, 'com.fuzz.p', ['x'], { y: 2 ** 40 }],
    ].map((m) => cborEnc.encode(m));
    const ROUNDS = 300;
    const deadline = Date.now() + 20_000;
    const outcomes = { answered: 0, aborted: 0 };
    let c = await open(r.url, 'cbor');
    await c.hello();
    let round = 0;
    for (; round < ROUNDS && Date.now() < deadline; round++) {
      const base = bases[rand(bases.length)]!;
      let b = Buffer.from(base);
      const at = rand(b.length);
      switch (rand(4)) {
        case 0:
          b[at] = rand(256);
          break;
        case 1:
          b[at] = b[at]! ^ (1 << rand(8));
          break;
        case 2:
          b = b.subarray(0, at);
          break;
        default:
          b = Buffer.concat([b.subarray(0, at), bytes(rand(256)), b.subarray(at)]);
      }
      if (b.length === 0) continue;
      c.sendRaw(b, true);
      const sentinel = 2 ** 40 + round;
      c.send([48, sentinel, {}, 'wamp.session.count', []]);
      for (;;) {
        await c.settled();
        if (c.unread().length === 0) {
          // Closed without an ABORT: only the sender's own GOODBYE or ABORT may do that.
          const closed = await c.closed;
          assert.ok(closed.code === NORMAL, `round ${round} (${b.toString('hex')}): closed ${JSON.stringify(closed)} without an ABORT`);
          break;
        }
        const m = await c.next();
        if (m[0] === 3) {
          assert.notEqual(m[2], 'crosswire.error.internal', `round ${round} (${b.toString('hex')}): ${JSON.stringify(m)}`);
          const closed = await within(c.closed, 5000, 'the close after ABORT');
          assert.ok([NORMAL, PROTOCOL_ERROR].includes(closed.code), `round ${round} (${b.toString('hex')}): close ${JSON.stringify(closed)}`);
          outcomes.aborted++;
          break;
        }
        if (m[0] === 6) {
          c.ws.close(); // the mutated frame was a GOODBYE
          break;
        }
        if (m[0] === 50 && m[1] === sentinel) {
          outcomes.answered++;
          break;
        }
      }
      if (c.ws.readyState !== WebSocket.OPEN) {
        c = await open(r.url, 'cbor');
        await c.hello();
      }
    }
    assert.ok(round >= 50, `only ${round} rounds within the time bound`);
    assert.ok(outcomes.answered > 0 && outcomes.aborted > 0, `both outcomes occur: ${JSON.stringify(outcomes)}`);
    c.ws.close();
    await by.unaffected('cbor');
  });
});

// ---- 6: a frame over max_message_size (its own router) ----------------------------------------

describe('a frame over max_message_size (1024 bytes)', () => {
  let small: TestRouter;
  const smallBy = new Bystander(() => small);
  before(async () => {
    small = await startRouter({ transport: { options: { max_message_size: 1024 } } });
    await smallBy.start();
  });
  after(async () => {
    await smallBy.stop();
    await small.stop();
  });
  for (const ser of SERIALIZERS) {
    test(`${ser}: 900 bytes pass, 2048 bytes -> close 1009 (message too big); over 2x the limit uWS drops (1006)`, async () => {
      const c = await open(small.url, ser);
      await c.hello();
      const sized = (n: number): string | Uint8Array => CODECS[ser].encode([16, 1, { acknowledge: true }, 'com.big', ['x'.repeat(n)]]);
      const ok = sized(900);
      assert.ok(ok.length > 900 && ok.length < 1024);
      c.sendRaw(ok, ser === 'msgpack');
      assert.equal((await c.next())[0], 17);
      const big = sized(2048 - (sized(1000).length - 1000));
      assert.equal(big.length, 2048);
      c.sendRaw(big, ser === 'msgpack');
      const closed = await within(c.closed, 5000, 'the router to close the connection');
      assert.deepEqual(c.unread(), []);
      assert.equal(closed.code, 1009, `close code (reason '${closed.reason}')`);
      assert.match(closed.reason, /message too big/);
      await smallBy.unaffected(ser);
      // Past uWS's own ceiling (twice the limit) the connection is dropped without a close frame.
      const d = await open(small.url, ser);
      await d.hello();
      d.sendRaw(sized(4096), ser === 'msgpack');
      assert.equal((await within(d.closed, 5000, 'the drop')).code, NO_CLOSE_FRAME);
      assert.deepEqual(d.unread(), []);
      await smallBy.unaffected(ser);
    });
  }
});

// ---- last: the router process is intact ----------------------------------------------------

for (const ser of SERIALIZERS) {
  test(`${ser}: after all of the above, a new AutobahnJS session joins and calls the bystander's procedure`, async () => {
    const c = await connect(r.url, ser);
    try {
      assert.equal(await c.session.call(ECHO, ['still here']), 'still here');
    } finally {
      await c.close();
    }
  });
}
