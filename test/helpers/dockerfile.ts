import { readFileSync } from 'node:fs';

/** One Dockerfile instruction, continuation lines joined. */
export interface Instruction {
  op: string;
  args: string;
}

export interface Stage {
  from: string;
  name: string | null;
  instructions: Instruction[];
}

export const DOCKERFILE = new URL('../../../Dockerfile', import.meta.url);

/** Parses a Dockerfile into stages (enough of the syntax for static checks: no parser directives). */
export function parseDockerfile(text = readFileSync(DOCKERFILE, 'utf8')): Stage[] {
  const instructions: Instruction[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (pending === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\w+)\s+([\s\S]*)$/.exec(full);
    if (m === null) throw new Error(`cannot parse Dockerfile line: ${full}`);
    instructions.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim() });
  }
  const stages: Stage[] = [];
  for (const i of instructions) {
    if (i.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
      if (m === null) throw new Error(`bad FROM: ${i.args}`);
      stages.push({ from: m[1]!, name: m[2] ?? null, instructions: [] });
    } else {
      const s = stages.at(-1);
      if (s === undefined) throw new Error(`${i.op} before FROM`);
      s.instructions.push(i);
    }
  }
  return stages;
}

/** The JSON array of an exec-form instruction (throws for shell form). */
export function execForm(args: string): string[] {
  const v: unknown = JSON.parse(args);
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`not exec form: ${args}`);
  return v as string[];
}

/** ENV key=value pairs of a stage (the `ENV a=b c=d` form). */
export function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of stage.instructions.filter((x) => x.op === 'ENV')) {
    for (const m of i.args.matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2]!;
  }
  return env;
}

/** HEALTHCHECK [options] CMD [...]: the options and the exec-form command. */
export function healthcheck(stage: Stage): { options: Record<string, string>; cmd: string[] } {
  const h = stage.instructions.find((x) => x.op === 'HEALTHCHECK');
  if (h === undefined) throw new Error('no HEALTHCHECK');
  const m = /^((?:--\S+\s+)*)CMD\s+(\[[\s\S]*\])$/.exec(h.args);
  if (m === null) throw new Error(`HEALTHCHECK is not "[options] CMD [exec form]": ${h.args}`);
  const options: Record<string, string> = {};
  for (const o of m[1]!.matchAll(/--([\w-]+)=(\S+)/g)) options[o[1]!] = o[2]!;
  return { options, cmd: execForm(m[2]!) };
}

/** glibc of the Debian releases the official node images are built on (Debian's libc6 package). */
export const DEBIAN_GLIBC: Record<string, string> = { bullseye: '2.31', bookworm: '2.36', trixie: '2.41' };

/** process.versions.modules of each Node LTS line (nodejs.org/dist/index.json, "modules"). */
export const NODE_ABI: Record<number, string> = { 20: '115', 22: '127', 24: '137' };

/** `node:<major>-<codename>[-slim]` (an official node image tag), or null for any other FROM. */
export function baseImage(from: string): { major: number; codename: string; slim: boolean } | null {
  const m = /^node:(\d+)-([a-z]+)(-slim)?$/.exec(from);
  return m === null ? null : { major: Number(m[1]), codename: m[2]!, slim: m[3] !== undefined };
}
