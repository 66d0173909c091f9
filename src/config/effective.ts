import convict from 'convict';
import { buildConfig, section } from './load.js';
import {
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
  type WebSocketOptionsFile,
  type WebSocketTransportConfig,
  tcpEndpointSchema,
  unixEndpointSchema,
  websocketOptionsSchema,
  websocketTransportSchema,
} from './schema.js';

type Json = Record<string, unknown>;

/**
 * The effective configuration in Crossbar's vocabulary: the file (or the embedded default)
 * with every default filled in and environment overrides applied, secrets masked. Validates
 * first, so a bad config throws the same ConfigError as `check`.
 */
export function effectiveConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): Json {
  const resolved = buildConfig(raw, env);
  const top = convict(topSchema, { env });
  top.load(raw as object);
  const c = top.getProperties() as TopConfig as unknown as Json;
  c.workers = (c.workers as unknown[]).map((w, i) => {
    // Container and guest workers are shown as written: their keys are checked by buildConfig
    // above and have no defaults to fill in beyond what their own sections say.
    const type = typeof w === 'object' && w !== null ? (w as Json).type : undefined;
    if (type === 'container' || type === 'guest') return structuredClone(w) as Json;
    const wc = section<RouterWorkerConfig>(routerWorkerSchema, w, `workers[${i}]`) as unknown as Json;
    wc.realms = (wc.realms as unknown[]).map((r, j) => {
      const rc = section<RealmFileConfig>(realmSchema, r, `workers[${i}].realms[${j}]`) as unknown as Json;
      rc.roles = (rc.roles as unknown[]).map((role, k) => {
        const p = `workers[${i}].realms[${j}].roles[${k}]`;
        const roc = section<RoleFileConfig>(roleSchema, role, p) as unknown as Json;
        roc.permissions = (roc.permissions as unknown[]).map((x, n) => section<PermissionFileConfig>(permissionSchema, x, `${p}.permissions[${n}]`));
        return roc;
      });
      return rc;
    });
    wc.transports = (wc.transports as unknown[]).map((t, j) => {
      const tp = `workers[${i}].transports[${j}]`;
      // A web transport is shown as written (its path services have their own shapes), with its id.
      if (typeof t === 'object' && t !== null && (t as Json).type === 'web') return { ...(t as Json), id: resolved.transports[j]!.id };
      const tc = section<WebSocketTransportConfig>(websocketTransportSchema, t, tp) as unknown as Json;
      // Every WebSocket option with its effective default (compression is shown as written).
      tc.options = section<WebSocketOptionsFile>(websocketOptionsSchema, tc.options ?? {}, `${tp}.options`);
      const ep = (tc.endpoint ?? {}) as Json;
      tc.endpoint = ep.type === 'unix' ? section(unixEndpointSchema, ep, `${tp}.endpoint`) : section(tcpEndpointSchema, ep, `${tp}.endpoint`);
      // The defaults that live outside the schema: the generated id and the anonymous auth.
      tc.id = resolved.transports[j]!.id;
      tc.auth = resolved.transports[j]!.auth;
      return tc;
    });
    return wc;
  });
  return maskSecrets(c) as Json;
}

/**
 * Keys whose values are secrets in Crossbar's vocabulary (ticket and WAMP-CRA secrets, SCRAM
 * keys and salts, TLS private keys, passwords, tokens): masked when a config is printed.
 */
const SECRET_KEY = /^(secret|ticket|password|passphrase|token|key|private_key|privkey|salt|stored-key|server-key|stored_key|server_key)$|_(secret|password|token)$/i;
export const MASK = '********';

/** A deep copy of `v` with the value of every secret key replaced by MASK. */
export function maskSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(maskSecrets);
  if (typeof v !== 'object' || v === null) return v;
  const out: Json = {};
  // Only scalar values are secrets: `auth.ticket` is the ticket method's config, not a ticket.
  for (const [k, x] of Object.entries(v)) out[k] = SECRET_KEY.test(k) && (typeof x === 'string' ? x !== '' : typeof x === 'number') ? MASK : maskSecrets(x);
  return out;
}

export interface EnvVar {
  name: string;
  key: string;
  doc: string;
  default: unknown;
}

/** Every environment variable the schema declares, with its key, meaning and default. */
export function envVars(): EnvVar[] {
  const out: EnvVar[] = [];
  const walk = (node: Json, path: string) => {
    for (const [k, v] of Object.entries(node)) {
      if (typeof v !== 'object' || v === null) continue;
      const spec = v as Json;
      const key = path === '' ? k : `${path}.${k}`;
      if ('default' in spec && 'doc' in spec) {
        if (typeof spec.env === 'string') out.push({ name: spec.env, key, doc: String(spec.doc), default: spec.default });
      } else walk(spec, key);
    }
  };
  walk(topSchema as unknown as Json, '');
  return out;
}
