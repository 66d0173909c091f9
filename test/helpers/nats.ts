// A real nats-server for the cluster tests (docs/cluster.md), and waiting helpers shared by them.
// Same scheme as test/integration/cluster.test.ts (which keeps its own copy): Debian's nats-server,
// a free loopback port, JetStream with a temporary store.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventDetails } from 'autobahn';
import type { Client } from './client.js';
import { Inbox, within } from './wait.js';

const INSTALL_HINT = 'nats-server is not installed: run scripts/install-test-deps.sh as root (apt-get installs nats-server)';

export type Ev = { args: unknown[]; kwargs: Record<string, unknown>; details: EventDetails };

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface Nats {
  child: ChildProcess;
  url: string;
  port: number;
  dir: string;
}

const children = new Set<ChildProcess>();
const dirs = new Set<string>();

/**
 * Starts nats-server on a free loopback port (or `at`) with JetStream and a temporary store; resolves
 * when it is ready. `config`: the text of a nats-server configuration file (written to the store
 * directory, passed with -c; the command line's address, port and store take precedence).
 */
export async function startNats(at?: { port: number; dir: string }, extra: string[] = [], config?: string): Promise<Nats> {
  const bin = [process.env.NATS_SERVER ?? 'nats-server', ...(process.env.NATS_SERVER === undefined ? ['/usr/sbin/nats-server'] : [])].find((b) => {
    const v = spawnSync(b, ['--version'], { encoding: 'utf8' });
    return v.error === undefined && v.status === 0;
  });
  if (bin === undefined) throw new Error(INSTALL_HINT);
  const port = at?.port ?? (await freePort());
  const dir = at?.dir ?? mkdtempSync(join(tmpdir(), 'crosswire-nats-'));
  dirs.add(dir);
  const conf = join(dir, 'nats-server.conf');
  if (config !== undefined) writeFileSync(conf, config);
  const args = [...(config !== undefined ? ['-c', conf] : []), '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir, ...extra];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let log = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      log += d.toString();
      if (log.includes('Server is ready')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`nats-server exited (code ${code}) before it was ready:\n${log}`)));
  });
  await within(ready, 15_000, `nats-server on 127.0.0.1:${port} to be ready`);
  return { child, url: `nats://127.0.0.1:${port}`, port, dir };
}

/** Kills a nats-server (SIGKILL: no goodbye to its clients) and waits for it to exit. */
export async function killNats(n: Nats): Promise<void> {
  if (n.child.exitCode !== null || n.child.signalCode !== null) return;
  const exited = new Promise((r) => n.child.once('exit', r));
  n.child.kill('SIGKILL');
  await within(exited, 10_000, 'nats-server to die');
}

/** Stops every nats-server started here and removes their stores (for after()). */
export async function stopAllNats(): Promise<void> {
  await Promise.all(
    [...children].map((child) => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      return within(exited, 10_000, 'nats-server to exit');
    }),
  );
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

/** Calls `probe` until it returns true: bounded in count and time (each call is a round trip, never a sleep). */
export async function until(probe: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 20_000 && Date.now() < deadline; i++) if (await probe()) return;
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Subscribes; events whose kwargs carry `probe` go to `probes`, the rest to `events`. */
export async function sub(c: Client, topic: string, options: Record<string, unknown> = {}): Promise<{ events: Inbox<Ev>; probes: Inbox<Ev> }> {
  const events = new Inbox<Ev>();
  const probes = new Inbox<Ev>();
  await c.session.subscribe(topic, (args, kwargs, details) => ((kwargs ?? {}).probe !== undefined ? probes : events).push({ args, kwargs: kwargs ?? {}, details }), options);
  return { events, probes };
}

/**
 * Waits until a subscription made on other nodes has reached NATS: each subscriber subscribes
 * `<prefix>.probe` after its other subscriptions, and probes are published until every one got
 * one (NATS handles one connection's subscriptions in order). Bounded in count and time.
 */
export async function linked(publisher: Client, prefix: string, subscribers: Client[]): Promise<void> {
  const inboxes = await Promise.all(subscribers.map(async (c) => (await sub(c, `${prefix}.probe`)).probes));
  for (let i = 0; i < 100; i++) {
    await publisher.session.publish(`${prefix}.probe`, [], { probe: i }, { acknowledge: true });
    try {
      await Promise.all(inboxes.map((x) => x.waitFor(1, 100)));
      return;
    } catch {
      // not yet: publish another probe
    }
  }
  throw new Error(`the nodes did not link within 100 probes: ${inboxes.map((x) => x.items.length).join(', ')}`);
}

export const argsOf = (x: Inbox<Ev>) => x.items.map((e) => e.args[0]);
