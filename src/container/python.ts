import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { PythonComponentConfig, WorkerEnv } from '../config/components.js';
import type { Logger } from '../shared/log.js';
import { workerEnv } from './env.js';
import type { ComponentState } from './host-process.js';
import type { ComponentStatus } from './manager.js';

/** The runner every Python component process executes (python/crosswire_component.py). */
export const RUNNER = new URL('../../../python/crosswire_component.py', import.meta.url).pathname;

const INSTALL = 'install Autobahn|Python for it (Debian/Ubuntu: apt-get install python3-autobahn; elsewhere: pip install autobahn[twisted])';

/** An interpreter that imports Autobahn|Python. */
export interface Python {
  executable: string;
  version: string;
}

/** Runs `python -c` to see whether it imports Autobahn|Python; resolves with its versions or why not. */
function probe(executable: string, env: NodeJS.ProcessEnv): Promise<{ ok: true; version: string } | { ok: false; why: string }> {
  return new Promise((resolve) => {
    execFile(
      executable,
      ['-c', 'import sys, autobahn; print("Python %s, Autobahn|Python %s" % (sys.version.split()[0], autobahn.__version__))'],
      { env, timeout: 20_000 },
      (err, stdout, stderr) => {
        if (err === null) return resolve({ ok: true, version: stdout.trim() });
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return resolve({ ok: false, why: 'not found' });
        const last = stderr.trim().split('\n').at(-1);
        resolve({ ok: false, why: last !== undefined && last !== '' ? last : err.message });
      },
    );
  });
}

/** `name` on PATH (as a shell would find it), or null. */
function onPath(name: string, pathVar: string | undefined): string | null {
  for (const d of (pathVar ?? '').split(delimiter)) {
    if (d === '') continue;
    const f = join(d, name);
    try {
      if (statSync(f).isFile()) {
        accessSync(f, constants.X_OK);
        return f;
      }
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * The interpreter for each Python component: its worker's `options.python`, else
 * `crosswire.python` (CROSSWIRE_PYTHON), else the first of `python3` on PATH and
 * `/usr/bin/python3` that imports Autobahn|Python. Throws one Error naming the components and
 * what to install when there is none.
 */
export async function findPythons(components: readonly PythonComponentConfig[], configured: string | null, env: NodeJS.ProcessEnv = process.env): Promise<Map<PythonComponentConfig, Python>> {
  const out = new Map<PythonComponentConfig, Python>();
  if (components.length === 0) return out;
  const probes = new Map<string, ReturnType<typeof probe>>();
  const probed = (exe: string) => {
    let p = probes.get(exe);
    if (p === undefined) probes.set(exe, (p = probe(exe, env)));
    return p;
  };
  const named = (c: PythonComponentConfig) => `${c.key} (${c.kind === 'router' ? 'router' : 'container'} '${c.worker}', component '${c.id}')`;
  let discovered: Python | null | undefined;
  const tried: string[] = [];
  for (const c of components) {
    const explicit = c.python ?? configured;
    if (explicit !== null) {
      const key = c.python !== null ? `${c.key.replace(/\.components\[\d+\]$/, '')}.options.python` : 'crosswire.python (CROSSWIRE_PYTHON)';
      const r = await probed(explicit);
      if (!r.ok) throw new Error(`${named(c)}: the Python interpreter ${key} names, ${explicit}, cannot run Python components: ${r.why}. ${INSTALL[0]!.toUpperCase()}${INSTALL.slice(1)}, or name another interpreter.`);
      out.set(c, { executable: explicit, version: r.version });
      continue;
    }
    if (discovered === undefined) {
      discovered = null;
      for (const [label, exe] of [
        ['python3 on PATH', onPath('python3', env.PATH)],
        ['/usr/bin/python3', '/usr/bin/python3'],
      ] as const) {
        if (exe === null) {
          tried.push(`${label}: not found`);
          continue;
        }
        const r = await probed(exe);
        if (r.ok) {
          discovered = { executable: exe, version: r.version };
          break;
        }
        tried.push(`${label} (${exe}): ${r.why}`);
      }
    }
    if (discovered === null) {
      const which = components.filter((x) => (x.python ?? configured) === null).map(named);
      throw new Error(
        `Python components need Python 3 with Autobahn|Python, and none was found for ${which.join(', ')} (tried ${tried.join('; ')}). ` +
          `${INSTALL[0]!.toUpperCase()}${INSTALL.slice(1)}, or name an interpreter that has it with crosswire.python or CROSSWIRE_PYTHON.`,
      );
    }
    out.set(c, discovered);
  }
  return out;
}

/** A Python component's environment: the worker's (workerEnv), with PYTHONUNBUFFERED=1 unless set. */
export function pythonEnv(e: WorkerEnv, parent: NodeJS.ProcessEnv): Record<string, string> {
  const out = workerEnv(e, parent);
  if (!('PYTHONUNBUFFERED' in out)) out.PYTHONUNBUFFERED = '1';
  return out;
}

/** How a router component reaches the router: the private socket and a fresh one-time token. */
export interface PrivatePath {
  socket: string;
  issue(c: PythonComponentConfig): string;
  revoke(token: string): void;
}

const TXAIO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d{4}|Z)? /;

const TXAIO_LEVEL: Record<string, string> = { trace: 'trace', debug: 'debug', info: 'info', warn: 'warn', error: 'error', fatal: 'critical', silent: 'none' };

/**
 * One Python component: a child process running the runner, restarted with backoff by its
 * worker's restart policy (router components: restart-on-failed). Its stdout and stderr are
 * logged line by line under its worker and component ids; its state comes from the runner's
 * events (fd 3) and its exit code.
 */
export class PythonComponent {
  state: ComponentState = 'starting';
  restarts = 0;
  #child: ChildProcess | null = null;
  #token: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #stopping = false;
  #error: string | null = null;

  constructor(
    readonly cfg: PythonComponentConfig,
    readonly python: Python,
    readonly privatePath: PrivatePath | null,
    readonly logLevel: string,
    readonly log: Logger,
    readonly changed: (s: ComponentStatus) => void,
  ) {}

  #report(): void {
    const c = this.cfg;
    this.changed({ container: c.worker, component: c.id, state: this.state, restarts: this.restarts, ...(this.#error !== null && this.state === 'failed' ? { error: this.#error } : {}) });
  }

  #spec(): Record<string, unknown> {
    const c = this.cfg;
    const base = {
      kind: c.kind,
      id: c.id,
      classname: c.classname,
      realm: c.realm,
      extra: c.extra,
      pythonpath: c.pythonpath,
      cbdir: c.cbdir,
      log_level: TXAIO_LEVEL[this.logLevel] ?? 'info',
    };
    if (c.kind === 'router') {
      const p = this.privatePath!;
      this.#token = p.issue(c);
      return {
        ...base,
        token: this.#token,
        role: c.role,
        authid: c.authid,
        url: 'ws://localhost/ws',
        endpoint: { type: 'unix', path: p.socket, timeout: 10 },
        serializers: ['msgpack', 'json'],
      };
    }
    const t = c.transport!;
    if (t.type === 'rawsocket') return { ...base, transport: 'rawsocket', endpoint: t.endpoint, serializers: [t.serializer] };
    return { ...base, transport: 'websocket', url: t.url, endpoint: t.endpoint, serializers: t.serializers };
  }

  start(): void {
    const c = this.cfg;
    this.state = 'starting';
    this.#error = null;
    this.#report();
    const child = spawn(this.python.executable, [RUNNER], { cwd: c.cbdir, env: pythonEnv(c.env, process.env), stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    this.#child = child;
    child.stdin!.on('error', () => {}); // a child that exits before reading its spec
    child.stdin!.write(`${JSON.stringify(this.#spec())}\n`);
    for (const [stream, s] of [['stdout', child.stdout!], ['stderr', child.stderr!]] as const) {
      // txaio's timestamp is dropped: every log line has its own time.
      createInterface({ input: s }).on('line', (line) => this.log.info({ stream }, line.replace(TXAIO_TIME, '')));
    }
    createInterface({ input: child.stdio[3] as Readable }).on('line', (line) => this.#event(line));
    child.on('error', (err) => this.log.error({ err, python: this.python.executable }, 'the Python component could not be started'));
    child.on('exit', (code, signal) => this.#exited(child, code, signal));
    this.log.info({ child_pid: child.pid, classname: c.classname, python: this.python.executable }, 'Python component started');
  }

  #event(line: string): void {
    let e: { event?: string; message?: string; pythonpath?: string[]; session?: number; flavor?: string; authrole?: string };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      return;
    }
    if (e.event === 'loaded') this.log.debug({ flavor: e.flavor }, 'component class imported');
    else if (e.event === 'joined') {
      this.state = 'running';
      this.log.info({ realm: this.cfg.realm, session: e.session, authrole: e.authrole }, 'component running');
      this.#report();
    } else if (e.event === 'import-error') {
      this.#error = `cannot import classname '${this.cfg.classname}': ${e.message ?? ''}`;
      const hint = /autobahn|twisted/i.test(e.message ?? '') ? `; ${INSTALL}` : '';
      this.log.error({ classname: this.cfg.classname, pythonpath: e.pythonpath, cwd: this.cfg.cbdir }, `${this.#error} (pythonpath: ${JSON.stringify(e.pythonpath ?? [])})${hint}`);
    } else if (e.event === 'unsupported') this.#error = e.message ?? 'unsupported';
    else if (e.event === 'error') this.#error = e.message ?? 'failed';
  }

  #exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#child !== child) return;
    this.#child = null;
    if (this.#token !== null) this.privatePath?.revoke(this.#token);
    this.#token = null;
    if (this.#stopping) {
      this.state = 'down';
      this.#report();
      return;
    }
    const failed = code !== 0;
    if (failed) {
      this.#error ??= signal !== null ? `killed by ${signal}` : `exited with code ${code}`;
      this.state = 'failed';
      // 4: the runner's Autobahn|Python cannot run the component as configured (one line says what to do).
      if (code === 4) this.log.error({ code, python: this.python.executable, error: this.#error }, `component cannot run, not restarted: ${this.#error}`);
      else this.log.error({ code, signal, error: this.#error }, 'component failed');
    } else {
      this.state = 'stopped';
      this.log.info({ code }, 'component stopped');
    }
    this.#report();
    if (code === 4) return; // not restarted: it would fail the same way
    const p = this.cfg.restart;
    if (p === 'restart-always' || (p === 'restart-on-failed' && failed)) this.#restart();
  }

  #restart(): void {
    const r = this.cfg.transport?.reconnect ?? { initial_retry_delay: 0.5, retry_delay_growth: 1.5, max_retry_delay: 10 };
    const delay = Math.min(r.initial_retry_delay * r.retry_delay_growth ** this.restarts, r.max_retry_delay) * 1000;
    this.restarts++;
    this.state = 'restarting';
    this.#report();
    this.log.info({ restarts: this.restarts, delay_ms: Math.round(delay) }, 'restarting component');
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.#stopping) this.start();
    }, delay);
  }

  /** No more restarts (the router is about to drain: the session may still finish its work). */
  stopping(): void {
    this.#stopping = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** SIGTERM (the runner says GOODBYE), SIGKILL after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping();
    const child = this.#child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) {
      this.state = 'down';
      return;
    }
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
