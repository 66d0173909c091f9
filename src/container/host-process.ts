/**
 * A container worker's process (forked by src/container/manager.ts). It runs the container's
 * components, each an AutobahnJS session on its own connecting transport, so that component code
 * never shares a process with routing. Component state changes go to the parent over IPC.
 */
import { pathToFileURL } from 'node:url';
import autobahn, { type Connection, type Session } from 'autobahn';
import type { ComponentConfig, ContainerConfig } from '../config/components.js';
import { createLogger, type Logger } from '../shared/log.js';
import { connectionOptions } from './connect.js';

// AutobahnJS uses the global WebSocket when there is one (Node >= 22 has undici's) and `ws`
// otherwise. The global one ignores the HTTP agent that carries each component's endpoint (unix
// socket; TLS with ca_certificates and client certificate; tcp host, port and timeout), so on
// Node 22 and 24 components dialled their URL instead and could not reach a unix or TLS
// endpoint. This process runs only components: without the global they use `ws`, as on Node 20.
delete (globalThis as { WebSocket?: unknown }).WebSocket;

export type ComponentState = 'starting' | 'running' | 'failed' | 'stopped' | 'restarting' | 'down';

export interface StatusMsg {
  k: 'status';
  component: string;
  state: ComponentState;
  restarts: number;
  error?: string;
}

type Entry = (session: Session, details: Record<string, unknown>, extra: unknown) => unknown;

class Component {
  state: ComponentState = 'starting';
  restarts = 0;
  #connection: Connection | null = null;
  #timer: NodeJS.Timeout | null = null;
  #stopping = false;

  constructor(
    readonly cfg: ComponentConfig,
    readonly container: ContainerConfig,
    readonly log: Logger,
    readonly changed: (c: Component, error?: string) => void,
  ) {}

  async start(): Promise<void> {
    let entry: Entry;
    try {
      const mod = (await import(pathToFileURL(this.cfg.module).href)) as { default?: unknown };
      if (typeof mod.default !== 'function') throw new Error(`${this.cfg.module} has no default export function`);
      entry = mod.default as Entry;
    } catch (err) {
      return this.#failed(err);
    }
    const connection = new autobahn.Connection(connectionOptions(this.cfg) as never);
    this.#connection = connection;
    connection.onopen = (session, details) => {
      Promise.resolve()
        .then(() => entry(session, details, this.cfg.extra))
        .then(
          () => {
            if (connection !== this.#connection) return;
            this.state = 'running';
            this.log.info({ realm: this.cfg.realm, session: session.id }, 'component running');
            this.changed(this);
          },
          (err: unknown) => {
            if (connection !== this.#connection) return;
            this.#connection = null;
            connection.close();
            this.#failed(err);
          },
        );
    };
    connection.onclose = (reason, details) => {
      if (connection !== this.#connection) return true; // a connection we already gave up
      if (this.#stopping) return true;
      if ((details as { will_retry?: boolean }).will_retry) {
        this.log.warn({ reason, retry_delay: (details as { retry_delay?: number }).retry_delay }, 'component connection lost, reconnecting');
        this.state = 'starting';
        this.changed(this);
        return false;
      }
      this.#connection = null;
      if (reason === 'closed' && this.state === 'running') this.#stopped();
      else this.#failed(new Error(`connection ${reason}: ${JSON.stringify(details)}`));
      return true;
    };
    connection.open();
  }

  #failed(err: unknown): void {
    const error = err instanceof Error ? err.message : String(err);
    this.log.error({ err }, 'component failed');
    this.state = 'failed';
    this.changed(this, error);
    if (this.container.restart !== 'restart-never') this.#restart();
  }

  #stopped(): void {
    this.log.info('component stopped');
    this.state = 'stopped';
    this.changed(this);
    if (this.container.restart === 'restart-always') this.#restart();
  }

  #restart(): void {
    if (this.#stopping) return;
    const r = this.cfg.transport.reconnect;
    const delay = Math.min(r.initial_retry_delay * r.retry_delay_growth ** this.restarts, r.max_retry_delay) * 1000;
    this.restarts++;
    this.state = 'restarting';
    this.changed(this);
    this.log.info({ restarts: this.restarts, delay_ms: Math.round(delay) }, 'restarting component');
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.state = 'starting';
      void this.start();
    }, delay);
  }

  stop(): void {
    this.#stopping = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    const c = this.#connection;
    this.#connection = null;
    if (c !== null && c.isOpen) c.close('wamp.close.normal', 'container stopping');
    this.state = 'down';
  }
}

function send(msg: unknown): void {
  if (process.connected) process.send?.(msg);
}

let components: Component[] = [];

function start(container: ContainerConfig, logLevel: string): void {
  const log = createLogger(logLevel, { pid: process.pid, container: container.id });
  const check = (c: Component, error?: string) => {
    send({ k: 'status', component: c.cfg.id, state: c.state, restarts: c.restarts, ...(error ? { error } : {}) } satisfies StatusMsg);
    const p = container.shutdown;
    const all = components.every((x) => x.state === 'stopped' || (x.state === 'failed' && container.restart === 'restart-never'));
    if (
      (p === 'shutdown-on-any-component-failed' && c.state === 'failed') ||
      (p === 'shutdown-on-any-component-stopped' && (c.state === 'stopped' || c.state === 'failed')) ||
      (p === 'shutdown-on-last-component-stopped' && all)
    ) {
      log.info({ policy: p }, 'container shutting down by its shutdown policy');
      send({ k: 'policy-shutdown', policy: p });
      stop(0);
    }
  };
  components = container.components.map((cfg) => new Component(cfg, container, log.child({ component: cfg.id }), check));
  for (const c of components) void c.start();
  // A component bug that escapes its handlers must not leave a half-working container:
  // the process exits and the manager restarts it.
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception in a component; the container process restarts');
    process.exit(70);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled rejection in a component; the container process restarts');
    process.exit(70);
  });
}

let stopping = false;

/**
 * Stops the components and exits; once (a 'stop' message, SIGTERM and the IPC channel closing
 * all lead here, and disconnecting a channel that is closed already throws).
 */
function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const c of components) c.stop();
  // Give the GOODBYEs a moment to leave, then go.
  setTimeout(() => process.exit(code), 200).unref();
  if (process.connected) process.disconnect?.();
}

process.on('message', (m: { k: string; container?: ContainerConfig; logLevel?: string }) => {
  if (m.k === 'start' && m.container !== undefined) start(m.container, m.logLevel ?? 'info');
  else if (m.k === 'stop') stop(0);
});
process.on('disconnect', () => stop(0)); // the router process went away
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => {}); // the parent decides (a terminal's Ctrl-C reaches the whole group)
