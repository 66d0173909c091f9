import type { BridgeSpec } from '../src/shared/config/bridge-spec.js';
import { Op, type ToMainOps, type TransportInfo } from '../src/shared/ipc/protocol.js';
import type { Outbox } from '../src/shared/ipc/outbox.js';
import type { Logger } from '../src/shared/log.js';
import { MsgType } from '../src/shared/wamp/codes.js';
import { randomId } from '../src/shared/wamp/ids.js';
import { checkClientMessage, type Dict, isDict, ProtocolViolation } from '../src/shared/wamp/messages.js';
import { checkOptions } from '../src/shared/wamp/options.js';
import { Uri } from '../src/shared/wamp/uris.js';
import type { InternalOutput } from './auth/internal-caller.js';
import type { RealmServices } from './services.js';
import { Session, SessionState } from './session.js';
import { countBridgeDrop } from './stats.js';

/** An HTTP answer: status code and body (JSON text for publisher and caller). */
type Reply = (status: number, body: string) => void;

const ROLES = { publisher: { features: {} }, caller: { features: {} }, subscriber: { features: {} } };
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Crossbar's error body (crossbar/bridge/rest/common.py `_deny_request`). */
export const deny = (error: string): string => JSON.stringify({ error, args: [], kwargs: {} });
/** What Crossbar answers when something other than a WAMP error failed (its `_fail_request`). */
const RUNTIME_ERROR = JSON.stringify({ error: 'wamp.error.runtime_error', args: ['Sorry, Crosswire has encountered a problem.'], kwargs: {} });

/** The publication options Crossbar's HTTP publisher passes on (PublishOptions); acknowledge is always on. */
const PUBLISH_OPTIONS = ['retain', 'exclude_me', 'exclude_authid', 'exclude_authrole', 'exclude', 'eligible_authid', 'eligible_authrole', 'eligible'];

/**
 * The HTTP bridge services of this worker's realms (docs/http-bridge.md). Each is one router-internal
 * session joined to its realm with its configured role: it is authorized like any session (its
 * PUBLISH, CALL and SUBSCRIBE go through Realm.dispatch), counted in the realm's sessions (metrics)
 * and listed by the meta API. The main thread has checked each request (method, signature, address,
 * TLS, body size) and hands its body here (Op.BRIDGE); the answer goes back as Op.BRIDGE_REPLY.
 */
export class Bridges {
  readonly #services = new Map<string, BridgeService>();

  constructor(
    specs: BridgeSpec[],
    realms: Map<string, RealmServices>,
    out: InternalOutput,
    readonly outbox: Outbox<ToMainOps>,
    log: Logger,
  ) {
    for (const spec of specs) {
      const realm = realms.get(spec.realm);
      if (realm === undefined) continue; // another worker's realm
      this.#services.set(spec.key, new BridgeService(spec, realm, out, log.child({ bridge: spec.key })));
    }
  }

  start(): void {
    for (const s of this.#services.values()) s.start();
  }

  request(reqId: number, key: string, body: Uint8Array, headers: Record<string, string[]> | null): void {
    const reply: Reply = (status, text) => this.outbox.push4(Op.BRIDGE_REPLY, reqId, status, text);
    const s = this.#services.get(key);
    if (s === undefined) return reply(500, RUNTIME_ERROR);
    try {
      s.request(body, headers, reply);
    } catch (err) {
      s.log.error({ err }, 'HTTP bridge request failed');
      reply(500, RUNTIME_ERROR);
    }
  }
}

class BridgeService {
  #session: Session | null = null;
  #pending = new Map<number, (msg: unknown[]) => void>();
  #nextRequest = 1;
  readonly #connId: number;
  readonly #transport: TransportInfo;
  readonly #forwarder: Forwarder | null;
  /** Subscriber: the URLs of each subscription id (two entries on one topic share its subscription). */
  #urls = new Map<number, string[]>();

  constructor(
    readonly spec: BridgeSpec,
    readonly realm: RealmServices,
    out: InternalOutput,
    readonly log: Logger,
  ) {
    this.#connId = out.attach((msg) => this.#answer(msg));
    const [transportId] = spec.key.split('/');
    this.#transport = { type: 'http', serIndex: -1, transportId: transportId!, authKey: 'internal', serializer: 'none', peer: `http-bridge:${spec.kind}`, cookieAnonAuthid: null, cookieAuth: null, secure: false, tls: null, component: null };
    this.#forwarder = spec.kind === 'subscriber' ? new Forwarder(spec, log) : null;
  }

  start(): void {
    if (this.spec.kind === 'subscriber') this.#join();
  }

  /** The service's session, joined now if it has none (first use, or after a meta kill). */
  #join(): Session | null {
    const cur = this.#session;
    if (cur !== null && cur.state === SessionState.ESTABLISHED) return cur;
    if (this.realm.draining) return null;
    const permissions = this.realm.roles.get(this.spec.role);
    if (permissions === undefined) return null; // checked at startup (config/load.ts)
    let id = randomId();
    while (this.realm.sessions.has(id)) id = randomId();
    const s = new Session(id, this.#connId, this.realm, this.spec.key, this.spec.role, 'trusted', 'crosswire', permissions, ROLES, this.#transport);
    this.#session = s;
    this.realm.sessions.set(id, s);
    if (this.realm.broker.backplane !== null) this.realm.broker.backplane.sessionsChanged();
    if (this.realm.metaApi && this.realm.broker.hasSubscribers('wamp.session.on_join')) this.realm.broker.publishInternal('wamp.session.on_join', [s.details()]);
    this.log.debug({ session: id, realm: this.realm.name, role: this.spec.role }, 'HTTP bridge session joined');
    if (this.spec.kind === 'subscriber') {
      for (const sub of this.spec.subscriptions) {
        const req = this.#nextRequest++;
        this.#pending.set(req, (msg) => {
          if (msg[0] === MsgType.SUBSCRIBED) {
            const urls = this.#urls.get(msg[2] as number);
            if (urls === undefined) this.#urls.set(msg[2] as number, [sub.url]);
            else if (!urls.includes(sub.url)) urls.push(sub.url);
          }
          else this.log.error({ topic: sub.topic, error: msg[4], details: msg[3] }, 'HTTP bridge subscriber cannot subscribe');
        });
        this.realm.dispatch(s, [MsgType.SUBSCRIBE, req, sub.match === 'exact' ? {} : { match: sub.match }, sub.topic]);
      }
    }
    return s;
  }

  /** A message the realm sends to this service's session. */
  #answer(msg: unknown[]): void {
    switch (msg[0]) {
      case MsgType.EVENT: {
        const urls = this.#urls.get(msg[1] as number);
        if (urls === undefined || this.#forwarder === null) return;
        const body = JSON.stringify({ args: Array.isArray(msg[4]) ? msg[4] : [], kwargs: isDict(msg[5]) ? msg[5] : {} });
        for (const url of urls) this.#forwarder.push(url, body);
        return;
      }
      case MsgType.PUBLISHED:
      case MsgType.RESULT:
      case MsgType.SUBSCRIBED:
      case MsgType.ERROR: {
        const req = (msg[0] === MsgType.ERROR ? msg[2] : msg[1]) as number;
        const p = this.#pending.get(req);
        if (p === undefined) return;
        this.#pending.delete(req);
        p(msg);
        return;
      }
      case MsgType.GOODBYE:
        // The router ends the session (meta kill, shutdown): answer once the realm has done its part
        // of the GOODBYE (this sink is called from inside it), and join again on the next request.
        queueMicrotask(() => {
          const s = this.#session;
          if (s !== null && s.state === SessionState.SHUTTING_DOWN) this.realm.dispatch(s, [MsgType.GOODBYE, {}, Uri.GOODBYE_AND_OUT]);
          this.#lost();
        });
        return;
      case MsgType.ABORT:
        queueMicrotask(() => this.#lost());
        return;
      default:
        return; // UNSUBSCRIBED (revocation) and the like: nothing to do
    }
  }

  /** The session ended: requests still waiting for it fail; a subscriber joins again. */
  #lost(): void {
    const s = this.#session;
    if (s !== null && s.state !== SessionState.CLOSED) this.realm.end(s, false);
    this.#session = null;
    this.#urls.clear();
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p([MsgType.ERROR, 0, 0, { message: 'the HTTP bridge session was ended by the router' }, Uri.CANCELED]);
    if (this.spec.kind === 'subscriber' && !this.realm.draining) setImmediate(() => this.#join());
  }

  request(bytes: Uint8Array, headers: Record<string, string[]> | null, reply: Reply): void {
    const spec = this.spec;
    if (spec.kind === 'subscriber') return reply(405, deny('Method not accepted by the REST bridge.'));
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      return reply(400, deny('Non-decodable request body, was not UTF-8.'));
    }
    if (spec.kind === 'webhook') return this.#webhook(text, headers ?? {}, reply);
    let event: unknown;
    try {
      event = JSON.parse(text);
    } catch {
      return reply(400, deny('Request body was invalid JSON.'));
    }
    if (!isDict(event)) return reply(400, deny('Request body was valid JSON, but not well formed (must be a dict).'));
    const uriKey = spec.kind === 'publisher' ? 'topic' : 'procedure';
    if (!(uriKey in event)) return reply(400, deny(`Request body was valid JSON, but not well formed (missing key '${uriKey}').`));
    // Crossbar takes absent, null or empty args/kwargs/options as none.
    const args = event.args ?? [];
    const kwargs = event.kwargs ?? {};
    const options = event.options ?? {};
    if (!Array.isArray(args)) return reply(400, deny("Request body was valid JSON, but not well formed ('args' must be a list)."));
    if (!isDict(kwargs)) return reply(400, deny("Request body was valid JSON, but not well formed ('kwargs' must be a dict)."));
    if (!isDict(options)) return reply(400, deny("Request body was valid JSON, but not well formed ('options' must be a dict)."));
    const payload: unknown[] = [];
    if (args.length > 0 || Object.keys(kwargs).length > 0) payload.push(args);
    if (Object.keys(kwargs).length > 0) payload.push(kwargs);
    const req = this.#nextRequest++;
    let msg: unknown[];
    if (spec.kind === 'publisher') {
      const o: Dict = { acknowledge: true };
      for (const k of PUBLISH_OPTIONS) if (options[k] !== undefined && options[k] !== null) o[k] = options[k];
      msg = [MsgType.PUBLISH, req, o, event.topic, ...payload];
    } else {
      // The service's timeout, or a shorter one the request asks for (milliseconds, WAMP's call_timeout).
      const asked = options.timeout;
      const timeout = Number.isInteger(asked) && (asked as number) > 0 && (asked as number) < spec.callTimeout ? (asked as number) : spec.callTimeout;
      msg = [MsgType.CALL, req, { timeout }, event.procedure, ...payload];
    }
    // What a WebSocket client would be ABORTed for (a topic that is no string, an option of the
    // wrong type) is this request's 400: the session is shared by every request of the service.
    try {
      checkClientMessage(msg);
      checkOptions(msg[0] as number, msg[2] as Dict);
    } catch (e) {
      if (!(e instanceof ProtocolViolation)) throw e;
      return reply(400, deny(`Request body was valid JSON, but not well formed (${e.message}).`));
    }
    const s = this.#join();
    if (s === null) return reply(503, deny('The router is shutting down.'));
    this.#pending.set(req, (m) => {
      if (spec.kind === 'publisher') {
        if (m[0] === MsgType.PUBLISHED) reply(200, JSON.stringify({ id: m[2] }));
        else reply(...wampError(m));
      } else if (m[0] !== MsgType.RESULT) reply(...wampError(m));
      else reply(200, JSON.stringify(callResult(m[3], m[4])));
    });
    this.realm.dispatch(s, msg);
  }

  /** Crossbar's webhook: one positional argument, {headers: {name: [values]}, body: text}; 202 or 500. */
  #webhook(body: string, headers: Record<string, string[]>, reply: Reply): void {
    const spec = this.spec as { topic: string; successResponse: string; errorResponse: string };
    const s = this.#join();
    if (s === null) return reply(500, spec.errorResponse);
    const req = this.#nextRequest++;
    this.#pending.set(req, (msg) => {
      if (msg[0] === MsgType.PUBLISHED) return reply(202, spec.successResponse);
      this.log.error({ topic: spec.topic, error: msg[4], details: msg[3] }, 'unable to publish a webhook');
      reply(500, spec.errorResponse);
    });
    this.realm.dispatch(s, [MsgType.PUBLISH, req, { acknowledge: true }, spec.topic, [{ headers, body }]]);
  }
}

/** A WAMP ERROR as Crossbar's bridge answers it: 200 with the error URI, args and kwargs. */
function wampError(msg: unknown[]): [number, string] {
  if (msg[0] !== MsgType.ERROR) return [500, RUNTIME_ERROR];
  const args = Array.isArray(msg[5]) ? msg[5] : [];
  const details = msg[3] as Dict;
  // The router's own ERRORs carry their explanation in Details.message; say it, as autobahn's exception would.
  if (args.length === 0 && typeof details?.message === 'string') args.push(details.message);
  return [200, JSON.stringify({ error: msg[4], args, kwargs: isDict(msg[6]) ? msg[6] : {} })];
}

/**
 * A RESULT as Crossbar's caller answers it (autobahn's call() value): one positional result and no
 * keyword results is {args: [value]}; none at all is {args: [null]}; otherwise args and kwargs, each
 * where non-empty.
 */
function callResult(a: unknown, k: unknown): Dict {
  const args = Array.isArray(a) ? a : [];
  const kwargs = isDict(k) ? k : {};
  const hasKw = Object.keys(kwargs).length > 0;
  if (!hasKw && args.length <= 1) return { args: [args.length === 1 ? args[0] : null] };
  const res: Dict = {};
  if (args.length > 0) res.args = args;
  if (hasKw) res.kwargs = kwargs;
  return res;
}

/**
 * The subscriber service's HTTP side: each event becomes one request to its subscription's URL
 * (Crossbar's MessageForwarder: method, JSON body {args, kwargs}, expectedcode). At most
 * `concurrency` requests are in flight and `queueLimit` events wait; beyond that events are dropped
 * and counted (crosswire_http_bridge_events_dropped_total; logged at most once a second), so a slow or dead endpoint never holds the realm.
 * A failed attempt (network error, timeout, a status other than expectedcode, or 5xx without one)
 * is retried `retries` times with a doubling backoff from 200 ms; then the event is dropped and counted.
 */
class Forwarder {
  #queue: { url: string; body: string }[] = [];
  #head = 0;
  #inFlight = 0;
  dropped = 0;
  failed = 0;
  delivered = 0;
  #lastDropLog = 0;

  constructor(
    readonly spec: Extract<BridgeSpec, { kind: 'subscriber' }>,
    readonly log: Logger,
  ) {}

  push(url: string, body: string): void {
    if (this.#queue.length - this.#head >= this.spec.queueLimit) {
      this.dropped++;
      countBridgeDrop(this.spec.key, 'queue_full');
      const now = Date.now();
      if (now - this.#lastDropLog >= 1000) {
        this.#lastDropLog = now;
        this.log.warn({ dropped: this.dropped, queued: this.#queue.length - this.#head, url }, 'HTTP bridge subscriber: queue full, event dropped');
      }
      return;
    }
    this.#queue.push({ url, body });
    this.#pump();
  }

  #pump(): void {
    while (this.#inFlight < this.spec.concurrency && this.#head < this.#queue.length) {
      const item = this.#queue[this.#head++]!;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      this.#inFlight++;
      void this.#send(item.url, item.body).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #send(url: string, body: string): Promise<void> {
    const { method, expectedCode, retries, timeout, debug } = this.spec;
    let why = '';
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)));
      try {
        const res = await fetch(url, { method, body, headers: { 'Content-Type': 'application/json' }, signal: AbortSignal.timeout(timeout), redirect: 'manual' });
        const text = await res.text();
        if (debug) this.log.info({ url, status: res.status, body: text.slice(0, 1000) }, 'HTTP bridge subscriber: response');
        if (expectedCode !== null ? res.status === expectedCode : res.status < 500) {
          this.delivered++;
          return;
        }
        why = expectedCode !== null ? `returned ${res.status}, not the expected ${expectedCode}` : `returned ${res.status}`;
      } catch (err) {
        why = (err as Error).message;
      }
    }
    this.failed++;
    countBridgeDrop(this.spec.key, 'failed');
    this.log.warn({ url, attempts: retries + 1, reason: why }, 'HTTP bridge subscriber: event not delivered');
  }
}
