import { type ChildProcess, spawn } from 'node:child_process';
import { type FSWatcher, watch } from 'node:fs';
import { createInterface } from 'node:readline';
import type { GuestConfig } from '../config/components.js';
import type { Logger } from '../shared/log.js';

/**
 * A guest worker: an external program started and supervised by the router process (Crossbar's
 * `type: "guest"`). Its output is logged line by line under its id; with `options.watch` it is
 * restarted when a file below the watched directories changes. It is not restarted when it exits
 * by itself (as in Crossbar); the exit is logged with its code.
 */
export class Guest {
  #child: ChildProcess | null = null;
  #watchers: FSWatcher[] = [];
  #stopping = false;
  #debounce: NodeJS.Timeout | null = null;
  restarts = 0;
  exitCode: number | null = null;

  constructor(
    readonly cfg: GuestConfig,
    readonly log: Logger,
  ) {}

  start(): void {
    const c = this.cfg;
    const env = { ...(c.inheritEnv ? process.env : {}), ...(c.env ?? {}) };
    const child = spawn(c.executable, c.arguments, { cwd: c.workdir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.exitCode = null;
    for (const [stream, s] of [['stdout', child.stdout], ['stderr', child.stderr]] as const) {
      createInterface({ input: s }).on('line', (line) => this.log.info({ stream }, line));
    }
    child.on('error', (err) => this.log.error({ err }, 'guest could not be started'));
    child.on('exit', (code, signal) => {
      if (this.#child === child) this.#child = null;
      this.exitCode = code;
      if (!this.#stopping) this.log[code === 0 ? 'info' : 'error']({ code, signal }, 'guest exited');
    });
    this.log.info({ child_pid: child.pid, executable: c.executable }, 'guest started');
    if (this.#watchers.length === 0) {
      for (const [i, dir] of c.watch.entries()) this.#watch(dir, i);
    }
  }

  /**
   * Watches one directory. A directory that is missing (check and start refuse that, but it can
   * go away later) or a watcher that fails is logged naming the key; the guest, and the router,
   * carry on unwatched.
   */
  #watch(dir: string, i: number): void {
    const key = `options.watch.directories[${i}]`;
    let w: FSWatcher;
    try {
      w = watch(dir, { recursive: true }, () => {
        if (this.#debounce !== null) clearTimeout(this.#debounce);
        this.#debounce = setTimeout(() => this.#restart(), 200);
      });
    } catch (err) {
      this.log.error({ err, key, directory: dir }, 'cannot watch the directory: the guest runs without restarts on changes there');
      return;
    }
    w.on('error', (err) => this.log.error({ err, key, directory: dir }, 'watching the directory failed: the guest runs without restarts on changes there'));
    this.#watchers.push(w);
  }

  #restart(): void {
    if (this.#stopping) return;
    this.restarts++;
    this.log.info('a watched file changed: restarting the guest');
    const old = this.#child;
    if (old === null) return this.start();
    old.once('exit', () => {
      if (!this.#stopping) this.start();
    });
    old.kill('SIGTERM');
  }

  async stop(timeoutMs = 3000): Promise<void> {
    this.#stopping = true;
    for (const w of this.#watchers) w.close();
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    const child = this.#child;
    if (child === null || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}
