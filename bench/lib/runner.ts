/**
 * Runs one cell against one target: starts a fresh server (router or limit), forks the load
 * generators, warms up, measures for a fixed time, stops, drains, verifies, tears down.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cell, METRICS } from './cells.js';
import { FANOUT_PREFIX_CONFIG, HTTP_PUBLISH_CONFIG, type Mark, type PeerResult, type PeerSetup, type RoleConfig, type Target } from './ipc.js';
import { cpuTicks, LIMIT_SERVERS, machineTicks, PeerProc, rssKiB, type ServerProc, startServer } from './procs.js';
import { natsUrl, nodeOf } from './cluster.js';
import { Histogram } from './stats.js';
import type { ClientKind } from './wamp-peer.js';

/** What to run a cell against: a built router (this tree or another ref) or the limit. */
export type TargetSpec = { kind: 'router'; label: string; cli: string } | { kind: 'limit'; label: 'limit' };

export interface RunOptions {
  warmup: number;
  seconds: number;
  /** Publications in flight ahead of the slowest subscriber (fanout) or per publisher (fanin). */
  window: number;
  callers: number;
  callWindow: number;
  joinConcurrency: number;
  /** A directory for --cpu-prof output of the router, or null. */
  profileDir: string | null;
  /** Profile the load generator processes too (into the same directory). */
  profileGenerators: boolean;
  /** Self-test: this fanout sequence number is never sent; the verification must notice. */
  dropSeq: number;
  /** The generator's WebSocket client. */
  client: ClientKind;
  /** Progress lines (stderr). */
  progress: (text: string) => void;
}

export interface CellResult {
  scenario: string;
  variant: string;
  serializer: string;
  target: string;
  status: 'ok' | 'unsupported' | 'failed';
  metric: string;
  higherIsBetter: boolean;
  value: number | null;
  extra: Record<string, number>;
  lost: number;
  errors: number;
  errorSamples: string[];
  note: string;
  /** CPU use over the measured interval, % of one core. */
  cpu: { serverMain: number; serverTotal: number; generators: number; others: number } | null;
  profileDir?: string;
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function result(cell: Cell, target: TargetSpec, partial: Partial<CellResult>): CellResult {
  const m = METRICS[cell.scenario];
  return {
    scenario: cell.scenario,
    variant: cell.variant,
    serializer: cell.serializer,
    target: target.label,
    status: 'ok',
    metric: m.name,
    higherIsBetter: m.higherIsBetter,
    value: null,
    extra: {},
    lost: 0,
    errors: 0,
    errorSamples: [],
    note: '',
    cpu: null,
    ...partial,
  };
}

/** The directory (under --profile's) that holds one router run's .cpuprofile files. */
export function profileSubdir(cell: Cell, label: string): string {
  return `${label}-${cell.scenario}-${cell.variant}-${cell.serializer}`.replace(/[^A-Za-z0-9._+-]+/g, '_');
}

const configFiles = new Map<string, string>();
/** A config file the router of some cells starts with (--fanout-match prefix, http-publish), written once per bench run. */
function configFile(name: string, config: unknown): string {
  let file = configFiles.get(name);
  if (file === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'crosswire-bench-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(config));
    configFiles.set(name, file);
  }
  return file;
}

/** The server(s) of a cell: a cluster cell's router is `cell.nodes` nodes joined through the harness's NATS. */
async function startTargets(cell: Cell, target: TargetSpec, o: RunOptions, fds: number): Promise<ServerProc[]> {
  const n = target.kind === 'router' ? (cell.nodes ?? 1) : 1;
  if (n === 1) return [await startTarget(cell, target, o, fds)];
  const url = await natsUrl();
  const servers: ServerProc[] = [];
  try {
    for (let i = 0; i < n; i++) servers.push(await startTarget(cell, target, o, fds, { CROSSWIRE_CLUSTER_NATS: url, CROSSWIRE_NODE_ID: `bench-${i}` }, i));
  } catch (e) {
    await Promise.all(servers.map((s) => s.stop()));
    throw e;
  }
  return servers;
}

async function startTarget(cell: Cell, target: TargetSpec, o: RunOptions, fds: number, env: Record<string, string> = {}, node = 0): Promise<ServerProc> {
  if (target.kind === 'limit') return startServer(`${cell.limit} limit`, LIMIT_SERVERS[cell.limit], { fds });
  let nodeArgs: string[] = [];
  if (o.profileDir !== null) {
    const dir = `${o.profileDir}/${profileSubdir(cell, target.label)}${node > 0 ? `-node${node}` : ''}`;
    mkdirSync(dir, { recursive: true });
    nodeArgs = ['--cpu-prof', '--cpu-prof-dir', dir];
  }
  return startServer(target.label, target.cli, {
    args:
      cell.match === 'prefix'
        ? ['start', '--config', configFile('fanout-prefix', FANOUT_PREFIX_CONFIG)]
        : cell.scenario === 'http-publish'
          ? ['start', '--config', configFile('http-publish', HTTP_PUBLISH_CONFIG)]
          : ['start'],
    nodeArgs,
    fds,
    env: {
      CROSSWIRE_PORT: '0',
      CROSSWIRE_INTERFACE: '127.0.0.1',
      CROSSWIRE_LOG_LEVEL: 'info',
      CROSSWIRE_SHUTDOWN_TIMEOUT: '1000',
      ...env,
      // V8 flags for the router processes only (e.g. --max-semi-space-size=4), not the generators.
      ...(process.env.BENCH_ROUTER_NODE_OPTIONS !== undefined ? { NODE_OPTIONS: process.env.BENCH_ROUTER_NODE_OPTIONS } : {}),
    },
  });
}

/** Which generator processes a cell needs, in setup order (callees before callers). */
function roles(cell: Cell, t: Target, o: RunOptions): { cfg: RoleConfig; fds: number }[] {
  switch (cell.scenario) {
    case 'rpc':
    case 'rpc-shared': {
      const callers = { cfg: { role: 'callers', callers: o.callers, window: o.callWindow, payload: cell.payload } as const, fds: 0 };
      if (t === 'limit') return [callers];
      const shared = cell.scenario === 'rpc-shared';
      return [{ cfg: { role: 'callees', callees: shared ? 4 : 1, invoke: shared ? 'roundrobin' : 'single' }, fds: 0 }, callers];
    }
    case 'fanout':
      return [{ cfg: { role: 'fanout', subscribers: cell.peers, window: o.window, payload: cell.payload, dropSeq: o.dropSeq, match: cell.match }, fds: cell.peers + 64 }];
    case 'fanin':
      return [{ cfg: { role: 'fanin', publishers: cell.peers, window: o.window, payload: cell.payload }, fds: cell.peers + 64 }];
    case 'join':
      return [{ cfg: { role: 'join', concurrency: o.joinConcurrency }, fds: 0 }];
    case 'http-publish':
      return [{ cfg: { role: 'http-publish', connections: cell.peers }, fds: cell.peers + 64 }];
    case 'idle': {
      // Two generator processes, each connecting from its own loopback addresses.
      const half = Math.ceil(cell.peers / 2);
      return [0, 1].map((i) => ({
        cfg: { role: 'idle', sessions: i === 0 ? half : cell.peers - half, concurrency: 128, localAddresses: [`127.0.${i + 1}.1`, `127.0.${i + 1}.2`] },
        fds: half + 64,
      }));
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const HEADLINE: Readonly<Record<string, string>> = { rpc: 'calls', 'rpc-shared': 'calls', fanout: 'deliveries', fanin: 'deliveries', join: 'sessions', 'http-publish': 'requests' };

export async function runCell(cell: Cell, target: TargetSpec, o: RunOptions): Promise<CellResult> {
  const plan = roles(cell, target.kind, o);
  const serverFds = cell.scenario === 'idle' ? cell.peers + 256 : 0;
  let servers: ServerProc[];
  try {
    servers = await startTargets(cell, target, o, serverFds);
  } catch (e) {
    return result(cell, target, { status: 'failed', note: (e as Error).message });
  }
  const server = servers[0]!;
  const peers: PeerProc[] = [];
  try {
    const rss0 = rssKiB(server.pid);
    const at = (s: ServerProc) => ({ host: '127.0.0.1', port: s.port, client: o.client });
    const setup = (cfg: RoleConfig): PeerSetup => ({
      endpoint: at(servers[Math.min(nodeOf(cfg.role), servers.length - 1)]!),
      ...(servers.length > 1 ? { others: servers.slice(1).map(at) } : {}),
      serializer: cell.serializer,
      target: target.kind,
      cfg,
    });
    for (const r of plan) {
      let nodeArgs: string[] = [];
      if (o.profileDir !== null && o.profileGenerators) {
        const dir = `${o.profileDir}/${profileSubdir(cell, `generators ${target.label}`)}`;
        mkdirSync(dir, { recursive: true });
        nodeArgs = ['--cpu-prof', '--cpu-prof-dir', dir];
      }
      const p = new PeerProc(r.fds, nodeArgs);
      peers.push(p);
      const answer = await p.setup(setup(r.cfg), cell.scenario === 'idle' ? 120000 : 60000);
      if (answer.k === 'unsupported') return result(cell, target, { status: 'unsupported', note: answer.reason });
      if (answer.k !== 'ready') return result(cell, target, { status: 'failed', note: `setup: ${answer.k === 'failed' ? answer.error : answer.k}` });
    }
    if (cell.scenario === 'idle') return await idle(cell, target, server, peers, rss0);
    // A cluster cell: the nodes learn each other's subscriptions through NATS (one round trip;
    // docs/cluster.md), so the load starts once that has surely happened.
    if (servers.length > 1) await sleep(1000);
    return await measure(cell, target, servers, peers, o);
  } catch (e) {
    return result(cell, target, { status: 'failed', note: (e as Error).message });
  } finally {
    await Promise.all(peers.map((p) => p.exit()));
    for (const { code, signal } of await Promise.all(servers.map((s) => s.stop()))) {
      if (code !== 0 && target.kind === 'router') o.progress(`warning: ${target.label} exited with ${code ?? signal} on SIGTERM`);
    }
  }
}

/** CPU ticks of the server processes together (a cluster cell's nodes; main: the first node's main thread). */
function serverTicks(servers: ServerProc[]): { main: number; total: number } {
  const t = servers.map((s) => cpuTicks(s.pid));
  return { main: t[0]!.main, total: t.reduce((a, x) => a + x.total, 0) };
}

async function measure(cell: Cell, target: TargetSpec, servers: ServerProc[], peers: PeerProc[], o: RunOptions): Promise<CellResult> {
  for (const p of peers) p.send({ k: 'start' });
  await sleep(o.warmup * 1000);
  const key = HEADLINE[cell.scenario]!;
  const begin = await Promise.all(peers.map((p) => p.mark('begin')));
  const cpu0 = serverTicks(servers);
  const sys0 = machineTicks();
  const sum = (marks: Mark[], k: string): number => marks.reduce((a, m) => a + (m.counters[k] ?? 0), 0);
  const t0 = performance.now();
  for (;;) {
    const left = o.seconds * 1000 - (performance.now() - t0);
    if (left <= 0) break;
    await sleep(Math.min(1000, left));
    if (o.seconds * 1000 - (performance.now() - t0) < 100) continue;
    const peek = await Promise.all(peers.map((p) => p.mark('peek')));
    const rate = (sum(peek, key) - sum(begin, key)) / ((peek[0]!.t - begin[0]!.t) / 1000);
    o.progress(`${((performance.now() - t0) / 1000).toFixed(0)}/${o.seconds} s  ${Math.round(rate).toLocaleString('en-US')} ${key}/s`);
  }
  const end = await Promise.all(peers.map((p) => p.mark('end')));
  const cpu1 = serverTicks(servers);
  const sys1 = machineTicks();
  const results: PeerResult[] = [];
  for (const p of peers) results.push(await p.stop(5000));

  // Each peer's rate over its own clock; the sum is the cell's rate.
  const rateOf = (k: string): number => peers.reduce((a, _p, i) => a + ((end[i]!.counters[k] ?? 0) - (begin[i]!.counters[k] ?? 0)) / ((end[i]!.t - begin[i]!.t) / 1000), 0);
  const dt = (end[0]!.t - begin[0]!.t) / 1000;
  const extra: Record<string, number> = {};
  if (cell.scenario === 'fanout') extra.publications_per_s = Math.round(rateOf('publications'));
  const hist = new Histogram();
  for (const r of results) if (r.hist !== undefined) hist.merge(r.hist);
  if (hist.count > 0) {
    extra.p50_us = Math.round(hist.percentile(0.5));
    extra.p99_us = Math.round(hist.percentile(0.99));
    extra.p999_us = Math.round(hist.percentile(0.999));
  }
  // CPU the server spent per operation: unlike the rate, this barely moves when other
  // processes compete for the cores, so it is the figure to watch on a busy machine.
  const ops = peers.reduce((a, _p, i) => a + (end[i]!.counters[key] ?? 0) - (begin[i]!.counters[key] ?? 0), 0);
  if (ops > 0) extra.server_cpu_us_per_op = Math.round((((cpu1.total - cpu0.total) / CLK_TCK) * 1e6 * 100) / ops) / 100;
  const lost = results.reduce((a, r) => a + r.verdict.lost, 0);
  const errors = results.reduce((a, r) => a + r.verdict.errors, 0);
  const errorSamples = results.flatMap((r) => r.verdict.errorSamples).slice(0, 5);
  const info = results.map((r) => r.info).filter((x) => Object.keys(x).length > 0);
  const perCallee = info.find((x) => Array.isArray(x.invocationsPerCallee))?.invocationsPerCallee as number[] | undefined;
  return result(cell, target, {
    status: lost === 0 && errors === 0 ? 'ok' : 'failed',
    value: Math.round(rateOf(key)),
    extra,
    lost,
    errors,
    errorSamples,
    note: perCallee !== undefined && perCallee.length > 1 ? `invocations per callee: ${perCallee.join('/')}` : '',
    cpu: (() => {
      const serverTotal = ((cpu1.total - cpu0.total) / CLK_TCK / dt) * 100;
      const generators = (peers.reduce((a, _p, i) => a + end[i]!.cpuUs - begin[i]!.cpuUs, 0) / 1e6 / dt) * 100;
      // Everything else the machine did meanwhile (other users' processes, the harness, the kernel's own threads).
      const machine = ((sys1.busy - sys0.busy) / CLK_TCK / dt) * 100;
      return {
        serverMain: Math.round(((cpu1.main - cpu0.main) / CLK_TCK / dt) * 100),
        serverTotal: Math.round(serverTotal),
        generators: Math.round(generators),
        others: Math.max(0, Math.round(machine - serverTotal - generators)),
      };
    })(),
    profileDir: target.kind === 'router' && o.profileDir !== null ? o.profileDir : undefined,
  });
}

/** idle: the server's RSS growth per session once every session joined and the RSS settled. */
async function idle(cell: Cell, target: TargetSpec, server: ServerProc, peers: PeerProc[], rss0: number): Promise<CellResult> {
  let prev = rssKiB(server.pid);
  // Settled: two readings 250 ms apart within 0.5 % (at most 5 s).
  for (let i = 0; i < 20; i++) {
    await sleep(250);
    const now = rssKiB(server.pid);
    const settled = Math.abs(now - prev) <= prev * 0.005;
    prev = now;
    if (settled) break;
  }
  const marks = await Promise.all(peers.map((p) => p.mark('end')));
  const sessions = marks.reduce((a, m) => a + (m.counters.sessions ?? 0), 0);
  const results: PeerResult[] = [];
  for (const p of peers) results.push(await p.stop(1000));
  const lost = cell.peers - sessions;
  const errors = results.reduce((a, r) => a + r.verdict.errors, 0);
  return result(cell, target, {
    status: lost === 0 && errors === 0 ? 'ok' : 'failed',
    value: Math.round(((prev - rss0) / Math.max(1, sessions)) * 100) / 100,
    extra: { rss_before_kib: rss0, rss_after_kib: prev, sessions },
    lost,
    errors,
    errorSamples: results.flatMap((r) => r.verdict.errorSamples).slice(0, 5),
  });
}
