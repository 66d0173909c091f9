import { parseDocument, type ScalarTag, type Tags } from 'yaml';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism, hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import convict, { type Schema } from 'convict';
import type { AuthOptions, ClusterConfig, NatsSecret, RealmConfig, RoleConfig, SessionStatsConfig } from '../shared/ipc/protocol.js';
import { checkInlineSecrets, NatsOptionError } from '../shared/nats-options.js';
import { resolveLimits } from './limits.js';
import { AuthConfigError, checkAuth, staticRoles, type TransportAuth } from '../shared/config/auth.js';
import { SERIALIZERS, type SerializerName } from '../shared/serializers/index.js';
import { isValidPattern, REALM_NAME } from '../shared/wamp/uris.js';
import {
  type ClientTls,
  type ComponentAuth,
  type ComponentConfig,
  type ConnectingTransport,
  type ContainerConfig,
  componentSchema,
  connectingTransportSchema,
  containerSchema,
  type GuestConfig,
  guestSchema,
  type PythonComponentConfig,
  pythonContainerComponentSchema,
  pythonRouterComponentSchema,
  restCalleeComponentSchema,
  type RawSocketConnectingTransport,
  rawsocketConnectingTransportSchema,
  type WorkerEnv,
} from './components.js';
import { DEFAULT_CONFIG } from './default.js';
import {
  type DynamicRoleFileConfig,
  dynamicRoleSchema,
  ID_PATTERN,
  MAX_MESSAGE_CEILING,
  type PermissionFileConfig,
  permissionSchema,
  type RealmFileConfig,
  type RoleFileConfig,
  type RouterWorkerConfig,
  realmSchema,
  roleSchema,
  routerWorkerSchema,
  type NativeWorkerOptions,
  type TopConfig,
  topSchema,
  type WebSocketTransportConfig,
  websocketTransportSchema,
} from './schema.js';
import { ConfigError, isObject, rewrite, section } from './section.js';
import { backlogUnusedWarning, cookieConfig, dhparamUnusedWarning, endpoint, frontNeeded, reusePortSupported, type TransportConfig, type WebPathConfig, type WsServiceConfig, wsOptions } from './transport.js';
import { rawsocketTransport } from './rawsocket.js';
import { universalTransport } from './universal.js';
import { configVersion, UPGRADE_HINT } from './upgrade.js';
import { webTransport } from './web.js';
import type { BridgeSpec } from './bridge.js';
import { REST_CALLEE, restCalleeOptions } from './rest-callee.js';

export { ConfigError, section } from './section.js';
export type { CookieConfig, CookieStoreConfig, EndpointConfig, TlsConfig, TransportConfig, WebOptions, WebPathConfig, WsOptions, WsServiceConfig } from './transport.js';

/** The effective, validated configuration (frozen). */
export interface RouterConfig {
  title: string | null;
  realms: RealmConfig[];
  transports: TransportConfig[];
  realmThreads: number;
  logLevel: string;
  allowUwsFallback: boolean;
  shutdownTimeout: number;
  /** ms a connection may stay without a session (0 = no limit). */
  helloTimeout: number;
  /** Keys that are accepted for compatibility but change nothing: logged at startup. */
  warnings: string[];
  containers: ContainerConfig[];
  guests: GuestConfig[];
  /** Python components of the router worker and of containers (docs/python-components.md). */
  pythonComponents: PythonComponentConfig[];
  /** crosswire.python (null: discovered at start). */
  python: string | null;
  auth: AuthOptions;
  logFormat: 'auto' | 'json' | 'pretty';
  workerMaxHeapMb: number;
  ops: OpsConfig;
  /** null: a single node (crosswire.cluster.nats.servers is empty). */
  cluster: ClusterConfig | null;
  flow: FlowConfig;
}

/** crosswire.flow (docs/flow-control.md); bytes. */
export interface FlowConfig {
  workerWindow: number;
  connectionWindow: number;
  pauseReading: boolean;
  connectionHold: number;
  holdBudget: number;
  sendBudget: number;
}

function flowConfig(f: TopConfig['crosswire']['flow']): FlowConfig {
  if (f.connection_window > f.worker_window) {
    throw new ConfigError(`crosswire.flow.connection_window: ${f.connection_window} is larger than crosswire.flow.worker_window (${f.worker_window})`);
  }
  if (f.connection_hold > f.hold_budget) {
    throw new ConfigError(`crosswire.flow.connection_hold: ${f.connection_hold} is larger than crosswire.flow.hold_budget (${f.hold_budget})`);
  }
  return {
    workerWindow: f.worker_window,
    connectionWindow: f.connection_window,
    pauseReading: f.pause_reading,
    connectionHold: f.connection_hold,
    holdBudget: f.hold_budget,
    sendBudget: f.send_budget,
  };
}

export type OpsService = 'metrics' | 'health';

/** Where GET /metrics, /health and /ready are served. */
export interface OpsConfig {
  onTransports: OpsService[];
  /** A separate listener (null: none). */
  port: number | null;
  host: string;
}

const NATS_URL = /^((nats|tls):\/\/)?([^\s/:@]+(:[^\s/@]*)?@)?(\[[0-9A-Fa-f:.]+\]|[^\s/:@[\]]+)(:\d{1,5})?$/;
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** `${VARNAME}` → the variable's value; any other string as it is. */
function envSecret(v: string | null, path: string, env: NodeJS.ProcessEnv): string | null {
  if (v === null) return null;
  const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(v);
  if (m === null) return v;
  const value = env[m[1]!];
  if (value === undefined || value === '') throw new ConfigError(`${path}: environment variable ${m[1]} is not set`);
  return value;
}

/** crosswire.cluster (docs/cluster.md): null when no NATS server is configured. */
function clusterConfig(c: TopConfig['crosswire']['cluster'], env: NodeJS.ProcessEnv, baseDir: string): ClusterConfig | null {
  const n = c.nats;
  const t = n.tls;
  const set = (['user', 'password', 'token', 'nkey', 'creds'] as const).filter((k) => n[k] !== null);
  const tlsSet = (['ca', 'cert', 'key'] as const).filter((k) => t[k] !== null).map((k) => `tls.${k}`);
  if (t.handshake_first) tlsSet.push('tls.handshake_first');
  if (n.servers.length === 0) {
    const k = [...set, ...tlsSet][0];
    if (k !== undefined) throw new ConfigError(`crosswire.cluster.nats.${k}: set, but crosswire.cluster.nats.servers is empty`);
    return null;
  }
  // One way to authenticate (NATS takes one per connection).
  const ways = (['user', 'token', 'nkey', 'creds'] as const).filter((k) => n[k] !== null || (k === 'user' && n.password !== null));
  if (ways.length > 1) {
    throw new ConfigError(`crosswire.cluster.nats.${ways[1]}: use one of user and password, token, nkey or creds, not both ${ways[0]} and ${ways[1]}`);
  }
  if ((n.user === null) !== (n.password === null)) {
    throw new ConfigError(`crosswire.cluster.nats.${n.user === null ? 'user' : 'password'}: user and password go together`);
  }
  if ((t.cert === null) !== (t.key === null)) {
    throw new ConfigError(`crosswire.cluster.nats.tls.${t.cert === null ? 'cert' : 'key'}: a client certificate and its key go together`);
  }
  // A file path, or "${VAR}": the variable holds the secret itself.
  const secret = (v: string | null, key: string): NatsSecret | null => {
    if (v === null) return null;
    if (/^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(v)) return { value: envSecret(v, key, env)! };
    if (v === '') throw new ConfigError(`${key}: is empty`);
    // Not a path: refused without echoing it (a path that cannot be read is named in errors).
    if (/^S[A-Z2-7]{50,}$/.test(v.trim()) || v.includes('-----')) {
      throw new ConfigError(`${key}: looks like a secret, not a file name: put it in a file, or in an environment variable and write "\${VARNAME}"`);
    }
    return { file: resolve(baseDir, v) };
  };
  const file = (v: string | null) => (v === null ? null : resolve(baseDir, v));
  const tlsOn = tlsSet.length > 0 || n.servers.some((s) => s.startsWith('tls://'));
  const cfg: ClusterConfig = {
    servers: [...n.servers],
    nodeId: c.node_id ?? `${hostname().replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 48) || 'node'}-${randomBytes(4).toString('hex')}`,
    user: envSecret(n.user, 'crosswire.cluster.nats.user', env),
    password: envSecret(n.password, 'crosswire.cluster.nats.password', env),
    token: envSecret(n.token, 'crosswire.cluster.nats.token', env),
    nkey: secret(n.nkey, 'crosswire.cluster.nats.nkey'),
    creds: secret(n.creds, 'crosswire.cluster.nats.creds'),
    tls: tlsOn ? { ca: file(t.ca), cert: file(t.cert), key: file(t.key), handshakeFirst: t.handshake_first } : null,
  };
  try {
    checkInlineSecrets(cfg);
  } catch (e) {
    if (e instanceof NatsOptionError) throw new ConfigError(e.message);
    throw e;
  }
  return cfg;
}

/** The largest delay setTimeout honours (a signed 32-bit millisecond count). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const isPort = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535;


convict.addFormats({
  'port-or-null': {
    validate(v: unknown) {
      if (v !== null && !isPort(v)) throw new Error('must be a TCP port 0..65535');
    },
    coerce: (v: string) => (v === '' ? null : Number(v)),
  },
  'port-or-env': {
    validate(v: unknown) {
      if (v === null || isPort(v)) return; // null: portrange, or a missing port (transport.ts says which)
      if (typeof v === 'string' && /^\$[A-Za-z_][A-Za-z0-9_]*$/.test(v)) return;
      throw new Error('is required: a TCP port 0..65535 or "$VARNAME"');
    },
  },
  'nullable-nat': {
    validate(v: unknown) {
      if (v !== null && (!Number.isInteger(v) || (v as number) < 0)) throw new Error('must be null or an integer >= 0');
    },
  },
  // Milliseconds handed to setTimeout, which fires at once for anything above 2^31 - 1.
  'timer-ms': {
    validate(v: unknown) {
      if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > MAX_TIMER_MS) throw new Error(`must be an integer number of milliseconds from 0 to ${MAX_TIMER_MS}`);
    },
    coerce: (v: string) => Number(v),
  },
  'positive-timer-ms': {
    validate(v: unknown) {
      if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > MAX_TIMER_MS) throw new Error(`must be an integer number of milliseconds from 1 to ${MAX_TIMER_MS}`);
    },
    coerce: (v: string) => Number(v),
  },
  'positive-int': {
    validate(v: unknown) {
      if (!Number.isInteger(v) || (v as number) < 1) throw new Error('must be a positive integer');
    },
    coerce: (v: string) => Number(v),
  },
  'nullable-string': {
    validate(v: unknown) {
      if (v !== null && typeof v !== 'string') throw new Error('must be a string');
    },
  },
  'non-empty-string': {
    validate(v: unknown) {
      if (typeof v !== 'string' || v === '') throw new Error('is required (a non-empty string)');
    },
  },
  'nullable-id': {
    validate(v: unknown) {
      if (v !== null && (typeof v !== 'string' || !ID_PATTERN.test(v))) throw new Error(`must match ${ID_PATTERN}`);
    },
  },
  // Router worker ids: Crossbar's id pattern, and not the node controller's own worker id
  // "controller" (crossbar/node/controller.py, start_worker).
  'nullable-router-id': {
    validate(v: unknown) {
      if (v !== null && (typeof v !== 'string' || !ID_PATTERN.test(v))) throw new Error(`must match ${ID_PATTERN}`);
      if (v === 'controller') throw new Error("'controller' is the node controller's own id");
    },
  },
  // Container and guest worker ids: Crossbar accepts any non-empty string but "controller"
  // (start_worker); checkconfig applies its id pattern only to router workers and transports.
  'nullable-worker-id': {
    validate(v: unknown) {
      if (v === null) return;
      if (typeof v !== 'string' || v === '') throw new Error('must be a non-empty string');
      if (v === 'controller') throw new Error("'controller' is the node controller's own id");
    },
  },
  // Component ids: Crossbar checks only that they are strings.
  'nullable-name': {
    validate(v: unknown) {
      if (v !== null && (typeof v !== 'string' || v === '')) throw new Error('must be a non-empty string');
    },
  },
  'env-inherit': {
    validate(v: unknown) {
      if (typeof v === 'boolean') return;
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error('must be true, false or a list of environment variable names');
    },
  },
  'realm-name': {
    validate(v: unknown) {
      if (typeof v !== 'string' || !REALM_NAME.test(v)) throw new Error(`is required and must match ${REALM_NAME}`);
    },
  },
  'nullable-ws-url': {
    validate(v: unknown) {
      if (v === null) return;
      if (typeof v !== 'string' || !/^wss?:\/\/[^/]+/.test(v)) throw new Error('must be a ws:// or wss:// URL');
    },
  },
  serializers: {
    validate(v: unknown) {
      if (!Array.isArray(v) || v.length === 0) throw new Error('must be a non-empty list');
      for (const s of v) {
        if (typeof s !== 'string' || !(s in SERIALIZERS)) {
          throw new Error(`'${String(s)}' is not a supported serializer (supported: ${Object.keys(SERIALIZERS).join(', ')})`);
        }
      }
    },
  },
  'ops-services': {
    validate(v: unknown) {
      if (!Array.isArray(v)) throw new Error('must be a list');
      for (const x of v) if (x !== 'metrics' && x !== 'health') throw new Error(`'${String(x)}' is not an operations endpoint (metrics, health)`);
    },
    coerce: (v: string) => v.split(',').map((x) => x.trim()).filter((x) => x !== ''),
  },
  'nats-servers': {
    validate(v: unknown) {
      if (!Array.isArray(v)) throw new Error('must be a list of NATS server URLs');
      for (const x of v) {
        if (typeof x !== 'string' || !NATS_URL.test(x)) throw new Error(`'${String(x)}' is not a NATS server URL (nats://host:port, tls://host:port or host:port)`);
      }
    },
    coerce: (v: string) => v.split(',').map((x) => x.trim()).filter((x) => x !== ''),
  },
  'nullable-node-id': {
    validate(v: unknown) {
      if (v !== null && (typeof v !== 'string' || !NODE_ID.test(v))) throw new Error(`must match ${NODE_ID}`);
    },
    coerce: (v: string) => (v === '' ? null : v),
  },
  'message-size': {
    validate(v: unknown) {
      if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > MAX_MESSAGE_CEILING) {
        throw new Error(`must be an integer from 0 to ${MAX_MESSAGE_CEILING} (64 MiB)`);
      }
    },
  },
});

/**
 * Crossbar's `controller` section (checkconfig.check_controller): `id` and `options.title` mean
 * something in one Crosswire process; every other key Crossbar knows is refused by name. Checked
 * here, not by convict, because convict descends into object values of custom formats.
 */
function controllerTitle(v: Record<string, unknown>): string | null {
  for (const k of Object.keys(v)) {
    if (k === 'id' || k === 'options') continue;
    if (['manhole', 'connections', 'keyring'].includes(k)) throw new ConfigError(`controller.${k}: not implemented by Crosswire`);
    throw new ConfigError(`controller.${k}: unknown key`);
  }
  if (v.id !== undefined && (typeof v.id !== 'string' || !ID_PATTERN.test(v.id))) throw new ConfigError(`controller.id: must match ${ID_PATTERN}`);
  const o = v.options ?? {};
  if (!isObject(o)) throw new ConfigError('controller.options: must be an object');
  for (const k of Object.keys(o)) {
    if (k === 'title') continue;
    if (k === 'shutdown' || k === 'enable_parallel_worker_start') throw new ConfigError(`controller.options.${k}: not implemented by Crosswire`);
    throw new ConfigError(`controller.options.${k}: unknown key`);
  }
  if (o.title !== undefined && typeof o.title !== 'string') throw new ConfigError('controller.options.title: must be a string');
  return (o.title as string | undefined) ?? null;
}

function realm(value: unknown, path: string, warnings: string[], heapMb: number): RealmConfig {
  const r = section<RealmFileConfig>(realmSchema, value, path);
  // Only a value other than the default is worth a warning (print-config writes the default out).
  if (r.options.event_dispatching_chunk_size !== 100) {
    warnings.push(`${path}.options.event_dispatching_chunk_size has no effect in Crosswire (fan-out is batched per event-loop turn)`);
  }
  const roles: RoleConfig[] = r.roles.map((role, i) => {
    const rp = `${path}.roles[${i}]`;
    if (isObject(role) && 'authorizer' in role) {
      const d = section<DynamicRoleFileConfig>(dynamicRoleSchema, role, rp);
      if (!/^([^\s.#]+\.)*([^\s.#]+)$/.test(d.authorizer)) throw new ConfigError(`${rp}.authorizer: '${d.authorizer}' is not a valid URI`);
      return {
        name: d.name,
        authorizer: d.authorizer,
        'authorizer-cache-size': d['authorizer-cache-size'],
        'authorizer-cache-ttl': d['authorizer-cache-ttl'],
      };
    }
    const rc = section<RoleFileConfig>(roleSchema, role, rp);
    return {
      name: rc.name,
      'allow-by-default': rc['allow-by-default'],
      permissions: rc.permissions.map((p, j) => {
        const pc = section<PermissionFileConfig>(permissionSchema, p, `${rp}.permissions[${j}]`);
        return { uri: pc.uri, ...(pc.match === null ? {} : { match: pc.match }), allow: pc.allow, disclose: pc.disclose };
      }),
    };
  });
  const dup = roles.find((x, i) => roles.findIndex((y) => y.name === x.name) !== i);
  if (dup) throw new ConfigError(`${path}.roles: role '${dup.name}' is defined twice`);
  return {
    name: r.name,
    roles,
    options: { uri_check: r.options.uri_check, enable_meta_api: r.options.enable_meta_api },
    ...checkStore(r.store, `${path}.store`),
    limits: resolveLimits(r.options, heapMb),
    stats: checkStats(r.stats, `${path}.stats`),
  };
}

const STATS_KEYS = ['rated_message_size', 'trigger_after_rated_messages', 'trigger_after_duration', 'trigger_on_join', 'trigger_on_leave'];
/** Longest duration trigger: Node's longest timer (2^31 - 1 ms), in nanoseconds. */
const MAX_STATS_DURATION_NS = (2 ** 31 - 1) * 1e6;

/**
 * Crossbar's realm `stats` (crossbar/router/session.py, RouterSession.onJoin: the same defaults and
 * the same assertions, checked here at load instead of at each join). `trigger_after_duration` is in
 * nanoseconds, as Crossbar hands it to Autobahn's Serializer.set_stats_autoreset.
 */
function checkStats(v: Record<string, unknown> | null, path: string): SessionStatsConfig | null {
  if (v === null) return null;
  for (const k of Object.keys(v)) if (!STATS_KEYS.includes(k)) throw new ConfigError(`${path}.${k}: unknown key`);
  const size = v.rated_message_size ?? 512;
  if (!Number.isInteger(size) || (size as number) <= 0 || (size as number) % 2 !== 0) throw new ConfigError(`${path}.rated_message_size: must be a positive even integer`);
  const rated = v.trigger_after_rated_messages ?? 0;
  if (!Number.isInteger(rated) || (rated as number) < 0) throw new ConfigError(`${path}.trigger_after_rated_messages: must be a non-negative integer`);
  const ns = v.trigger_after_duration ?? 0;
  if (!Number.isInteger(ns) || (ns as number) < 0) throw new ConfigError(`${path}.trigger_after_duration: must be a non-negative integer (nanoseconds)`);
  if (ns !== 0 && ((ns as number) < 1e6 || (ns as number) > MAX_STATS_DURATION_NS)) {
    throw new ConfigError(`${path}.trigger_after_duration: must be 0 or from 1000000 (1 ms) to ${MAX_STATS_DURATION_NS} nanoseconds`);
  }
  if (rated === 0 && ns === 0) throw new ConfigError(`${path}: needs trigger_after_rated_messages or trigger_after_duration (or both) above 0`);
  const onJoin = v.trigger_on_join ?? false;
  if (typeof onJoin !== 'boolean') throw new ConfigError(`${path}.trigger_on_join: must be true or false`);
  const onLeave = v.trigger_on_leave ?? true;
  if (typeof onLeave !== 'boolean') throw new ConfigError(`${path}.trigger_on_leave: must be true or false`);
  return { ratedMessageSize: size as number, afterRatedMessages: rated as number, afterDurationMs: (ns as number) / 1e6, onJoin, onLeave };
}

/** Crossbar's realm `store` (memory only): the event history and the call queues it configures. */
function checkStore(v: Record<string, unknown> | null, path: string): Pick<RealmConfig, 'history' | 'callQueue'> {
  if (v === null) return { history: [], callQueue: [] };
  for (const k of Object.keys(v)) if (!['type', 'limit', 'event-history', 'call-queue'].includes(k)) throw new ConfigError(`${path}.${k}: unknown key`);
  if (v.type !== 'memory') throw new ConfigError(`${path}.type: must be "memory" (the only store Crosswire has)`);
  const limit = v.limit ?? 100;
  if (!Number.isInteger(limit) || (limit as number) < 1) throw new ConfigError(`${path}.limit: must be a positive integer`);
  return { history: storeEntries(v, 'event-history', path, limit as number), callQueue: storeEntries(v, 'call-queue', path, limit as number) };
}

/** The `{uri, match, limit}` entries of a store's `event-history` or `call-queue` (`limit`: the store's when absent). */
function storeEntries(v: Record<string, unknown>, key: 'event-history' | 'call-queue', path: string, limit: number): RealmConfig['history'] {
  const entries = v[key] ?? [];
  if (!Array.isArray(entries)) throw new ConfigError(`${path}.${key}: must be a list`);
  return entries.map((e: unknown, i) => {
    const p = `${path}.${key}[${i}]`;
    if (!isObject(e)) throw new ConfigError(`${p}: must be an object`);
    for (const k of Object.keys(e)) if (!['uri', 'match', 'limit'].includes(k)) throw new ConfigError(`${p}.${k}: unknown key`);
    const match = e.match ?? 'exact';
    if (match !== 'exact' && match !== 'prefix' && match !== 'wildcard') throw new ConfigError(`${p}.match: must be exact, prefix or wildcard`);
    if (typeof e.uri !== 'string' || !isValidPattern(e.uri, match, 'loose')) throw new ConfigError(`${p}.uri: must be a URI (pattern)`);
    const l = e.limit ?? limit;
    if (!Number.isInteger(l) || (l as number) < 1) throw new ConfigError(`${p}.limit: must be a positive integer`);
    return { uri: e.uri, match, limit: l as number };
  });
}

/** The id of the router components' private transport: outside Crossbar's id pattern, so no configured transport can have it. */
export const COMPONENT_TRANSPORT_ID = 'crosswire-components';

/**
 * The router components' private listening transport (src/container/gate.ts): a unix socket
 * with the WebSocket defaults, no authentication method at all (only a component token admits),
 * and an auth key no configured service has.
 */
export function componentTransport(socket: string): TransportConfig {
  const t = transport({ type: 'websocket', endpoint: { type: 'unix', path: socket }, serializers: ['msgpack', 'json'] }, 'crosswire components', 0, {}, '/', []);
  return { ...t, id: COMPONENT_TRANSPORT_ID, auth: {} };
}

function transport(value: unknown, path: string, index: number, env: NodeJS.ProcessEnv, baseDir: string, warnings: string[]): TransportConfig {
  const id = isObject(value) && typeof value.id === 'string' ? value.id : `transport${index + 1}`;
  if (isObject(value) && value.type === 'rawsocket') return rawsocketTransport(value, path, id, env, baseDir, warnings);
  if (isObject(value) && value.type === 'universal') return universalTransport(value, path, index, env, baseDir, (v, p) => wsService(v, p, id, env, baseDir, warnings), warnings);
  if (isObject(value) && value.type === 'web') return webTransport(value, path, index, env, baseDir, (v, p) => wsService(v, p, id, env, baseDir, warnings), warnings);
  const t = section<WebSocketTransportConfig>(websocketTransportSchema, value, path);
  const ep = endpoint(t.endpoint, `${path}.endpoint`, env, baseDir);
  return { ...wsService(value, path, id, env, baseDir, warnings), ...ep, paths: null, web: null };
}

/** The WebSocket service of a websocket transport or of a web transport's websocket path. */
function wsService(value: unknown, path: string, id: string, env: NodeJS.ProcessEnv, baseDir: string, warnings: string[]): WsServiceConfig {
  const t = section<WebSocketTransportConfig>(websocketTransportSchema, value, path);
  let auth: TransportAuth;
  try {
    auth = checkAuth(t.auth, `${path}.auth`, env, warnings);
  } catch (e) {
    if (e instanceof AuthConfigError) throw new ConfigError(e.message);
    throw e;
  }
  const { ws, maxMessageSize } = wsOptions(t.options, `${path}.options`);
  const cookie = cookieConfig(t.cookie, `${path}.cookie`, baseDir);
  if (auth.cookie !== undefined) {
    // Crossbar.io docs, "Cookie Authentication": cookie authentication needs cookie tracking and another method to authenticate first.
    if (cookie === null) throw new ConfigError(`${path}.auth.cookie: cookie authentication needs cookie tracking on this transport (add ${path}.cookie)`);
    if (Object.keys(auth).length === 1) throw new ConfigError(`${path}.auth.cookie: needs at least one other method to authenticate a cookie first`);
  }
  return {
    id,
    url: t.url,
    serializers: t.serializers as SerializerName[],
    maxMessageSize,
    ws,
    cookie,
    auth,
    debug: t.debug,
  };
}

/**
 * The key of a WebSocket service's auth: a websocket transport's id, or `<id>/<path>` for a
 * websocket path of a web transport (each path has its own auth). Transport ids never contain
 * '/', so the two kinds cannot collide.
 */
export function wsAuthKey(transportId: string, path: string | null): string {
  return path === null ? transportId : `${transportId}${path}`;
}

/** Every WebSocket service of a transport with its auth key and auth (what realm workers get). */
/** The HTTP bridge services of every web transport, as realm workers run them (src/config/bridge.ts). */
export function bridgeSpecs(config: RouterConfig): BridgeSpec[] {
  const out: BridgeSpec[] = [];
  for (const t of config.transports) {
    for (const p of t.paths ?? []) {
      if (p.type === 'subscriber') {
        const { type: _t, path: _p, at: _a, ...rest } = p;
        out.push({ kind: 'subscriber', ...rest });
      } else if (p.type === 'publisher' || p.type === 'caller' || p.type === 'webhook') {
        out.push({ kind: p.type, key: p.key, realm: p.realm, role: p.role, callTimeout: p.callTimeout, topic: p.topic, successResponse: p.successResponse, errorResponse: p.errorResponse });
      }
    }
  }
  return out;
}

export function serviceAuths(t: TransportConfig): [string, TransportAuth][] {
  if (t.paths === null) return [[wsAuthKey(t.id, null), t.auth]];
  // A universal transport's RawSocket part: the transport's own key (its websocket paths have id+path).
  const raw: [string, TransportAuth][] = t.universal?.rawsocket ? [[wsAuthKey(t.id, null), t.universal.rawsocket.auth]] : [];
  return raw.concat(t.paths.flatMap((p): [string, TransportAuth][] => (p.type === 'websocket' ? [[wsAuthKey(t.id, p.path), p.service.auth]] : [])));
}

/**
 * Whether Node.js creates this transport's listening server and terminates its TLS (rawsocket and
 * universal transports, and the TLS front of frontNeeded) rather than uWebSockets.js: there
 * `endpoint.backlog` and `endpoint.tls.dhparam` apply and `endpoint.shared` needs Node's reusePort.
 */
export function nodeListens(t: TransportConfig): boolean {
  return t.rawsocket !== undefined || t.universal !== undefined || frontNeeded(t, serviceAuths(t).map(([, a]) => a));
}

/**
 * Builds the effective config: the embedded default (or the file), then environment overrides.
 * Throws ConfigError naming every key that is wrong.
 */
export function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): RouterConfig {
  return buildConfig(readConfigFile(file), env, configDir(file));
}

/** Where paths in a config file are relative to: its own folder (the working directory without one). */
export function configDir(file?: string): string {
  return file === undefined ? process.cwd() : dirname(resolve(file));
}

/** The config files `crossbar start` looks for in a node directory, in this order. */
const NODE_DIR_FILES = ['config.json', 'config.yaml'];

/**
 * Which config file to run and what its relative paths are relative to, by Crossbar's rules for
 * its node directory (crossbar/node/main.py): with a node directory (`--cbdir`, else the
 * environment's CROSSBAR_DIR), `--config` is relative to it and defaults to its config.json, then
 * config.yaml (neither: an error), and paths in the file are relative to the node directory.
 * Without one, `--config` is relative to the working directory and paths to the file's folder;
 * with no `--config` either, a Crossbar node directory `.crossbar` here with one of those files is
 * used as `crossbar start` would, else the embedded default (file undefined).
 */
export function locateConfig(config: string | undefined, cbdir: string | undefined, env: NodeJS.ProcessEnv = process.env): { file: string | undefined; baseDir: string } {
  const dir = cbdir ?? (env.CROSSBAR_DIR !== undefined && env.CROSSBAR_DIR !== '' ? env.CROSSBAR_DIR : undefined);
  const found = (base: string) => NODE_DIR_FILES.map((f) => join(base, f)).find((f) => existsSync(f));
  if (dir === undefined) {
    if (config !== undefined) return { file: config, baseDir: configDir(config) };
    const here = resolve('.crossbar');
    const file = found(here);
    return file !== undefined ? { file, baseDir: here } : { file: undefined, baseDir: process.cwd() };
  }
  const base = resolve(dir);
  const from = cbdir !== undefined ? '--cbdir' : 'CROSSBAR_DIR';
  if (!existsSync(base)) throw new ConfigError(`${from} ${dir}: no such directory`);
  if (config !== undefined) return { file: resolve(base, config), baseDir: base };
  const file = found(base);
  if (file === undefined) throw new ConfigError(`no --config given, and the node directory ${base} (${from}) has neither ${NODE_DIR_FILES.join(' nor ')}`);
  return { file, baseDir: base };
}

/** The parsed config file, or the embedded default without one. */
export function readConfigFile(file?: string): unknown {
  let raw: unknown = DEFAULT_CONFIG;
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
    }
    if (/\.ya?ml$/i.test(file)) raw = parseYamlConfig(file, text);
    else if (!/\.json$/i.test(file)) throw new ConfigError(`${file}: a config file is JSON (.json) or YAML (.yaml, .yml)`);
    else {
      try {
        raw = JSON.parse(text);
      } catch (e) {
        throw new ConfigError(`${file}: not valid JSON: ${(e as Error).message}`);
      }
    }
  }
  return raw;
}

/**
 * YAML 1.1's booleans as PyYAML resolves them: `yes`/`no`, `true`/`false`, `on`/`off` in their
 * three spellings (PyYAML's resolver.py), not the `y`/`n` the YAML 1.1 type repository adds.
 */
function pyyamlBooleans(tags: Tags): Tags {
  const bool = (value: boolean, test: RegExp): ScalarTag => ({ identify: (v) => v === value, default: true, tag: 'tag:yaml.org,2002:bool', test, resolve: () => value });
  return [
    ...tags.filter((t) => typeof t === 'string' || t.tag !== 'tag:yaml.org,2002:bool'),
    bool(true, /^(?:[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$/),
    bool(false, /^(?:[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/),
  ];
}

/**
 * A YAML config file, read as Crossbar reads its `config.yaml` (PyYAML's safe_load, i.e. YAML 1.1:
 * `yes`/`no`/`on`/`off` are booleans, `<<` merge keys, anchors and aliases), with the `yaml`
 * package (https://eemeli.org/yaml/). Stricter than PyYAML where a mistake would pass silently: a
 * key given twice in one mapping, more than one document, or a tag PyYAML's safe loader would not
 * build is an error naming the line.
 */
function parseYamlConfig(file: string, text: string): unknown {
  const doc = parseDocument(text, { version: '1.1', uniqueKeys: true, prettyErrors: true, customTags: pyyamlBooleans });
  const error = doc.errors[0] ?? doc.warnings[0];
  if (error?.code === 'MULTIPLE_DOCS') {
    throw new ConfigError(`${file}: not a YAML config: more than one YAML document (a "---" line at ${error.linePos?.[0]?.line ?? '?'}); a config file is one document`);
  }
  if (error !== undefined) throw new ConfigError(`${file}: not valid YAML: ${error.message.trim()}`);
  try {
    return doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    throw new ConfigError(`${file}: not valid YAML: ${(e as Error).message}`);
  }
}

/**
 * Where path service `p` is written in a web or universal transport: `.paths.<segment>` (nested
 * `path` services: `.paths.api.paths.v1.paths.push`, its `at`), or for a universal transport
 * `.websocket.<segment>` or `.web.paths.<segment>` (src/config/universal.ts).
 */
function pathKey(t: TransportConfig, p: WebPathConfig): string {
  const written = p.at ?? `.paths.${p.path === '/' ? '"/"' : p.path.slice(1)}`;
  if (t.universal === undefined) return written;
  // The websocket part's entries are single segments (universal.ts), listed by path.
  return t.universal.websocketPaths.includes(p.path) ? written.replace(/^\.paths\./, '.websocket.') : `.web${written}`;
}

/** Validates a config object (the parsed file) and applies environment overrides. */
export function buildConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env, baseDir: string = process.cwd()): RouterConfig {
  if (!isObject(raw)) throw new ConfigError('the top level of the config must be an object');
  if (configVersion(raw) === 1) {
    // Crossbar.io (checkconfig.check_config): a file without "version" is version 1, too old to run.
    const which = 'version' in raw ? '"version": 1' : 'no "version" key';
    throw new ConfigError(`version: this is a version-1 config file (${which}); Crosswire reads version 2, Crossbar.io's current format: ${UPGRADE_HINT}`);
  }
  const top = convict(topSchema, { env });
  try {
    top.load(raw as object);
    top.validate({ allowed: 'strict' });
  } catch (e) {
    throw new ConfigError(rewrite((e as Error).message, ''));
  }
  const c = top.getProperties() as TopConfig;
  const controllerTitleValue = controllerTitle(c.controller);
  const routers: { w: RouterWorkerConfig; at: string }[] = [];
  const containers: ContainerConfig[] = [];
  const guests: GuestConfig[] = [];
  const pythonComponents: PythonComponentConfig[] = [];
  c.workers.forEach((w, i) => {
    const type = isObject(w) ? w.type : undefined;
    if (type === 'container') containers.push(container(w, `workers[${i}]`, containers.length, baseDir, env, pythonComponents));
    else if (type === 'guest') guests.push(guest(w, `workers[${i}]`, guests.length, baseDir));
    else if (type === 'router' || type === undefined) routers.push({ w: section<RouterWorkerConfig>(routerWorkerSchema, w, `workers[${i}]`), at: `workers[${i}]` });
    else throw new ConfigError(`workers[${i}].type: '${String(type)}' workers are not implemented yet (router, container and guest are)`);
  });
  if (routers.length > 1) throw new ConfigError(`workers: at most one worker of type "router" is supported, found ${routers.length}`);
  const python = c.crosswire.python === '' ? null : c.crosswire.python;
  const workerIds = [...routers.flatMap((x) => (x.w.id === null ? [] : [x.w.id])), ...containers.map((x) => x.id), ...guests.map((x) => x.id)];
  const dupWorker = workerIds.find((x, i) => workerIds.indexOf(x) !== i);
  if (dupWorker) throw new ConfigError(`workers: worker id '${dupWorker}' is used twice`);
  if (routers.length === 0) {
    if (containers.length === 0 && guests.length === 0) throw new ConfigError('workers: nothing to run (no router, container or guest worker)');
    return deepFreeze({
      title: controllerTitleValue,
      realms: [],
      transports: [],
      realmThreads: 0,
      logLevel: c.crosswire.log_level,
      allowUwsFallback: c.crosswire.allow_uws_fallback,
      shutdownTimeout: c.crosswire.shutdown_timeout,
      helloTimeout: c.crosswire.hello_timeout,
      warnings: [],
      containers,
      guests,
      pythonComponents,
      python,
      auth: { timeout: c.crosswire.auth_timeout, threads: 1, failDelay: c.crosswire.auth_fail_delay, maxFailures: c.crosswire.auth_max_failures, failureWindow: c.crosswire.auth_failure_window },
      logFormat: c.crosswire.log_format,
      workerMaxHeapMb: c.crosswire.worker_max_heap_mb,
      ops: { onTransports: [], port: c.crosswire.ops.port, host: c.crosswire.ops.interface },
      cluster: null,
      flow: flowConfig(c.crosswire.flow),
    });
  }
  const { w, at } = routers[0]!;
  const warnings: string[] = [];
  const realms = w.realms.map((r, i) => realm(r, `${at}.realms[${i}]`, warnings, c.crosswire.worker_max_heap_mb));
  if (realms.length === 0) throw new ConfigError(`${at}.realms: at least one realm is required`);
  const dupRealm = realms.find((x, i) => realms.findIndex((y) => y.name === x.name) !== i);
  if (dupRealm) throw new ConfigError(`${at}.realms: realm '${dupRealm.name}' is defined twice`);
  pythonComponents.unshift(...routerComponents(w, at, realms, baseDir));
  const transports = w.transports.map((t, i) => {
    if (isObject(t) && t.type !== 'websocket' && t.type !== 'web' && t.type !== 'rawsocket' && t.type !== 'universal') {
      throw new ConfigError(`${at}.transports[${i}].type: '${String(t.type)}' transports are not implemented yet (only "websocket", "web", "rawsocket" and "universal")`);
    }
    return transport(t, `${at}.transports[${i}]`, i, env, baseDir, warnings);
  });
  if (transports.length === 0) throw new ConfigError(`${at}.transports: at least one transport is required`);
  const ids = transports.map((t) => t.id);
  const dupId = ids.find((x, i) => ids.indexOf(x) !== i);
  if (dupId) throw new ConfigError(`${at}.transports: transport id '${dupId}' is used twice`);
  const first = transports[0]!;
  if (first.endpoint.type === 'tcp') {
    if (c.crosswire.port !== null) first.port = c.crosswire.port;
    if (c.crosswire.interface !== null) first.host = c.crosswire.interface;
  }
  const cores = availableParallelism();
  let realmThreads =
    c.crosswire.realm_threads > 0 ? Math.min(c.crosswire.realm_threads, realms.length) : Math.max(1, Math.min(realms.length, cores - 1));
  const authenticatorRealms: string[] = [];
  for (const [i, t] of transports.entries()) {
    // A web transport's auth lives in each of its websocket paths, a universal transport's also in
    // its rawsocket part: name the key where it is written.
    const services =
      t.paths === null
        ? [{ auth: t.auth, key: '' }]
        : [
            ...(t.universal?.rawsocket ? [{ auth: t.universal.rawsocket.auth, key: '.rawsocket' }] : []),
            ...t.paths.flatMap((p) => (p.type === 'websocket' ? [{ auth: p.service.auth, key: pathKey(t, p) }] : [])),
          ];
    for (const s of services) {
      authenticatorRealms.push(...crossCheckAuth(s.auth, `${at}.transports[${i}]${s.key}.auth`, realms));
      // Crossbar requests a client certificate only with ca_certificates (Twisted verify=True): without
      // them nobody could ever log in with `tls`, so the config is refused instead.
      if (s.auth.tls !== undefined && !(t.endpoint.type === 'tcp' && t.endpoint.tls !== null && t.endpoint.tls.caCertificates.length > 0)) {
        throw new ConfigError(
          `${at}.transports[${i}]${s.key}.auth.tls: TLS client certificate authentication needs a TLS endpoint with ca_certificates ` +
            `(${at}.transports[${i}].endpoint.tls.ca_certificates): only then does the router ask for a client certificate`,
        );
      }
    }
  }
  for (const [i, t] of transports.entries()) {
    const ep = t.endpoint;
    const ek = `${at}.transports[${i}].endpoint`;
    const byNode = nodeListens(t);
    // Node's net.Server listens with the backlog asked; uWebSockets.js always with its own.
    const backlogWarning = byNode ? null : backlogUnusedWarning(`${ek}.backlog`, ep.backlog);
    if (backlogWarning !== null) warnings.push(backlogWarning);
    if (ep.type !== 'tcp') continue;
    // Node's net.Server sets SO_REUSEPORT only from Node 22.12 (older versions ignore the option,
    // so the port would silently not be shared): refused here, before anything listens.
    if (ep.shared && byNode && !reusePortSupported()) {
      throw new ConfigError(
        `${ek}.shared: true needs Node.js >= 22.12 (or >= 23.1) on this transport, whose listener is Node.js's ` +
          `(a rawsocket or universal transport, or TLS with ca_certificates): Node.js sets SO_REUSEPORT only from 22.12; this is ${process.version}`,
      );
    }
    if (ep.tls !== null && ep.tls.dhparam !== null && !byNode) {
      // The value as written (ep.tls.dhparam is resolved against the config's directory).
      const raw: unknown = w.transports[i];
      const asked = isObject(raw) && isObject(raw.endpoint) && isObject(raw.endpoint.tls) ? raw.endpoint.tls.dhparam : ep.tls.dhparam;
      warnings.push(dhparamUnusedWarning(`${ek}.tls.dhparam`, String(asked)));
    }
  }
  // The HTTP bridge's sessions join a realm with a role, both of which must exist.
  for (const [i, t] of transports.entries()) {
    for (const p of t.paths ?? []) {
      if (p.type !== 'publisher' && p.type !== 'caller' && p.type !== 'webhook' && p.type !== 'subscriber') continue;
      const at2 = `${at}.transports[${i}]${pathKey(t, p)}`;
      const r = realms.find((x) => x.name === p.realm);
      if (r === undefined) throw new ConfigError(`${at2}.realm: no realm '${p.realm}' on this router`);
      if (!r.roles.some((x) => x.name === p.role)) throw new ConfigError(`${at2}.role: realm '${p.realm}' has no role '${p.role}'`);
    }
  }
  if (authenticatorRealms.length > 0 && realmThreads > 1) {
    // An authenticator is called in the realm worker that holds the HELLO's realm, and a client may
    // ask for any realm: every realm must share the authenticator realm's thread (authenticator
    // calls do not cross threads). So the realms run in one thread, whatever the machine.
    const asked = c.crosswire.realm_threads > 0 ? `${c.crosswire.realm_threads}` : `0 (auto: ${realmThreads} on this machine)`;
    warnings.push(
      `crosswire.realm_threads: ${asked} is not applied: with authenticator-realm '${[...new Set(authenticatorRealms)].join("', '")}' ` +
        'every realm runs in one realm worker thread (dynamic authenticators are called in the thread of the realm a client joins)',
    );
    realmThreads = 1;
  }
  const x = c.crosswire;
  const cluster = clusterConfig(c.crosswire.cluster, env, baseDir);
  // A nats cookie store uses the cluster's NATS (src/transport/cookies-nats.ts).
  for (const t of transports) {
    for (const svc of [t, ...(t.paths ?? []).flatMap((p) => (p.type === 'websocket' ? [p.service] : []))]) {
      const store = svc.cookie?.store;
      if (store?.type !== 'nats') continue;
      if (cluster === null) throw new ConfigError(`${store.at}.type: a nats cookie store needs crosswire.cluster.nats.servers (docs/cluster.md)`);
      store.nats = cluster;
    }
  }
  return deepFreeze({
    title: w.options.title ?? controllerTitleValue,
    realms,
    transports,
    realmThreads,
    logLevel: c.crosswire.log_level,
    allowUwsFallback: c.crosswire.allow_uws_fallback,
    shutdownTimeout: c.crosswire.shutdown_timeout,
    helloTimeout: c.crosswire.hello_timeout,
    warnings,
    containers,
    guests,
    pythonComponents,
    python,
    auth: {
      timeout: x.auth_timeout,
      threads: x.auth_threads > 0 ? x.auth_threads : Math.max(1, Math.floor(cores / 2 / realmThreads)),
      failDelay: x.auth_fail_delay,
      maxFailures: x.auth_max_failures,
      failureWindow: x.auth_failure_window,
    },
    logFormat: c.crosswire.log_format,
    workerMaxHeapMb: c.crosswire.worker_max_heap_mb,
    ops: { onTransports: [...new Set(c.crosswire.ops.on_transports)], port: c.crosswire.ops.port, host: c.crosswire.ops.interface },
    cluster,
    flow: flowConfig(c.crosswire.flow),
  });
}

/**
 * Roles and realms a transport's auth names must exist. Returns the authenticator realms it uses
 * (each must share a worker thread with every realm a client may ask for: see buildConfig).
 */
function crossCheckAuth(auth: TransportAuth, path: string, realms: RealmConfig[]): string[] {
  const authenticatorRealms: string[] = [];
  for (const ref of staticRoles(auth, path)) {
    const where = ref.realm === null ? realms : realms.filter((r) => r.name === ref.realm);
    if (ref.realm !== null && where.length === 0) throw new ConfigError(`${ref.path}.realm: no realm '${ref.realm}'`);
    if (!where.some((r) => r.roles.some((x) => x.name === ref.role))) {
      const at = ref.path.endsWith('.role') ? ref.path : `${ref.path}.role`;
      const owner = ref.realm === null ? 'no realm has a role' : `realm '${ref.realm}' has no role`;
      throw new ConfigError(`${at}: ${owner} '${ref.role}'`);
    }
  }
  for (const [m, c] of Object.entries(auth)) {
    if (c.type !== 'dynamic') continue;
    const ar = c['authenticator-realm'];
    if (ar === null) continue;
    const at = `${path}.${m}.authenticator-realm`;
    if (!realms.some((r) => r.name === ar)) throw new ConfigError(`${at}: no realm '${ar}'`);
    authenticatorRealms.push(ar);
  }
  return authenticatorRealms;
}

// ---- container and guest workers -------------------------------------------------------------

function container(value: unknown, path: string, index: number, baseDir: string, env: NodeJS.ProcessEnv, python: PythonComponentConfig[]): ContainerConfig {
  const c = section<{
    id: string | null;
    options: { restart: ContainerConfig['restart']; shutdown: ContainerConfig['shutdown'] } & NativeWorkerOptions;
    components: unknown[];
  }>(containerSchema as Schema<unknown> as never, value, path);
  const id = c.id ?? `container${index + 1}`;
  const components: ComponentConfig[] = [];
  const ids: string[] = [];
  let pythonCount = 0;
  const native = nativeOptions(c.options, `${path}.options`, baseDir);
  c.components.forEach((x, i) => {
    const at = `${path}.components[${i}]`;
    const type = isObject(x) ? x.type : undefined;
    refuseComponentType(type, at, 'container');
    if (type === 'class' && isObject(x) && typeof x.classname === 'string' && REST_CALLEE.test(x.classname)) {
      const m = restCalleeComponent(x, at, i, baseDir, env);
      components.push(m);
      ids.push(m.id);
    } else if (type === 'class') {
      const p = pythonComponent(x, at, i, 'container', id, c.options.restart, native, baseDir, env);
      python.push(p);
      ids.push(p.id);
      pythonCount++;
    } else {
      const m = component(x, at, i, baseDir, env);
      components.push(m);
      ids.push(m.id);
    }
  });
  if (ids.length === 0) throw new ConfigError(`${path}.components: at least one component is required`);
  const dup = ids.find((x, i) => ids.indexOf(x) !== i);
  if (dup) throw new ConfigError(`${path}.components: component id '${dup}' is used twice`);
  if (pythonCount > 0 && c.options.shutdown !== 'shutdown-manual') {
    throw new ConfigError(`${path}.options.shutdown: '${c.options.shutdown}' is not implemented for containers with Python components (each Python component is restarted by options.restart on its own; use shutdown-manual)`);
  }
  return { id, restart: c.options.restart, shutdown: c.options.shutdown, components, env: native.env };
}

/**
 * Component types Crosswire does not run, refused by name with what to do instead. `wamplet`
 * (a setuptools entry point) is from Crossbar's version-1 era; `function` runs Python callbacks.
 */
function refuseComponentType(type: unknown, path: string, where: 'router' | 'container'): void {
  if (type === 'wamplet') {
    throw new ConfigError(
      `${path}.type: 'wamplet' components are not supported (Crossbar.io dropped them): name the ApplicationSession class directly with "type": "class" and "classname": "package.module.Class" (docs/python-components.md)`,
    );
  }
  if (type === 'function') {
    throw new ConfigError(`${path}.type: 'function' components (Python callbacks) are not implemented: put the callbacks in an ApplicationSession subclass and use "type": "class"`);
  }
  const known = where === 'container' ? ['module', 'class', undefined] : ['class'];
  if (!known.includes(type as string | undefined)) {
    throw new ConfigError(
      `${path}.type: ${type === undefined ? 'is required' : `'${String(type)}' components are not implemented`} (${where === 'container' ? '"class": a Python ApplicationSession class, or "module": a JavaScript module' : '"class": a Python ApplicationSession class'})`,
    );
  }
}

/** A worker's pythonpath (absolute) and env, checked. */
function nativeOptions(o: NativeWorkerOptions, path: string, baseDir: string): { python: string | null; pythonpath: string[]; env: WorkerEnv } {
  const pythonpath = o.pythonpath.map((p, i) => {
    if (typeof p !== 'string' || p === '') throw new ConfigError(`${path}.pythonpath[${i}]: must be a non-empty string (a directory, relative to the config file)`);
    return resolve(baseDir, p);
  });
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.env.vars)) {
    if (typeof v !== 'string') throw new ConfigError(`${path}.env.vars.${k}: must be a string`);
    vars[k] = v;
  }
  return { python: o.python === '' ? null : o.python, pythonpath, env: { inherit: o.env.inherit, vars } };
}

/** A router worker's `components`: Python classes joined to one of its realms with a fixed role. */
function routerComponents(w: RouterWorkerConfig, at: string, realms: RealmConfig[], baseDir: string): PythonComponentConfig[] {
  const native = nativeOptions(w.options, `${at}.options`, baseDir);
  const out = w.components.map((x, i) => {
    const p = `${at}.components[${i}]`;
    refuseComponentType(isObject(x) ? x.type : undefined, p, 'router');
    const pc = pythonComponent(x, p, i, 'router', w.id ?? 'router', 'restart-on-failed', native, baseDir, {});
    const realm = realms.find((r) => r.name === pc.realm);
    if (realm === undefined) throw new ConfigError(`${p}.realm: no realm '${pc.realm}' on this router (realms: ${realms.map((r) => r.name).join(', ')})`);
    if (!realm.roles.some((r) => r.name === pc.role)) throw new ConfigError(`${p}.role: realm '${pc.realm}' has no role '${pc.role}'`);
    return pc;
  });
  const ids = out.map((x) => x.id);
  const dup = ids.find((x, i) => ids.indexOf(x) !== i);
  if (dup) throw new ConfigError(`${at}.components: component id '${dup}' is used twice`);
  return out;
}

/** Crossbar's HTTP bridge components (crossbar/bridge/rest/): the subscriber is a path service here. */
function refuseBridgeClass(value: unknown, path: string): void {
  const classname = isObject(value) && value.type === 'class' && typeof value.classname === 'string' ? value.classname : '';
  if (/^crossbar\.(bridge|adapter)\.rest\.MessageForwarder$/.test(classname)) {
    throw new ConfigError(
      `${path}.classname: Crossbar's HTTP bridge subscriber is a "subscriber" path service of a web transport in Crosswire: ` +
        'move extra.subscriptions, method, expectedcode and debug there, with this realm and a role (docs/http-bridge.md)',
    );
  }
  if (REST_CALLEE.test(classname)) {
    // Container components are handled before (restCalleeComponent): this is a router worker's.
    throw new ConfigError(
      `${path}.classname: Crossbar's HTTP bridge callee runs in a container worker in Crosswire (a built-in JavaScript component, no Python): ` +
        'move this entry to the components of a "container" worker, with a connecting "transport" to this router (docs/http-bridge.md#callee-wamp-calls-as-http-requests)',
    );
  }
}

/** The built-in JavaScript module that runs a RESTCallee (dist/src/container/rest-callee.js). */
const REST_CALLEE_MODULE = fileURLToPath(new URL('../container/rest-callee.js', import.meta.url));

/**
 * Crossbar's `crossbar.bridge.rest.RESTCallee` class component of a container: run by the
 * container's Node process like a `module` component, with the built-in module and its checked extra.
 */
function restCalleeComponent(value: Record<string, unknown>, path: string, index: number, baseDir: string, env: NodeJS.ProcessEnv): ComponentConfig {
  const c = section<{ id: string | null; realm: string; transport: Record<string, unknown> | null; extra: unknown; auth: Record<string, unknown> | null }>(
    restCalleeComponentSchema as Schema<unknown> as never,
    value,
    path,
  );
  if (c.transport === null) throw new ConfigError(`${path}.transport: is required (a connecting transport)`);
  if (c.transport.type === 'rawsocket') {
    throw new ConfigError(
      `${path}.transport.type: 'rawsocket' is not available to the RESTCallee (Crosswire runs it on AutobahnJS, which has no RawSocket client on Node.js): use "websocket"`,
    );
  }
  return {
    id: c.id ?? `component${index + 1}`,
    module: REST_CALLEE_MODULE,
    realm: c.realm,
    transport: connecting(c.transport, `${path}.transport`, baseDir, env),
    extra: restCalleeOptions(c.extra, path),
    auth: componentAuth(c.auth, `${path}.auth`, env),
  };
}

const DOTTED = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/;

function pythonComponent(
  value: unknown,
  path: string,
  index: number,
  kind: 'router' | 'container',
  worker: string,
  restart: ContainerConfig['restart'],
  native: { python: string | null; pythonpath: string[]; env: WorkerEnv },
  baseDir: string,
  env: NodeJS.ProcessEnv,
): PythonComponentConfig {
  refuseBridgeClass(value, path);
  const schema = kind === 'router' ? pythonRouterComponentSchema : pythonContainerComponentSchema;
  const c = section<{ id: string | null; classname: string; realm: string; extra: unknown; role?: string; authid?: string | null; references?: unknown[]; transport?: Record<string, unknown> | null }>(
    schema as Schema<unknown> as never,
    value,
    path,
  );
  if (!DOTTED.test(c.classname)) throw new ConfigError(`${path}.classname: '${c.classname}' is not a dotted Python name (module.Class)`);
  if (c.extra !== null && !isObject(c.extra)) throw new ConfigError(`${path}.extra: must be an object (Crossbar hands a dict to ComponentConfig.extra)`);
  if (c.references !== undefined && c.references.length > 0) throw new ConfigError(`${path}.references: references to connections are not implemented (Crossbar's 'connections' are not either)`);
  let transport: PythonComponentConfig['transport'] = null;
  if (kind === 'container') {
    if (c.transport === null || c.transport === undefined) throw new ConfigError(`${path}.transport: is required (a connecting transport)`);
    transport = c.transport.type === 'rawsocket' ? rawsocketConnecting(c.transport, `${path}.transport`, baseDir, env) : connecting(c.transport, `${path}.transport`, baseDir, env);
  }
  return {
    kind,
    key: path,
    worker,
    id: c.id ?? `component${index + 1}`,
    classname: c.classname,
    realm: c.realm,
    extra: (c.extra ?? {}) as Record<string, unknown>,
    role: c.role ?? 'anonymous',
    authid: c.authid ?? null,
    transport,
    restart,
    python: native.python,
    pythonpath: native.pythonpath,
    env: native.env,
    cbdir: baseDir,
  };
}

function component(value: unknown, path: string, index: number, baseDir: string, env: NodeJS.ProcessEnv): ComponentConfig {
  const c = section<{ id: string | null; module: string; realm: string; transport: Record<string, unknown> | null; extra: unknown; auth: Record<string, unknown> | null }>(
    componentSchema as Schema<unknown> as never,
    value,
    path,
  );
  if (!/\.(m?js|cjs)$/.test(c.module)) throw new ConfigError(`${path}.module: must be a .js, .mjs or .cjs file`);
  if (c.transport === null) throw new ConfigError(`${path}.transport: is required (a connecting transport)`);
  if (c.transport.type === 'rawsocket') {
    throw new ConfigError(
      `${path}.transport.type: 'rawsocket' is not available to JavaScript module components (AutobahnJS on Node.js has no RawSocket client): use "websocket", or a Python class component ("type": "class")`,
    );
  }
  return {
    id: c.id ?? `component${index + 1}`,
    module: resolve(baseDir, c.module),
    realm: c.realm,
    transport: connecting(c.transport, `${path}.transport`, baseDir, env),
    extra: c.extra,
    auth: componentAuth(c.auth, `${path}.auth`, env),
  };
}

function connecting(value: unknown, path: string, baseDir: string, env: NodeJS.ProcessEnv): ConnectingTransport {
  const t = section<{ url: string | null; endpoint: Record<string, unknown> | null; serializers: ('json' | 'msgpack')[]; options: Record<string, unknown>; reconnect: ConnectingTransport['reconnect'] }>(
    connectingTransportSchema as Schema<unknown> as never,
    value,
    path,
  );
  if (t.url === null) throw new ConfigError(`${path}.url: is required for a connecting transport`);
  if (Object.keys(t.options).length > 0) throw new ConfigError(`${path}.options.${Object.keys(t.options)[0]}: client-side WebSocket options are not implemented yet`);
  const endpoint = connectingEndpoint(t.endpoint, path, baseDir, env);
  if (endpoint.type === 'tcp' && endpoint.tls !== null && !t.url.startsWith('wss://')) {
    throw new ConfigError(`${path}.url: a TLS endpoint needs a wss:// URL`);
  }
  return { type: 'websocket', url: t.url, endpoint, serializers: t.serializers, reconnect: t.reconnect };
}

/**
 * A Python container component's connecting RawSocket transport, with Crossbar's keys
 * (checkconfig check_connecting_transport_rawsocket): `endpoint` and `serializer` required,
 * `url` (rs:// or rss://), `id` and `debug` optional; `reconnect` as on WebSocket.
 */
function rawsocketConnecting(value: unknown, path: string, baseDir: string, env: NodeJS.ProcessEnv): RawSocketConnectingTransport {
  const t = section<{ endpoint: Record<string, unknown> | null; serializer: unknown; url: unknown; reconnect: ConnectingTransport['reconnect'] }>(
    rawsocketConnectingTransportSchema as Schema<unknown> as never,
    value,
    path,
  );
  const s = t.serializer;
  if (s === null) throw new ConfigError(`${path}.serializer: is required for a connecting rawsocket transport ("json", "msgpack" or "cbor": the one serializer the client asks for)`);
  if (s === 'ubjson') throw new ConfigError(`${path}.serializer: 'ubjson' is not implemented by Crosswire (use "json", "msgpack" or "cbor")`);
  if (s !== 'json' && s !== 'msgpack' && s !== 'cbor') throw new ConfigError(`${path}.serializer: must be "json", "msgpack" or "cbor" (one string, not a list)`);
  const endpoint = connectingEndpoint(t.endpoint, path, baseDir, env);
  let url: string | null = null;
  if (t.url !== null) {
    if (typeof t.url !== 'string' || !/^rss?:\/\/[^/?#]+$/.test(t.url)) throw new ConfigError(`${path}.url: must be a RawSocket URL, rs://host:port or rss://host:port`);
    const tls = endpoint.type === 'tcp' && endpoint.tls !== null;
    if (tls !== t.url.startsWith('rss://')) throw new ConfigError(`${path}.url: ${tls ? 'a TLS endpoint needs an rss:// URL' : 'an rss:// URL needs a TLS endpoint (endpoint.tls)'}`);
    url = t.url;
  }
  return { type: 'rawsocket', endpoint, serializer: s, url, reconnect: t.reconnect };
}

function connectingEndpoint(e: Record<string, unknown> | null, path: string, baseDir: string, env: NodeJS.ProcessEnv): ConnectingTransport['endpoint'] {
  if (e === null) throw new ConfigError(`${path}.endpoint: is required`);
  const allow = (keys: string[]) => {
    for (const k of Object.keys(e)) if (!keys.includes(k)) throw new ConfigError(`${path}.endpoint.${k}: unknown key`);
  };
  const timeout = e.timeout ?? 10;
  if (typeof timeout !== 'number' || timeout <= 0 || timeout > 600) throw new ConfigError(`${path}.endpoint.timeout: must be 0 < seconds <= 600`);
  if (e.type === 'unix') {
    allow(['type', 'path', 'timeout']);
    if (typeof e.path !== 'string' || e.path === '') throw new ConfigError(`${path}.endpoint.path: is required`);
    return { type: 'unix', path: resolve(baseDir, e.path), timeout };
  }
  if (e.type !== 'tcp') throw new ConfigError(`${path}.endpoint.type: must be "tcp" or "unix"`);
  allow(['type', 'host', 'port', 'version', 'timeout', 'tls']);
  if (typeof e.host !== 'string' || e.host === '') throw new ConfigError(`${path}.endpoint.host: is required`);
  const port = typeof e.port === 'string' && e.port.startsWith('$') ? Number(env[e.port.slice(1)]) : e.port;
  if (!isPort(port) || port === 0) throw new ConfigError(`${path}.endpoint.port: must be a TCP port 1..65535 (or "$VAR")`);
  const version = e.version ?? 4;
  if (version !== 4 && version !== 6) throw new ConfigError(`${path}.endpoint.version: must be 4 or 6`);
  let tls: ClientTls | null = null;
  if (e.tls !== undefined) {
    if (!isObject(e.tls)) throw new ConfigError(`${path}.endpoint.tls: must be an object`);
    for (const k of Object.keys(e.tls)) {
      if (!['hostname', 'ca_certificates', 'certificate', 'key'].includes(k)) throw new ConfigError(`${path}.endpoint.tls.${k}: unknown key`);
    }
    if (typeof e.tls.hostname !== 'string' || e.tls.hostname === '') throw new ConfigError(`${path}.endpoint.tls.hostname: is required`);
    const ca = e.tls.ca_certificates ?? [];
    if (!Array.isArray(ca) || !ca.every((x) => typeof x === 'string')) throw new ConfigError(`${path}.endpoint.tls.ca_certificates: must be a list of file paths`);
    const file = (k: 'certificate' | 'key') => {
      const v = (e.tls as Record<string, unknown>)[k];
      if (v === undefined) return null;
      if (typeof v !== 'string') throw new ConfigError(`${path}.endpoint.tls.${k}: must be a file path`);
      return resolve(baseDir, v);
    };
    const certificate = file('certificate');
    const key = file('key');
    if ((certificate === null) !== (key === null)) throw new ConfigError(`${path}.endpoint.tls: certificate and key go together`);
    tls = { hostname: e.tls.hostname, ca_certificates: (ca as string[]).map((x) => resolve(baseDir, x)), certificate, key };
  }
  return { type: 'tcp', host: e.host, port, version, timeout, tls };
}

function componentAuth(v: Record<string, unknown> | null, path: string, env: NodeJS.ProcessEnv): ComponentAuth | null {
  if (v === null) return null;
  const methods = Object.keys(v);
  if (methods.length !== 1) throw new ConfigError(`${path}: exactly one of ticket, wampcra, cryptosign`);
  const method = methods[0]!;
  const c = v[method];
  const secretKey = { ticket: 'ticket', wampcra: 'secret', cryptosign: 'privkey' }[method];
  if (secretKey === undefined) throw new ConfigError(`${path}.${method}: not a client authentication method Crosswire implements (ticket, wampcra, cryptosign)`);
  if (!isObject(c)) throw new ConfigError(`${path}.${method}: must be an object`);
  for (const k of Object.keys(c)) if (!['authid', 'authrole', secretKey].includes(k)) throw new ConfigError(`${path}.${method}.${k}: unknown key`);
  if (typeof c.authid !== 'string' || c.authid === '') throw new ConfigError(`${path}.${method}.authid: is required`);
  let secret = c[secretKey];
  // Crossbar's "${VAR}" form for secrets.
  if (typeof secret === 'string' && /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(secret)) secret = env[secret.slice(2, -1)];
  if (typeof secret !== 'string' || secret === '') throw new ConfigError(`${path}.${method}.${secretKey}: is required (a string, or "\${VAR}")`);
  if (c.authrole !== undefined && typeof c.authrole !== 'string') throw new ConfigError(`${path}.${method}.authrole: must be a string`);
  return { method: method as ComponentAuth['method'], authid: c.authid, secret, authrole: (c.authrole as string | undefined) ?? null };
}

function guest(value: unknown, path: string, index: number, baseDir: string): GuestConfig {
  const g = section<{
    id: string | null;
    executable: string;
    arguments: unknown[];
    options: { env: { inherit: boolean; vars: Record<string, unknown> }; workdir: string; watch: { directories: unknown[] } };
  }>(guestSchema as Schema<unknown> as never, value, path);
  if (!g.arguments.every((a) => typeof a === 'string')) throw new ConfigError(`${path}.arguments: must be a list of strings`);
  const vars = g.options.env.vars;
  for (const [k, v] of Object.entries(vars)) if (typeof v !== 'string') throw new ConfigError(`${path}.options.env.vars.${k}: must be a string`);
  if (!g.options.watch.directories.every((d) => typeof d === 'string')) throw new ConfigError(`${path}.options.watch.directories: must be a list of paths`);
  return {
    id: g.id ?? `guest${index + 1}`,
    executable: g.executable,
    arguments: g.arguments as string[],
    env: vars as Record<string, string>,
    inheritEnv: g.options.env.inherit,
    workdir: resolve(baseDir, g.options.workdir),
    watch: (g.options.watch.directories as string[]).map((d) => resolve(baseDir, d)),
  };
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
