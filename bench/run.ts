/**
 * `npm run bench`: the benchmark suite. Every cell (scenario × variant × serializer) runs
 * against the built router and against the physical limit (raw uWebSockets.js servers), each
 * in a fresh child process, driven by load generator processes (bench/peers/load.ts).
 * Results go to bench/results/ as JSON lines, Markdown and SVG; progress goes to stderr; the
 * table goes to stdout. See docs/performance.md.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { type Cell, cellId, matrix, SCENARIOS, type Scenario, TRANSPORTS, type Transport } from './lib/cells.js';
import { type PayloadName, SER_NAMES, type SerName } from './lib/codec.js';
import { type BuiltRef, buildRef } from './lib/compare.js';
import { clusterTwin, oneNodeVariant } from './lib/cluster.js';
import { formatSummary, summarizeDir } from './lib/profile.js';
import { costOf, jsonLines, markdown, type Meta, pairedRatio, type Row, svg, typicalRun } from './lib/report.js';
import type { ClientKind } from './lib/wamp-peer.js';
import { type CellResult, profileSubdir, type RunOptions, runCell, type TargetSpec } from './lib/runner.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * The callers of a --cluster run (both the one-node and the 2-node rpc cells): enough calls in
 * flight (× --call-window) that each cell runs at the router's capacity. At the default 16 the
 * 2-node cell is bound by latency instead: a call there waits for twelve hand-offs between
 * threads and processes instead of eight, so 512 calls in flight leave about a fifth of the
 * machine idle, and calls/s measures the window over the round trip, not what two nodes can
 * carry (docs/cluster.md, Benchmark).
 */
const CLUSTER_CALLERS = 128;

const USAGE = `npm run bench -- [options]

  --scenario LIST     ${SCENARIOS.join(',')} (default: all)
  --serializer LIST   json,msgpack (default: both)
  --payload LIST      small,1k (default: both; rpc, rpc-shared, fanout)
  --subscribers LIST  fanout subscriber counts (default: 10,100,1000)
  --fanout-match M    exact (default) or prefix: fanout subscribers SUBSCRIBE to a prefix their
                      role covers in part, so each delivery is authorized (variant "… prefix")
  --sessions N        idle sessions (default: 10000)
  --seconds S         measured seconds per run (default: 2)
  --warmup S          warm-up seconds per cell (default: 1)
  --rounds N          router runs per cell (default: 3, idle 1; the median is reported); a cell's
                      serializers alternate between rounds (json, msgpack, msgpack, json, …), as do
                      router and --compare ref; limits run in the first two rounds
  --no-limit          skip the raw uWS limit measurements
  --compare REF       also build git REF in a temporary worktree and run it alternating
  --profile           run the router under --cpu-prof (bench/results/profiles/) and print
                      the top self-time functions of the main thread and the worker
  --profile-generators  profile the load generator processes too
  --out DIR           results directory (default: bench/results)
  --client lean|ws    the generator's WebSocket client (default: lean; ws = the ws package)
  --transport LIST    websocket,rawsocket (default: websocket): rawsocket adds, beside each cell
                      but idle, the same cell over the router's RawSocket transport (variant
                      "… rawsocket"; its limit is the WebSocket one)
  --window N, --callers N, --call-window N, --join-concurrency N
                      load shape (defaults: 32 publications ahead, 16 callers × 32 calls, 16 joiners;
                      with --cluster ${CLUSTER_CALLERS} callers, so that rpc cells compare capacities)
  --self-test-drop N  fanout publisher skips sequence number N: the run must report it lost
  --cluster           also run each rpc and fanout cell on 2 nodes joined through a nats-server
                      the bench starts (variant "… 2 nodes"), right after the same cell on one
                      node; prints 2 nodes ÷ one node. rpc: callers on node A, the callee on node
                      B; fanout: publisher on node A, subscribers spread over A and B
`;

const { values } = parseArgs({
  options: {
    scenario: { type: 'string' },
    serializer: { type: 'string' },
    payload: { type: 'string' },
    subscribers: { type: 'string' },
    'fanout-match': { type: 'string', default: 'exact' },
    sessions: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string' },
    'no-limit': { type: 'boolean', default: false },
    compare: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'profile-generators': { type: 'boolean', default: false },
    out: { type: 'string' },
    window: { type: 'string', default: '32' },
    callers: { type: 'string' },
    'call-window': { type: 'string', default: '32' },
    'join-concurrency': { type: 'string', default: '16' },
    'self-test-drop': { type: 'string', default: '-1' },
    client: { type: 'string', default: 'lean' },
    transport: { type: 'string', default: 'websocket' },
    cluster: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

function die(msg: string): never {
  process.stderr.write(`bench: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

function list<T extends string>(v: string | undefined, all: readonly T[], what: string): T[] {
  if (v === undefined) return [...all];
  const items = v.split(',').map((s) => s.trim()) as T[];
  for (const i of items) if (!all.includes(i)) die(`unknown ${what} '${i}' (one of ${all.join(', ')})`);
  return items;
}

function num(v: string, what: string, min: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) die(`--${what} must be a number ≥ ${min}`);
  return n;
}

if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const scenarios = list<Scenario>(values.scenario, SCENARIOS, 'scenario');
const serializers = list<SerName>(values.serializer, SER_NAMES, 'serializer');
const payloads = list<PayloadName>(values.payload, ['small', '1k'], 'payload');
const subscribers = (values.subscribers ?? '10,100,1000').split(',').map((s) => num(s, 'subscribers', 1));
const seconds = num(values.seconds, 'seconds', 0.5);
const warmup = num(values.warmup, 'warmup', 0);
const rounds = values.rounds === undefined ? undefined : num(values.rounds, 'rounds', 1);
const outDir = values.out ?? join(ROOT, 'bench', 'results');

const fanoutMatch = list<'exact' | 'prefix'>(values['fanout-match'], ['exact', 'prefix'], 'fanout match')[0]!;
const transports = list<Transport>(values.transport, TRANSPORTS, 'transport');
const oneNode = matrix({ scenarios, serializers, payloads, fanout: subscribers, fanin: 100, idle: num(values.sessions, 'sessions', 1), fanoutMatch, transports });
// --cluster: each cell with a cluster twin (bench/lib/cluster.ts) is followed by it.
const cells = values.cluster ? oneNode.flatMap((c) => [c, ...[clusterTwin(c)].filter((x): x is Cell => x !== null)]) : oneNode;

// ---- progress on stderr -------------------------------------------------------------------

const tty = process.stderr.isTTY === true;
let status = '';
function progress(text: string): void {
  if (tty) process.stderr.write(`\r\x1b[K${status}  ${text}`);
}
function line(text: string): void {
  process.stderr.write(`${tty ? '\r\x1b[K' : ''}${text}\n`);
}

// ---- run ------------------------------------------------------------------------------------

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

const meta: Meta = {
  git_sha: git(['rev-parse', 'HEAD']) || 'unknown',
  git_dirty: git(['status', '--porcelain', '--untracked-files=no']) !== '',
  date: new Date().toISOString(),
  node: process.version,
  cores: cpus().length,
  cpu_model: cpus()[0]?.model.trim() ?? 'unknown',
  loadavg_start: loadavg(),
  seconds,
  warmup,
  command: `npm run bench --${process.argv.slice(2).length > 0 ? ` ${process.argv.slice(2).join(' ')}` : ''}`.replace(/ --$/, ''),
};

let ref: BuiltRef | null = null;
if (values.compare !== undefined) {
  try {
    ref = buildRef(ROOT, values.compare, line);
  } catch (e) {
    die(`--compare ${values.compare}: ${(e as Error).message}`);
  }
}
process.on('exit', () => ref?.cleanup());
process.on('SIGINT', () => process.exit(130));

const stamp = meta.date.replace(/[:.]/g, '-').slice(0, 19);
const profileDir = values.profile || values['profile-generators'] ? join(outDir, 'profiles', stamp) : null;
const opts: RunOptions = {
  warmup,
  seconds,
  window: num(values.window, 'window', 1),
  callers: num(values.callers ?? (values.cluster ? String(CLUSTER_CALLERS) : '16'), 'callers', 1),
  callWindow: num(values['call-window'], 'call-window', 1),
  joinConcurrency: num(values['join-concurrency'], 'join-concurrency', 1),
  profileDir,
  profileGenerators: values['profile-generators'],
  dropSeq: Number(values['self-test-drop']),
  client: list<ClientKind>(values.client, ['lean', 'ws'], 'client')[0]!,
  progress,
};

const mine: TargetSpec = { kind: 'router', label: 'router', cli: join(ROOT, 'dist', 'src', 'cli.js') };
const theirs: TargetSpec | null = ref === null ? null : { kind: 'router', label: `ref ${ref.ref}`, cli: ref.cli };
const limitTarget: TargetSpec = { kind: 'limit', label: 'limit' };
const withLimit = !values['no-limit'];

const limits = new Map<string, CellResult>();
const rows: Row[] = [];
/** Router runs per cell: --rounds, else 3 (1 for idle, a memory figure, not a rate). */
function roundsOf(cell: Cell): number {
  return rounds ?? (cell.scenario === 'idle' ? 1 : 3);
}
/** Limit runs per limit: one per round, at most two (before the router runs, then after them). */
function limitRoundsOf(cell: Cell): number {
  return Math.min(2, roundsOf(cell));
}
const limitKeys = new Set<string>();
let runs = 0;
for (const c of cells) {
  runs += roundsOf(c) * (theirs ? 2 : 1);
  if (withLimit && !limitKeys.has(c.limitKey)) {
    limitKeys.add(c.limitKey);
    runs += limitRoundsOf(c);
  }
}
const total = runs;
line(`bench: ${cells.length} cells, ${runs} runs, ~${Math.ceil((runs * (seconds + warmup + 1.5)) / 60)} min; results in ${relative(process.cwd(), outDir) || '.'}`);
let done = 0;

/** Several limit runs as one: the mean value and CPU per op; failed if any failed. */
function averaged(rs: CellResult[]): CellResult {
  if (rs.length === 1) return rs[0]!;
  const bad = rs.find((r) => r.status !== 'ok');
  const v = rs.filter((r) => r.value !== null).map((r) => r.value!);
  const cost = rs.map((r) => r.extra.server_cpu_us_per_op).filter((x): x is number => x !== undefined);
  return {
    ...(bad ?? rs[0]!),
    value: v.length === 0 ? null : Math.round(v.reduce((a, b) => a + b, 0) / v.length),
    extra: { ...rs[0]!.extra, ...(cost.length > 0 ? { server_cpu_us_per_op: cost.reduce((a, b) => a + b, 0) / cost.length } : {}) },
    note: `mean of ${rs.length} runs: ${v.join(', ')}`,
  };
}

async function measure(cell: Cell, target: TargetSpec): Promise<CellResult> {
  done++;
  status = `[${done}/${total}] ${cellId(cell)} · ${target.label}`;
  progress('starting');
  const r = await runCell(cell, target, opts);
  const cpu = r.cpu ? `  cpu ${target.kind === 'limit' ? 'server' : 'router'} ${r.cpu.serverMain}/${r.cpu.serverTotal} % gen ${r.cpu.generators} % others ${r.cpu.others} %` : '';
  const value = r.value === null ? '' : `${r.value.toLocaleString('en-US')} ${r.metric}`;
  const bad = r.status === 'ok' ? '' : `  ${r.status.toUpperCase()}: ${[r.lost ? `${r.lost} lost` : '', r.errors ? `${r.errors} errors` : '', r.note, r.errorSamples[0] ?? ''].filter(Boolean).join('; ')}`;
  line(`${status}  ${value}${cpu}${bad}`);
  return r;
}

// Cells that differ only by serializer form a group, measured together: round r runs the group's
// serializers in order when r is even and reversed when odd (json, msgpack, msgpack, json, …),
// and within a cell the router and a --compare ref alternate the same way. The group's limits
// are measured before the router runs of the first round and after those of the second. So every
// ratio (json ÷ msgpack, router ÷ limit, router ÷ ref) compares runs made within seconds of each
// other, and a drift in the machine's speed (on a shared machine the same router's CPU per call
// moves between consecutive runs) favours neither side; the router figure is the median of the runs, so one disturbed
// run does not decide it. A --cluster twin joins its one-node cell's group (json, json 2 nodes,
// msgpack, msgpack 2 nodes, then reversed), so 2 nodes ÷ one node also compares runs seconds apart.
const groups = new Map<string, Cell[]>();
for (const cell of cells) {
  const key = `${cell.scenario} ${oneNodeVariant(cell)}`;
  const g = groups.get(key);
  if (g === undefined) groups.set(key, [cell]);
  else g.push(cell);
}
for (const group of groups.values()) {
  const groupRows = group.map((cell): Row => ({ cell, router: [], limit: null, ref: [] }));
  // Limits shared with an earlier group (rpc-shared uses rpc's echo) or within it (a --cluster
  // twin uses its one-node cell's) are measured once.
  const own = withLimit ? groupRows.filter((row, i) => !limits.has(row.cell.limitKey) && groupRows.findIndex((o) => o.cell.limitKey === row.cell.limitKey) === i) : [];
  const limitRuns = new Map<string, CellResult[]>(own.map((row) => [row.cell.limitKey, []]));
  const measureLimits = async (rows: Row[]): Promise<void> => {
    for (const row of rows) limitRuns.get(row.cell.limitKey)!.push(await measure(row.cell, limitTarget));
  };
  const n = roundsOf(group[0]!);
  for (let r = 0; r < n; r++) {
    const even = r % 2 === 0;
    if (r === 0) await measureLimits(own);
    for (const row of even ? groupRows : [...groupRows].reverse()) {
      const routers: TargetSpec[] = theirs === null ? [mine] : even ? [mine, theirs] : [theirs, mine];
      for (const t of routers) (t === mine ? row.router : row.ref).push(await measure(row.cell, t));
    }
    if (r === 1) await measureLimits([...own].reverse());
  }
  for (const [key, rs] of limitRuns) limits.set(key, averaged(rs));
  for (const row of groupRows) {
    row.limit = withLimit ? limits.get(row.cell.limitKey)! : null;
    row.limitRuns = limitRuns.get(row.cell.limitKey);
    rows.push(row);
  }
}

// ---- output ---------------------------------------------------------------------------------

mkdirSync(outDir, { recursive: true });
const md = markdown(meta, rows, ref === null ? null : `ref ${ref.ref}`);
const files = {
  jsonl: join(outDir, `bench-${stamp}.jsonl`),
  md: join(outDir, `bench-${stamp}.md`),
  svg: join(outDir, `bench-${stamp}.svg`),
};
writeFileSync(files.jsonl, jsonLines(meta, rows));
writeFileSync(files.md, md);
writeFileSync(files.svg, svg(meta, rows));
for (const [ext, f] of Object.entries(files)) copyFileSync(f, join(outDir, `latest.${ext}`));
process.stdout.write(`\n${md}`);

if (profileDir !== null) {
  const text: string[] = [];
  for (const row of rows) {
    const runs = [...row.router, ...row.ref].map((r) => r.target);
    const labels = opts.profileGenerators ? [...runs, ...[...runs, ...(row.limit ? ['limit'] : [])].map((t) => `generators ${t}`)] : runs;
    for (const label of new Set(labels)) {
      // A cluster cell's router is several processes: node A's profiles, then each other node's (runner.ts).
      const nodes = label.startsWith('generators ') ? 1 : (row.cell.nodes ?? 1);
      for (let node = 0; node < nodes; node++) {
        text.push(`== ${cellId(row.cell)} (${label}${nodes > 1 ? `, node ${String.fromCharCode(65 + node)}` : ''}) ==`);
        try {
          for (const s of summarizeDir(join(profileDir, `${profileSubdir(row.cell, label)}${node > 0 ? `-node${node}` : ''}`), 12)) text.push(formatSummary(s));
        } catch (e) {
          text.push(`no profile: ${(e as Error).message}`);
        }
      }
    }
  }
  writeFileSync(join(profileDir, 'summary.txt'), `${text.join('\n')}\n`);
  process.stdout.write(`\n${text.join('\n')}\n`);
  line(`profiles: ${relative(process.cwd(), profileDir)}`);
}
if (values.cluster) {
  // Target: 2 nodes ≥ 0.5 × one node. The ratio pairs run i of each (same round, seconds apart).
  const text = ['', '| cluster cell | one node | 2 nodes | 2 nodes ÷ one node (target ≥ 0.5) | server CPU µs/op, one node / 2 nodes | ratio run by run |', '|---|---:|---:|---:|---|---|'];
  for (const row of rows) {
    if (row.cell.nodes === undefined) continue;
    const one = rows.find((r) => r.cell.nodes === undefined && r.cell.scenario === row.cell.scenario && r.cell.serializer === row.cell.serializer && clusterTwin(r.cell)?.variant === row.cell.variant);
    if (one === undefined) continue;
    const [a, b] = [typicalRun(one.router), typicalRun(row.router)];
    const q = pairedRatio(row.router, one.router);
    const all = [...one.router, ...row.router];
    const lost = all.reduce((n, r) => n + r.lost, 0);
    const errors = all.reduce((n, r) => n + r.errors, 0);
    const failed = all.filter((r) => r.status === 'failed').length;
    const bad = [lost > 0 ? `${lost} lost` : '', errors > 0 ? `${errors} errors` : '', failed > 0 ? `${failed} runs FAILED` : ''].filter(Boolean).join(', ');
    const verdict = q === null ? '' : failed > 0 ? ' **NOT MET**' : q >= 0.5 ? ' MET' : ' **MISSED**';
    const cost = [costOf(one.router), costOf(row.router)].map((c) => (c === null ? '—' : c.toFixed(2))).join(' / ');
    const byRun = row.router.length === one.router.length ? row.router.map((r, i) => (r.value != null && one.router[i]!.value ? (r.value / one.router[i]!.value!).toFixed(2) : '—')).join(' ') : '—';
    text.push(`| ${cellId(row.cell)} | ${a?.toLocaleString('en-US') ?? '—'} | ${b?.toLocaleString('en-US') ?? '—'} | ${q === null ? '—' : q.toFixed(2)}${verdict}${bad ? ` (${bad})` : ''} | ${cost} | ${byRun} |`);
  }
  text.push('', `rpc cells: ${opts.callers} callers × ${opts.callWindow} calls in flight each${values.callers === undefined ? ' (the --cluster default: each cell at its capacity)' : ''}.`);
  process.stdout.write(`${text.join('\n')}\n`);
}
line(`wrote ${Object.values(files).map((f) => relative(process.cwd(), f)).join(', ')}`);
const failed = rows.some((r) => [...r.router, ...r.ref, ...(r.limit ? [r.limit] : [])].some((x) => x.status === 'failed'));
process.exitCode = failed ? 1 : 0;
