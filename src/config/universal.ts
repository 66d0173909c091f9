/**
 * `type: "universal"` listening transports (Crossbar.io docs, "Transport Endpoints" and
 * checkconfig check_listening_transport_universal): one endpoint serving RawSocket, WebSocket and Web, told
 * apart by the first byte a client sends (0x7F: RawSocket; anything else: HTTP). Crossbar's keys:
 * `id`, `type`, `endpoint`, `rawsocket` (a rawsocket transport without endpoint), `websocket` (an
 * object of path → websocket transport without endpoint), `web` (a web transport without
 * endpoint: `paths`, `options`); `mqtt` is refused by name.
 *
 * The result is a web transport (its `paths` are the web paths plus one websocket path service
 * per `websocket` entry) that carries the RawSocket part in `universal.rawsocket`.
 */
import { ConfigError, isObject } from './section.js';
import { rawsocketTransport } from './rawsocket.js';
import { endpoint, type TransportConfig, type UniversalOptions, type WsServiceConfig } from './transport.js';
import { webTransport } from './web.js';

/** Crossbar's path keys (as web.ts). */
const WEB_PATH = /^([a-z0-9A-Z_-]+|\/)$/;

const KEYS = new Set(['id', 'type', 'endpoint', 'rawsocket', 'websocket', 'web', 'mqtt']);

/** Without a rawsocket part, how long a client has to send its first byte (as RawSocket's handshake_timeout default). */
export const UNIVERSAL_FIRST_BYTE_TIMEOUT = 10_000;

/** A sub-item's own `type`, when given, must be the one it stands for (Crossbar ignores it; a wrong one is a mistake). */
function subType(v: Record<string, unknown>, path: string, type: string): void {
  if (v.type !== undefined && v.type !== type) throw new ConfigError(`${path}.type: must be "${type}" (or absent) in a universal transport's ${type} part`);
}

export function universalTransport(
  value: unknown,
  path: string,
  index: number,
  env: NodeJS.ProcessEnv,
  baseDir: string,
  wsService: (value: unknown, path: string, id: string) => WsServiceConfig,
  warnings: string[],
): TransportConfig {
  if (!isObject(value)) throw new ConfigError(`${path}: must be an object`);
  for (const k of Object.keys(value)) {
    if (!KEYS.has(k)) throw new ConfigError(`${path}.${k}: unknown key in a universal transport (known: ${[...KEYS].join(', ')})`);
  }
  if (value.mqtt !== undefined) throw new ConfigError(`${path}.mqtt: MQTT is not implemented in Crosswire; remove the mqtt part`);
  if (!isObject(value.endpoint)) throw new ConfigError(`${path}.endpoint: is required: the one listening endpoint of all parts`);
  if (value.endpoint.type === 'unix') throw new ConfigError(`${path}.endpoint.type: universal transports listen on tcp only in Crosswire (use a rawsocket or websocket transport for a unix socket)`);
  const id = typeof value.id === 'string' ? value.id : `transport${index + 1}`;
  endpoint(value.endpoint, `${path}.endpoint`, env, baseDir);
  // Each part reads the one endpoint; their warnings are given once.
  const w: string[] = [];
  let rawsocket: TransportConfig | null = null;
  if (value.rawsocket !== undefined) {
    const rp = `${path}.rawsocket`;
    if (!isObject(value.rawsocket)) throw new ConfigError(`${rp}: must be an object (a rawsocket transport without endpoint)`);
    if ('endpoint' in value.rawsocket) throw new ConfigError(`${rp}.endpoint: the rawsocket part of a universal transport has no endpoint of its own`);
    subType(value.rawsocket, rp, 'rawsocket');
    if ('id' in value.rawsocket) throw new ConfigError(`${rp}.id: the parts of a universal transport share its id; give id on the transport`);
    rawsocket = rawsocketTransport({ ...value.rawsocket, id, type: 'rawsocket', endpoint: value.endpoint }, rp, id, env, baseDir, w);
  }
  const paths: Record<string, unknown> = {};
  let webRest: Record<string, unknown> = {};
  if (value.web !== undefined) {
    const wp = `${path}.web`;
    if (!isObject(value.web)) throw new ConfigError(`${wp}: must be an object (a web transport without endpoint)`);
    if ('endpoint' in value.web) throw new ConfigError(`${wp}.endpoint: the web part of a universal transport has no endpoint of its own`);
    subType(value.web, wp, 'web');
    if ('id' in value.web) throw new ConfigError(`${wp}.id: the parts of a universal transport share its id; give id on the transport`);
    const { paths: webPaths, type: _t, ...rest } = value.web;
    if (!isObject(webPaths)) throw new ConfigError(`${wp}.paths: is required: an object of path services`);
    Object.assign(paths, webPaths);
    webRest = rest;
  }
  if (value.websocket !== undefined) {
    const sp = `${path}.websocket`;
    if (!isObject(value.websocket)) throw new ConfigError(`${sp}: must be an object of path → websocket transport (without endpoint)`);
    for (const [key, svc] of Object.entries(value.websocket)) {
      const pp = `${sp}.${key === '/' ? '"/"' : key}`;
      if (!isObject(svc)) throw new ConfigError(`${pp}: must be an object (a websocket transport without endpoint)`);
      if ('endpoint' in svc) throw new ConfigError(`${pp}.endpoint: the websocket parts of a universal transport have no endpoint of their own`);
      subType(svc, pp, 'websocket');
      if ('id' in svc) throw new ConfigError(`${pp}.id: the parts of a universal transport share its id; give id on the transport`);
      if (key in paths) throw new ConfigError(`${pp}: path ${key} is also a path of the web part; a path is served by one of them`);
      if (!WEB_PATH.test(key)) throw new ConfigError(`${pp}: a path must be "/" or one segment matching ${WEB_PATH}`);
      wsService({ ...svc, type: 'websocket' }, pp, id); // checked here, so that errors name this key
      paths[key] = { ...svc, type: 'websocket' };
    }
  }
  if (rawsocket === null && value.websocket === undefined && value.web === undefined) {
    throw new ConfigError(`${path}: a universal transport needs at least one of rawsocket, websocket, web`);
  }
  // The websocket entries are checked as web path services: their keys must be path segments, as in Crossbar (check_paths).
  // Errors in the web part name it (the endpoint and the websocket parts were checked above).
  const t = webTransport({ ...webRest, id, type: 'web', endpoint: value.endpoint, paths }, `${path}.web`, index, env, baseDir, wsService, w);
  for (const x of w) if (!warnings.includes(x)) warnings.push(x);
  const universal: UniversalOptions = {
    rawsocket,
    firstByteTimeout: rawsocket?.rawsocket?.handshakeTimeout ?? UNIVERSAL_FIRST_BYTE_TIMEOUT,
    websocketPaths: isObject(value.websocket) ? Object.keys(value.websocket).map((k) => (k === '/' ? '/' : `/${k}`)) : [],
  };
  return { ...t, universal };
}
