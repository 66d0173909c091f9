import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import convict from 'convict';
import type { RealmConfig, RoleConfig, TransportAuth } from '../ipc/protocol.js';
import { SERIALIZERS, type SerializerName } from '../serializers/index.js';
import { REALM_NAME } from '../wamp/uris.js';
import { DEFAULT_CONFIG } from './default.js';
import {
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
  type TopConfig,
  topSchema,
  type WebSocketTransportConfig,
  websocketTransportSchema,
} from './schema.js';
import { ConfigError, isObject, rewrite, section } from './section.js';
import { cookieConfig, endpoint, type TransportConfig, type WsServiceConfig, wsOptions } from './transport.js';
import { webTransport } from './web.js';

export { ConfigError } from './section.js';
export type { CookieConfig, CookieStoreConfig, EndpointConfig, TlsConfig, TransportConfig, WsOptions, WsServiceConfig } from './transport.js';
export type { WebOptions, WebPathConfig } from './web.js';

/** The effective, validated configuration (frozen). */
export interface RouterConfig {
  title: string | null;
  realms: RealmConfig[];
  transports: TransportConfig[];
  realmThreads: number;
  logLevel: string;
  allowUwsFallback: boolean;
  shutdownTimeout: number;
}

const isPort = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535;

const SUPPORTED_AUTH = new Set(['anonymous']);
const KNOWN_AUTH = new Set(['ticket', 'wampcra', 'cryptosign', 'scram', 'tls', 'cookie']);

convict.addFormats({
  controller: {
    validate(v: unknown) {
      if (!isObject(v)) throw new Error('must be an object');
      for (const k of Object.keys(v)) {
        if (k === 'id') continue;
        if (k === 'options' && isObject(v.options) && Object.keys(v.options).every((o) => o === 'title')) continue;
        throw new Error(`'${k === 'options' ? 'options (other than title)' : k}' is not supported by Crosswire`);
      }
    },
  },
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
  'message-size': {
    validate(v: unknown) {
      if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > MAX_MESSAGE_CEILING) {
        throw new Error(`must be an integer from 0 to ${MAX_MESSAGE_CEILING} (64 MiB)`);
      }
    },
  },
});

function realm(value: unknown, path: string): RealmConfig {
  const r = section<RealmFileConfig>(realmSchema, value, path);
  const roles: RoleConfig[] = r.roles.map((role, i) => {
    const rp = `${path}.roles[${i}]`;
    if (isObject(role) && 'authorizer' in role) throw new ConfigError(`${rp}.authorizer: dynamic authorizers are not implemented yet`);
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
  return { name: r.name, roles, options: { uri_check: r.options.uri_check } };
}

/** A transport's `auth`: only static anonymous is implemented; every other method is named. */
function checkAuth(v: Record<string, unknown> | null, path: string): void {
  if (v === null) return;
  for (const [m, c] of Object.entries(v)) {
    if (KNOWN_AUTH.has(m)) throw new ConfigError(`${path}.${m}: method '${m}' is not implemented yet (only anonymous is)`);
    if (!SUPPORTED_AUTH.has(m)) throw new ConfigError(`${path}.${m}: unknown authentication method '${m}'`);
    if (!isObject(c) || c.type !== 'static' || typeof c.role !== 'string' || c.role === '') {
      throw new ConfigError(`${path}.${m}: must be {"type": "static", "role": "<role>"} (dynamic is not implemented yet)`);
    }
    const extra = Object.keys(c).filter((k) => k !== 'type' && k !== 'role');
    if (extra.length > 0) throw new ConfigError(`${path}.${m}.${extra[0]}: unknown key`);
  }
}

function transport(value: unknown, path: string, index: number, env: NodeJS.ProcessEnv, baseDir: string): TransportConfig {
  const id = isObject(value) && typeof value.id === 'string' ? value.id : `transport${index + 1}`;
  if (isObject(value) && value.type === 'web') return webTransport(value, path, index, env, baseDir, (v, p) => wsService(v, p, id, baseDir));
  const t = section<WebSocketTransportConfig>(websocketTransportSchema, value, path);
  const ep = endpoint(t.endpoint, `${path}.endpoint`, env, baseDir);
  return { ...wsService(value, path, id, baseDir), ...ep, paths: null, web: null };
}

/** The WebSocket service of a websocket transport or of a web transport's websocket path. */
function wsService(value: unknown, path: string, id: string, baseDir: string): WsServiceConfig {
  const t = section<WebSocketTransportConfig>(websocketTransportSchema, value, path);
  checkAuth(t.auth, `${path}.auth`);
  const { ws, maxMessageSize } = wsOptions(t.options, `${path}.options`);
  const auth: TransportAuth =
    t.auth === null ? { anonymous: { type: 'static', role: 'anonymous' } } : (t.auth as TransportAuth);
  return {
    id,
    url: t.url,
    serializers: t.serializers as SerializerName[],
    maxMessageSize,
    ws,
    cookie: cookieConfig(t.cookie, `${path}.cookie`, baseDir),
    auth,
    debug: t.debug,
  };
}

/**
 * Builds the effective config: the embedded default (or the file), then environment overrides.
 * Throws ConfigError naming every key that is wrong.
 */
export function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): RouterConfig {
  let raw: unknown = DEFAULT_CONFIG;
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
    }
    if (!/\.json$/i.test(file)) throw new ConfigError(`${file}: only JSON config files are supported (YAML is not implemented yet)`);
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(`${file}: not valid JSON: ${(e as Error).message}`);
    }
  }
  return buildConfig(raw, env, file === undefined ? process.cwd() : dirname(file));
}

/** Validates a config object (the parsed file) and applies environment overrides. */
export function buildConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env, baseDir = process.cwd()): RouterConfig {
  if (!isObject(raw)) throw new ConfigError('the top level of the config must be an object');
  const top = convict(topSchema, { env });
  try {
    top.load(raw as object);
    top.validate({ allowed: 'strict' });
  } catch (e) {
    throw new ConfigError(rewrite((e as Error).message, ''));
  }
  const c = top.getProperties() as TopConfig;
  const routers = c.workers.map((w, i) => {
    if (isObject(w) && w.type !== 'router') {
      throw new ConfigError(`workers[${i}].type: '${String(w.type)}' workers are not implemented yet (only "router")`);
    }
    return section<RouterWorkerConfig>(routerWorkerSchema, w, `workers[${i}]`);
  });
  if (routers.length !== 1) throw new ConfigError(`workers: exactly one worker of type "router" is required, found ${routers.length}`);
  const w = routers[0]!;
  const realms = w.realms.map((r, i) => realm(r, `workers[0].realms[${i}]`));
  if (realms.length === 0) throw new ConfigError('workers[0].realms: at least one realm is required');
  const dupRealm = realms.find((x, i) => realms.findIndex((y) => y.name === x.name) !== i);
  if (dupRealm) throw new ConfigError(`workers[0].realms: realm '${dupRealm.name}' is defined twice`);
  const transports = w.transports.map((t, i) => {
    if (isObject(t) && t.type !== 'websocket' && t.type !== 'web') {
      throw new ConfigError(`workers[0].transports[${i}].type: '${String(t.type)}' transports are not implemented yet (only "websocket" and "web")`);
    }
    return transport(t, `workers[0].transports[${i}]`, i, env, baseDir);
  });
  if (transports.length === 0) throw new ConfigError('workers[0].transports: at least one transport is required');
  const ids = transports.map((t) => t.id);
  const dupId = ids.find((x, i) => ids.indexOf(x) !== i);
  if (dupId) throw new ConfigError(`workers[0].transports: transport id '${dupId}' is used twice`);
  for (const [i, t] of transports.entries()) {
    const services = t.paths === null ? [['', t] as const] : t.paths.flatMap((p) => (p.type === 'websocket' ? [[`.paths.${p.path === '/' ? '"/"' : p.path.slice(1)}`, p.service] as const] : []));
    for (const [where, s] of services) {
      const role = s.auth.anonymous?.role;
      if (role !== undefined && !realms.some((r) => r.roles.some((x) => x.name === role))) {
        throw new ConfigError(`workers[0].transports[${i}]${where}.auth.anonymous.role: no realm has a role '${role}'`);
      }
    }
  }
  const first = transports[0]!;
  if (first.endpoint.type === 'tcp') {
    if (c.crosswire.port !== null) first.port = c.crosswire.port;
    if (c.crosswire.interface !== null) first.host = c.crosswire.interface;
  }
  const cores = availableParallelism();
  const realmThreads =
    c.crosswire.realm_threads > 0 ? Math.min(c.crosswire.realm_threads, realms.length) : Math.max(1, Math.min(realms.length, cores - 1));
  return deepFreeze({
    title: w.options.title,
    realms,
    transports,
    realmThreads,
    logLevel: c.crosswire.log_level,
    allowUwsFallback: c.crosswire.allow_uws_fallback,
    shutdownTimeout: c.crosswire.shutdown_timeout,
  });
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
