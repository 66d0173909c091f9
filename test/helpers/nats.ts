// A real nats-server for the cluster tests (docs/cluster.md): started on a free loopback port with
// JetStream and a temporary store. Needs Debian's nats-server (scripts/install-test-deps.sh):
// NATS_SERVER may name the binary; else nats-server on PATH, else /usr/sbin/nats-server.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { within } from './wait.js';

export const INSTALL_HINT = 'nats-server is not installed: run scripts/install-test-deps.sh as root (apt-get installs nats-server)';

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
  dir: string;
  /** Stops it (SIGTERM) and removes its store. */
  stop(): Promise<void>;
  /** Kills it (SIGKILL), keeping its store (for a restart with startNats(…, {port, dir})). */
  kill(): Promise<void>;
}

/**
 * Starts nats-server on a free loopback port with JetStream and a temporary store; resolves when it
 * is ready. `at`: on that port and store instead (a restart).
 */
export async function startNats(extra: string[] = [], at?: { port: number; dir: string }): Promise<Nats> {
  const bin = [process.env.NATS_SERVER ?? 'nats-server', ...(process.env.NATS_SERVER === undefined ? ['/usr/sbin/nats-server'] : [])].find((b) => {
    const v = spawnSync(b, ['--version'], { encoding: 'utf8' });
    return v.error === undefined && v.status === 0;
  });
  if (bin === undefined) throw new Error(INSTALL_HINT);
  const port = at?.port ?? (await freePort());
  const dir = at?.dir ?? mkdtempSync(join(tmpdir(), 'crosswire-nats-'));
  const child = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
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
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await within(exited, 10_000, 'nats-server to exit');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await within(exited, 10_000, 'nats-server to die');
  };
  try {
    await within(ready, 15_000, `nats-server on 127.0.0.1:${port} to be ready`);
  } catch (e) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return { child, url: `nats://127.0.0.1:${port}`, dir, stop, kill };
}
