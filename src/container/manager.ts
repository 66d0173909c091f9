import { type ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { ContainerConfig } from '../config/components.js';
import type { Logger } from '../shared/log.js';
import { workerEnv } from './env.js';
import type { ComponentState, StatusMsg } from './host-process.js';

const HOST = new URL('./host-process.js', import.meta.url);

export interface ComponentStatus {
  container: string;
  component: string;
  state: ComponentState;
  restarts: number;
  error?: string;
}

/**
 * Runs each container worker in its own Node process (src/container/host-process.ts), so component code
 * never shares a process — or a crash — with routing. A container process that dies without its
 * shutdown policy asking for it is restarted (with backoff) and counted.
 */
export class ContainerManager extends EventEmitter {
  readonly status = new Map<string, ComponentStatus>();
  /** Container processes restarted after dying, and component restarts reported by hosts. */
  processRestarts = 0;
  #children = new Map<string, ChildProcess>();
  #stopping = false;

  constructor(
    readonly containers: readonly ContainerConfig[],
    readonly logLevel: string,
    readonly log: Logger,
  ) {
    super();
  }

  /** Forks a Node process for every container with JavaScript components (Python ones run in their own processes: python.ts). */
  start(): void {
    for (const c of this.containers) if (c.components.length > 0) this.#spawn(c, 0);
  }

  /** A component state change from elsewhere (a Python component), counted and reported like the hosts'. */
  report(s: ComponentStatus): void {
    this.status.set(JSON.stringify([s.container, s.component]), s);
    this.emit('status', s);
  }

  get componentsRunning(): number {
    return [...this.status.values()].filter((s) => s.state === 'running').length;
  }
  get componentRestarts(): number {
    return [...this.status.values()].reduce((n, s) => n + s.restarts, 0);
  }

  #spawn(c: ContainerConfig, attempt: number): void {
    const log = this.log.child({ container: c.id });
    const child = fork(HOST, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [], env: workerEnv(c.env, process.env) });
    this.#children.set(c.id, child);
    let policyShutdown = false;
    child.on('message', (m: StatusMsg | { k: 'policy-shutdown'; policy: string }) => {
      if (m.k === 'policy-shutdown') {
        policyShutdown = true;
        return;
      }
      const s: ComponentStatus = { container: c.id, component: m.component, state: m.state, restarts: m.restarts, ...(m.error ? { error: m.error } : {}) };
      // Ids are any strings (a '/' included), so the key is a pair, not a joined string.
      this.status.set(JSON.stringify([c.id, m.component]), s);
      this.emit('status', s);
    });
    child.on('exit', (code, signal) => {
      if (this.#children.get(c.id) === child) this.#children.delete(c.id);
      if (this.#stopping) return;
      if (policyShutdown) {
        log.info({ code }, 'container stopped by its shutdown policy');
        this.emit('container-exit', { container: c.id, code, restarting: false });
        return;
      }
      const delay = Math.min(500 * 2 ** attempt, 30000);
      this.processRestarts++;
      log.error({ code, signal, restart_in_ms: delay }, 'container process died; restarting it');
      this.emit('container-exit', { container: c.id, code, restarting: true });
      setTimeout(() => {
        if (!this.#stopping) this.#spawn(c, attempt + 1);
      }, delay).unref();
    });
    child.send({ k: 'start', container: c, logLevel: this.logLevel });
    log.info({ child_pid: child.pid, components: c.components.map((x) => x.id) }, 'container started');
  }

  /** Asks every container to close its sessions and exit; kills what is left after `timeoutMs`. */
  async stop(timeoutMs = 3000): Promise<void> {
    this.#stopping = true;
    const exits = [...this.#children.values()].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          if (child.connected) child.send({ k: 'stop' });
          else child.kill('SIGTERM');
        }),
    );
    await Promise.all(exits);
  }
}
