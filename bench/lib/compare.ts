/**
 * --compare REF: builds another git ref in a temporary worktree (git worktree add + npm ci +
 * npm run build) so both routers run in the same session, and removes it afterwards.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BuiltRef {
  ref: string;
  sha: string;
  dir: string;
  cli: string;
  cleanup(): void;
}

function run(cmd: string, args: string[], cwd: string): void {
  // Build output goes to stderr: stdout is for results only.
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 2, 2] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd} (exit ${r.status ?? r.signal})`);
}

export function buildRef(root: string, ref: string, progress: (s: string) => void): BuiltRef {
  const sha = execFileSync('git', ['rev-parse', '--verify', `${ref}^{commit}`], { cwd: root, encoding: 'utf8' }).trim();
  const base = mkdtempSync(join(tmpdir(), `crosswire-bench-${sha.slice(0, 8)}-`));
  const dir = join(base, 'tree');
  const cleanup = (): void => {
    spawnSync('git', ['worktree', 'remove', '--force', dir], { cwd: root, stdio: 'ignore' });
    rmSync(base, { recursive: true, force: true });
    spawnSync('git', ['worktree', 'prune'], { cwd: root, stdio: 'ignore' });
  };
  try {
    progress(`compare: building ${ref} (${sha.slice(0, 10)}) in ${dir}`);
    run('git', ['worktree', 'add', '--detach', dir, sha], root);
    run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], dir);
    run('npm', ['run', 'build', '--silent'], dir);
    const cli = join(dir, 'dist', 'src', 'cli.js');
    if (!existsSync(cli)) throw new Error(`${ref} built, but has no dist/src/cli.js`);
    return { ref, sha, dir, cli, cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}
