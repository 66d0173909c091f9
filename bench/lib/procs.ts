/**
 * Child processes of the harness: the server under test (the built router, or a raw uWS limit
 * server) and the load generators. Servers print one JSON line with `ports` when ready.
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import type { FromPeer, Mark, PeerResult, PeerSetup, ToPeer } from './ipc.js';

const HERE = new URL('.', import.meta.url).pathname;
export const LIMIT_SERVERS = {
  echo: `${HERE}../limit/echo.js`,
  fanout: `${HERE}../limit/fanout.js`,
  forward: `${HERE}../limit/forward.js`,
} as const;
export const PEER = `${HERE}../peers/load.js`;

/** The open-files limits of processes started from here (`ulimit -Sn`, `ulimit -Hn`). */
export function fdLimits(): { soft: number; hard: number } {
  const out = execFileSync('sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' }).trim().split('\n');
  const num = (s: string | undefined): number => (s === 'unlimited' ? Infinity : Number(s));
  return { soft: num(out[0]), hard: num(out[1]) };
}

/**
 * argv that runs node with at least `fds` open files allowed: through `sh -c 'ulimit -n …; exec'`
 * when the soft limit is lower (the IPC channel survives exec). Throws when the hard limit is.
 */
function withFds(nodeArgs: string[], fds: number): { cmd: string; args: string[] } {
  const { soft, hard } = fdLimits();
  if (fds <= soft) return { cmd: process.execPath, args: nodeArgs };
  if (fds > hard) throw new Error(`needs ${fds} open files per process, but the hard limit (ulimit -Hn) is ${hard}`);
  const quoted = [process.execPath, ...nodeArgs].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return { cmd: 'sh', args: ['-c', `ulimit -n ${fds} && exec ${quoted}`] };
}

export interface ServerProc {
  kind: string;
  child: ChildProcess;
  pid: number;
  port: number;
  /** Every port of the ready line (a router's transports in config order). */
  ports: number[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts a server script (`crosswire start`, or a limit server) and resolves with its port once
 * it printed its ready line. stderr is kept and shown if it fails.
 */
export function startServer(
  kind: string,
  script: string,
  opts: { args?: string[]; nodeArgs?: string[]; env?: Record<string, string>; fds?: number } = {},
): Promise<ServerProc> {
  const { cmd, args } = withFds([...(opts.nodeArgs ?? []), script, ...(opts.args ?? [])], opts.fds ?? 0);
  const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${kind} did not become ready within 20 s: ${stderr}`));
    }, 20000);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${kind} exited (${code ?? signal}) before it was ready: ${stderr}`));
    });
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.includes('"ports"') || !line.includes('ready"')) continue;
        clearTimeout(timer);
        const { ports } = JSON.parse(line) as { ports: number[] };
        // The router runs as the direct child; with the ulimit wrapper, sh exec'd into node (same pid).
        resolve({
          kind,
          child,
          pid: child.pid!,
          port: ports[0]!,
          ports,
          exited,
          stop: () => {
            child.kill('SIGTERM');
            let t: NodeJS.Timeout | undefined;
            return Promise.race([
              exited,
              new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => {
                t = setTimeout(() => {
                  child.kill('SIGKILL');
                  r({ code: null, signal: 'SIGKILL' });
                }, 10000);
              }),
            ]).finally(() => clearTimeout(t));
          },
        });
      }
    });
  });
}

/** Resident set size of a process in KiB (VmRSS in /proc/<pid>/status). */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** CPU time of a process in clock ticks: the main thread and all threads together. */
export function cpuTicks(pid: number): { main: number; total: number } {
  const ticks = (stat: string): number => {
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  };
  let total = 0;
  let main = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const t = ticks(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      total += t;
      if (Number(tid) === pid) main = t;
    } catch {
      // the thread ended meanwhile
    }
  }
  return { main, total };
}

/** Busy and total CPU time of the whole machine in clock ticks (first line of /proc/stat). */
export function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

/** The harness's end of one load generator process. */
export class PeerProc {
  readonly child: ChildProcess;
  #queue: FromPeer[] = [];
  #waiting: ((m: FromPeer) => void) | null = null;
  #exitError: string | null = null;

  constructor(fds = 0, nodeArgs: string[] = []) {
    const { cmd, args } = withFds([...nodeArgs, PEER], fds);
    const stdio: ('ignore' | 'inherit' | 'ipc')[] = ['ignore', 'inherit', 'inherit', 'ipc'];
    // execArgv is not inherited: the harness's own flags must not reach the generators.
    this.child = cmd === process.execPath ? fork(PEER, [], { execArgv: nodeArgs, stdio }) : spawn(cmd, args, { stdio });
    this.child.on('message', (m: FromPeer) => {
      if (this.#waiting !== null) {
        const w = this.#waiting;
        this.#waiting = null;
        w(m);
      } else this.#queue.push(m);
    });
    this.child.on('exit', (code, signal) => {
      this.#exitError = `load generator exited (${code ?? signal})`;
      this.#waiting?.({ k: 'failed', error: this.#exitError });
      this.#waiting = null;
    });
  }

  send(m: ToPeer): void {
    this.child.send(m);
  }

  /** The next message from the peer (a `failed` one if it died or took longer than `ms`). */
  next(ms: number): Promise<FromPeer> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#exitError !== null) return Promise.resolve({ k: 'failed', error: this.#exitError });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting = null;
        resolve({ k: 'failed', error: `load generator did not answer within ${ms} ms` });
      }, ms);
      this.#waiting = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
    });
  }

  async setup(s: PeerSetup, ms: number): Promise<FromPeer> {
    this.send({ k: 'setup', setup: s });
    return this.next(ms);
  }

  async mark(phase: 'begin' | 'peek' | 'end'): Promise<Mark> {
    this.send({ k: 'mark', phase });
    const m = await this.next(10000);
    if (m.k !== 'marked') throw new Error(m.k === 'failed' ? m.error : `unexpected ${m.k}`);
    return m.mark;
  }

  async stop(drainMs: number): Promise<PeerResult> {
    this.send({ k: 'stop', drainMs });
    const m = await this.next(drainMs + 10000);
    if (m.k !== 'result') throw new Error(m.k === 'failed' ? m.error : `unexpected ${m.k}`);
    return m.result;
  }

  /** Asks the peer to close its connections and exit; kills it if it does not within 5 s. */
  async exit(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    if (this.child.connected) this.send({ k: 'exit' });
    else this.child.kill('SIGTERM');
    let t: NodeJS.Timeout | undefined;
    await Promise.race([gone, new Promise<void>((r) => (t = setTimeout(r, 5000)))]);
    clearTimeout(t);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
