/**
 * `--cluster` (docs/cluster.md, docs/performance.md): cells whose router is two Crosswire nodes
 * joined through a nats-server the harness starts (loopback, a free port, JetStream in a temporary
 * store), next to the same cells on one node. Which scenarios have such a twin, and where each
 * generator role connects, is said here: a role is placed on node A (index 0) or spread.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cell, Scenario } from './cells.js';

/** Nodes of a cluster cell. */
export const CLUSTER_NODES = 2;

/**
 * Scenarios measured across nodes. rpc: the callee on node B, the callers on node A, so every
 * call crosses (nodeOf). fanout: the publisher on node A, the subscribers spread over the nodes
 * (i % nodes).
 */
export const CLUSTER_SCENARIOS: readonly Scenario[] = ['rpc', 'fanout'];

/** The cluster twin of a cell (same limit, same load), or null when its scenario has none. */
export function clusterTwin(cell: Cell): Cell | null {
  if (!CLUSTER_SCENARIOS.includes(cell.scenario)) return null;
  return { ...cell, variant: `${cell.variant} ${CLUSTER_NODES} nodes`, nodes: CLUSTER_NODES };
}

/** The variant of the one-node cell a cell is the cluster twin of (its own variant when it is none). */
export function oneNodeVariant(cell: Cell): string {
  const suffix = ` ${cell.nodes} nodes`;
  return cell.nodes !== undefined && cell.variant.endsWith(suffix) ? cell.variant.slice(0, -suffix.length) : cell.variant;
}

/** The node a generator role connects to (fanout spreads its subscribers itself). */
export function nodeOf(role: string): number {
  return role === 'callees' ? 1 : 0;
}

let nats: { child: ChildProcess; url: string; dir: string } | null = null;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The harness's nats-server (started once per bench run, stopped at exit); its URL. */
export async function natsUrl(): Promise<string> {
  if (nats !== null) return nats.url;
  const bin = [process.env.NATS_SERVER ?? 'nats-server', '/usr/sbin/nats-server'].find((b) => {
    const v = spawnSync(b, ['--version'], { encoding: 'utf8' });
    return v.error === undefined && v.status === 0;
  });
  if (bin === undefined) throw new Error('--cluster needs nats-server (Debian: apt-get install nats-server; or NATS_SERVER=/path)');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'crosswire-bench-nats-'));
  const child = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  process.once('exit', () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server did not start within 15 s: ${log}`)), 15000);
    const onData = (d: Buffer) => {
      log += d.toString();
      if (log.includes('Server is ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`nats-server exited (${code}): ${log}`)));
  });
  // Its log keeps being read (a full pipe would stall it), but neither it nor the process keeps
  // the bench alive: the exit handler above stops it.
  child.unref();
  (child.stdout as unknown as { unref(): void }).unref();
  (child.stderr as unknown as { unref(): void }).unref();
  nats = { child, url: `nats://127.0.0.1:${port}`, dir };
  return nats.url;
}
