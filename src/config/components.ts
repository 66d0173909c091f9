/**
 * Container and guest workers (Crossbar's `type: "container"` and `type: "guest"`), with their
 * components' connecting transports. Validated like the rest of the config: convict sub-schemas,
 * unknown keys refused by name.
 */
import { isAbsolute, resolve } from 'node:path';
import type { Schema } from 'convict';
import { isValidUri, REALM_NAME } from '../shared/wamp/uris.js';
import { ID_PATTERN, nativeWorkerOptionsSchema } from './schema.js';

export type RestartPolicy = 'restart-always' | 'restart-on-failed' | 'restart-never';
export type ShutdownPolicy =
  | 'shutdown-manual'
  | 'shutdown-on-last-component-stopped'
  | 'shutdown-on-any-component-failed'
  | 'shutdown-on-any-component-stopped';

export interface ConnectingTransport {
  type: 'websocket';
  url: string;
  endpoint:
    | { type: 'tcp'; host: string; port: number; version: 4 | 6; timeout: number; tls: ClientTls | null }
    | { type: 'unix'; path: string; timeout: number };
  serializers: ('json' | 'msgpack')[];
  reconnect: { max_retries: number; initial_retry_delay: number; max_retry_delay: number; retry_delay_growth: number; retry_delay_jitter: number };
}

/**
 * A connecting RawSocket transport (Crossbar's checkconfig check_connecting_transport_rawsocket):
 * Python container components only (AutobahnJS on Node has no RawSocket client).
 */
export interface RawSocketConnectingTransport {
  type: 'rawsocket';
  endpoint: ConnectingTransport['endpoint'];
  /** The one serializer the client asks for in its handshake. */
  serializer: 'json' | 'msgpack' | 'cbor';
  /** Crossbar's optional rs:// or rss:// URL: informational, the endpoint is what is connected to. */
  url: string | null;
  reconnect: ConnectingTransport['reconnect'];
}

export interface ClientTls {
  hostname: string;
  ca_certificates: string[];
  certificate: string | null;
  key: string | null;
}

export interface ComponentAuth {
  method: 'ticket' | 'wampcra' | 'cryptosign';
  authid: string;
  /** ticket: the ticket; wampcra: the secret; cryptosign: the private key (hex seed). */
  secret: string;
  authrole: string | null;
}

export interface ComponentConfig {
  id: string;
  module: string;
  realm: string;
  transport: ConnectingTransport;
  extra: unknown;
  auth: ComponentAuth | null;
}

export interface ContainerConfig {
  id: string;
  restart: RestartPolicy;
  shutdown: ShutdownPolicy;
  /** The JavaScript components (the container's Node process); its Python ones are in RouterConfig.pythonComponents. */
  components: ComponentConfig[];
  /** The container's `options.env`: the environment of its Node process, as of its Python components. */
  env: WorkerEnv;
}

/** A worker's environment for its Python components (Crossbar's `options.env`). */
export interface WorkerEnv {
  /** true: all of the router's variables; false: none; a list: those names. */
  inherit: boolean | string[];
  vars: Record<string, string>;
}

/**
 * A Python component (`type: "class"`): a router component (joins `realm` with a fixed role over
 * the router's private component path) or a container component (connects through `transport`).
 * Each runs in its own Python process (python/crosswire_component.py).
 */
export interface PythonComponentConfig {
  kind: 'router' | 'container';
  /** The config key of the entry, for messages (workers[i].components[j]). */
  key: string;
  /** Its worker's id (router workers without one: "router"). */
  worker: string;
  id: string;
  classname: string;
  realm: string;
  /** ComponentConfig.extra: a dict, as Crossbar requires (it adds `cbdir`). */
  extra: Record<string, unknown>;
  /** Router components: the role and authid the router assigns. */
  role: string;
  authid: string | null;
  /** Container components: the connecting transport. */
  transport: ConnectingTransport | RawSocketConnectingTransport | null;
  restart: RestartPolicy;
  /** The worker's `options.python` (null: crosswire.python or discovery). */
  python: string | null;
  /** Absolute directories, first on sys.path. */
  pythonpath: string[];
  env: WorkerEnv;
  /** The config file's directory (Crossbar's cbdir): the process's working directory. */
  cbdir: string;
}

export interface GuestConfig {
  id: string;
  executable: string;
  arguments: string[];
  env: Record<string, string> | null;
  inheritEnv: boolean;
  workdir: string;
  watch: string[];
}

export const containerSchema = {
  type: { doc: 'Worker type.', format: ['container'], default: 'container' },
  id: { doc: 'Worker id (default containerN): any non-empty string but "controller", as Crossbar.', format: 'nullable-worker-id', default: null },
  options: {
    restart: {
      doc: 'When a component fails or stops: restart-always, restart-on-failed (default), restart-never.',
      format: ['restart-always', 'restart-on-failed', 'restart-never'],
      default: 'restart-on-failed',
    },
    shutdown: {
      doc: 'When the container stops itself.',
      format: ['shutdown-manual', 'shutdown-on-last-component-stopped', 'shutdown-on-any-component-failed', 'shutdown-on-any-component-stopped'],
      default: 'shutdown-manual',
    },
    title: { doc: 'Process title.', format: 'nullable-string', default: null },
    ...nativeWorkerOptionsSchema,
  },
  components: { doc: 'Components hosted by the container.', format: Array, default: [] },
} satisfies Schema<unknown>;

export const componentSchema = {
  type: { doc: 'Component type; only "module" (a JS module) is implemented.', format: ['module'], default: 'module' },
  id: { doc: 'Component id (default componentN): any non-empty string, as Crossbar.', format: 'nullable-name', default: null },
  module: { doc: 'Path to the .js/.mjs module, relative to the config file.', format: 'non-empty-string', default: '' },
  realm: { doc: 'Realm to join.', format: 'realm-name', default: '' },
  transport: { doc: 'Connecting transport.', format: Object, default: null, nullable: true },
  extra: { doc: 'Passed to the component as its third argument.', format: '*', default: null },
  auth: { doc: 'Client credentials: {ticket|wampcra|cryptosign: {...}}.', format: Object, default: null, nullable: true },
} satisfies Schema<unknown>;

/** A Python class component of a container (Crossbar's container component `type: "class"`). */
export const pythonContainerComponentSchema = {
  type: { doc: 'Component type.', format: ['class'], default: 'class' },
  id: { doc: 'Component id (default componentN): any non-empty string, as Crossbar.', format: 'nullable-name', default: null },
  classname: { doc: 'Dotted name of an Autobahn|Python ApplicationSession subclass (module.Class).', format: 'non-empty-string', default: '' },
  realm: { doc: 'Realm to join.', format: 'realm-name', default: '' },
  transport: { doc: 'Connecting transport.', format: Object, default: null, nullable: true },
  extra: { doc: 'ComponentConfig.extra (a dict).', format: '*', default: null },
} satisfies Schema<unknown>;

/**
 * Crossbar's `crossbar.bridge.rest.RESTCallee` in a container: the keys of a container class
 * component, and Crosswire's `auth` (client credentials, as a `module` component has them).
 */
export const restCalleeComponentSchema = {
  ...pythonContainerComponentSchema,
  classname: { doc: 'crossbar.bridge.rest.RESTCallee (a built-in JavaScript component in Crosswire).', format: 'non-empty-string', default: '' },
  extra: { doc: 'procedure, baseurl; Crosswire: timeout, content_limit, concurrency.', format: '*', default: null },
  auth: { doc: 'Client credentials: {ticket|wampcra|cryptosign: {...}}.', format: Object, default: null, nullable: true },
} satisfies Schema<unknown>;

/** A Python class component of a router worker (Crossbar's router component `type: "class"`). */
export const pythonRouterComponentSchema = {
  type: { doc: 'Component type.', format: ['class'], default: 'class' },
  id: { doc: 'Component id (default componentN): any non-empty string, as Crossbar.', format: 'nullable-name', default: null },
  classname: { doc: 'Dotted name of an Autobahn|Python ApplicationSession subclass (module.Class).', format: 'non-empty-string', default: '' },
  realm: { doc: 'Realm to join.', format: 'realm-name', default: '' },
  role: { doc: 'Role the router assigns (no authentication: trusted setup).', format: 'non-empty-string', default: 'anonymous' },
  authid: { doc: 'Crosswire: the authid the router assigns (default: a random UUID, as Crossbar).', format: 'nullable-name', default: null },
  references: { doc: 'Crossbar: references to connections (not implemented).', format: Array, default: [] },
  extra: { doc: 'ComponentConfig.extra (a dict).', format: '*', default: null },
} satisfies Schema<unknown>;

const reconnectSchema = {
  max_retries: { doc: 'Reconnect attempts after a lost or failed connection (-1 = forever).', format: 'int', default: -1 },
  initial_retry_delay: { doc: 'First reconnect delay (s).', format: Number, default: 0.5 },
  max_retry_delay: { doc: 'Largest reconnect delay (s).', format: Number, default: 10 },
  retry_delay_growth: { doc: 'Delay factor per attempt.', format: Number, default: 1.5 },
  retry_delay_jitter: { doc: 'Jitter: standard deviation as a fraction of the delay.', format: Number, default: 0.1 },
};

export const connectingTransportSchema = {
  id: { doc: 'Transport id.', format: 'nullable-id', default: null },
  type: { doc: 'Transport type; only "websocket".', format: ['websocket'], default: 'websocket' },
  url: { doc: 'WebSocket URL (Host header and path).', format: 'nullable-ws-url', default: null },
  endpoint: { doc: 'Connecting endpoint: tcp {host, port, version, timeout, tls} or unix {path, timeout}.', format: Object, default: null, nullable: true },
  serializers: { doc: 'Serializers offered, in preference order (honoured, unlike Crossbar).', format: 'serializers', default: ['json', 'msgpack'] },
  options: { doc: 'Client-side WebSocket options (none implemented yet).', format: Object, default: {} },
  reconnect: reconnectSchema,
} satisfies Schema<unknown>;

/** Crossbar's connecting RawSocket transport keys (id, type, endpoint, serializer, url, debug), plus Crosswire's reconnect. */
export const rawsocketConnectingTransportSchema = {
  id: { doc: 'Transport id.', format: 'nullable-id', default: null },
  type: { doc: 'Transport type.', format: ['rawsocket'], default: 'rawsocket' },
  endpoint: { doc: 'Connecting endpoint: tcp {host, port, version, timeout, tls} or unix {path, timeout}.', format: Object, default: null, nullable: true },
  serializer: { doc: 'The serializer asked for in the handshake: json, msgpack or cbor (required, as in Crossbar).', format: '*', default: null, nullable: true },
  url: { doc: 'Crossbar: an rs:// or rss:// URL (informational: the endpoint is connected to).', format: '*', default: null, nullable: true },
  debug: { doc: 'Crossbar: debug logging of the transport (accepted, no effect: use the log level).', format: 'nullable-bool', default: false },
  reconnect: reconnectSchema,
} satisfies Schema<unknown>;

export const guestSchema = {
  type: { doc: 'Worker type.', format: ['guest'], default: 'guest' },
  id: { doc: 'Worker id (default guestN): any non-empty string but "controller", as Crossbar.', format: 'nullable-worker-id', default: null },
  executable: { doc: 'Program to run.', format: 'non-empty-string', default: '' },
  arguments: { doc: 'Its arguments.', format: Array, default: [] },
  options: {
    env: {
      inherit: { doc: 'Pass the router environment on.', format: Boolean, default: true },
      vars: { doc: 'Extra environment variables.', format: Object, default: {} },
    },
    workdir: { doc: 'Working directory, relative to the config file.', format: String, default: '.' },
    watch: {
      directories: { doc: 'Restart the guest when a file under these directories changes.', format: Array, default: [] },
      action: { doc: 'What a change does.', format: ['restart'], default: 'restart' },
    },
  },
} satisfies Schema<unknown>;

export function validId(v: unknown): boolean {
  return typeof v === 'string' && ID_PATTERN.test(v);
}
export { REALM_NAME, isValidUri, isAbsolute, resolve };
