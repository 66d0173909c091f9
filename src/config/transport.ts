/**
 * Resolves one listening transport of the config file into the TransportConfig Crosswire runs:
 * every sub-object validated by its own schema (so an unknown key is named with its full path),
 * Crossbar's value rules applied, and every value uWebSockets.js cannot honour refused by name.
 */
import { resolve } from 'node:path';
import type { ClusterConfig, TransportAuth } from '../shared/ipc/protocol.js';
import type { SerializerName } from '../shared/serializers/index.js';
import {
  CROSSBAR_CIPHERS,
  type CookieFile,
  type CookieStoreFile,
  cookieSchema,
  cookieStoreSchema,
  type DeflateFile,
  deflateSchema,
  MAX_MESSAGE_CEILING,
  type TcpEndpointFile,
  type TlsFile,
  tcpEndpointSchema,
  tlsSchema,
  type UnixEndpointFile,
  unixEndpointSchema,
  type WebSocketOptionsFile,
  websocketOptionsSchema,
} from './schema-transport.js';
import { ConfigError, isObject, section } from './section.js';
import type { BridgePath, ReverseProxyPath, SubscriberPath } from './bridge.js';

export interface TlsConfig {
  key: string;
  certificate: string;
  chainCertificates: string[];
  caCertificates: string[];
  ciphers: string;
  /**
   * The DH parameters file (resolved), or null. Applied where Node.js terminates the TLS
   * (nodeListens in load.ts); uWebSockets.js's BoringSSL has no DHE, so there it is only checked.
   */
  dhparam: string | null;
}

/**
 * `backlog`: the listen accept-queue length asked (null: the listener's default). Applied where
 * Node.js listens (nodeListens in load.ts); uWebSockets.js always listens with UWS_BACKLOG.
 */
export type EndpointConfig =
  | { type: 'tcp'; version: 4 | 6; portRange: readonly [number, number] | null; tls: TlsConfig | null; shared: boolean; backlog: number | null }
  | { type: 'unix'; path: string; backlog: number | null };

/** WebSocket options as Crosswire applies them (docs/websocket.md). */
export interface WsOptions {
  allowedOrigins: string[];
  allowNullOrigin: boolean;
  externalPort: number | null;
  enableHybi10: boolean;
  enableRfc6455: boolean;
  openHandshakeTimeout: number;
  closeHandshakeTimeout: number;
  enableWebstatus: boolean;
  validateUtf8: boolean;
  maxFrameSize: number;
  autoFragmentSize: number;
  failByDrop: boolean;
  echoCloseCodereason: boolean;
  autoPingInterval: number;
  autoPingTimeout: number;
  autoPingSize: number;
  autoPingRestartOnAnyTraffic: boolean;
  /** uWebSockets.js CompressOptions (compressor | decompressor); 0 = no permessage-deflate. */
  compression: number;
  requireWebsocketSubprotocol: boolean;
  showServerVersion: boolean;
  maxConnections: number;
  trustedProxies: string[];
  maxBackpressure: number;
}

export type CookieStoreConfig =
  | { type: 'memory' }
  | { type: 'file'; filename: string; purgeOnStartup: boolean }
  | { type: 'database'; path: string; purgeOnStartup: boolean; maxsize: number; readonly: boolean; sync: boolean }
  /** `nats`: the cluster's NATS link (crosswire.cluster.nats, set by load.ts); `at`: the config path, for errors. */
  | { type: 'nats'; bucket: string; purgeOnStartup: boolean; maxsize: number; maxAge: number; at: string; nats: ClusterConfig | null };

export interface CookieConfig {
  name: string;
  length: number;
  maxAge: number;
  secure: boolean;
  httpStrict: boolean;
  sameSite: 'Strict' | 'Lax' | 'None' | null;
  store: CookieStoreConfig;
  /** Issued cookies that authenticate nobody, remembered in memory at most. */
  maxAnonymous: number;
  /** Stored cookies of one principal at most. */
  maxPerPrincipal: number;
}

/** One WAMP-over-WebSocket service: a websocket transport, or a websocket path of a web transport. */
export interface WsServiceConfig {
  id: string;
  url: string | null;
  serializers: SerializerName[];
  /** Largest incoming message: min(max_message_size, max_frame_size), 0 meaning the 64 MiB ceiling. */
  maxMessageSize: number;
  ws: WsOptions;
  cookie: CookieConfig | null;
  auth: TransportAuth;
  debug: boolean;
}

/**
 * A listening transport, resolved and ready to start. A `websocket` transport is itself the
 * WebSocket service (paths null); a `web` transport has `paths` and `web`, and its own
 * WebSocket fields are unused defaults (its websocket paths carry their own).
 */
export interface TransportConfig extends WsServiceConfig {
  endpoint: EndpointConfig;
  /** tcp: interface and port (CROSSWIRE_INTERFACE/CROSSWIRE_PORT override the first transport's). */
  host: string;
  port: number;
  paths: WebPathConfig[] | null;
  web: WebOptions | null;
  /** A `rawsocket` transport's own settings (src/config/rawsocket.ts); absent on websocket and web transports. */
  rawsocket?: RawSocketOptions;
  /** A `universal` transport's RawSocket part and first-byte timeout (src/config/universal.ts); absent on the others. */
  universal?: UniversalOptions;
}

/**
 * A `web` transport's path services (src/config/web.ts), `path` services flattened: `path` is the
 * URL path ('/', '/ws', '/api/v1/push'), `at` where the service is written relative to the
 * transport's config key ('.paths.ws', '.paths.api.paths.v1.paths.push'), for error messages.
 */
export type WebPathConfig = WebPathService & { at?: string };

type WebPathService =
  | { type: 'websocket'; path: string; service: WsServiceConfig }
  | {
      type: 'static';
      path: string;
      directory: string;
      directoryListing: boolean;
      mimeTypes: Record<string, string>;
      cacheTimeout: number | null;
      defaultFile: string | null;
    }
  | { type: 'redirect'; path: string; url: string }
  | { type: 'json'; path: string; value: unknown; prettify: boolean; allowCrossOrigin: boolean; discourageCaching: boolean }
  | { type: 'nodeinfo'; path: string }
  /** Crosswire's operations endpoints as path services (the metrics issue). */
  | { type: 'metrics' | 'health' | 'ready'; path: string }
  /**
   * A `path` service (nested `paths`), after its entries: its URL path answers 404 unless its "/"
   * entry serves it (`own`), and so do URLs below it that no entry serves unless that entry is a
   * `static` or `reverseproxy` serving below (`below`).
   */
  | { type: 'path'; path: string; own: boolean; below: boolean }
  /** The HTTP bridge and the HTTP reverse proxy (src/config/bridge.ts, docs/http-bridge.md). */
  | BridgePath
  | SubscriberPath
  | ReverseProxyPath;

/** A `web` transport's options (src/config/web.ts). */
export interface WebOptions {
  accessLog: boolean;
  hsts: boolean;
  hstsMaxAge: number;
}

/** A `universal` transport's own settings (src/config/universal.ts). */
export interface UniversalOptions {
  /** The RawSocket part (its endpoint is the universal transport's), or null: 0x7F connections are closed. */
  rawsocket: TransportConfig | null;
  /** ms a client has to send its first byte (the rawsocket part's options.handshake_timeout; 0 = no limit). */
  firstByteTimeout: number;
  /** The paths (as `paths`' `path`, e.g. '/ws') that came from the `websocket` part, not from `web.paths`: for naming config keys. */
  websocketPaths: readonly string[];
}

/** What a RawSocket transport runs with (beside the fields every TransportConfig has). */
export interface RawSocketOptions {
  /** Largest incoming message (max_message_size). */
  maxMessageSize: number;
  /** The length exponent L announced in the handshake: 2^(9+L) <= maxMessageSize. */
  lengthExponent: number;
  maxConnections: number;
  handshakeTimeout: number;
}

const isPort = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535;

/** uWebSockets.js's listen backlog, fixed in uSockets (`listen(fd, 512)`). */
export const UWS_BACKLOG = 512;

function refuse(path: string, message: string): never {
  throw new ConfigError(`${path}: ${message}`);
}

function tcpEndpoint(value: Record<string, unknown>, path: string, env: NodeJS.ProcessEnv, baseDir: string) {
  const e = section<TcpEndpointFile>(tcpEndpointSchema, value, path);
  if (e.user_timeout !== null) refuse(`${path}.user_timeout`, 'uWebSockets.js cannot set TCP_USER_TIMEOUT');
  let port = e.port;
  if (port === null && e.portrange === null) refuse(`${path}.port`, 'is required: a TCP port 0..65535 or "$VARNAME" (or give portrange)');
  if (port !== null && e.portrange !== null) refuse(`${path}.portrange`, 'give either port or portrange, not both');
  if (typeof port === 'string') {
    const raw = env[port.slice(1)];
    const n = raw === undefined ? Number.NaN : Number(raw);
    if (!isPort(n)) refuse(`${path}.port`, `environment variable ${port.slice(1)} must hold a TCP port, got ${raw === undefined ? 'nothing' : `'${raw}'`}`);
    port = n;
  }
  const tls = e.tls === null ? null : tlsConfig(e.tls, `${path}.tls`, baseDir);
  if (tls !== null && e.version === 6) refuse(`${path}.version`, 'TLS over IPv6 is not implemented (as in Crossbar.io)');
  const host = e.interface !== '' ? e.interface : e.version === 6 ? '::' : '0.0.0.0';
  const endpoint: EndpointConfig = { type: 'tcp', version: e.version, portRange: e.portrange, tls, shared: e.shared, backlog: e.backlog };
  return { endpoint, host, port: port ?? e.portrange![0] };
}

/*
 * One policy for values the socket layer cannot apply exactly: where Crosswire does what the key
 * means but not with the value asked (backlog and dhparam where uWebSockets.js listens,
 * client_timeout, the handshake timeouts in ws-service.ts), it starts and says once, naming the
 * key, the value and what applies; only a feature Crosswire does not have is refused by name.
 */

/**
 * The warning for `backlog` on a transport uWebSockets.js listens on (load.ts gives it once the
 * whole transport is known), or null when the value is what uWS applies anyway.
 */
export function backlogUnusedWarning(path: string, backlog: number | null): string | null {
  if (backlog === null || backlog === UWS_BACKLOG) return null;
  return (
    `${path}: ${backlog} is not applied: uWebSockets.js always listens with a backlog of ${UWS_BACKLOG}; ` +
    'it applies where Node.js listens (rawsocket and universal transports, and those with ca_certificates)'
  );
}

function tlsConfig(value: Record<string, unknown>, path: string, baseDir: string): TlsConfig {
  const t = section<TlsFile>(tlsSchema, value, path);
  // ca_certificates: a client certificate is required (Crossbar: Twisted's CertificateOptions(verify=True,
  // caCerts=…), requireCertificate=True). uSockets cannot require one, so such a transport's TLS is
  // terminated by Node.js (src/transport/front.ts).
  const file = (f: string) => resolve(baseDir, f);
  return {
    key: file(t.key),
    certificate: file(t.certificate),
    chainCertificates: (t.chain_certificates ?? []).map(file),
    caCertificates: (t.ca_certificates ?? []).map(file),
    ciphers: t.ciphers ?? CROSSBAR_CIPHERS,
    dhparam: t.dhparam === null ? null : file(t.dhparam),
  };
}

/**
 * The warning for `dhparam` on a transport whose TLS uWebSockets.js terminates (load.ts gives it
 * once the whole transport is known): BoringSSL has no finite-field DHE suites, so the parameters
 * could only be loaded and never used. ECDHE suites (Crossbar's default list starts with them) are.
 */
export function dhparamUnusedWarning(path: string, asked: string): string {
  return (
    `${path}: '${asked}' is not used: uWebSockets.js's TLS library (BoringSSL) has no DHE key exchange, ` +
    'so the ECDHE suites of the cipher list apply (forward secrecy as with DHE); it applies where Node.js terminates the TLS ' +
    '(rawsocket and universal transports, and those with ca_certificates)'
  );
}

/**
 * Whether a transport terminates TLS in Node (src/transport/front.ts TlsFront) rather than in uWS:
 * when it must require a client certificate (ca_certificates, as Crossbar) or authenticates by one
 * (auth.tls). Every other TLS transport keeps uWS's TLS, which is cheaper (bench/tls-front.ts
 * measures the difference); on it, cryptosign's tls-unique channel binding is not available (the
 * Finished messages are not exposed), and a client asking for it is told so.
 */
export function frontNeeded(t: TransportConfig, auths: { tls?: unknown }[]): boolean {
  const ep = t.endpoint;
  if (ep.type !== 'tcp' || ep.tls === null) return false;
  return ep.tls.caCertificates.length > 0 || auths.some((a) => a.tls !== undefined);
}

/** net.Server's `reusePort` listen option (SO_REUSEPORT): Node.js 22.12+ and 23.1+ (nodejs/node#55408). */
export function reusePortSupported(version: string = process.versions.node): boolean {
  const [major, minor] = version.split('.').map(Number) as [number, number];
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** The listening endpoint of a transport: `tcp` (with optional `tls`) or `unix`. */
export function endpoint(
  value: unknown,
  path: string,
  env: NodeJS.ProcessEnv,
  baseDir: string,
): { endpoint: EndpointConfig; host: string; port: number } {
  if (!isObject(value)) refuse(path, 'is required: {"type": "tcp", "port": ...} or {"type": "unix", "path": ...}');
  const type = value.type ?? 'tcp';
  if (type === 'tcp') return tcpEndpoint(value, path, env, baseDir);
  if (type === 'unix') {
    const u = section<UnixEndpointFile>(unixEndpointSchema, value, path);
    const p = resolve(baseDir, u.path);
    return { endpoint: { type: 'unix', path: p, backlog: u.backlog }, host: p, port: -1 };
  }
  if (type === 'twisted' || type === 'onion') refuse(`${path}.type`, `'${type}' endpoints are not implemented (tcp, unix are)`);
  return refuse(`${path}.type`, `must be one of "tcp", "unix", got '${String(type)}'`);
}

/**
 * uWebSockets.js CompressOptions for a Crossbar `deflate` config. The compressor byte is
 * windowBits << 4 | memLevel and the decompressor nibble is windowBits << 8 (uWS's
 * DEDICATED_* constants are exactly these); 1 and 1 << 8 are the shared (no context
 * takeover) variants. uWS then negotiates with the client's offer in the handshake.
 */
export function deflateFlags(d: DeflateFile): number {
  const SHARED_COMPRESSOR = 1;
  const SHARED_DECOMPRESSOR = 1 << 8;
  const compressor = d.no_context_takeover === true ? SHARED_COMPRESSOR : ((d.max_window_bits ?? 15) << 4) | (d.memory_level ?? 8);
  const decompressor = d.request_no_context_takeover ? SHARED_DECOMPRESSOR : (d.request_max_window_bits === 0 ? 15 : d.request_max_window_bits) << 8;
  return compressor | decompressor;
}

function compression(value: Record<string, unknown> | null, path: string): number {
  if (value === null) return 0;
  for (const k of Object.keys(value)) if (k !== 'deflate') refuse(`${path}.${k}`, "unknown compression (only 'deflate', permessage-deflate, exists)");
  if (value.deflate === undefined) return 0;
  return deflateFlags(section<DeflateFile>(deflateSchema, value.deflate, `${path}.deflate`));
}

/** WebSocket `options`: Crossbar's keys and defaults; refused where uWS cannot do what is asked. */
export function wsOptions(value: unknown, path: string): { ws: WsOptions; maxMessageSize: number } {
  const o = section<WebSocketOptionsFile>(websocketOptionsSchema, value ?? {}, path);
  const must = (key: keyof WebSocketOptionsFile, want: unknown, why: string) => {
    if (o[key] !== want) refuse(`${path}.${key}`, `${why}; only ${JSON.stringify(want)} is possible`);
  };
  must('mask_server_frames', false, 'uWebSockets.js never masks server frames');
  must('require_masked_client_frames', true, 'uWebSockets.js always requires masked client frames');
  must('apply_mask', true, 'uWebSockets.js always applies masks');
  must('tcp_nodelay', true, 'uWebSockets.js always sets TCP_NODELAY on accepted sockets');
  must('enable_flash_policy', false, 'Flash policy serving is not implemented');
  if (o.flash_policy !== null) refuse(`${path}.flash_policy`, 'Flash policy serving is not implemented');
  if (!o.enable_hybi10 && !o.enable_rfc6455) refuse(`${path}.enable_rfc6455`, 'with enable_hybi10 also false no client could connect');
  if (o.auto_ping_timeout > 0 && o.auto_ping_interval === 0) {
    refuse(`${path}.auto_ping_timeout`, 'needs auto_ping_interval (a timeout waits for the pong of a ping that is never sent)');
  }
  if (o.max_backpressure < 1024) refuse(`${path}.max_backpressure`, 'must be at least 1024 bytes');
  const limits = [o.max_message_size === 0 ? MAX_MESSAGE_CEILING : o.max_message_size];
  if (o.max_frame_size > 0) limits.push(Math.min(o.max_frame_size, MAX_MESSAGE_CEILING));
  const ws: WsOptions = {
    allowedOrigins: o.allowed_origins,
    allowNullOrigin: o.allow_null_origin,
    externalPort: o.external_port,
    enableHybi10: o.enable_hybi10,
    enableRfc6455: o.enable_rfc6455,
    openHandshakeTimeout: o.open_handshake_timeout,
    closeHandshakeTimeout: o.close_handshake_timeout,
    enableWebstatus: o.enable_webstatus,
    validateUtf8: o.validate_utf8,
    maxFrameSize: o.max_frame_size,
    autoFragmentSize: o.auto_fragment_size,
    failByDrop: o.fail_by_drop,
    echoCloseCodereason: o.echo_close_codereason,
    autoPingInterval: o.auto_ping_interval,
    autoPingTimeout: o.auto_ping_timeout,
    autoPingSize: o.auto_ping_size,
    autoPingRestartOnAnyTraffic: o.auto_ping_restart_on_any_traffic,
    compression: compression(o.compression, `${path}.compression`),
    requireWebsocketSubprotocol: o.require_websocket_subprotocol,
    showServerVersion: o.show_server_version,
    maxConnections: o.max_connections,
    trustedProxies: o.trusted_proxies,
    maxBackpressure: o.max_backpressure,
  };
  return { ws, maxMessageSize: Math.min(...limits) };
}

/** `cookie`: Crossbar's keys; the store defaults to memory (Crossbar's code requires one). */
export function cookieConfig(value: Record<string, unknown> | null, path: string, baseDir: string): CookieConfig | null {
  if (value === null) return null;
  const c = section<CookieFile>(cookieSchema, value, path);
  const sp = `${path}.store`;
  const s = section<CookieStoreFile>(cookieStoreSchema, c.store ?? { type: 'memory' }, sp);
  const allowed: Record<CookieStoreFile['type'], string[]> = {
    memory: ['type'],
    file: ['type', 'filename', 'purge_on_startup'],
    database: ['type', 'path', 'purge_on_startup', 'maxsize', 'readonly', 'sync'],
    nats: ['type', 'bucket', 'purge_on_startup', 'maxsize'],
  };
  for (const k of Object.keys(c.store ?? {})) if (!allowed[s.type].includes(k)) refuse(`${sp}.${k}`, `not a key of a '${s.type}' cookie store`);
  let store: CookieStoreConfig;
  if (s.type === 'file') {
    if (s.filename === null || s.filename === '') refuse(`${sp}.filename`, 'is required for a file store');
    store = { type: 'file', filename: resolve(baseDir, s.filename), purgeOnStartup: s.purge_on_startup };
  } else if (s.type === 'database') {
    if (s.path === null || s.path === '') refuse(`${sp}.path`, 'is required for a database store');
    store = { type: 'database', path: resolve(baseDir, s.path), purgeOnStartup: s.purge_on_startup, maxsize: s.maxsize, readonly: s.readonly, sync: s.sync };
  } else if (s.type === 'nats') {
    const bucket = s.bucket ?? 'crosswire-cookies';
    if (!/^[-\w]+$/.test(bucket)) refuse(`${sp}.bucket`, 'a NATS bucket name is letters, digits, - and _');
    store = { type: 'nats', bucket, purgeOnStartup: s.purge_on_startup, maxsize: s.maxsize, maxAge: c.max_age, at: sp, nats: null };
  } else store = { type: 'memory' };
  return { name: c.name, length: c.length, maxAge: c.max_age, secure: c.secure, httpStrict: c.http_strict, sameSite: c.same_site, store, maxAnonymous: c.max_anonymous, maxPerPrincipal: c.max_per_principal };
}
