/**
 * The configuration schema: the one place every key, default and environment variable is
 * declared. The file format is Crossbar.io's (`version: 2`, `workers[]` of type "router" with
 * `realms[]` and `transports[]`), so a Crossbar transport config works unchanged where the
 * feature exists here; anything Crosswire does not implement is refused by name, never ignored.
 *
 * convict validates one level of objects at a time; lists of objects (workers, realms, roles,
 * transports) are validated element by element with the sub-schemas below (see load.ts).
 */
import type { Schema } from 'convict';

export const ID_PATTERN = /^[a-z][a-z0-9_]{2,63}$/;

/** Top level. */
export interface TopConfig {
  $schema: string;
  version: number;
  controller: Record<string, unknown>;
  workers: unknown[];
  crosswire: {
    port: number | null;
    interface: string | null;
    realm_threads: number;
    log_level: string;
    allow_uws_fallback: boolean;
    shutdown_timeout: number;
  };
}

export const topSchema: Schema<TopConfig> = {
  $schema: { doc: 'JSON schema reference (ignored, as in Crossbar.io).', format: String, default: '' },
  version: { doc: 'Config format version; must be 2 (Crossbar.io node config v2).', format: [2], default: 2 },
  controller: { doc: 'Crossbar.io controller section: only `id` and `options.title` are accepted.', format: 'controller', default: {} },
  workers: { doc: 'Crossbar.io workers; exactly one of type "router" (validated in load.ts).', format: Array, default: [] },
  crosswire: {
    port: {
      doc: 'Overrides the TCP port of the first transport (0 = pick a free port).',
      format: 'port-or-null',
      default: null,
      env: 'CROSSWIRE_PORT',
    },
    interface: {
      doc: 'Overrides the listening interface of the first transport.',
      format: 'nullable-string',
      default: null,
      env: 'CROSSWIRE_INTERFACE',
    },
    realm_threads: {
      doc: 'Realm worker threads (0 = one per realm, at most the number of cores minus one, at least one).',
      format: 'nat',
      default: 0,
      env: 'CROSSWIRE_REALM_THREADS',
    },
    log_level: {
      doc: 'Log level.',
      format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      env: 'CROSSWIRE_LOG_LEVEL',
    },
    allow_uws_fallback: {
      doc: "Start even if uWebSockets.js's native binary failed to load (slow pure-JS fallback).",
      format: Boolean,
      default: false,
      env: 'CROSSWIRE_ALLOW_UWS_FALLBACK',
    },
    shutdown_timeout: {
      doc: 'Milliseconds to wait for sessions to answer GOODBYE on SIGTERM/SIGINT before closing them.',
      format: 'nat',
      default: 3000,
      env: 'CROSSWIRE_SHUTDOWN_TIMEOUT',
    },
  },
};

export interface RouterWorkerConfig {
  type: 'router';
  id: string | null;
  options: { title: string | null };
  realms: unknown[];
  transports: unknown[];
}

export const routerWorkerSchema: Schema<RouterWorkerConfig> = {
  type: { doc: 'Worker type; only "router" is implemented.', format: ['router'], default: 'router' },
  id: { doc: 'Worker id.', format: 'nullable-id', default: null },
  options: {
    title: { doc: 'Process title.', format: 'nullable-string', default: null },
  },
  realms: { doc: 'Realms served by this router.', format: Array, default: [] },
  transports: { doc: 'Listening transports.', format: Array, default: [] },
};

export interface RealmFileConfig {
  name: string;
  roles: unknown[];
  options: { uri_check: 'strict' | 'loose' };
}

export const realmSchema: Schema<RealmFileConfig> = {
  name: { doc: 'Realm name.', format: 'realm-name', default: '' },
  roles: { doc: 'Roles of the realm (authorization).', format: Array, default: [] },
  options: {
    uri_check: {
      doc: 'URI validation policy: strict ([0-9a-z_] components) or loose.',
      format: ['strict', 'loose'],
      default: 'strict',
    },
  },
};

export interface RoleFileConfig {
  name: string;
  'allow-by-default': boolean;
  permissions: unknown[];
}

export const roleSchema: Schema<RoleFileConfig> = {
  name: { doc: 'Role name.', format: 'non-empty-string', default: '' },
  'allow-by-default': { doc: 'Allow every action no permission matches.', format: Boolean, default: false },
  permissions: { doc: 'Static permissions.', format: Array, default: [] },
};

export interface PermissionFileConfig {
  uri: string;
  match: 'exact' | 'prefix' | 'wildcard' | null;
  allow: { call: boolean; register: boolean; publish: boolean; subscribe: boolean };
  disclose: { caller: boolean; publisher: boolean };
  cache: boolean;
}

export const permissionSchema: Schema<PermissionFileConfig> = {
  uri: { doc: 'URI or pattern (starred syntax when match is absent).', format: String, default: '' },
  match: { doc: 'exact, prefix or wildcard.', format: ['exact', 'prefix', 'wildcard', null], default: null },
  allow: {
    call: { doc: 'Allow CALL.', format: Boolean, default: false },
    register: { doc: 'Allow REGISTER.', format: Boolean, default: false },
    publish: { doc: 'Allow PUBLISH.', format: Boolean, default: false },
    subscribe: { doc: 'Allow SUBSCRIBE.', format: Boolean, default: false },
  },
  disclose: {
    caller: { doc: 'Disclose the caller to callees.', format: Boolean, default: false },
    publisher: { doc: 'Disclose the publisher to subscribers.', format: Boolean, default: false },
  },
  cache: { doc: 'Accepted for compatibility; static permissions are always cached.', format: Boolean, default: false },
};

export * from './schema-transport.js';

export interface WebSocketTransportConfig {
  id: string | null;
  type: 'websocket';
  endpoint: Record<string, unknown>;
  url: string | null;
  serializers: string[];
  options: Record<string, unknown> | null;
  auth: Record<string, unknown> | null;
  cookie: Record<string, unknown> | null;
  debug: boolean;
}

export const websocketTransportSchema: Schema<WebSocketTransportConfig> = {
  id: { doc: 'Transport id (default transportN).', format: 'nullable-id', default: null },
  type: { doc: 'Transport type.', format: ['websocket'], default: 'websocket' },
  // Object-valued keys are validated by their own sub-schemas (schema-transport.ts, transport.ts).
  endpoint: { doc: 'Listening endpoint: tcp (optionally with tls) or unix.', format: Object, default: {} },
  url: { doc: 'Public WebSocket URL (informational).', format: 'nullable-ws-url', default: null },
  serializers: {
    doc: 'WAMP serializers offered, each plain and batched (default: all, as Crossbar.io).',
    format: 'serializers',
    default: ['cbor', 'msgpack', 'json'],
  },
  options: { doc: 'WebSocket options (see README "WebSocket transport").', format: Object, default: null, nullable: true },
  // Object-valued: convict does not descend into it; its content is checked by checkAuth (load.ts).
  auth: { doc: 'Authentication methods; only anonymous is implemented.', format: Object, default: null, nullable: true },
  cookie: { doc: 'Cookie tracking (name, length, max_age, store, secure, http_strict, same_site).', format: Object, default: null, nullable: true },
  debug: { doc: 'Log every WAMP message of this transport at info level.', format: Boolean, default: false },
};
