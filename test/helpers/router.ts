import { buildConfig } from '../../src/config/load.js';
import { createLogger, type Logger } from '../../src/shared/log.js';
import { Router, type RouterOptions } from '../../src/router.js';

export interface TestRouter {
  router: Router;
  port: number;
  url: string;
  /** http://127.0.0.1:port, for the operations endpoints on the transport port. */
  http: string;
  stop(): Promise<void>;
}

type Json = Record<string, unknown>;

/** An open role: may do everything (the embedded default's realm1 role also denies the destructive meta procedures). */
export const ANONYMOUS_ALL = {
  name: 'anonymous',
  permissions: [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true } }],
};

/**
 * Starts the real router in this process (main thread + real realm worker threads + uWS) on an
 * ephemeral port on 127.0.0.1. `realms`/`transport` replace the defaults' pieces.
 */
export async function startRouter(
  opts: { realms?: Json[]; transport?: Json; transports?: Json[]; crosswire?: Json; env?: NodeJS.ProcessEnv; options?: RouterOptions; log?: Logger } = {},
): Promise<TestRouter> {
  const config = buildConfig(
    {
      version: 2,
      workers: [
        {
          type: 'router',
          realms: opts.realms ?? [{ name: 'realm1', roles: [ANONYMOUS_ALL] }],
          transports: opts.transports ?? [
            { type: 'websocket', endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' }, ...(opts.transport ?? {}) },
          ],
        },
      ],
      crosswire: { log_level: process.env.TEST_LOG_LEVEL ?? 'silent', shutdown_timeout: 1000, ...(opts.crosswire ?? {}) },
    },
    opts.env ?? {},
  );
  const router = await Router.start(config, opts.log ?? createLogger(config.logLevel), opts.options);
  const port = router.listeners[0]!.port;
  return { router, port, url: `ws://127.0.0.1:${port}/ws`, http: `http://127.0.0.1:${port}`, stop: () => router.shutdown(500) };
}
