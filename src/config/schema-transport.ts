/**
 * The schema of listening transports: the one place their keys and defaults are declared
 * (re-exported by schema.ts). Key names, validation and defaults follow Crossbar.io's code, not
 * its docs, where the two differ (see docs/websocket.md). Object-valued keys
 * (`endpoint`, `options`, `compression`, `cookie`, `store`, `tls`) are validated by their own
 * sub-schema (transport.ts), so a misspelled key at any depth is named with its full path.
 */
import { isIP } from 'node:net';
import convict, { type Schema } from 'convict';

const MS_TIMEOUT = (v: unknown) => {
  if (!Number.isInteger(v) || (v as number) < 0) throw new Error('must be an integer number of milliseconds');
  if (v !== 0 && (v as number) < 1000) throw new Error(`is in milliseconds; ${String(v)} is too small (0 = off, or at least 1000)`);
  if ((v as number) > 2 ** 31 - 1) throw new Error(`is in milliseconds; ${String(v)} is more than a timer can wait (at most ${2 ** 31 - 1})`);
};

const intIn = (lo: number, hi: number) => (v: unknown) => {
  if (!Number.isInteger(v) || (v as number) < lo || (v as number) > hi) throw new Error(`must be an integer from ${lo} to ${hi}`);
};

/** An IP address or CIDR block (`10.0.0.0/8`, `::1`, `fd00::/8`). */
export function isAddressOrCidr(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  const [addr, bits, ...rest] = v.split('/');
  const family = isIP(addr ?? '');
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

convict.addFormats({
  'ms-timeout': { validate: MS_TIMEOUT },
  'ping-size': { validate: intIn(12, 125) },
  'window-bits': {
    validate(v: unknown) {
      if (v !== null) intIn(9, 15)(v);
    },
  },
  'request-window-bits': {
    validate(v: unknown) {
      if (v !== 0) intIn(9, 15)(v);
    },
  },
  'memory-level': {
    validate(v: unknown) {
      if (v !== null) intIn(1, 9)(v);
    },
  },
  'nullable-port': {
    validate(v: unknown) {
      if (v !== null) intIn(1, 65535)(v);
    },
  },
  'nullable-bool': {
    validate(v: unknown) {
      if (v !== null && typeof v !== 'boolean') throw new Error('must be true or false');
    },
  },
  'string-list': {
    validate(v: unknown) {
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Error('must be a list of strings');
    },
  },
  'nullable-string-list': {
    validate(v: unknown) {
      if (v !== null && (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && s !== ''))) throw new Error('must be a list of file names');
    },
  },
  'address-list': {
    validate(v: unknown) {
      if (!Array.isArray(v)) throw new Error('must be a list of IP addresses or CIDR blocks');
      for (const a of v) if (!isAddressOrCidr(a)) throw new Error(`'${String(a)}' is not an IP address or CIDR block`);
    },
  },
  'any-value': { validate() {} },
  'port-range': {
    validate(v: unknown) {
      if (v === null) return;
      if (!Array.isArray(v) || v.length !== 2 || !v.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535) || v[0] > v[1]) {
        throw new Error('must be [low, high], two TCP ports 1..65535 with low <= high');
      }
    },
  },
});

/** WebSocket `options` (Crossbar.io docs, "WebSocket Options"), plus Crosswire's own load-balancer options at the end. */
export interface WebSocketOptionsFile {
  allowed_origins: string[];
  allow_null_origin: boolean;
  external_port: number | null;
  enable_hybi10: boolean;
  enable_rfc6455: boolean;
  open_handshake_timeout: number;
  close_handshake_timeout: number;
  enable_webstatus: boolean;
  validate_utf8: boolean;
  mask_server_frames: boolean;
  require_masked_client_frames: boolean;
  apply_mask: boolean;
  max_frame_size: number;
  max_message_size: number;
  auto_fragment_size: number;
  fail_by_drop: boolean;
  echo_close_codereason: boolean;
  tcp_nodelay: boolean;
  auto_ping_interval: number;
  auto_ping_timeout: number;
  auto_ping_size: number;
  auto_ping_restart_on_any_traffic: boolean;
  enable_flash_policy: boolean;
  flash_policy: unknown;
  compression: Record<string, unknown> | null;
  require_websocket_subprotocol: boolean;
  show_server_version: boolean;
  max_connections: number;
  trusted_proxies: string[];
  max_backpressure: number;
}

/** 64 MiB: the largest max_message_size Crossbar.io accepts, and Crosswire's ceiling. */
export const MAX_MESSAGE_CEILING = 64 * 1024 * 1024;

export const websocketOptionsSchema: Schema<WebSocketOptionsFile> = {
  allowed_origins: { doc: 'Origin patterns allowed to upgrade (`*` = any characters).', format: 'string-list', default: ['*'] },
  allow_null_origin: { doc: 'Accept `Origin: null`.', format: Boolean, default: true },
  external_port: { doc: 'Public port; a Host header with another explicit port is refused (400).', format: 'nullable-port', default: null },
  enable_hybi10: { doc: 'Accept Sec-WebSocket-Version 8 (Hybi-10).', format: Boolean, default: true },
  enable_rfc6455: { doc: 'Accept Sec-WebSocket-Version 13 (RFC 6455).', format: Boolean, default: true },
  open_handshake_timeout: { doc: 'Opening handshake timeout, ms (0 = off; see docs/websocket.md for what uWS enforces).', format: 'ms-timeout', default: 0 },
  close_handshake_timeout: { doc: 'Closing handshake timeout, ms (0 = off; see docs/websocket.md for what uWS enforces).', format: 'ms-timeout', default: 0 },
  enable_webstatus: { doc: 'A plain GET gets a status page (false: 426).', format: Boolean, default: true },
  validate_utf8: { doc: 'Validate UTF-8 of text messages (uWS always does).', format: Boolean, default: true },
  mask_server_frames: { doc: 'Mask server frames (testing only; not supported: must be false).', format: Boolean, default: false },
  require_masked_client_frames: { doc: 'Require masked client frames (uWS always does: must be true).', format: Boolean, default: true },
  apply_mask: { doc: 'Apply frame masks (must be true).', format: Boolean, default: true },
  max_frame_size: { doc: 'Largest incoming frame, bytes (0 = unlimited); uWS reassembles, so it bounds messages.', format: 'nat', default: 0 },
  max_message_size: {
    doc: 'Largest incoming WebSocket message in bytes (1..64 MiB; 0 = 64 MiB). Larger: close 1009.',
    format: 'message-size',
    default: 16 * 1024 * 1024,
  },
  auto_fragment_size: { doc: 'Split outgoing messages into frames of at most this many bytes (0 = off).', format: 'nat', default: 0 },
  fail_by_drop: { doc: 'Fail connections by dropping TCP instead of a close handshake.', format: Boolean, default: false },
  echo_close_codereason: { doc: "Echo the peer's close code and reason (uWS always echoes).", format: Boolean, default: false },
  tcp_nodelay: { doc: 'TCP_NODELAY on accepted sockets (uWS always sets it: must be true).', format: Boolean, default: true },
  auto_ping_interval: { doc: 'Send a WebSocket ping every N ms (0 = off).', format: 'ms-timeout', default: 0 },
  auto_ping_timeout: { doc: 'Drop the connection when no pong arrives within N ms (0 = off).', format: 'ms-timeout', default: 0 },
  auto_ping_size: { doc: 'Ping payload bytes, 12..125.', format: 'ping-size', default: 12 },
  auto_ping_restart_on_any_traffic: { doc: 'Any incoming traffic counts as a pong and restarts the ping interval.', format: Boolean, default: true },
  enable_flash_policy: { doc: 'Flash socket policy (not supported: must be false).', format: Boolean, default: false },
  flash_policy: { doc: 'Flash socket policy file (not supported: must be absent).', format: 'any-value', default: null, nullable: true },
  compression: { doc: 'permessage-deflate: {"deflate": {...}}.', format: Object, default: null, nullable: true },
  require_websocket_subprotocol: { doc: 'Refuse (400) upgrades without a WAMP subprotocol; false: assume JSON.', format: Boolean, default: true },
  show_server_version: { doc: 'Server header carries the version.', format: Boolean, default: false },
  max_connections: { doc: 'Crosswire: most WebSocket connections on this transport (0 = unlimited); past it HTTP 503.', format: 'nat', default: 0 },
  trusted_proxies: { doc: 'Crosswire: proxies (IP or CIDR) whose X-Forwarded-For is believed.', format: 'address-list', default: [] },
  max_backpressure: {
    doc: 'Crosswire: per-connection send buffer, bytes; a consumer past it is closed (1008).',
    format: 'nat',
    default: 16 * 1024 * 1024,
  },
};

/** `options.compression.deflate` (Crossbar.io docs, "WebSocket Compression"; the defaults of Crossbar's code, not of its docs). */
export interface DeflateFile {
  request_no_context_takeover: boolean;
  request_max_window_bits: number;
  no_context_takeover: boolean | null;
  max_window_bits: number | null;
  memory_level: number | null;
}

export const deflateSchema: Schema<DeflateFile> = {
  request_no_context_takeover: { doc: 'Ask the client to reset its context per message.', format: Boolean, default: false },
  request_max_window_bits: { doc: "Ask the client's window bits (9..15; 0 = do not ask).", format: 'request-window-bits', default: 0 },
  no_context_takeover: { doc: 'Reset our compression context per message.', format: 'nullable-bool', default: null, nullable: true },
  max_window_bits: { doc: 'Our compression window bits, 9..15 (default 15).', format: 'window-bits', default: null, nullable: true },
  memory_level: { doc: 'zlib memLevel 1..9 of our compressor (default 8).', format: 'memory-level', default: null, nullable: true },
};

export interface TcpEndpointFile {
  type: 'tcp';
  port: number | string | null;
  portrange: [number, number] | null;
  interface: string;
  version: 4 | 6;
  backlog: number | null;
  shared: boolean;
  user_timeout: number | null;
  tls: Record<string, unknown> | null;
}

export const tcpEndpointSchema: Schema<TcpEndpointFile> = {
  type: { doc: 'Endpoint type.', format: ['tcp'], default: 'tcp' },
  port: { doc: 'TCP port, or "$VARNAME" to read it from the environment.', format: 'port-or-env', default: null },
  portrange: { doc: 'Listen on the first free port of [low, high] (instead of port).', format: 'port-range', default: null, nullable: true },
  interface: { doc: 'Listening interface ("" = all).', format: String, default: '' },
  version: { doc: 'IP version.', format: [4, 6], default: 4 },
  backlog: { doc: 'Listen backlog (accept queue): applied where Node.js listens (rawsocket, universal, TLS with ca_certificates); uWS always uses 512.', format: 'nullable-port', default: null, nullable: true },
  shared: { doc: 'SO_REUSEPORT: other processes may listen on the same port and share its connections (false: the port is exclusive).', format: Boolean, default: false },
  user_timeout: { doc: 'TCP_USER_TIMEOUT (not available in uWS: must be absent).', format: 'any-value', default: null, nullable: true },
  tls: { doc: 'TLS: key, certificate, chain_certificates, ca_certificates, dhparam, ciphers.', format: Object, default: null, nullable: true },
};

export interface UnixEndpointFile {
  type: 'unix';
  path: string;
  backlog: number | null;
}

export const unixEndpointSchema: Schema<UnixEndpointFile> = {
  type: { doc: 'Endpoint type.', format: ['unix'], default: 'unix' },
  path: { doc: 'Unix socket path (an existing socket file is replaced).', format: 'non-empty-string', default: '' },
  backlog: { doc: 'Listen backlog (accept queue): applied where Node.js listens (rawsocket, universal, TLS with ca_certificates); uWS always uses 512.', format: 'nullable-port', default: null, nullable: true },
};

/** Crossbar's default cipher list for listening TLS endpoints (crossbar's src/crossbar/common/twisted/endpoint.py). */
export const CROSSBAR_CIPHERS =
  'ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA256:DHE-RSA-AES128-SHA256:ECDHE-RSA-AES128-SHA:DHE-RSA-AES128-SHA';

export interface TlsFile {
  key: string;
  certificate: string;
  chain_certificates: string[] | null;
  ca_certificates: string[] | null;
  dhparam: string | null;
  ciphers: string | null;
}

export const tlsSchema: Schema<TlsFile> = {
  key: { doc: 'Server private key (PEM file).', format: 'non-empty-string', default: '' },
  certificate: { doc: 'Server certificate (PEM file).', format: 'non-empty-string', default: '' },
  chain_certificates: { doc: 'Intermediate certificates (PEM files).', format: 'nullable-string-list', default: null, nullable: true },
  ca_certificates: { doc: 'CAs a client certificate must chain to: with them, a client without one fails the TLS handshake (as in Crossbar).', format: 'nullable-string-list', default: null, nullable: true },
  dhparam: { doc: 'DH parameters (PEM file).', format: 'nullable-string', default: null, nullable: true },
  ciphers: { doc: 'OpenSSL cipher list (default: Crossbar.io\'s).', format: 'nullable-string', default: null, nullable: true },
};

export interface CookieFile {
  name: string;
  length: number;
  max_age: number;
  store: Record<string, unknown> | null;
  secure: boolean;
  http_strict: boolean;
  same_site: 'Strict' | 'Lax' | 'None' | null;
  max_anonymous: number;
  max_per_principal: number;
}

export const cookieSchema: Schema<CookieFile> = {
  name: { doc: 'Cookie name, ^[a-z][a-z0-9_]+$.', format: 'cookie-name', default: 'cbtid' },
  length: { doc: 'Length of the random cookie id, 6..64.', format: 'cookie-length', default: 24 },
  max_age: { doc: 'Cookie max-age, seconds (1..311040000); code default 7 days, not the docs\' 1 day.', format: 'cookie-max-age', default: 604800 },
  store: { doc: 'Cookie store: {"type": "memory" | "file" | "database", ...} (default memory).', format: Object, default: null, nullable: true },
  secure: { doc: 'Append ;Secure.', format: Boolean, default: false },
  http_strict: { doc: 'Append ;HttpOnly.', format: Boolean, default: false },
  same_site: { doc: 'Append ;SameSite=<value>.', format: ['Strict', 'Lax', 'None', null], default: null, nullable: true },
  max_anonymous: { doc: 'Crosswire: issued cookies that authenticate nobody, remembered in memory at most (oldest forgotten first).', format: 'positive-int', default: 10_000 },
  max_per_principal: { doc: 'Crosswire: stored cookies of one principal (realm, authid) at most (the least recently logged in with forgets its login).', format: 'positive-int', default: 100 },
};

convict.addFormats({
  'cookie-name': {
    validate(v: unknown) {
      if (typeof v !== 'string' || !/^[a-z][a-z0-9_]+$/.test(v)) throw new Error('must match ^[a-z][a-z0-9_]+$');
    },
  },
  'cookie-length': { validate: intIn(6, 64) },
  'cookie-max-age': { validate: intIn(1, 311040000) },
});

export interface CookieStoreFile {
  type: 'memory' | 'file' | 'database' | 'nats';
  filename: string | null;
  bucket: string | null;
  path: string | null;
  purge_on_startup: boolean;
  maxsize: number;
  readonly: boolean;
  sync: boolean;
}

export const cookieStoreSchema: Schema<CookieStoreFile> = {
  type: { doc: 'memory, file (JSON lines), database (LMDB) or nats (a JetStream key-value bucket shared by the nodes of a cluster).', format: ['memory', 'file', 'database', 'nats'], default: 'memory' },
  bucket: { doc: 'nats store: the key-value bucket (default crosswire-cookies).', format: 'nullable-string', default: null, nullable: true },
  filename: { doc: 'file store: the JSON-lines file.', format: 'nullable-string', default: null, nullable: true },
  path: { doc: 'database store: the LMDB directory.', format: 'nullable-string', default: null, nullable: true },
  purge_on_startup: { doc: 'Forget every cookie at startup.', format: Boolean, default: false },
  maxsize: { doc: 'database store: map size; nats store: the bucket size; bytes (128 KiB..128 GiB).', format: 'db-maxsize', default: 1024 * 1024 * 1024 },
  readonly: { doc: 'database store: open read-only.', format: Boolean, default: false },
  sync: { doc: 'database store: fsync every write.', format: Boolean, default: true },
};

convict.addFormats({
  'db-maxsize': { validate: intIn(128 * 1024, 128 * 1024 * 1024 * 1024) },
});
