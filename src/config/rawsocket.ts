/**
 * `type: "rawsocket"` listening transports (Crossbar.io docs, "RawSocket Transport"): WAMP over RawSocket on a tcp (with
 * optional tls) or unix endpoint. Crossbar's keys: `id`, `endpoint`, `serializers`,
 * `max_message_size` (top level, where Crossbar's checkconfig and docs put it) or
 * `options.max_message_size` (where Crossbar's current code reads it), `auth`, `debug`. Crosswire
 * adds three bounds under `options` (docs/rawsocket.md). `auth.tls` needs a tcp endpoint with
 * `tls.ca_certificates`, checked with the WebSocket transports' auth in load.ts (buildConfig).
 */
import type { Schema } from 'convict';
import { AuthConfigError, checkAuth } from '../shared/config/auth.js';
import type { SerializerName } from '../shared/serializers/index.js';
import { ConfigError, isObject, section } from './section.js';
import { endpoint, type TransportConfig, type WsOptions } from './transport.js';

/** 16 MiB: the largest length a RawSocket handshake can announce (2^(9+15)), Crossbar's default. */
export const RAWSOCKET_MAX_LENGTH = 1 << 24;
/** 512 bytes: the smallest length a RawSocket handshake can announce (2^9). */
export const RAWSOCKET_MIN_LENGTH = 1 << 9;

export interface RawSocketTransportFile {
  id: string | null;
  type: 'rawsocket';
  endpoint: Record<string, unknown>;
  serializers: string[];
  max_message_size: number | null;
  options: Record<string, unknown> | null;
  auth: Record<string, unknown> | null;
  debug: boolean;
}

export const rawsocketTransportSchema: Schema<RawSocketTransportFile> = {
  id: { doc: 'Transport id (default transportN).', format: 'nullable-id', default: null },
  type: { doc: 'Transport type.', format: ['rawsocket'], default: 'rawsocket' },
  endpoint: { doc: 'Listening endpoint: tcp (optionally with tls) or unix.', format: Object, default: {} },
  serializers: { doc: 'WAMP serializers a client may ask for (default: all).', format: 'serializers', default: ['cbor', 'msgpack', 'json'] },
  max_message_size: { doc: 'Largest incoming message, bytes (as options.max_message_size).', format: '*', default: null, nullable: true },
  options: { doc: 'max_message_size, and Crosswire: max_connections, max_backpressure, handshake_timeout.', format: Object, default: null, nullable: true },
  auth: { doc: 'Authentication methods (as on a websocket transport).', format: Object, default: null, nullable: true },
  debug: { doc: 'Log every WAMP message of this transport at info level.', format: Boolean, default: false },
};

export interface RawSocketOptionsFile {
  max_message_size: number;
  max_connections: number;
  max_backpressure: number;
  handshake_timeout: number;
}

export const rawsocketOptionsSchema: Schema<RawSocketOptionsFile> = {
  max_message_size: {
    doc: 'Largest incoming message, bytes (512 .. 16 MiB; announced in the handshake as the largest power of two not above it).',
    format: 'nat',
    default: RAWSOCKET_MAX_LENGTH,
  },
  max_connections: { doc: 'Crosswire: most connections on this transport (0 = unlimited); past it the handshake is answered with error 4.', format: 'nat', default: 0 },
  max_backpressure: { doc: "Crosswire: per-connection send buffer, bytes; a consumer past it is dropped.", format: 'nat', default: 16 * 1024 * 1024 },
  handshake_timeout: { doc: 'Crosswire: ms a client has to send its 4-byte handshake (0 = no limit).', format: 'ms-timeout', default: 10_000 },
};

/** The WebSocket options a RawSocket transport's connections are sent with (send.ts reads these three). */
function wsSendOptions(maxBackpressure: number): WsOptions {
  return {
    allowedOrigins: [],
    allowNullOrigin: false,
    externalPort: null,
    enableHybi10: false,
    enableRfc6455: false,
    openHandshakeTimeout: 0,
    closeHandshakeTimeout: 0,
    enableWebstatus: false,
    validateUtf8: false,
    maxFrameSize: 0,
    autoFragmentSize: 0,
    failByDrop: true,
    echoCloseCodereason: false,
    autoPingInterval: 0,
    autoPingTimeout: 0,
    autoPingSize: 12,
    autoPingRestartOnAnyTraffic: false,
    compression: 0,
    requireWebsocketSubprotocol: false,
    showServerVersion: false,
    maxConnections: 0,
    trustedProxies: [],
    maxBackpressure,
  };
}

export function rawsocketTransport(value: unknown, path: string, id: string, env: NodeJS.ProcessEnv, baseDir: string, warnings: string[]): TransportConfig {
  const t = section<RawSocketTransportFile>(rawsocketTransportSchema, value, path);
  const ep = endpoint(t.endpoint, `${path}.endpoint`, env, baseDir);
  const o = section<RawSocketOptionsFile>(rawsocketOptionsSchema, t.options ?? {}, `${path}.options`);
  let size = o.max_message_size;
  let sizeKey = `${path}.options.max_message_size`;
  if (t.max_message_size !== null) {
    if (isObject(t.options) && t.options.max_message_size !== undefined) {
      throw new ConfigError(`${path}.max_message_size: give max_message_size once (here or in options), not both`);
    }
    sizeKey = `${path}.max_message_size`;
    if (!Number.isInteger(t.max_message_size) || (t.max_message_size as number) < 1) throw new ConfigError(`${sizeKey}: must be a positive integer (bytes)`);
    size = t.max_message_size;
  }
  if (size < RAWSOCKET_MIN_LENGTH) {
    throw new ConfigError(`${sizeKey}: must be at least ${RAWSOCKET_MIN_LENGTH} bytes (the smallest length a RawSocket handshake can announce)`);
  }
  if (size > RAWSOCKET_MAX_LENGTH) {
    warnings.push(`${sizeKey}: ${size} is not applied: a RawSocket handshake announces at most 16 MiB (${RAWSOCKET_MAX_LENGTH} bytes), which applies`);
    size = RAWSOCKET_MAX_LENGTH;
  }
  if (o.max_backpressure < 1024) throw new ConfigError(`${path}.options.max_backpressure: must be at least 1024 bytes`);
  let auth: ReturnType<typeof checkAuth>;
  try {
    auth = checkAuth(t.auth, `${path}.auth`, env, warnings);
  } catch (e) {
    if (e instanceof AuthConfigError) throw new ConfigError(e.message);
    throw e;
  }
  if (auth.cookie !== undefined) throw new ConfigError(`${path}.auth.cookie: cookie authentication needs cookie tracking, which RawSocket (no HTTP) does not have`);
  return {
    id,
    url: null,
    serializers: t.serializers as SerializerName[],
    maxMessageSize: size,
    ws: wsSendOptions(o.max_backpressure),
    cookie: null,
    auth,
    debug: t.debug,
    ...ep,
    paths: null,
    web: null,
    rawsocket: {
      maxMessageSize: size,
      lengthExponent: Math.floor(Math.log2(size)) - 9,
      maxConnections: o.max_connections,
      handshakeTimeout: o.handshake_timeout,
    },
  };
}
