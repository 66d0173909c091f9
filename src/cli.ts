#!/usr/bin/env node
/**
 * The `crosswire` command: `start [--config FILE]`, `check --config FILE`, `--version`, `--help`.
 * process.exit is called only here.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type RouterConfig } from './config/load.js';
import { createLogger } from './log.js';
import { Router } from './router.js';
import { UwsFallbackError } from './uws.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const HELP = `crosswire ${VERSION}: a WAMP router

Usage:
  crosswire start [--config FILE]   run the router (without a file: ws://127.0.0.1:8080/ws, realm1, anonymous)
  crosswire check --config FILE     validate a config and print what would run
  crosswire --version | --help

Environment: CROSSWIRE_PORT, CROSSWIRE_INTERFACE (first transport), CROSSWIRE_LOG_LEVEL,
CROSSWIRE_REALM_THREADS, CROSSWIRE_SHUTDOWN_TIMEOUT, CROSSWIRE_ALLOW_UWS_FALLBACK.
`;

function fail(message: string, code = 1): never {
  process.stderr.write(`crosswire: ${message}\n`);
  process.exit(code);
}

function summary(c: RouterConfig): string {
  const lines = [`realm threads: ${c.realmThreads}`];
  for (const r of c.realms) lines.push(`realm ${r.name} (uri_check ${r.options.uri_check}; roles ${r.roles.map((x) => x.name).join(', ') || 'none'})`);
  for (const t of c.transports) {
    const ep = t.endpoint;
    const where = ep.type === 'unix' ? `unix:${ep.path}` : `${ep.tls !== null ? 'tls ' : ''}${t.host}:${t.port}`;
    if (t.paths !== null) {
      lines.push(`transport ${t.id}: web on ${where} (${t.paths.map((p) => `${p.path} ${p.type}`).join(', ')})`);
      continue;
    }
    lines.push(`transport ${t.id}: websocket on ${where} (${t.serializers.join(', ')}; auth ${Object.keys(t.auth).join(', ')}${t.cookie !== null ? `; cookie ${t.cookie.store.type}` : ''})`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, version: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (e) {
    fail(`${(e as Error).message}\n\n${HELP}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  const command = positionals[0] ?? 'start';
  if (values.help || command === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (positionals.length > 1 || (command !== 'start' && command !== 'check')) fail(`unknown command '${positionals.join(' ')}'\n\n${HELP}`, 2);

  let config: RouterConfig;
  try {
    config = loadConfig(values.config);
  } catch (e) {
    if (e instanceof ConfigError) fail(`invalid configuration:\n${e.message}`);
    throw e;
  }
  if (command === 'check') {
    process.stdout.write(`configuration OK\n${summary(config)}\n`);
    return;
  }

  const log = createLogger(config.logLevel, { pid: process.pid });
  if (config.title !== null) process.title = config.title;
  let router: Router;
  try {
    router = await Router.start(config, log);
  } catch (e) {
    if (e instanceof UwsFallbackError) fail(e.message);
    fail((e as Error).message);
  }
  // Machine-readable line for scripts and tests that start the router on port 0.
  log.info({ ports: router.listeners.map((l) => l.port) }, 'crosswire ready');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timeout = signal === 'SIGINT' ? Math.min(1000, config.shutdownTimeout) : config.shutdownTimeout;
    router.shutdown(timeout).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`crosswire: fatal: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
