/**
 * A small .cpuprofile summarizer: self time per function (V8's sampling profile as written by
 * `node --cpu-prof`), top N, with idle, GC and "program" (native, outside JS) kept apart.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  name: string;
  where: string;
  selfMs: number;
  /** Share of the busy (non-idle) time, %. */
  pct: number;
}

export interface ProfileSummary {
  file: string;
  /** `main` or `worker <threadId>`, from Node's file name CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile. */
  thread: string;
  totalMs: number;
  idleMs: number;
  busyMs: number;
  top: FunctionTime[];
}

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

function shortUrl(url: string): string {
  const i = url.lastIndexOf('/dist/');
  if (i >= 0) return url.slice(i + 6);
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + 14);
  return url.replace(/^file:\/\//, '');
}

export function summarize(p: CpuProfile, file = '', topN = 15): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const self = new Map<string, { name: string; where: string; us: number }>();
  let idleUs = 0;
  let totalUs = 0;
  // Sample i lasted until sample i+1: attribute timeDeltas[i+1] to it (DevTools does the same).
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0;
    const node = byId.get(p.samples[i]!);
    if (node === undefined || dt <= 0) continue;
    totalUs += dt;
    const cf = node.callFrame;
    const name = cf.functionName || '(anonymous)';
    if (name === '(idle)') {
      idleUs += dt;
      continue;
    }
    const where = SPECIAL.has(name) || cf.url === '' ? '' : `${shortUrl(cf.url)}:${cf.lineNumber + 1}`;
    const key = `${name} ${where}`;
    const e = self.get(key);
    if (e === undefined) self.set(key, { name, where, us: dt });
    else e.us += dt;
  }
  const busyUs = totalUs - idleUs;
  const top = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, topN)
    .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, pct: busyUs > 0 ? (e.us / busyUs) * 100 : 0 }));
  const m = /^CPU\.\d+\.\d+\.\d+\.(\d+)\.\d+\.cpuprofile$/.exec(basename(file));
  const thread = m === null ? 'unknown' : m[1] === '0' ? 'main' : `worker ${m[1]}`;
  return { file, thread, totalMs: totalUs / 1000, idleMs: idleUs / 1000, busyMs: busyUs / 1000, top };
}

/** Summaries of every .cpuprofile in `dir`, main thread first. */
export function summarizeDir(dir: string, topN = 15): ProfileSummary[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => summarize(JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile, join(dir, f), topN))
    .sort((a, b) => (a.thread === 'main' ? -1 : b.thread === 'main' ? 1 : a.thread.localeCompare(b.thread)));
}

export function formatSummary(s: ProfileSummary): string {
  const lines = [
    `${s.thread} thread — ${(s.busyMs / 1000).toFixed(2)} s busy of ${(s.totalMs / 1000).toFixed(2)} s sampled (${s.totalMs > 0 ? ((s.busyMs / s.totalMs) * 100).toFixed(0) : 0} %)  ${s.file}`,
    '   self ms   % busy  function',
  ];
  for (const f of s.top) {
    lines.push(`${f.selfMs.toFixed(1).padStart(10)}  ${f.pct.toFixed(1).padStart(6)} %  ${f.name}${f.where ? `  ${f.where}` : ''}`);
  }
  return lines.join('\n');
}
