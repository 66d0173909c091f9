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
import type { Limit } from '../shared/labels.js';

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
    hello_timeout: number;
    auth_timeout: number;
    auth_threads: number;
    auth_fail_delay: number;
    auth_max_failures: number;
    auth_failure_window: number;
    log_format: 'auto' | 'json' | 'pretty';
    worker_max_heap_mb: number;
    python: string | null;
    flow: {
      worker_window: number;
      connection_window: number;
      pause_reading: boolean;
      connection_hold: number;
      hold_budget: number;
      send_budget: number;
    };
    ops: { on_transports: ('metrics' | 'health')[]; port: number | null; interface: string };
    cluster: {
      nats: {
        servers: string[];
        user: string | null;
        password: string | null;
        token: string | null;
        nkey: string | null;
        creds: string | null;
        tls: { ca: string | null; cert: string | null; key: string | null; handshake_first: boolean };
      };
      node_id: string | null;
    };
  };
}

export const topSchema: Schema<TopConfig> = {
  $schema: { doc: 'JSON schema reference (ignored, as in Crossbar.io).', format: String, default: '' },
  version: { doc: 'Config format version; must be 2 (Crossbar.io node config v2; none or 1: a version-1 file, see upgrade-config).', format: [2], default: 2 },
  // Object-valued: checked by controllerTitle (load.ts).
  controller: { doc: 'Crossbar.io controller section: only `id` and `options.title` are accepted.', format: Object, default: {} },
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
    hello_timeout: {
      doc: 'Milliseconds a WebSocket may stay open without a session (before its first HELLO, or after a GOODBYE) before it is closed (1008); 0 = never.',
      format: 'timer-ms',
      default: 10000,
      env: 'CROSSWIRE_HELLO_TIMEOUT',
    },
    shutdown_timeout: {
      doc:
        'Drain time on SIGTERM, in ms: in-flight calls may finish meanwhile; then waiting callers get ' +
        'wamp.error.canceled and sessions get up to 1 s more to answer GOODBYE (SIGINT: at most 1000).',
      format: 'timer-ms',
      default: 3000,
      env: 'CROSSWIRE_SHUTDOWN_TIMEOUT',
    },
    auth_timeout: {
      doc: 'Milliseconds from HELLO to WELCOME for an authenticating session (AUTHENTICATE and dynamic authenticators), and for a dynamic authorizer to answer.',
      format: 'positive-timer-ms',
      default: 10000,
      env: 'CROSSWIRE_AUTH_TIMEOUT',
    },
    auth_threads: {
      doc: 'Threads of the verification pool (Ed25519, PBKDF2) in each realm worker (0 = auto: half the cores divided by realm threads, at least 1).',
      format: 'nat',
      default: 0,
      env: 'CROSSWIRE_AUTH_THREADS',
    },
    auth_fail_delay: {
      doc: 'Milliseconds a failed authentication waits before its ABORT is sent (brute-force hygiene).',
      format: 'timer-ms',
      default: 500,
      env: 'CROSSWIRE_AUTH_FAIL_DELAY',
    },
    auth_max_failures: {
      doc: 'Failed authentications one peer address may have within auth_failure_window before its HELLOs are refused (0 = no limit).',
      format: 'nat',
      default: 10,
      env: 'CROSSWIRE_AUTH_MAX_FAILURES',
    },
    auth_failure_window: {
      doc: 'Milliseconds over which auth_max_failures counts (a peer is refused until its oldest counted failure is this old).',
      format: 'positive-int',
      default: 60000,
      env: 'CROSSWIRE_AUTH_FAILURE_WINDOW',
    },
    log_format: {
      doc: 'Log output: auto (pretty when stdout is a TTY, JSON lines otherwise), json or pretty.',
      format: ['auto', 'json', 'pretty'],
      default: 'auto',
      env: 'CROSSWIRE_LOG_FORMAT',
    },
    worker_max_heap_mb: {
      doc: "Old-generation heap limit of each realm worker thread in MB (0 = V8's default); a worker over it is restarted.",
      format: 'nat',
      default: 0,
      env: 'CROSSWIRE_WORKER_MAX_HEAP_MB',
    },
    python: {
      doc: 'Python interpreter for Python components (docs/python-components.md); null = the first of python3 on PATH and /usr/bin/python3 that can import Autobahn|Python.',
      format: 'nullable-string',
      default: null,
      env: 'CROSSWIRE_PYTHON',
    },
    // Flow control between the sockets and the realm workers, and the router-wide memory budgets
    // (docs/flow-control.md).
    flow: {
      worker_window: {
        doc: 'Bytes of client messages in flight to one realm worker (posted, not yet acknowledged); past it, connections sending to it are paused.',
        format: 'positive-int',
        default: 4 * 1024 * 1024,
        env: 'CROSSWIRE_FLOW_WORKER_WINDOW',
      },
      connection_window: {
        doc: 'Bytes of one connection\'s messages in flight to its realm worker; past it, that connection is paused until the worker has consumed them.',
        format: 'positive-int',
        default: 1024 * 1024,
        env: 'CROSSWIRE_FLOW_CONNECTION_WINDOW',
      },
      pause_reading: {
        doc: 'Stop reading the socket of a paused connection (TCP backpressure to its client); false: only hold its messages, up to connection_hold.',
        format: Boolean,
        default: true,
        env: 'CROSSWIRE_FLOW_PAUSE_READING',
      },
      connection_hold: {
        doc: 'Bytes of messages one paused connection may have waiting on the main thread; a message past it closes the connection (1008).',
        format: 'positive-int',
        default: 16 * 1024 * 1024,
        env: 'CROSSWIRE_FLOW_CONNECTION_HOLD',
      },
      hold_budget: {
        doc: 'Bytes of messages all paused connections together may have waiting; past it, the connection holding most is closed (1008).',
        format: 'positive-int',
        default: 128 * 1024 * 1024,
        env: 'CROSSWIRE_FLOW_HOLD_BUDGET',
      },
      send_budget: {
        doc: 'Bytes all connections together may have in their send buffers; past it, the connection with the largest buffer is dropped.',
        format: 'positive-int',
        default: 128 * 1024 * 1024,
        env: 'CROSSWIRE_FLOW_SEND_BUDGET',
      },
    },
    ops: {
      on_transports: {
        doc: 'Operations endpoints on every WebSocket transport port: "metrics" (GET /metrics), "health" (GET /health and /ready); [] or "" for none.',
        format: 'ops-services',
        default: ['metrics', 'health'],
        env: 'CROSSWIRE_OPS_ON_TRANSPORTS',
      },
      port: {
        doc: 'Port of a separate plain-HTTP listener serving /metrics, /health and /ready (null = none, 0 = any free port).',
        format: 'port-or-null',
        default: null,
        env: 'CROSSWIRE_OPS_PORT',
      },
      interface: {
        doc: 'Interface of that separate listener.',
        format: 'non-empty-string',
        default: '127.0.0.1',
        env: 'CROSSWIRE_OPS_INTERFACE',
      },
    },
    cluster: {
      nats: {
        servers: {
          doc: 'NATS server URLs (nats://host:port) joining this node to a cluster of Crosswire nodes (docs/cluster.md); [] = a single node.',
          format: 'nats-servers',
          default: [],
          env: 'CROSSWIRE_CLUSTER_NATS',
        },
        user: { doc: 'NATS user name ("${VARNAME}" reads the environment).', format: 'nullable-string', default: null },
        password: { doc: 'NATS password ("${VARNAME}" reads the environment).', format: 'nullable-string', default: null },
        token: { doc: 'NATS authentication token ("${VARNAME}" reads the environment).', format: 'nullable-string', default: null },
        nkey: {
          doc: 'NATS NKey user: the file holding its seed (relative to the config file), or "${VARNAME}" whose value is the seed.',
          format: 'nullable-string',
          default: null,
        },
        creds: {
          doc: 'NATS user credentials (JWT and NKey seed): a .creds file (relative to the config file), or "${VARNAME}" whose value is the file\'s content.',
          format: 'nullable-string',
          default: null,
        },
        tls: {
          ca: { doc: 'PEM file of the CA(s) that signed the NATS server\'s certificate (null: the system\'s CAs); sets TLS on.', format: 'nullable-string', default: null },
          cert: { doc: 'PEM client certificate for mutual TLS (with key); sets TLS on.', format: 'nullable-string', default: null },
          key: { doc: 'PEM private key of that client certificate (unencrypted).', format: 'nullable-string', default: null },
          handshake_first: {
            doc: 'Start with the TLS handshake instead of the NATS INFO line (the server needs handshake_first, nats-server 2.10 or later); sets TLS on.',
            format: Boolean,
            default: false,
          },
        },
      },
      node_id: {
        doc: 'This node\'s name in the cluster (logs, NATS connection names); null = generated from the host name.',
        format: 'nullable-node-id',
        default: null,
        env: 'CROSSWIRE_NODE_ID',
      },
    },
  },
};

export interface RouterWorkerConfig {
  type: 'router';
  id: string | null;
  options: { title: string | null } & NativeWorkerOptions;
  realms: unknown[];
  transports: unknown[];
  components: unknown[];
}

/** Crossbar's native worker options that Python components use (Crossbar.io docs, "Native Worker Options"). */
export interface NativeWorkerOptions {
  python: string | null;
  pythonpath: unknown[];
  env: { inherit: boolean | string[]; vars: Record<string, unknown> };
}

/** The schema of those options (router and container workers). */
export const nativeWorkerOptionsSchema = {
  python: { doc: "Python interpreter for this worker's Python components (default: crosswire.python).", format: 'nullable-string', default: null },
  pythonpath: { doc: "Directories put first on the Python components' sys.path, relative to the config file.", format: Array, default: [] },
  env: {
    inherit: { doc: "Pass the router's environment on to Python components: true, false, or a list of variable names.", format: 'env-inherit', default: true },
    vars: { doc: 'Environment variables set for Python components.', format: Object, default: {} },
  },
};

export const routerWorkerSchema: Schema<RouterWorkerConfig> = {
  type: { doc: 'Worker type; only "router" is implemented.', format: ['router'], default: 'router' },
  id: { doc: 'Worker id.', format: 'nullable-router-id', default: null },
  options: {
    title: { doc: 'Process title.', format: 'nullable-string', default: null },
    ...nativeWorkerOptionsSchema,
  },
  realms: { doc: 'Realms served by this router.', format: Array, default: [] },
  transports: { doc: 'Listening transports.', format: Array, default: [] },
  components: { doc: 'Router components: Python classes (type "class") joined to a realm with a fixed role (docs/python-components.md).', format: Array, default: [] },
};

export interface RealmFileConfig {
  name: string;
  roles: unknown[];
  options: { uri_check: 'strict' | 'loose'; enable_meta_api: boolean; event_dispatching_chunk_size: number } & RealmLimits;
  store: Record<string, unknown> | null;
  stats: Record<string, unknown> | null;
}

const MiB = 1024 * 1024;

/** The realm options max_* as written: 0 = no limit; null (byte budgets only) = from the worker's heap limit (limits.ts). */
export type RealmLimits = Record<Limit, number | null>;

/**
 * Crosswire's limits on what clients can make a realm hold (docs/limits.md); Crossbar.io has no
 * such keys. 0 = no limit; null (byte budgets only) = derived from the realm worker's heap limit.
 */
export const realmLimitsSchema: Schema<RealmLimits> = {
  max_retained_events: { doc: 'Crosswire: most retained events the realm keeps (all topics together).', format: 'nat', default: 10000 },
  max_retained_bytes: {
    doc: "Crosswire: most bytes of retained events the realm keeps (their PUBLISH frames' size); null = 1/32 of the worker's heap limit, at most 64 MiB.",
    format: 'nullable-nat',
    default: null,
  },
  max_retained_topic_bytes: { doc: 'Crosswire: most bytes of retained events kept for one topic (older ones make room first).', format: 'nat', default: MiB },
  max_event_history_bytes: {
    doc: "Crosswire: most bytes of events each store.event-history entry keeps (older ones make room first); null = 1/64 of the worker's heap limit, at most 16 MiB.",
    format: 'nullable-nat',
    default: null,
  },
  max_testaments_per_session: { doc: 'Crosswire: most testaments (wamp.session.add_testament) one session may hold.', format: 'nat', default: 16 },
  max_testament_bytes_per_session: {
    doc: "Crosswire: most bytes of testaments one session may hold (their add_testament CALL frames' size).",
    format: 'nat',
    default: 64 * 1024,
  },
  max_subscriptions_per_session: { doc: 'Crosswire: most subscriptions one session may hold.', format: 'nat', default: 10000 },
  max_registrations_per_session: { doc: 'Crosswire: most registrations one session may hold.', format: 'nat', default: 10000 },
  max_pending_calls_per_session: { doc: 'Crosswire: most calls one session may have waiting for their callees.', format: 'nat', default: 10000 },
  max_held_messages_per_session: {
    doc: "Crosswire: most messages of one session held while a dynamic authorizer decides one of its earlier requests.",
    format: 'nat',
    default: 1000,
  },
  max_held_bytes_per_session: {
    doc: "Crosswire: most bytes of such held messages; null = 1/64 of the worker's heap limit, at most 16 MiB.",
    format: 'nullable-nat',
    default: null,
  },
  max_queued_call_bytes: {
    doc: "Crosswire: most bytes of the CALLs waiting in the realm's call queues (store.call-queue); null = 1/32 of the worker's heap limit, at most 64 MiB.",
    format: 'nullable-nat',
    default: null,
  },
  max_queued_bytes_per_session: {
    doc: "Crosswire: most bytes of one session's CALLs waiting in call queues; null = 1/64 of the worker's heap limit, at most 16 MiB.",
    format: 'nullable-nat',
    default: null,
  },
  max_uri_length: { doc: 'Crosswire: longest topic or procedure URI (or pattern) a session may subscribe or register, in characters.', format: 'nat', default: 4096 },
};

export const realmSchema: Schema<RealmFileConfig> = {
  name: { doc: 'Realm name.', format: 'realm-name', default: '' },
  roles: { doc: 'Roles of the realm (authorization).', format: Array, default: [] },
  options: {
    uri_check: {
      doc: 'URI validation policy: strict ([0-9a-z_] components) or loose.',
      format: ['strict', 'loose'],
      default: 'strict',
    },
    enable_meta_api: {
      doc: 'Provide the wamp.session.*, wamp.registration.*, wamp.subscription.* meta API and events.',
      format: Boolean,
      default: true,
    },
    event_dispatching_chunk_size: {
      doc: 'Accepted for Crossbar compatibility; Crosswire hands each fan-out to the I/O thread in one batch, so it has no effect (a warning is logged).',
      format: 'nat',
      default: 100,
    },
    ...realmLimitsSchema,
  },
  // Object-valued: checked by checkStore (load.ts).
  store: { doc: 'Realm store: {"type": "memory", "limit": N, "event-history": [{uri, match, limit}], "call-queue": [{uri, match, limit}]}.', format: Object, default: null, nullable: true },
  // Object-valued: checked by checkStats (load.ts).
  stats: {
    doc: 'Session statistics (wamp.session.on_stats): {"rated_message_size", "trigger_after_rated_messages", "trigger_after_duration" (ns), "trigger_on_join", "trigger_on_leave"}.',
    format: Object,
    default: null,
    nullable: true,
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

export interface DynamicRoleFileConfig {
  name: string;
  authorizer: string;
  'authorizer-cache-size': number;
  'authorizer-cache-ttl': number;
}

/** A role decided by a dynamic authorizer procedure (Crossbar's `authorizer`), plus Crosswire's cache. */
export const dynamicRoleSchema: Schema<DynamicRoleFileConfig> = {
  name: { doc: 'Role name.', format: 'non-empty-string', default: '' },
  authorizer: { doc: 'Procedure called as authorize(session, uri, action, options) on the same realm.', format: 'non-empty-string', default: '' },
  'authorizer-cache-size': {
    doc: 'Crosswire: most decisions cached per role (answers with cache: true; 0 = no cache).',
    format: 'nat',
    default: 10000,
  },
  'authorizer-cache-ttl': { doc: 'Crosswire: milliseconds a cached decision is used.', format: 'positive-int', default: 60000 },
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
  options: { doc: 'WebSocket options (see docs/websocket.md).', format: Object, default: null, nullable: true },
  // Object-valued: convict does not descend into it; its content is checked by checkAuth (load.ts).
  auth: { doc: 'Authentication methods (anonymous, ticket, wampcra, cryptosign, scram).', format: Object, default: null, nullable: true },
  cookie: { doc: 'Cookie tracking (name, length, max_age, store, secure, http_strict, same_site).', format: Object, default: null, nullable: true },
  debug: { doc: 'Log every WAMP message of this transport at info level.', format: Boolean, default: false },
};
