import { createHmac, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import type { BridgePath } from '../config/bridge.js';
import type { TransportConfig } from '../config/load.js';
import { Op } from '../shared/ipc/protocol.js';
import type { Logger } from '../shared/log.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from '../uws.js';
import { allMethods } from '../uws.js';
import { canonical } from './header-names.js';
import type { WorkerHandle } from '../realm-threads.js';

/** Crossbar's error body (crossbar/bridge/rest/common.py `_deny_request`; messages from its _log_categories.py). */
const deny = (error: string): string => JSON.stringify({ error, args: [], kwargs: {} });
const RUNTIME_ERROR = JSON.stringify({ error: 'wamp.error.runtime_error', args: ['Sorry, Crosswire has encountered a problem.'], kwargs: {} });

/** Signatures remembered against replay, per service; see ReplayGuard. */
const MAX_SEEN = 100_000;
/** Crossbar's timestamp format: UTC ISO-8601 with fractional seconds (`%Y-%m-%dT%H:%M:%S.%fZ`). */
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{1,6})Z$/;
/** Python's int(): optional sign, digits, surrounding blanks. */
const INTEGER = /^\s*[+-]?\d+\s*$/;

interface Pending {
  res: HttpResponse;
  aborted: boolean;
  worker: WorkerHandle;
  service: Service;
  headers: Record<string, string>;
  timer: NodeJS.Timeout;
}

interface Service {
  p: BridgePath;
  tls: boolean;
  /** The client's address (behind a TLS front, src/transport/front.ts, the socket's is not). */
  peerOf: (res: HttpResponse) => string;
  pending: number;
  replay: ReplayGuard | null;
}

/**
 * Remembers the signatures of accepted signed requests for as long as their timestamp is accepted
 * (timestamp_delta_limit), so that a captured request cannot be sent again. Crossbar checks neither
 * seq nor nonce ("FIXME" in its common.py): a replay within the window is accepted there.
 * Bounded: at most MAX_SEEN signatures; when that many are live the service answers 503 instead of
 * forgetting one. With timestamp_delta_limit 0 (any timestamp) the oldest is forgotten instead.
 */
class ReplayGuard {
  #seen = new Map<string, number>();
  constructor(readonly windowMs: number) {}

  /** 'ok' (remembered now), 'replay', or 'full'. */
  admit(signature: string, timestampMs: number, now: number): 'ok' | 'replay' | 'full' {
    const seen = this.#seen;
    const until = seen.get(signature);
    if (until !== undefined && (this.windowMs === 0 || until >= now)) return 'replay';
    if (seen.size >= MAX_SEEN) {
      if (this.windowMs > 0) for (const [k, t] of seen) if (t < now) seen.delete(k);
      if (seen.size >= MAX_SEEN) {
        if (this.windowMs > 0) return 'full';
        seen.delete(seen.keys().next().value!);
      }
    }
    seen.set(signature, this.windowMs === 0 ? Number.POSITIVE_INFINITY : timestampMs + this.windowMs);
    return 'ok';
  }
}

/**
 * The main thread's side of the HTTP bridge (docs/http-bridge.md): `publisher`, `caller` and
 * `webhook` path services on uWS. A request is checked here the way Crossbar checks it (method,
 * content type, charset, body size while the body streams in, require_ip, require_tls, the signed
 * request's key, timestamp and HMAC, and a replay check Crossbar lacks), then its body goes to the
 * realm worker of the service's realm (Op.BRIDGE), whose bridge session publishes or calls
 * (workers/bridge.ts); its answer (Op.BRIDGE_REPLY) is written here. The WebSocket path is untouched.
 */
export class HttpBridge {
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #counts = new Map<string, number>();

  constructor(
    /** The live worker of a realm (a restarted worker's handle replaces the old one). */
    readonly workerOf: (realm: string) => WorkerHandle | undefined,
    readonly log: Logger,
  ) {}

  registerMetrics(registry: Registry): void {
    const counts = this.#counts;
    let reported = new Map<string, number>();
    new Counter({
      name: 'crosswire_http_bridge_requests_total',
      help: 'HTTP bridge requests (publisher, caller, webhook path services) by service key and HTTP status.',
      labelNames: ['service', 'code'],
      registers: [registry],
      collect() {
        for (const [k, n] of counts) {
          const d = n - (reported.get(k) ?? 0);
          if (d <= 0) continue;
          const [service, code] = k.split('\0') as [string, string];
          this.inc({ service, code }, d);
        }
        reported = new Map(counts);
      },
    });
  }

  /** Requests waiting for a realm worker now (all services). */
  get pending(): number {
    return this.#pending.size;
  }

  mount(app: TemplatedApp, p: BridgePath, transport: TransportConfig, peerOf: (res: HttpResponse) => string): void {
    const svc: Service = {
      p,
      peerOf,
      tls: transport.endpoint.type === 'tcp' && transport.endpoint.tls !== null,
      pending: 0,
      replay: p.http.secret !== null ? new ReplayGuard(p.http.timestampDeltaLimit * 1000) : null,
    };
    allMethods(app, p.path, (res, req) => this.#handle(svc, res, req));
  }

  #count(svc: Service, status: number): void {
    const k = `${svc.p.key}\0${status}`;
    this.#counts.set(k, (this.#counts.get(k) ?? 0) + 1);
  }

  #write(svc: Service, res: HttpResponse, status: number, body: string, headers: Record<string, string>, close = false): void {
    this.#count(svc, status);
    if (svc.p.http.debug) this.log.info({ service: svc.p.key, status }, 'HTTP bridge answer');
    res.cork(() => {
      res.writeStatus(`${status} ${STATUS_CODES[status] ?? ''}`).writeHeader('Server', 'Crosswire');
      for (const k in headers) res.writeHeader(k, headers[k]!);
      res.end(body, close);
    });
  }

  #handle(svc: Service, res: HttpResponse, req: HttpRequest): void {
    const p = svc.p;
    const method = req.getMethod().toUpperCase();
    // Crossbar's _set_common_headers.
    const origin = req.getHeader('origin');
    const headers: Record<string, string> = {
      'Access-Control-Allow-Origin': origin === '' || origin === 'null' ? '*' : origin,
      'Access-Control-Allow-Credentials': 'true',
      'Cache-Control': 'no-store,no-cache,must-revalidate,max-age=0',
      'Content-Type': 'application/json; charset=UTF-8',
    };
    const acrh = req.getHeader('access-control-request-headers');
    if (acrh !== '') headers['Access-Control-Allow-Headers'] = acrh;
    if (method === 'OPTIONS') {
      headers.Allow = 'POST,PUT,OPTIONS';
      headers['Access-Control-Allow-Methods'] = 'POST,PUT,OPTIONS';
      return this.#write(svc, res, 200, '', headers);
    }
    if (method !== 'POST' && method !== 'PUT') {
      return this.#write(svc, res, 405, deny(`Method not accepted by the REST bridge. (${method} not allowed, only POST, PUT)`), headers, true);
    }
    const refuse = (status: number, error: string) => this.#write(svc, res, status, deny(error), headers, true);
    // Content type and charset (Crossbar: a JSON service needs application/json when a type is given; UTF-8 always).
    const ct = req.getHeader('content-type');
    const parts = ct === '' ? [] : ct.split(';').map((x) => x.trim().toLowerCase());
    if (p.type !== 'webhook' && parts.length > 0 && parts[0] !== 'application/json') {
      return refuse(400, `Non-accepted content type. (must be one of 'application/json', not '${parts[0]}')`);
    }
    const charset = parts.slice(1).find((x) => x.startsWith('charset='))?.slice(8).trim() ?? 'utf-8';
    if (charset !== 'utf-8' && charset !== 'utf8') return refuse(400, 'Non-accepted request encoding, must be UTF-8.');
    const cl = req.getHeader('content-length');
    if (cl !== '' && !/^\d+$/.test(cl)) return refuse(400, 'Malformed request to the REST bridge.');
    const limit = p.http.postBodyLimit;
    if (cl !== '' && Number(cl) > limit) return refuse(413, `Request too long. (${cl} is longer than accepted ${limit})`);
    // require_ip and require_tls, before any body is read.
    if (p.http.allowedIps !== null) {
      const addr = peerAddress(svc.peerOf(res));
      if (addr === null || !p.http.allowedIps.check(addr.addr, addr.family)) {
        this.log.info({ service: p.key, peer: addr?.addr ?? 'unix' }, 'HTTP bridge: request denied based on IP address');
        return refuse(400, 'Request denied based on IP address.');
      }
    }
    if (p.http.requireTls && !svc.tls) return refuse(400, 'Malformed request to the REST bridge.');
    // Signed requests: the query parameters are checked now, the HMAC once the body is in.
    const query = new URLSearchParams(req.getQuery() ?? '');
    const signed = this.#checkQuery(svc, query);
    if (typeof signed === 'string') return refuse(signed.startsWith('401 ') ? 401 : 400, signed.slice(4));
    const github = p.type === 'webhook' && p.githubSecret !== null ? { sha256: req.getHeader('x-hub-signature-256'), sha1: req.getHeader('x-hub-signature') } : null;
    let hookHeaders: Record<string, string[]> | null = null;
    if (p.type === 'webhook') {
      hookHeaders = {};
      req.forEach((k, v) => {
        (hookHeaders![canonical(k)] ??= []).push(v);
      });
    }
    if (svc.pending >= p.http.maxPending) {
      return refuse(503, `Too many requests waiting on this service (max_pending ${p.http.maxPending}).`);
    }
    // The body, streamed in with the limit enforced as it arrives (never more than `limit` bytes held).
    const chunks: Buffer[] = [];
    let size = 0;
    let state: 'reading' | 'done' | 'aborted' = 'reading';
    svc.pending++;
    const settle = () => {
      if (state === 'reading') svc.pending--;
    };
    res.onAborted(() => {
      settle();
      state = 'aborted';
    });
    res.onData((chunk, isLast) => {
      if (state !== 'reading') return;
      size += chunk.byteLength;
      if (size > limit) {
        settle();
        state = 'done';
        return refuse(413, `Request too long. (more than accepted ${limit})`);
      }
      chunks.push(Buffer.from(chunk.slice(0)));
      if (!isLast) return;
      settle();
      state = 'done';
      const body = new Uint8Array(size);
      let at = 0;
      for (const c of chunks) {
        body.set(c, at);
        at += c.byteLength;
      }
      if (signed !== null) {
        const expected = createHmac('sha256', p.http.secret!).update(signed.key).update(signed.timestamp).update(signed.seq).update(signed.nonce).update(body).digest('base64url');
        const given = Buffer.from(signed.signature.replace(/=+$/, ''));
        if (given.length !== expected.length || !timingSafeEqual(given, Buffer.from(expected))) {
          return refuse(401, 'REST bridge signature secret not valid.');
        }
        const verdict = svc.replay!.admit(expected, signed.timestampMs, Date.now());
        if (verdict === 'replay') return refuse(401, 'REST bridge signature was invalid (this signed request was accepted before: replays are refused).');
        if (verdict === 'full') return refuse(503, 'Too many signed requests within timestamp_delta_limit.');
      }
      if (github !== null && !githubValid(p.githubSecret!, github, body)) {
        this.log.info({ service: p.key }, 'HTTP bridge webhook: GitHub signature missing or invalid');
        return refuse(400, 'GitHub signature missing or invalid.');
      }
      this.#forward(svc, res, body, hookHeaders, headers);
    });
  }

  /**
   * The signed-request query parameters (Crossbar's order and messages): null when the service takes
   * unsigned requests, else the parts of the signature; a string "<status> <error>" refuses.
   */
  #checkQuery(svc: Service, q: URLSearchParams): { key: string; timestamp: string; seq: string; nonce: string; signature: string; timestampMs: number } | string | null {
    const h = svc.p.http;
    const secret = h.secret !== null;
    const missing = (what: string) => `400 REST bridge signature was invalid (missing mandatory field - ${what}).`;
    const key = q.get('key');
    if (key === null && secret) return missing("'key' field missing");
    const timestamp = q.get('timestamp');
    let timestampMs = 0;
    if (timestamp !== null) {
      const m = TIMESTAMP.exec(timestamp);
      timestampMs = m === null ? Number.NaN : Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, Number(`0.${m[7]}`) * 1000);
      if (Number.isNaN(timestampMs)) return `400 REST bridge signature was invalid (invalid timestamp '${timestamp}' (must be UTC/ISO-8601, e.g. '2011-10-14T16:59:51.123Z')).`;
      if (h.timestampDeltaLimit > 0 && Math.abs(timestampMs - Date.now()) > h.timestampDeltaLimit * 1000) return '400 Request expired, too old timestamp.';
    } else if (secret) return missing("signed request required, but mandatory 'timestamp' field missing");
    const seq = q.get('seq');
    if (seq !== null && !INTEGER.test(seq)) return `400 REST bridge signature was invalid (invalid sequence number '${seq}' (must be an integer)).`;
    if (seq === null && secret) return missing("'seq' field missing");
    const nonce = q.get('nonce');
    if (nonce !== null && !INTEGER.test(nonce)) return `400 REST bridge signature was invalid (invalid nonce '${nonce}' (must be an integer)).`;
    if (nonce === null && secret) return missing("'nonce' field missing");
    const signature = q.get('signature');
    if (signature === null && secret) return missing("'signature' field missing");
    if (!secret) return null;
    if (key !== h.key) return `401 REST bridge signature key not valid.`;
    return { key: key!, timestamp: timestamp!, seq: seq!, nonce: nonce!, signature: signature!, timestampMs };
  }

  #forward(svc: Service, res: HttpResponse, body: Uint8Array, hookHeaders: Record<string, string[]> | null, headers: Record<string, string>): void {
    const w = this.workerOf(svc.p.realm);
    if (w === undefined) return this.#write(svc, res, 500, RUNTIME_ERROR, headers);
    const id = this.#nextId++;
    // A backstop: the realm worker answers calls within call_timeout itself (CALL.Options.timeout).
    const ms = (svc.p.type === 'caller' ? svc.p.callTimeout : 30_000) + 5000;
    const entry: Pending = {
      res,
      aborted: false,
      worker: w,
      service: svc,
      headers,
      timer: setTimeout(() => this.reply(id, 504, deny('The realm did not answer in time.')), ms),
    };
    entry.timer.unref();
    res.onAborted(() => {
      entry.aborted = true;
    });
    svc.pending++;
    this.#pending.set(id, entry);
    w.outbox.push5(Op.BRIDGE, id, svc.p.key, body, hookHeaders);
  }

  /** A realm worker's answer (Op.BRIDGE_REPLY), or the backstop's. */
  reply(id: number, status: number, body: string): void {
    const e = this.#pending.get(id);
    if (e === undefined) return;
    this.#pending.delete(id);
    clearTimeout(e.timer);
    e.service.pending--;
    if (!e.aborted) this.#write(e.service, e.res, status, body, e.headers);
    else this.#count(e.service, status);
  }

  /** A realm worker died: the requests it held are answered (Crossbar's 500 for a router failure). */
  workerFailed(old: WorkerHandle): void {
    for (const [id, e] of [...this.#pending]) if (e.worker === old) this.reply(id, 500, RUNTIME_ERROR);
  }

  /** Shutdown: whatever still waits is answered now. */
  close(): void {
    for (const id of [...this.#pending.keys()]) this.reply(id, 503, deny('The router is shutting down.'));
  }
}

/** The client's address for require_ip (IPv4-mapped IPv6 addresses as IPv4), or null (unix socket). */
function peerAddress(text: string): { addr: string; family: 'ipv4' | 'ipv6' } | null {
  const mapped = /^(?:0{0,4}:){0,5}(?:0{0,4}:)?ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  if (mapped) return { addr: mapped[1]!, family: 'ipv4' };
  if (isIPv4(text)) return { addr: text, family: 'ipv4' };
  if (isIPv6(text)) return { addr: text, family: 'ipv6' };
  return null;
}

/**
 * GitHub's webhook signature: X-Hub-Signature-256 (`sha256=` HMAC-SHA256 of the body, what GitHub
 * recommends) when sent, else X-Hub-Signature (`sha1=` HMAC-SHA1, the only one Crossbar checks).
 */
function githubValid(secret: string, sig: { sha256: string; sha1: string }, body: Uint8Array): boolean {
  const [algo, given] = sig.sha256 !== '' ? ['sha256', sig.sha256] : ['sha1', sig.sha1];
  if (given === '') return false;
  const expected = Buffer.from(`${algo}=${createHmac(algo, secret).update(body).digest('hex')}`);
  const got = Buffer.from(given.toLowerCase());
  return got.length === expected.length && timingSafeEqual(got, expected);
}
