import type * as UWS from 'uWebSockets.js';
import type { OpsService } from '../config/load.js';
import type { Logger } from '../shared/log.js';
import { type HttpRequest, type HttpResponse, LISTEN_EXCLUSIVE_PORT, type TemplatedApp, type us_listen_socket } from '../uws.js';

/** What the operations endpoints ask the router. */
export interface OpsTarget {
  /** `ready`, or why not: `starting`, `draining`, `recovering` (a realm worker is restarting). */
  readiness(): string;
  /** More about a readiness that is not `ready` (which link is down and why), or null. */
  readinessReason?(): string | null;
  /** The Prometheus text exposition (after fresh STATS from the workers). */
  metricsText(): Promise<{ contentType: string; body: string }>;
}

const JSON_TYPE = 'application/json';
/**
 * Every answer closes its connection: probes and scrapes are seconds apart, and no idle
 * keep-alive connection is left to outlive a drain (uWS would hold it open for 10 s).
 */
const CLOSE = true;

/**
 * Registers GET /metrics (Prometheus text), GET /health (liveness: the main thread answers) and
 * GET /ready (200 only when started, every realm worker online and not draining; 503 otherwise)
 * on a uWS app. Call before any catch-all route. A WebSocket upgrade on these paths is passed on
 * to the app's WebSocket route (setYield), so a WAMP client may still use any path.
 */
export function mountOps(app: TemplatedApp, target: OpsTarget, services: readonly OpsService[], log: Logger): void {
  if (services.includes('health')) {
    mountOpsEndpoint(app, target, 'health', '/health', log);
    mountOpsEndpoint(app, target, 'ready', '/ready', log);
  }
  if (services.includes('metrics')) mountOpsEndpoint(app, target, 'metrics', '/metrics', log);
}

/** One operations endpoint at `path` (also used for a web transport's `metrics`/`health`/`ready` path services). */
export function mountOpsEndpoint(app: TemplatedApp, target: OpsTarget, kind: 'metrics' | 'health' | 'ready', path: string, log: Logger): void {
  app.get(path, (res, req) => {
    if (isUpgrade(req)) return;
    if (kind === 'metrics') return serveMetrics(res, target, log);
    if (kind === 'health') {
      res.writeStatus('200 OK').writeHeader('Content-Type', JSON_TYPE).writeHeader('Cache-Control', 'no-store').end('{"status":"ok"}\n', CLOSE);
      return;
    }
    const status = target.readiness();
    const reason = status === 'ready' ? null : (target.readinessReason?.() ?? null);
    res
      .writeStatus(status === 'ready' ? '200 OK' : '503 Service Unavailable')
      .writeHeader('Content-Type', JSON_TYPE)
      .writeHeader('Cache-Control', 'no-store')
      .end(`${JSON.stringify(reason === null ? { status } : { status, reason })}\n`, CLOSE);
  });
}

function isUpgrade(req: HttpRequest): boolean {
  if (req.getHeader('upgrade') === '') return false;
  req.setYield(true);
  return true;
}

function serveMetrics(res: HttpResponse, target: OpsTarget, log: Logger): void {
  let aborted = false;
  // uWS: a response answered after the handler returned needs onAborted, and cork() to write.
  res.onAborted(() => {
    aborted = true;
  });
  target.metricsText().then(
    ({ contentType, body }) => {
      if (aborted) return;
      res.cork(() => {
        res.writeStatus('200 OK').writeHeader('Content-Type', contentType).writeHeader('Cache-Control', 'no-store').end(body, CLOSE);
      });
    },
    (err: unknown) => {
      log.error({ err }, 'cannot render metrics');
      if (aborted) return;
      res.cork(() => {
        res.writeStatus('500 Internal Server Error').end('cannot render metrics\n', CLOSE);
      });
    },
  );
}

/**
 * A separate plain-HTTP listener for /metrics, /health and /ready (`crosswire.ops.port`), for
 * operators who keep them off the public WebSocket port. Anything else is 404.
 */
export class OpsListener {
  readonly app: TemplatedApp;
  port = -1;
  #socket: us_listen_socket | null = null;

  constructor(
    readonly uws: typeof UWS,
    readonly host: string,
    readonly configuredPort: number,
    target: OpsTarget,
    readonly log: Logger,
  ) {
    this.app = uws.App();
    mountOps(this.app, target, ['metrics', 'health'], log);
    this.app.any('/*', (res) => {
      res.writeStatus('404 Not Found').writeHeader('Content-Type', 'text/plain').end('Crosswire operations endpoint: GET /metrics, /health, /ready\n', CLOSE);
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(this.host, this.configuredPort, LISTEN_EXCLUSIVE_PORT, (ls) => {
        if (ls === false) {
          reject(new Error(`crosswire.ops: cannot listen on ${this.host}:${this.configuredPort} (address in use or not available)`));
          return;
        }
        this.#socket = ls;
        this.port = this.uws.us_socket_local_port(ls as unknown as UWS.us_socket);
        resolve(this.port);
      });
    });
  }

  stopListening(): void {
    if (this.#socket !== null) {
      this.uws.us_listen_socket_close(this.#socket);
      this.#socket = null;
    }
  }
}
