// A realm worker thread (workers/realm-worker.ts: realm, handlers, broker, dealer, authorizer
// gate) driven over a real MessageChannel without uWS: the test plays the main thread
// (src/router.ts), posting OPEN for a HELLO and the client's JSON frames as encoded RUN records,
// and reads what the worker posts back (WELCOME and ABORT as values, everything else as bytes
// encoded for the connection's serializer, EVENTs once per serializer for many connections).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { buildConfig, serviceAuths } from '../../src/config/load.js';
import { IpcBytes, Outbox } from '../../src/shared/ipc/outbox.js';
import { Op, type TransportInfo, type WorkerStartup } from '../../src/shared/ipc/protocol.js';
import { SERIALIZER_LIST } from '../../src/shared/serializers/index.js';
import { VERSION } from '../../src/shared/version.js';
import { CloseCode, MsgType } from '../../src/shared/wamp/codes.js';
import { Inbox } from '../helpers/wait.js';

const JSON_INDEX = SERIALIZER_LIST.findIndex((s) => s.name === 'json');
const ALL = { call: true, register: true, publish: true, subscribe: true };
const text = new TextDecoder();

/** What the worker posted for one connection, in order: a WAMP message, or its close. */
type Out = { msg: unknown[] } | { close: [code: number, reason: string] };

/** The main thread's side of one realm worker. */
class MainSide {
  readonly #worker: Worker;
  readonly #channel = new MessageChannel();
  readonly #port: MessagePort = this.#channel.port1;
  /** Client frames go as records in the batch's byte area, as src/router.ts posts them. */
  readonly #out = new Outbox(this.#port);
  readonly #bytes = new IpcBytes();
  readonly #conns = new Map<number, Inbox<Out>>();
  readonly #auth: Record<string, string>;
  #seen = new Map<number, number>();

  constructor() {
    const config = buildConfig({
      version: 2,
      workers: [
        {
          type: 'router',
          realms: [
            {
              name: 'realm1',
              roles: [
                { name: 'anonymous', permissions: [{ uri: '', match: 'prefix', allow: ALL }] },
                { name: 'reader', permissions: [{ uri: '', match: 'prefix', allow: { subscribe: true, call: true } }] },
                { name: 'gated', authorizer: 'com.example.authorize' },
              ],
            },
          ],
          transports: ['anonymous', 'reader', 'gated'].map((role, i) => ({
            id: role,
            type: 'websocket',
            endpoint: { type: 'tcp', port: 18080 + i, interface: '127.0.0.1' },
            serializers: ['json'],
            auth: { anonymous: { type: 'static', role } },
          })),
        },
      ],
    });
    const startup: WorkerStartup = {
      workerIndex: 0,
      realms: config.realms as WorkerStartup['realms'],
      logLevel: 'silent',
      logFormat: 'json',
      statsIntervalMs: 60_000,
      debugHooks: false,
      maxHeapMb: 0,
      auth: Object.fromEntries(config.transports.flatMap(serviceAuths)),
      authOptions: config.auth,
      cluster: null,
      bridges: [],
    };
    this.#auth = Object.fromEntries(Object.keys(startup.auth).map((k) => [k.split('/')[0]!, k]));
    const port2 = this.#channel.port2;
    this.#worker = new Worker(new URL('../../workers/realm-worker.js', import.meta.url), { workerData: { startup, port: port2 }, transferList: [port2] });
    this.#port.on('message', (ops: unknown[]) => this.#batch(ops));
  }

  #inbox(connId: number): Inbox<Out> {
    let box = this.#conns.get(connId);
    if (box === undefined) this.#conns.set(connId, (box = new Inbox<Out>()));
    return box;
  }

  /** Walks a batch as src/realm-threads.ts does, decoding the JSON bytes per connection. */
  #batch(ops: unknown[]): void {
    let i = 0;
    while (i < ops.length) {
      switch (ops[i]) {
        case Op.BYTES:
          this.#bytes.area(ops[i + 1] as ArrayBuffer | null);
          i += 2;
          break;
        case Op.RUN: {
          let k = ops[i + 1] as number;
          i += 2;
          while (k-- > 0) {
            const len = this.#bytes.header();
            const connId = this.#bytes.connId;
            this.#inbox(connId).push({ msg: JSON.parse(text.decode(this.#bytes.take(len))) as unknown[] });
          }
          break;
        }
        case Op.FANOUT_BYTES: {
          const connIds = ops[i + 1] as number[];
          const lens = ops[i + 2] as number[];
          i += 3;
          let json: unknown[] | null = null;
          lens.forEach((n, k) => {
            const bytes = this.#bytes.take(n);
            if (k === JSON_INDEX && n > 0) json = JSON.parse(text.decode(bytes)) as unknown[];
          });
          assert.ok(json !== null, 'an EVENT for JSON connections carries JSON bytes');
          for (const c of connIds) this.#inbox(c).push({ msg: json });
          break;
        }
        case Op.SEND:
          this.#inbox(ops[i + 1] as number).push({ msg: ops[i + 2] as unknown[] });
          i += 3;
          break;
        case Op.CLOSE:
          this.#inbox(ops[i + 1] as number).push({ close: [ops[i + 2] as number, ops[i + 3] as string] });
          i += 4;
          break;
        case Op.DETACH:
        case Op.ROUTED:
        case Op.STATS:
        case Op.ACK:
          i += 2;
          break;
        default:
          throw new Error(`unexpected op ${String(ops[i])} from the worker`);
      }
    }
  }

  /** HELLO on a new connection of the transport whose anonymous role is `role`. */
  hello(connId: number, role: string, details: Record<string, unknown>): void {
    const transport: TransportInfo = {
      type: 'websocket',
      serIndex: JSON_INDEX,
      transportId: role,
      authKey: this.#auth[role]!,
      serializer: 'json',
      peer: `127.0.0.1:${40000 + connId}`,
      cookieAnonAuthid: null,
      cookieAuth: null,
      component: null,
      secure: false,
      tls: null,
    };
    // A batch of one OPEN entry (src/shared/ipc/protocol.ts); the Outbox holds nothing (it is flushed after each send).
    this.#port.postMessage([Op.OPEN, connId, 'realm1', details, transport]);
  }

  /** Client frames as the main thread forwards them (the bytes as received, decoded by the worker), in one batch. */
  send(connId: number, ...msgs: unknown[][]): void {
    for (const msg of msgs) this.#out.pushRecord(connId, JSON.stringify(msg), msg[0] as number, -1);
    this.#out.flush();
  }

  /** The next thing the worker posted for `connId`. */
  async next(connId: number): Promise<Out> {
    const box = this.#inbox(connId);
    const n = (this.#seen.get(connId) ?? 0) + 1;
    this.#seen.set(connId, n);
    const items = await box.waitFor(n, 10_000);
    return items[n - 1]!;
  }

  async message(connId: number): Promise<unknown[]> {
    const o = await this.next(connId);
    assert.ok('msg' in o, `expected a message on connection ${connId}, got a close ${JSON.stringify(o)}`);
    return o.msg;
  }

  /** Nothing more was posted for `connId` (checked after a later answer on another connection). */
  quiet(connId: number): void {
    assert.equal(this.#inbox(connId).items.length, this.#seen.get(connId) ?? 0, `unexpected output for connection ${connId}`);
  }

  async join(connId: number, role = 'anonymous'): Promise<number> {
    const roles = { publisher: {}, subscriber: {}, caller: {}, callee: {} };
    this.hello(connId, role, { roles });
    const welcome = await this.message(connId);
    assert.equal(welcome[0], MsgType.WELCOME, JSON.stringify(welcome));
    return welcome[1] as number;
  }

  async stop(): Promise<void> {
    this.#port.close();
    await this.#worker.terminate();
  }
}

let main: MainSide;
before(() => {
  main = new MainSide();
});
after(() => main.stop());

describe('a realm worker over a MessageChannel', () => {
  test('HELLO → WELCOME with the realm, identity, router roles and agent', async () => {
    main.hello(1, 'anonymous', { roles: { subscriber: {} }, authmethods: ['anonymous'] });
    const [type, id, details] = (await main.message(1)) as [number, number, Record<string, unknown>];
    assert.equal(type, MsgType.WELCOME);
    assert.ok(Number.isSafeInteger(id) && id > 0);
    assert.equal(details.realm, 'realm1');
    assert.equal(details.authrole, 'anonymous');
    assert.equal(details.authmethod, 'anonymous');
    assert.equal(details.agent, `Crosswire-${VERSION}`);
    const roles = details.roles as { broker: { features: Record<string, boolean> }; dealer: { features: Record<string, boolean> } };
    assert.equal(roles.broker.features.pattern_based_subscription, true);
    assert.equal(roles.dealer.features.call_canceling, true);
  });

  test('a HELLO without roles is ABORTed and its connection closed 1002', async () => {
    main.hello(2, 'anonymous', {});
    const abort = await main.message(2);
    assert.deepEqual(abort, [MsgType.ABORT, { message: 'HELLO.Details.roles must be a dict' }, 'wamp.error.protocol_violation']);
    assert.deepEqual(await main.next(2), { close: [CloseCode.PROTOCOL_ERROR, 'wamp.error.protocol_violation'] });
  });

  test('SUBSCRIBE → SUBSCRIBED; PUBLISH → EVENT to the subscribers, PUBLISHED to the publisher', async () => {
    await main.join(10);
    await main.join(11);
    const pub = await main.join(12);
    main.send(10, [MsgType.SUBSCRIBE, 1, {}, 'com.example.topic']);
    main.send(11, [MsgType.SUBSCRIBE, 1, { match: 'prefix' }, 'com.example.']);
    const [t10, r10, sub10] = await main.message(10);
    const [t11, r11, sub11] = await main.message(11);
    assert.deepEqual([t10, r10, t11, r11], [MsgType.SUBSCRIBED, 1, MsgType.SUBSCRIBED, 1]);
    assert.notEqual(sub10, sub11);
    main.send(12, [MsgType.PUBLISH, 7, { acknowledge: true }, 'com.example.topic', [1, 'two'], { three: 3 }]);
    const [pt, pr, publication] = await main.message(12);
    assert.deepEqual([pt, pr], [MsgType.PUBLISHED, 7]);
    assert.deepEqual(await main.message(10), [MsgType.EVENT, sub10, publication, {}, [1, 'two'], { three: 3 }]);
    assert.deepEqual(await main.message(11), [MsgType.EVENT, sub11, publication, { topic: 'com.example.topic' }, [1, 'two'], { three: 3 }]);
    assert.ok(pub > 0);
  });

  test('REGISTER → REGISTERED; CALL → INVOCATION → YIELD → RESULT; unknown procedure → ERROR', async () => {
    await main.join(20);
    await main.join(21);
    main.send(20, [MsgType.REGISTER, 1, {}, 'com.example.add']);
    const [rt, rr, registration] = await main.message(20);
    assert.deepEqual([rt, rr], [MsgType.REGISTERED, 1]);
    main.send(21, [MsgType.CALL, 5, {}, 'com.example.add', [2, 3]]);
    const [it, invocation, reg, , args] = await main.message(20);
    assert.deepEqual([it, reg, args], [MsgType.INVOCATION, registration, [2, 3]]);
    main.send(20, [MsgType.YIELD, invocation, {}, [5]]);
    assert.deepEqual(await main.message(21), [MsgType.RESULT, 5, {}, [5]]);
    main.send(21, [MsgType.CALL, 6, {}, 'com.example.nothing_here']);
    assert.deepEqual(await main.message(21), [MsgType.ERROR, MsgType.CALL, 6, { message: "no callee registered for 'com.example.nothing_here'" }, 'wamp.error.no_such_procedure']);
  });

  test('a role without publish gets ERROR not_authorized; wamp.* cannot be registered', async () => {
    await main.join(30, 'reader');
    main.send(30, [MsgType.PUBLISH, 1, { acknowledge: true }, 'com.example.topic', []]);
    const [et, type, req, details, uri] = await main.message(30);
    assert.deepEqual([et, type, req, uri], [MsgType.ERROR, MsgType.PUBLISH, 1, 'wamp.error.not_authorized']);
    assert.match(String((details as { message: string }).message), /not authorized to publish to 'com\.example\.topic'/);
    main.send(30, [MsgType.REGISTER, 2, {}, 'wamp.session.count']);
    const [, , , , uri2] = await main.message(30);
    assert.equal(uri2, 'wamp.error.invalid_uri');
  });

  test("a protocol violation ABORTs that session only (1002); another session's calls go on", async () => {
    await main.join(40);
    await main.join(41);
    main.send(41, [MsgType.REGISTER, 1, {}, 'com.example.echo']);
    assert.equal((await main.message(41))[0], MsgType.REGISTERED);
    main.send(40, [MsgType.SUBSCRIBE, 'not an id', {}, 'com.example.topic']);
    const [at, , reason] = await main.message(40);
    assert.deepEqual([at, reason], [MsgType.ABORT, 'wamp.error.protocol_violation']);
    assert.deepEqual(await main.next(40), { close: [CloseCode.PROTOCOL_ERROR, 'wamp.error.protocol_violation'] });
    await main.join(42);
    main.send(42, [MsgType.CALL, 1, {}, 'com.example.echo', ['hi']]);
    const inv = await main.message(41);
    main.send(41, [MsgType.YIELD, inv[1], {}, inv[4]]);
    assert.deepEqual(await main.message(42), [MsgType.RESULT, 1, {}, ['hi']]);
    main.quiet(40);
  });

  test('the authorizer gate holds a request and the messages after it, in order, until the authorizer answers', async () => {
    await main.join(50); // the authorizer's callee (role anonymous: may register anything)
    main.send(50, [MsgType.REGISTER, 1, {}, 'com.example.authorize']);
    assert.equal((await main.message(50))[0], MsgType.REGISTERED);
    await main.join(51, 'gated');
    // Three requests in one batch: the first is held while the authorizer is asked, the others wait behind it.
    main.send(
      51,
      [MsgType.SUBSCRIBE, 1, {}, 'com.example.allowed'],
      [MsgType.SUBSCRIBE, 2, {}, 'com.example.denied'],
      [MsgType.PUBLISH, 3, { acknowledge: true }, 'com.example.allowed', ['x']],
    );
    const answers: [uri: string, action: string][] = [];
    for (let k = 0; k < 3; k++) {
      const [type, invocation, , , args] = (await main.message(50)) as [number, number, unknown, unknown, [Record<string, unknown>, string, string]];
      assert.equal(type, MsgType.INVOCATION);
      // The worker answers a batch with one batch: had it asked about the next request already, that INVOCATION would be here too.
      main.quiet(50);
      if (k === 0) main.quiet(51); // nothing of the session ran before its authorizer answered
      const [session, uri, action] = args;
      assert.equal(session.authrole, 'gated');
      answers.push([uri, action]);
      main.send(50, [MsgType.YIELD, invocation, {}, [uri.endsWith('.allowed')]]);
    }
    // One at a time, in the order sent: nothing of the session ran before its authorizer answered.
    assert.deepEqual(answers, [
      ['com.example.allowed', 'subscribe'],
      ['com.example.denied', 'subscribe'],
      ['com.example.allowed', 'publish'],
    ]);
    const [st, sr, sub] = await main.message(51);
    assert.deepEqual([st, sr], [MsgType.SUBSCRIBED, 1]);
    const [et, etype, ereq, , euri] = await main.message(51);
    assert.deepEqual([et, etype, ereq, euri], [MsgType.ERROR, MsgType.SUBSCRIBE, 2, 'wamp.error.not_authorized']);
    // The PUBLISH excludes its publisher (WAMP spec default): PUBLISHED only.
    const [pt, pr] = await main.message(51);
    assert.deepEqual([pt, pr], [MsgType.PUBLISHED, 3]);
    assert.ok(typeof sub === 'number');
  });
});
