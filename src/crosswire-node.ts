import type { RouterConfig } from './config/load.js';
import { Guest } from './container/guest.js';
import { ContainerManager } from './container/manager.js';
import { findPythons, PythonComponent } from './container/python.js';
import type { Logger } from './shared/log.js';
import { Router } from './router.js';

/** Everything one `crosswire start` runs: the router (if configured), containers and guests. */
export class CrosswireNode {
  private constructor(
    readonly router: Router | null,
    readonly containers: ContainerManager,
    readonly guests: Guest[],
    readonly python: PythonComponent[],
    readonly log: Logger,
  ) {}

  /**
   * Finds the Python interpreter first (a missing one fails the start before anything listens),
   * starts the router (so local components can connect), then containers, Python components and
   * guests.
   */
  static async start(config: RouterConfig, log: Logger): Promise<CrosswireNode> {
    const pythons = await findPythons(config.pythonComponents, config.python);
    const router = config.transports.length > 0 ? await Router.start(config, log) : null;
    const containers = new ContainerManager(config.containers, config.logLevel, log);
    const expected = config.containers.reduce((n, c) => n + c.components.length, 0) + config.pythonComponents.length;
    if (router !== null && expected > 0) {
      router.metrics.addComponents(containers);
      // /ready: 503 {"status": "components"} until every configured component has joined.
      router.componentsPending = () => (containers.componentsRunning < expected ? 'components' : null);
    }
    containers.start();
    const python = config.pythonComponents.map(
      (c) =>
        new PythonComponent(
          c,
          pythons.get(c)!,
          c.kind === 'router' ? router!.componentGate : null,
          config.logLevel,
          log.child(c.kind === 'router' ? { router: c.worker, component: c.id } : { container: c.worker, component: c.id }),
          (s) => containers.report(s),
        ),
    );
    for (const p of python) p.start();
    const guests = config.guests.map((g) => new Guest(g, log.child({ guest: g.id })));
    for (const g of guests) g.start();
    return new CrosswireNode(router, containers, guests, python, log);
  }

  get ports(): number[] {
    return this.router?.listeners.map((l) => l.port) ?? [];
  }

  /**
   * JavaScript components and guests leave first (their sessions end cleanly), then the router
   * drains. Python components are not restarted from here on but stay connected through the
   * drain, like any session (in-flight calls to them finish; they get GOODBYE), and are then
   * stopped (SIGTERM: GOODBYE if still joined, SIGKILL after 3 s).
   */
  async shutdown(timeoutMs: number): Promise<void> {
    for (const p of this.python) p.stopping();
    await Promise.all([this.containers.stop(Math.min(timeoutMs, 3000)), ...this.guests.map((g) => g.stop(Math.min(timeoutMs, 3000)))]);
    await this.router?.shutdown(timeoutMs);
    await Promise.all(this.python.map((p) => p.stop(3000)));
  }
}
