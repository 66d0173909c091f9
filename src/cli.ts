#!/usr/bin/env node
/**
 * The `crosswire` command: `start [--config FILE]`, `check --config FILE`, `print-config
 * [--config FILE]`, `upgrade-config FILE`, `--version`, `--help`. process.exit is called only here.
 */
import { parseArgs } from 'node:util';
import { effectiveConfig, envVars } from './config/effective.js';
import { checkClusterFiles, checkFiles } from './config/files.js';
import { buildConfig, ConfigError, locateConfig, readConfigFile, type RouterConfig, serviceAuths } from './config/load.js';
import type { PythonComponentConfig } from './config/components.js';
import { frontNeeded } from './config/transport.js';
import { upgradeConfigFile } from './config/upgrade.js';
import { findPythons } from './container/python.js';
import { createLogger, resolveLogFormat } from './shared/log.js';
import { CrosswireNode } from './crosswire-node.js';
import { UwsFallbackError } from './uws.js';
import { VERSION } from './shared/version.js';

const COMMANDS = ['start', 'check', 'print-config', 'upgrade-config', 'help'];

/** The environment section is generated from the convict schema, the one place env names are declared. */
const ENV_HELP = envVars()
  .map((v) => `  ${v.name.padEnd(30)} ${v.key} (default ${JSON.stringify(v.default)})\n      ${v.doc}`)
  .join('\n');

const HELP = `crosswire ${VERSION}: a WAMP router

Usage:
  crosswire start [--config FILE]          run the router (without a file: ws://127.0.0.1:8080/ws, realm1, anonymous)
  crosswire check [--config FILE]          validate a config and print what would run
  crosswire print-config [--config FILE]   print the effective config: every default filled in,
                                           environment overrides applied, secrets masked
  crosswire upgrade-config FILE            rewrite a version-1 config file (no "version" key) as
                                           version 2, by the rules of \`crossbar upgrade\`
  crosswire --version | --help

Config files (JSON or YAML), as \`crossbar start\` finds them: --cbdir DIR (else the environment's
CROSSBAR_DIR) is a Crossbar node directory; --config is then relative to it and defaults to its
config.json, then config.yaml. Without one, --config is relative to the working directory, and
without --config a ./.crossbar/config.json or config.yaml is used if there is one, else the
embedded default.

Signals: SIGTERM drains (see shutdown_timeout) and exits 0; SIGINT the same with at most 1 s of
drain; a second signal exits at once.

Environment (overrides the config file):
${ENV_HELP}
`;

function fail(message: string, code = 1): never {
  process.stderr.write(`crosswire: ${message}\n`);
  process.exit(code);
}

/** Where a Python container component connects, for `check`. */
function via(t: NonNullable<PythonComponentConfig['transport']>): string {
  if (t.type === 'websocket') return t.url;
  const e = t.endpoint;
  return `rawsocket ${e.type === 'unix' ? `unix:${e.path}` : `${e.tls !== null ? 'tls' : 'tcp'}:${e.host}:${e.port}`} (${t.serializer})`;
}

function summary(c: RouterConfig): string {
  const lines = [`realm threads: ${c.realmThreads}`];
  for (const r of c.realms) lines.push(`realm ${r.name} (uri_check ${r.options.uri_check}; roles ${r.roles.map((x) => x.name).join(', ') || 'none'})`);
  for (const t of c.transports) {
    const ep = t.endpoint;
    const tls = ep.type === 'tcp' && ep.tls !== null ? (frontNeeded(t, serviceAuths(t).map(([, a]) => a)) ? 'tls (Node.js; client certificate required) ' : 'tls ') : '';
    const where = ep.type === 'unix' ? `unix:${ep.path}` : `${tls}${t.host}:${t.port}`;
    if (t.universal !== undefined) {
      const rs = t.universal.rawsocket;
      const raw = rs === null ? 'no rawsocket' : `rawsocket ${rs.serializers.join('/')}`;
      lines.push(`transport ${t.id}: universal on ${where} (${raw}; ${t.paths!.map((p) => `${p.path} ${p.type}`).join(', ') || 'no HTTP paths'})`);
      continue;
    }
    if (t.paths !== null) {
      lines.push(`transport ${t.id}: web on ${where} (${t.paths.map((p) => `${p.path} ${p.type}`).join(', ')})`);
      continue;
    }
    if (t.rawsocket !== undefined) {
      lines.push(`transport ${t.id}: rawsocket on ${where} (${t.serializers.join(', ')}; max_message_size ${t.maxMessageSize}; auth ${Object.keys(t.auth).join(', ')})`);
      continue;
    }
    lines.push(`transport ${t.id}: websocket on ${where} (${t.serializers.join(', ')}; auth ${Object.keys(t.auth).join(', ')}${t.cookie !== null ? `; cookie ${t.cookie.store.type}` : ''})`);
  }
  const on = c.ops.onTransports.flatMap((x) => (x === 'metrics' ? ['/metrics'] : ['/health', '/ready']));
  lines.push(`operations endpoints on the transport ports: ${on.length > 0 ? on.join(', ') : 'none'}`);
  if (c.ops.port !== null) lines.push(`operations endpoint: http://${c.ops.host}:${c.ops.port} (/metrics, /health, /ready)`);
  lines.push(`drain on SIGTERM: ${c.shutdownTimeout} ms; realm worker heap limit: ${c.workerMaxHeapMb > 0 ? `${c.workerMaxHeapMb} MB` : "V8's default"}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const options = { config: { type: 'string', short: 'c' }, cbdir: { type: 'string' }, version: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;
  let parsed: ReturnType<typeof parseArgs<{ allowPositionals: true; options: typeof options }>>;
  try {
    parsed = parseArgs({ allowPositionals: true, options });
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
  if (command === 'upgrade-config') {
    const file = positionals[1] ?? values.config;
    if (file === undefined || positionals.length > 2) fail(`usage: crosswire upgrade-config FILE\n\n${HELP}`, 2);
    try {
      process.stdout.write(`${upgradeConfigFile(file)}\n`);
    } catch (e) {
      if (e instanceof ConfigError) fail(e.message);
      throw e;
    }
    return;
  }
  if (positionals.length > 1 || !COMMANDS.includes(command)) fail(`unknown command '${positionals.join(' ')}'\n\n${HELP}`, 2);

  let config: RouterConfig;
  let raw: unknown;
  let warnings: string[];
  let file: string | undefined;
  try {
    let baseDir: string;
    ({ file, baseDir } = locateConfig(values.config, values.cbdir));
    raw = readConfigFile(file);
    config = buildConfig(raw, process.env, baseDir);
    // check and start open the same files, so check refuses what start would fail on.
    warnings = [...config.warnings, ...(command === 'print-config' ? [] : checkFiles(raw, baseDir))];
    if (command !== 'print-config') checkClusterFiles(config);
  } catch (e) {
    if (e instanceof ConfigError) fail(`invalid configuration:\n${e.message}`);
    throw e;
  }
  if (command === 'check') {
    // Python components: an interpreter with Autobahn|Python must be there, as for start.
    let pythons: Awaited<ReturnType<typeof findPythons>>;
    try {
      pythons = await findPythons(config.pythonComponents, config.python);
    } catch (e) {
      fail((e as Error).message);
    }
    const py = config.pythonComponents.map((c) => {
      const p = pythons.get(c)!;
      return `python component ${c.worker}/${c.id}: ${c.classname} on realm ${c.realm}${c.kind === 'router' ? ` as role ${c.role}` : ` via ${via(c.transport!)}`} (${p.executable}: ${p.version})`;
    });
    process.stdout.write(`configuration OK\n${[`config: ${file ?? 'the embedded default'}`, summary(config), ...py].join('\n')}\n${warnings.map((w) => `warning: ${w}\n`).join('')}`);
    return;
  }
  if (command === 'print-config') {
    process.stdout.write(`${JSON.stringify(effectiveConfig(raw), null, 2)}\n`);
    return;
  }

  const rootLog = createLogger(config.logLevel, { pid: process.pid }, resolveLogFormat(config.logFormat));
  const log = rootLog.child({ component: 'cli' });
  log.info({ config: file ?? null }, file !== undefined ? `config: ${file}` : 'config: the embedded default');
  for (const w of warnings) log.warn(w);
  if (config.title !== null) process.title = config.title;
  let node: CrosswireNode;
  try {
    node = await CrosswireNode.start(config, rootLog);
  } catch (e) {
    if (e instanceof UwsFallbackError) fail(e.message);
    fail((e as Error).message);
  }
  // Machine-readable line for scripts and tests that start the router on port 0.
  log.info({ ports: node.ports, opsPort: node.router?.ops?.port ?? null }, 'crosswire ready');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    // SIGINT (Ctrl-C) drains too, only faster.
    const timeout = signal === 'SIGINT' ? Math.min(1000, config.shutdownTimeout) : config.shutdownTimeout;
    node.shutdown(timeout).then(
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
