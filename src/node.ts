import type { RouterConfig } from './config/load.js';
import { Guest } from './container/guest.js';
import { ContainerManager } from './container/manager.js';
import type { Logger } from './log.js';
import { Router } from './router.js';

/** Everything one `crosswire start` runs: the router (if configured), containers and guests. */
export class CrosswireNode {
  private constructor(
    readonly router: Router | null,
    readonly containers: ContainerManager,
    readonly guests: Guest[],
    readonly log: Logger,
  ) {}

  /** Starts the router first (so local components can connect), then containers and guests. */
  static async start(config: RouterConfig, log: Logger): Promise<CrosswireNode> {
    const router = config.transports.length > 0 ? await Router.start(config, log) : null;
    const containers = new ContainerManager(config.containers, config.logLevel, log);
    if (router !== null && config.containers.length > 0) router.metrics.addComponents(containers);
    containers.start();
    const guests = config.guests.map((g) => new Guest(g, log.child({ guest: g.id })));
    for (const g of guests) g.start();
    return new CrosswireNode(router, containers, guests, log);
  }

  get ports(): number[] {
    return this.router?.listeners.map((l) => l.port) ?? [];
  }

  /** Components leave first (their sessions end cleanly), then the router drains. */
  async shutdown(timeoutMs: number): Promise<void> {
    await Promise.all([this.containers.stop(Math.min(timeoutMs, 3000)), ...this.guests.map((g) => g.stop(Math.min(timeoutMs, 3000)))]);
    await this.router?.shutdown(timeoutMs);
  }
}
