/**
 * The HTTP bridge path services of a `web` transport (Crossbar's "HTTP Bridge" docs and
 * crossbar/common/checkconfig.py: `publisher`, `caller`, `webhook`), Crosswire's `subscriber`
 * path service (Crossbar's MessageForwarder component, configured in place), and the HTTP
 * `reverseproxy` path service. Crossbar's keys; Crosswire's own bounds are extra keys, named in
 * docs/http-bridge.md.
 */
import { BlockList, isIP } from 'node:net';
import type { Schema } from 'convict';
import { ConfigError, isObject, section } from './section.js';
import type { SubscriberSpec } from '../shared/config/bridge-spec.js';

export type { BridgeSpec, SubscriberSpec } from '../shared/config/bridge-spec.js';

/** What the main thread checks before a request reaches the realm worker. */
export interface BridgeHttpOptions {
  /** Signed requests (Crossbar's `key`/`secret`): both set, or neither. */
  key: string | null;
  secret: string | null;
  requireTls: boolean;
  /** `require_ip` as given (for messages), and as a BlockList to check against; null: any address. */
  requireIp: string[] | null;
  allowedIps: BlockList | null;
  /** Bytes; Crossbar's 0 ("unlimited") is Crosswire's 1 MiB, Crossbar's largest allowed value. */
  postBodyLimit: number;
  /** Seconds; 0: any timestamp is accepted (replays are then remembered only MAX_SEEN deep). */
  timestampDeltaLimit: number;
  debug: boolean;
  /** Requests of this service waiting for the realm at once; more get 503. */
  maxPending: number;
}

export interface BridgePath {
  type: 'publisher' | 'caller' | 'webhook';
  path: string;
  /** Unique across the node: `<transport id><path>`. */
  key: string;
  realm: string;
  role: string;
  http: BridgeHttpOptions;
  /** caller: how long a call may take, ms (CALL.Options.timeout). */
  callTimeout: number;
  /** webhook */
  topic: string;
  successResponse: string;
  errorResponse: string;
  githubSecret: string | null;
}

export interface SubscriberPath {
  type: 'subscriber';
  path: string;
  key: string;
  realm: string;
  role: string;
  subscriptions: SubscriberSpec[];
  method: string;
  expectedCode: number | null;
  debug: boolean;
  /** Requests in flight at once, events waiting beyond them, attempts per event, ms per attempt. */
  concurrency: number;
  queueLimit: number;
  retries: number;
  timeout: number;
}

export interface ReverseProxyPath {
  type: 'reverseproxy';
  path: string;
  host: string;
  port: number;
  /** Base path on the backend, without a trailing slash. */
  basePath: string;
  forwardedPort: number;
  forwardedProto: 'http' | 'https';
}

export const MAX_POST_BODY = 1 << 20;

const restOptions = {
  debug: { doc: 'Log each request.', format: Boolean, default: false },
  key: { doc: 'Key of signed requests.', format: 'nullable-string', default: null, nullable: true },
  secret: { doc: 'Secret of signed requests.', format: 'nullable-string', default: null, nullable: true },
  require_tls: { doc: 'Refuse requests not over TLS.', format: Boolean, default: false },
  require_ip: { doc: 'Addresses or networks requests must come from.', format: '*', default: null, nullable: true },
  post_body_limit: { doc: 'Largest body, bytes (0: Crosswire caps at 1 MiB).', format: 'int', default: 0 },
  timestamp_delta_limit: { doc: 'Largest clock difference of a signed request, seconds (0: any).', format: 'int', default: 300 },
  max_pending: { doc: 'Crosswire: requests of this service waiting at once (more get 503).', format: 'int', default: 1000 },
  call_timeout: { doc: 'Crosswire (caller): ms a call may take.', format: 'int', default: 30000 },
};

const webhookOptions = {
  debug: { doc: 'Log each request.', format: Boolean, default: false },
  post_body_limit: restOptions.post_body_limit,
  topic: { doc: 'Topic the webhook is published on.', format: String, default: '' },
  success_response: { doc: 'Body of a 202 answer.', format: String, default: 'OK' },
  error_response: { doc: 'Body of a 500 answer.', format: String, default: 'NOT OK' },
  github_secret: { doc: 'GitHub webhook secret (X-Hub-Signature).', format: 'nullable-string', default: null, nullable: true },
  max_pending: restOptions.max_pending,
};

const subscriberSchema = {
  type: { doc: 'Service type.', format: ['subscriber'], default: 'subscriber' },
  id: { doc: 'Service id.', format: '*', default: null, nullable: true },
  realm: { doc: 'Realm.', format: String, default: '' },
  role: { doc: 'Role of the forwarding session.', format: String, default: '' },
  subscriptions: { doc: 'List of {topic, url, match}.', format: Array, default: [] },
  method: { doc: 'HTTP method of the forwarding requests.', format: String, default: 'POST' },
  expectedcode: { doc: 'Status a forwarding request must get (else it is retried).', format: '*', default: null, nullable: true },
  debug: { doc: 'Log each forwarding response.', format: Boolean, default: false },
  options: {
    concurrency: { doc: 'Crosswire: forwarding requests in flight at once.', format: 'int', default: 8 },
    queue_limit: { doc: 'Crosswire: events waiting beyond those (more are dropped and counted).', format: 'int', default: 1000 },
    retries: { doc: 'Crosswire: further attempts after a failed one.', format: 'int', default: 2 },
    timeout: { doc: 'Crosswire: ms per attempt.', format: 'int', default: 10000 },
  },
};

const reverseProxySchema = {
  type: { doc: 'Service type.', format: ['reverseproxy'], default: 'reverseproxy' },
  id: { doc: 'Service id.', format: '*', default: null, nullable: true },
  host: { doc: 'Backend host.', format: String, default: '' },
  port: { doc: 'Backend port.', format: 'int', default: 80 },
  path: { doc: 'Base path on the backend.', format: String, default: '' },
  forwarded_port: { doc: 'X-Forwarded-Port.', format: 'int', default: 80 },
  forwarded_proto: { doc: 'X-Forwarded-Proto.', format: ['http', 'https'], default: 'http' },
};

/** Crossbar's path services Crosswire refuses, each with what to use instead. */
export const REFUSED_WITH_ADVICE: Record<string, string> = {
  wsgi: 'Crosswire runs no Python WSGI apps: run the app in its own server (gunicorn, uvicorn) and mount it with a "reverseproxy" path service',
  cgi: 'Crosswire runs no CGI scripts: serve them from a web server and mount it with a "reverseproxy" path service',
  resource: 'Crosswire loads no Twisted Web resources: run that code as its own HTTP server and mount it with a "reverseproxy" path service',
  longpoll:
    'the WAMP long-poll transport is not implemented: every WAMP client library in use speaks WebSocket (a "websocket" path service); for plain HTTP use the "publisher" and "caller" path services',
};

function realmRole(svc: Record<string, unknown>, pp: string): { realm: string; role: string } {
  if (typeof svc.realm !== 'string' || svc.realm === '') throw new ConfigError(`${pp}.realm: is required (the realm the bridge session joins)`);
  if (typeof svc.role !== 'string' || svc.role === '') throw new ConfigError(`${pp}.role: is required (the role the bridge session joins with)`);
  return { realm: svc.realm, role: svc.role };
}

function positive(v: number, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new ConfigError(`${what}: must be an integer from 1 to ${max}`);
  return v;
}

function retries(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 100) throw new ConfigError(`${what}: must be an integer from 0 to 100`);
  return v;
}

/** `require_ip`: addresses and networks (`10.0.0.0/8`, `192.168.1.0/255.255.255.0`, `::1`, `fd00::/8`). */
export function ipList(v: unknown, pp: string): { list: string[]; block: BlockList } {
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')) {
    throw new ConfigError(`${pp}: must be a non-empty list of IP addresses or networks, e.g. ["127.0.0.1", "10.0.0.0/8"]`);
  }
  const block = new BlockList();
  for (const entry of v as string[]) {
    const [addr, bits, extra] = entry.trim().split('/');
    const family = isIP(addr!);
    if (family === 0 || extra !== undefined) throw new ConfigError(`${pp}: '${entry}' is no IP address or network`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) {
      block.addAddress(addr!, type);
      continue;
    }
    let prefix: number;
    if (family === 4 && isIP(bits) === 4) {
      // A netmask (Python's ip_network takes both forms).
      const n = bits.split('.').reduce((a, o) => a * 256 + Number(o), 0);
      const inv = 2 ** 32 - 1 - n;
      if ((inv & (inv + 1)) !== 0) throw new ConfigError(`${pp}: '${entry}' has a netmask that is not contiguous`);
      prefix = 32 - Math.log2(inv + 1);
    } else prefix = /^\d+$/.test(bits) ? Number(bits) : -1;
    if (prefix < 0 || prefix > (family === 4 ? 32 : 128)) throw new ConfigError(`${pp}: '${entry}' has an invalid prefix length`);
    block.addSubnet(addr!, prefix, type);
  }
  return { list: v as string[], block };
}

function limits(o: { post_body_limit: number; max_pending: number }, pp: string): { postBodyLimit: number; maxPending: number } {
  // checkconfig: 0 ≤ post_body_limit ≤ 2^20.
  if (!Number.isInteger(o.post_body_limit) || o.post_body_limit < 0 || o.post_body_limit > MAX_POST_BODY) {
    throw new ConfigError(`${pp}.options.post_body_limit: must be an integer from 0 to ${MAX_POST_BODY} (bytes)`);
  }
  return { postBodyLimit: o.post_body_limit === 0 ? MAX_POST_BODY : o.post_body_limit, maxPending: positive(o.max_pending, `${pp}.options.max_pending`, 1_000_000) };
}

/** A `publisher`, `caller` or `webhook` path service. */
export function bridgePath(type: 'publisher' | 'caller' | 'webhook', svc: Record<string, unknown>, pp: string, route: string, transportId: string): BridgePath {
  const { options, ...top } = svc;
  const topKeys = Object.keys(top).filter((k) => !['type', 'id', 'realm', 'role'].includes(k));
  if (topKeys.length > 0) throw new ConfigError(`${pp}.${topKeys[0]}: unknown key (a ${type} service has realm, role, options)`);
  const { realm, role } = realmRole(svc, pp);
  if (options !== undefined && !isObject(options)) throw new ConfigError(`${pp}.options: must be an object`);
  const base = { type, path: route, key: `${transportId}${route}`, realm, role };
  if (type === 'webhook') {
    if (options === undefined) throw new ConfigError(`${pp}.options: is required for a webhook (options.topic)`);
    const o = section<Record<keyof typeof webhookOptions, unknown>>(webhookOptions as Schema<Record<keyof typeof webhookOptions, unknown>>, options, `${pp}.options`) as {
      debug: boolean; post_body_limit: number; topic: string; success_response: string; error_response: string; github_secret: string | null; max_pending: number;
    };
    if (o.topic === '') throw new ConfigError(`${pp}.options.topic: is required (the topic webhooks are published on)`);
    const l = limits(o, pp);
    return {
      ...base,
      http: { key: null, secret: null, requireTls: false, requireIp: null, allowedIps: null, timestampDeltaLimit: 0, debug: o.debug, ...l },
      callTimeout: 0,
      topic: o.topic,
      successResponse: o.success_response,
      errorResponse: o.error_response,
      githubSecret: o.github_secret === '' ? null : o.github_secret,
    };
  }
  const o = section(restOptions as Schema<Record<keyof typeof restOptions, unknown>>, options ?? {}, `${pp}.options`) as unknown as {
    debug: boolean; key: string | null; secret: string | null; require_tls: boolean; require_ip: unknown; post_body_limit: number; timestamp_delta_limit: number; max_pending: number; call_timeout: number;
  };
  if ((o.key === null) !== (o.secret === null)) throw new ConfigError(`${pp}.options.${o.key === null ? 'key' : 'secret'}: signed requests need both key and secret`);
  if (!Number.isInteger(o.timestamp_delta_limit) || o.timestamp_delta_limit < 0 || o.timestamp_delta_limit > 86400) {
    throw new ConfigError(`${pp}.options.timestamp_delta_limit: must be an integer from 0 to 86400 (seconds)`);
  }
  const ips = o.require_ip === null ? null : ipList(o.require_ip, `${pp}.options.require_ip`);
  return {
    ...base,
    http: {
      key: o.key,
      secret: o.secret,
      requireTls: o.require_tls,
      requireIp: ips?.list ?? null,
      allowedIps: ips?.block ?? null,
      timestampDeltaLimit: o.timestamp_delta_limit,
      debug: o.debug,
      ...limits(o, pp),
    },
    callTimeout: type === 'caller' ? positive(o.call_timeout, `${pp}.options.call_timeout`, 3_600_000) : 0,
    topic: '',
    successResponse: '',
    errorResponse: '',
    githubSecret: null,
  };
}

/** A `subscriber` path service: forwards events of its topics to URLs. */
export function subscriberPath(svc: Record<string, unknown>, pp: string, route: string, transportId: string): SubscriberPath {
  const s = section(subscriberSchema as Schema<unknown>, svc, pp) as {
    realm: string; role: string; subscriptions: unknown[]; method: string; expectedcode: unknown; debug: boolean;
    options: { concurrency: number; queue_limit: number; retries: number; timeout: number };
  };
  const { realm, role } = realmRole(svc, pp);
  if (s.subscriptions.length === 0) throw new ConfigError(`${pp}.subscriptions: is required: a list of {"topic", "url"}`);
  const subscriptions = s.subscriptions.map((x, i): SubscriberSpec => {
    const at = `${pp}.subscriptions[${i}]`;
    if (!isObject(x)) throw new ConfigError(`${at}: must be an object with topic and url`);
    const extra = Object.keys(x).filter((k) => !['topic', 'url', 'match'].includes(k));
    if (extra.length > 0) throw new ConfigError(`${at}.${extra[0]}: unknown key (topic, url, match)`);
    if (typeof x.topic !== 'string' || x.topic === '') throw new ConfigError(`${at}.topic: is required`);
    let url: URL;
    try {
      url = new URL(String(x.url));
    } catch {
      throw new ConfigError(`${at}.url: must be an http:// or https:// URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${at}.url: must be an http:// or https:// URL`);
    const match = x.match ?? 'exact';
    if (match !== 'exact' && match !== 'prefix' && match !== 'wildcard') throw new ConfigError(`${at}.match: must be exact, prefix or wildcard`);
    return { topic: x.topic, url: url.href, match };
  });
  if (!/^[A-Z]+$/.test(s.method)) throw new ConfigError(`${pp}.method: must be an HTTP method such as POST or PUT`);
  let expectedCode: number | null = null;
  if (s.expectedcode !== null) {
    if (!Number.isInteger(s.expectedcode) || (s.expectedcode as number) < 100 || (s.expectedcode as number) > 599) {
      throw new ConfigError(`${pp}.expectedcode: must be an HTTP status code`);
    }
    expectedCode = s.expectedcode as number;
  }
  const o = s.options;
  return {
    type: 'subscriber',
    path: route,
    key: `${transportId}${route}`,
    realm,
    role,
    subscriptions,
    method: s.method,
    expectedCode,
    debug: s.debug,
    concurrency: positive(o.concurrency, `${pp}.options.concurrency`, 1000),
    queueLimit: positive(o.queue_limit, `${pp}.options.queue_limit`, 1_000_000),
    retries: retries(o.retries, `${pp}.options.retries`),
    timeout: positive(o.timeout, `${pp}.options.timeout`, 3_600_000),
  };
}

/** A `reverseproxy` path service (Crossbar: host, port, path, forwarded_port, forwarded_proto). */
export function reverseProxyPath(svc: Record<string, unknown>, pp: string, route: string): ReverseProxyPath {
  const s = section(reverseProxySchema as Schema<unknown>, svc, pp) as { host: string; port: number; path: string; forwarded_port: number; forwarded_proto: 'http' | 'https' };
  if (s.host === '') throw new ConfigError(`${pp}.host: is required (the backend HTTP server)`);
  positive(s.port, `${pp}.port`, 65535);
  positive(s.forwarded_port, `${pp}.forwarded_port`, 65535);
  if (s.path !== '' && !s.path.startsWith('/')) throw new ConfigError(`${pp}.path: must start with "/" (or be empty)`);
  return { type: 'reverseproxy', path: route, host: s.host, port: s.port, basePath: s.path.replace(/\/+$/, ''), forwardedPort: s.forwarded_port, forwardedProto: s.forwarded_proto };
}
