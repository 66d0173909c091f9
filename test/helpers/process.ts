import { type ChildProcess, spawn } from 'node:child_process';
import { within } from './wait.js';

export const CLI = new URL('../../src/cli.js', import.meta.url).pathname;

export interface RouterProcess {
  child: ChildProcess;
  port: number;
  stdout: string[];
  /** Resolves with the first stdout line (already seen or future) for which `pred` holds. */
  waitForLine(pred: (line: string) => boolean, ms: number, what: string): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node <script> <args>` to completion within `ms`; resolves with exit code and output. An undefined env value unsets it.
 * Resolves on 'close', not 'exit': 'exit' can come before the last of the child's piped output has been read.
 */
export function runNode(script: string, args: string[], ms: number, what: string, env: Record<string, string | undefined> = {}, cwd?: string): Promise<Finished> {
  const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], ...(cwd !== undefined ? { cwd } : {}) });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return within(
    new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))),
    ms,
    what,
  );
}

/**
 * Runs `crosswire <args>` (in `cwd`) to completion; resolves with exit code and output. An
 * undefined env value unsets it; CROSSBAR_DIR is unset unless given (it moves where --config is read).
 */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, cwd?: string): Promise<Finished> {
  return runNode(CLI, args, 15000, `crosswire ${args.join(' ')} to exit`, { CROSSBAR_DIR: undefined, ...env }, cwd);
}

/** Starts `crosswire start` as a child process on an ephemeral port; resolves once it is ready. */
export async function spawnRouter(args: string[] = [], env: Record<string, string | undefined> = {}, cwd?: string): Promise<RouterProcess> {
  const child = spawn(process.execPath, [CLI, 'start', ...args], {
    env: { ...process.env, CROSSBAR_DIR: undefined, CROSSWIRE_PORT: '0', CROSSWIRE_INTERFACE: '127.0.0.1', CROSSWIRE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd !== undefined ? { cwd } : {}),
  });
  const stdout: string[] = [];
  const waiters: { pred: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  let stderr = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        stdout.push(line);
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (waiters[i]!.pred(line)) waiters.splice(i, 1)[0]!.resolve(line);
        }
        if (line.includes('"crosswire ready"')) resolve((JSON.parse(line) as { ports: number[] }).ports[0]!);
      }
    });
    void exited.then(({ code }) => reject(new Error(`router exited early with ${code}: ${stderr}`)));
  });
  const port = await within(ready, 15000, 'the router process to be ready');
  const waitForLine = (pred: (l: string) => boolean, ms: number, what: string): Promise<string> => {
    const seen = stdout.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return within(new Promise<string>((resolve) => waiters.push({ pred, resolve })), ms, what);
  };
  return { child, port, stdout, exited, waitForLine };
}
