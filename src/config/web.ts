/**
 * `type: "web"` transports (Crossbar.io docs, "Web Services"): one endpoint, `paths` of path services. Crosswire
 * implements the services `websocket`, `static`, `redirect`, `json`, `nodeinfo`, the HTTP bridge
 * (`publisher`, `caller`, `webhook`, `subscriber`), `reverseproxy` and `path` (nested `paths`, flattened
 * here into multi-segment paths such as '/api/v1/push'); every other Crossbar service type is refused by name.
 */
import { resolve } from 'node:path';
import type { Schema } from 'convict';
import convict from 'convict';
import { bridgePath, REFUSED_WITH_ADVICE, reverseProxyPath, subscriberPath } from './bridge.js';
import { endpoint, type TransportConfig, type WebPathConfig, type WsServiceConfig, wsOptions } from './transport.js';
import { ID_PATTERN } from './schema.js';
import { ConfigError, isObject, section } from './section.js';

interface WebTransportFile {
  id: string | null;
  type: 'web';
  endpoint: Record<string, unknown>;
  paths: Record<string, unknown>;
  options: { access_log: boolean; display_tracebacks: boolean; hsts: boolean; hsts_max_age: number; client_timeout: number | null };
}

const webTransportSchema: Schema<Omit<WebTransportFile, 'paths'>> = {
  id: { doc: 'Transport id (default transportN).', format: 'nullable-id', default: null },
  type: { doc: 'Transport type.', format: ['web'], default: 'web' },
  endpoint: { doc: 'Listening endpoint.', format: Object, default: {} },
  options: {
    access_log: { doc: 'Log every HTTP request.', format: Boolean, default: false },
    display_tracebacks: { doc: 'Accepted for compatibility (Crosswire shows no tracebacks).', format: Boolean, default: false },
    hsts: { doc: 'Send Strict-Transport-Security (TLS endpoints only).', format: Boolean, default: false },
    hsts_max_age: { doc: 'HSTS max-age, seconds.', format: 'nat', default: 31536000 },
    client_timeout: { doc: 'Idle HTTP client timeout, seconds (uWS fixes it at ~10 s: a warning names the value).', format: 'nullable-nat', default: null, nullable: true },
  },
};

interface StaticFile {
  type: 'static';
  directory: string;
  package: string | null;
  resource: string | null;
  options: { enable_directory_listing: boolean; cache_timeout: number | null; default_file: string | null };
}

convict.addFormats({
  'nullable-nat': {
    validate(v: unknown) {
      if (v !== null && (!Number.isInteger(v) || (v as number) < 0)) throw new Error('must be a non-negative integer (seconds) or null');
    },
  },
});

const staticSchema: Schema<StaticFile> = {
  type: { doc: 'Service type.', format: ['static'], default: 'static' },
  directory: { doc: 'Directory served (relative to the config file).', format: String, default: '' },
  package: { doc: 'Python package resources (not applicable).', format: '*', default: null, nullable: true },
  resource: { doc: 'Python package resources (not applicable).', format: '*', default: null, nullable: true },
  options: {
    enable_directory_listing: { doc: 'List directories without an index.html.', format: Boolean, default: false },
    cache_timeout: { doc: 'Cache-Control max-age, seconds (null: no caching header).', format: 'nullable-nat', default: 12 * 3600, nullable: true },
    default_file: { doc: 'File served for paths that do not exist (single-page apps).', format: 'nullable-string', default: null, nullable: true },
  },
};

interface JsonFile {
  type: 'json';
  value: unknown;
  options: { prettify: boolean; allow_cross_origin: boolean; discourage_caching: boolean };
}

const jsonSchema: Schema<Omit<JsonFile, 'value'>> = {
  type: { doc: 'Service type.', format: ['json'], default: 'json' },
  options: {
    prettify: { doc: 'Indent the JSON.', format: Boolean, default: false },
    allow_cross_origin: { doc: 'Access-Control-Allow-Origin: * (and credentials).', format: Boolean, default: true },
    discourage_caching: { doc: 'Send no-cache headers.', format: Boolean, default: false },
  },
};

const NOT_IMPLEMENTED = new Set(['websocket-reverseproxy', 'upload', 'archive', 'wap', 'catalog', 'none', 'fileupload']);

const IMPLEMENTED = 'websocket, static, redirect, json, nodeinfo, metrics, health, ready, publisher, caller, webhook, subscriber, reverseproxy, path';

const PATH_KEY = /^([a-z0-9A-Z_-]+|\/)$/;

/** How deep `path` services may nest (a bound on what a config can make the router walk and mount). */
export const MAX_PATH_NESTING = 16;

/** A web transport: its endpoint, options and path services. */
export function webTransport(
  value: unknown,
  path: string,
  index: number,
  env: NodeJS.ProcessEnv,
  baseDir: string,
  wsService: (value: unknown, path: string, id: string) => WsServiceConfig,
  warnings: string[] = [],
): TransportConfig {
  // convict reads dots in keys as nesting, so free-form objects (paths, mime_types, json values)
  // are taken out before a section is validated and checked here instead.
  if (!isObject(value)) throw new ConfigError(`${path}: must be an object`);
  const { paths: rawPaths, ...rest } = value;
  if (!isObject(rawPaths)) throw new ConfigError(`${path}.paths: is required: an object of path services`);
  const t = { ...section<Omit<WebTransportFile, 'paths'>>(webTransportSchema, rest, path), paths: rawPaths };
  if (t.options.client_timeout !== null) {
    warnings.push(`${path}.options.client_timeout: ${JSON.stringify(t.options.client_timeout)} is not applied: uWebSockets.js closes idle HTTP connections after a fixed ~10 s`);
  }
  const id = t.id ?? `transport${index + 1}`;
  const ep = endpoint(t.endpoint, `${path}.endpoint`, env, baseDir);
  if (t.options.hsts && !(ep.endpoint.type === 'tcp' && ep.endpoint.tls !== null)) {
    throw new ConfigError(`${path}.options.hsts: HSTS needs a TLS endpoint`);
  }
  // No "/" is required (as in Crossbar since crossbario/crossbar ab2192cd, its test_root_not_required): "/" then answers 404.
  const paths: WebPathConfig[] = [];
  addPaths(t.paths, { path, prefix: '', at: '', depth: 0, id, baseDir, wsService, paths });
  // Each websocket path has its own auth (realm workers key it by path: load.ts wsAuthKey).
  // The other top-level WebSocket fields of a web transport are unused: its services carry their own.
  const { ws, maxMessageSize } = wsOptions({}, `${path}.options`);
  return {
    id,
    ...ep,
    url: null,
    serializers: [],
    maxMessageSize,
    ws,
    cookie: null,
    auth: {},
    debug: false,
    paths,
    web: { accessLog: t.options.access_log, hsts: t.options.hsts, hstsMaxAge: t.options.hsts_max_age },
  };
}

interface PathsContext {
  /** The config key of the transport, e.g. 'workers[0].transports[0]' (or '….web' in a universal transport). */
  path: string;
  /** The URL path the entries of these paths sit below: '' at the top, '/api' inside `"api": {"type": "path"}`. */
  prefix: string;
  /** The config key of these paths relative to the transport: '' at the top, '.paths.api' inside. */
  at: string;
  depth: number;
  id: string;
  baseDir: string;
  wsService: (value: unknown, path: string, id: string) => WsServiceConfig;
  paths: WebPathConfig[];
}

/** Checks the path services of `raw` and appends them to ctx.paths; `path` services recurse with their path as prefix. */
function addPaths(raw: Record<string, unknown>, ctx: PathsContext): void {
  const { path, prefix, at, depth, id, baseDir, wsService, paths } = ctx;
  for (const [key, svc] of Object.entries(raw)) {
    const rel = `${at}.paths.${key === '/' ? '"/"' : key}`;
    const pp = `${path}${rel}`;
    if (!PATH_KEY.test(key)) throw new ConfigError(`${pp}: a path must be "/" or one segment matching ${PATH_KEY}`);
    if (!isObject(svc)) throw new ConfigError(`${pp}: must be an object with a type`);
    // A nested "/" is served at the path service's own path (as Crossbar's): '/api', not '/api/'.
    const route = key === '/' ? prefix || '/' : `${prefix}/${key}`;
    switch (svc.type) {
      case 'websocket': {
        if ('endpoint' in svc) throw new ConfigError(`${pp}.endpoint: a websocket path service has no endpoint of its own`);
        paths.push({ type: 'websocket', path: route, service: wsService(svc, pp, id) });
        break;
      }
      case 'static': {
        const { mime_types: mimeTypes, ...opts } = isObject(svc.options) ? svc.options : {};
        const s = section<StaticFile>(staticSchema, { ...svc, options: opts }, pp);
        if (mimeTypes !== undefined && mimeTypes !== null) {
          if (!isObject(mimeTypes) || !Object.entries(mimeTypes).every(([k, v]) => /^\.?[A-Za-z0-9_+-]+$/.test(k) && typeof v === 'string')) {
            throw new ConfigError(`${pp}.options.mime_types: must map file extensions to MIME types, e.g. {".md": "text/markdown"}`);
          }
        }
        if (s.package !== null || s.resource !== null) throw new ConfigError(`${pp}.package: Python package resources do not exist in Crosswire; use directory`);
        if (s.directory === '') throw new ConfigError(`${pp}.directory: is required`);
        paths.push({
          type: 'static',
          path: route,
          directory: resolve(baseDir, s.directory),
          directoryListing: s.options.enable_directory_listing,
          mimeTypes: Object.fromEntries(Object.entries((mimeTypes ?? {}) as Record<string, string>).map(([k, v]) => [k.startsWith('.') ? k.toLowerCase() : `.${k.toLowerCase()}`, v])),
          cacheTimeout: s.options.cache_timeout,
          defaultFile: s.options.default_file,
        });
        break;
      }
      case 'redirect': {
        const keys = Object.keys(svc).filter((k) => k !== 'type' && k !== 'url');
        if (keys.length > 0) throw new ConfigError(`${pp}.${keys[0]}: unknown key`);
        if (typeof svc.url !== 'string' || svc.url === '') throw new ConfigError(`${pp}.url: is required (the redirect target)`);
        paths.push({ type: 'redirect', path: route, url: svc.url });
        break;
      }
      case 'json': {
        const { value: jsonValue, ...jrest } = svc;
        const j = section<Omit<JsonFile, 'value'>>(jsonSchema, jrest, pp);
        paths.push({ type: 'json', path: route, value: jsonValue ?? null, prettify: j.options.prettify, allowCrossOrigin: j.options.allow_cross_origin, discourageCaching: j.options.discourage_caching });
        break;
      }
      case 'nodeinfo':
      case 'metrics':
      case 'health':
      case 'ready': {
        const keys = Object.keys(svc).filter((k) => k !== 'type');
        if (keys.length > 0) throw new ConfigError(`${pp}.${keys[0]}: unknown key`);
        paths.push({ type: svc.type, path: route });
        break;
      }
      case 'publisher':
      case 'caller':
      case 'webhook':
        paths.push(bridgePath(svc.type, svc, pp, route, id));
        break;
      case 'subscriber':
        paths.push(subscriberPath(svc, pp, route, id));
        break;
      case 'reverseproxy':
        paths.push(reverseProxyPath(svc, pp, route));
        break;
      case 'path': {
        if (key === '/') throw new ConfigError(`${pp}.type: a "/" path service cannot be of type 'path' (it would nest under no segment): put its paths in the enclosing paths`);
        const extra = Object.keys(svc).filter((k) => !['id', 'type', 'paths'].includes(k));
        if (extra.length > 0) throw new ConfigError(`${pp}.${extra[0]}: unknown key (a path service has id, type, paths)`);
        if (svc.id !== undefined && svc.id !== null && (typeof svc.id !== 'string' || !ID_PATTERN.test(svc.id))) throw new ConfigError(`${pp}.id: must match ${ID_PATTERN}`);
        if (!isObject(svc.paths)) throw new ConfigError(`${pp}.paths: is required: an object of path services`);
        if (depth + 1 > MAX_PATH_NESTING) throw new ConfigError(`${pp}: path services nest at most ${MAX_PATH_NESTING} levels deep`);
        const first = paths.length;
        addPaths(svc.paths, { ...ctx, prefix: route, at: rel, depth: depth + 1 });
        // What its "/" serves decides what the path's own URL and the URLs below it that no entry has answer (404 otherwise, as in Crossbar).
        const root = paths.slice(first).find((p) => p.path === route && p.type !== 'path');
        paths.push({ type: 'path', path: route, own: root !== undefined, below: root?.type === 'static' || root?.type === 'reverseproxy', at: rel });
        break;
      }
      default:
        if (typeof svc.type === 'string' && Object.hasOwn(REFUSED_WITH_ADVICE, svc.type)) {
          throw new ConfigError(`${pp}.type: '${svc.type}' path services are not supported: ${REFUSED_WITH_ADVICE[svc.type]}`);
        }
        if (typeof svc.type === 'string' && NOT_IMPLEMENTED.has(svc.type)) {
          throw new ConfigError(`${pp}.type: '${svc.type}' path services are not implemented (${IMPLEMENTED} are)`);
        }
        throw new ConfigError(`${pp}.type: unknown path service type '${String(svc.type)}'`);
    }
    if (svc.type !== 'path') paths[paths.length - 1] = { ...paths[paths.length - 1]!, at: rel };
  }
}
