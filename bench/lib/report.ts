/**
 * Turns measurements into the three outputs: JSON lines (one per measurement, each carrying the
 * run's metadata), a Markdown table with the targets, and an SVG chart of router vs limit.
 */
import { type Cell, cellId } from './cells.js';
import type { CellResult } from './runner.js';

export interface Meta {
  git_sha: string;
  git_dirty: boolean;
  date: string;
  node: string;
  cores: number;
  cpu_model: string;
  loadavg_start: number[];
  seconds: number;
  warmup: number;
  command: string;
}

/** One cell's measurements: the router (this tree), the limit, and a compared ref if any. */
export interface Row {
  cell: Cell;
  router: CellResult[];
  /** The limit: the mean of its runs (`limitRuns`, each written to the JSON lines). */
  limit: CellResult | null;
  limitRuns?: CellResult[];
  ref: CellResult[];
}

/**
 * The typical value of several runs: the median of three or more (one run disturbed by the
 * machine, e.g. a 45 % jump in CPU per operation, does not move it), else the mean.
 */
export function typical(values: number[]): number | null {
  if (values.length === 0) return null;
  if (values.length < 3) return values.reduce((a, b) => a + b, 0) / values.length;
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** The typical measured value of runs (a failed run still shows what it measured; its status says it failed). */
export function typicalRun(rs: CellResult[]): number | null {
  return typical(rs.filter((r) => r.value !== null).map((r) => r.value!));
}

/** The typical server CPU time per operation of runs. */
export function costOf(rs: CellResult[]): number | null {
  return typical(rs.map((r) => r.extra.server_cpu_us_per_op).filter((x): x is number => x !== undefined));
}

/**
 * The typical ratio a ÷ b of two sides measured in pairs — run i of each in the same round,
 * seconds apart (bench/run.ts) — as the median (of two: the mean) of the pairs' ratios, so that a
 * drift of the machine's speed between rounds cancels within each pair and one disturbed pair
 * does not decide. (The ratio of each side's median can take the two medians from different
 * rounds: json's from a slow one, msgpack's from a fast one.) Sides that do not pair: the ratio
 * of their typical values.
 */
export function pairedRatio(a: CellResult[], b: CellResult[], value: (r: CellResult) => number | null | undefined = (r) => r.value): number | null {
  if (a.length > 1 && a.length === b.length) {
    const ratios: number[] = [];
    for (let i = 0; i < a.length; i++) {
      const x = value(a[i]!);
      const y = value(b[i]!);
      if (x != null && y != null && y > 0) ratios.push(x / y);
    }
    if (ratios.length === a.length) return typical(ratios);
  }
  const x = typical(a.map(value).filter((v): v is number => v != null));
  const y = typical(b.map(value).filter((v): v is number => v != null));
  return x !== null && y !== null && y > 0 ? x / y : null;
}

const cpuPerOp = (r: CellResult): number | undefined => r.extra.server_cpu_us_per_op;

/** router/limit for rates; limit/router for RSS per session (so 1.0 is "as good as the limit"). */
export function ratio(router: number | null, limit: number | null, higherIsBetter: boolean): number | null {
  if (router === null || limit === null || router <= 0 || limit <= 0) return null;
  return higherIsBetter ? router / limit : limit / router;
}

export function jsonLines(meta: Meta, rows: Row[]): string {
  const lines: string[] = [];
  for (const row of rows) {
    const limit = row.limit?.status === 'ok' ? row.limit.value : null;
    for (const r of [...row.router, ...row.ref, ...(row.limitRuns ?? (row.limit ? [row.limit] : []))]) {
      const toLimit = r.target === 'limit' ? null : ratio(r.status === 'ok' ? r.value : null, limit, r.higherIsBetter);
      lines.push(JSON.stringify({ ...meta, ...r, ratio_to_limit: toLimit === null ? null : round(toLimit, 3) }));
    }
  }
  return `${lines.join('\n')}\n`;
}

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

function fmt(v: number | null): string {
  if (v === null) return '—';
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  return String(round(v, 2));
}

function cellStatus(rs: CellResult[]): string {
  const bad = rs.filter((r) => r.status !== 'ok');
  if (bad.length === 0) return 'ok';
  const r = bad[0]!;
  if (r.status === 'unsupported') return `unsupported: ${r.note}`;
  const parts = [r.lost > 0 ? `${r.lost} lost` : '', r.errors > 0 ? `${r.errors} errors (${r.errorSamples[0] ?? ''})` : '', r.note].filter((x) => x !== '');
  return `**failed** (${r.target}): ${parts.join('; ')}`;
}

/** How many router runs each cell's figure comes from. */
function runsText(rows: Row[]): string {
  const counts = [...new Set(rows.map((r) => r.router.length))].sort((a, b) => a - b);
  const n = counts.join(' or ');
  return counts.every((c) => c <= 1)
    ? 'one router run per cell.'
    : `router figures: the median (of 2: the mean) of ${n} runs per cell, a cell's serializers (and router and ref) alternating between runs (ABBA), json ÷ msgpack and router ÷ ref the median of the ratios of runs made in the same round; each limit: the mean of up to 2 runs, before the router runs of the first round and after those of the second.`;
}

export function markdown(meta: Meta, rows: Row[], refLabel: string | null): string {
  const out: string[] = [];
  out.push(
    `Crosswire benchmark — ${meta.date}, git ${meta.git_sha.slice(0, 10)}${meta.git_dirty ? ' (uncommitted changes)' : ''}, ` +
      `Node ${meta.node}, ${meta.cores} cores (${meta.cpu_model}), load average at start ${meta.loadavg_start.map((x) => x.toFixed(2)).join(' ')}; ` +
      `${meta.warmup} s warm-up + ${meta.seconds} s per run; ${runsText(rows)}`,
    '',
    `\`${meta.command}\``,
    '',
  );
  const refCols = refLabel === null ? '' : ` ${refLabel} | router/${refLabel} | CPU µs/op ${refLabel}/router |`;
  out.push(
    `| scenario | variant | ser | metric | router | limit | router/limit |${refCols} server CPU µs/op router / limit | latency p50/p99/p999 µs | router CPU % main/all | other load % | status |`,
  );
  out.push(`|---|---|---|---|---:|---:|---:|${refLabel === null ? '' : '---:|---:|---:|'}---|---|---|---:|---|`);
  for (const row of rows) {
    const c = row.cell;
    const first = row.router[0];
    const metric = first?.metric ?? '';
    const hib = first?.higherIsBetter ?? true;
    const rv = typicalRun(row.router);
    const lv = row.limit?.status === 'ok' ? row.limit.value : null;
    const rl = ratio(rv, lv, hib);
    let refPart = '';
    if (refLabel !== null) {
      const fv = typicalRun(row.ref);
      // Router and ref run in pairs, like json and msgpack (see pairedRatio).
      const rr = hib ? pairedRatio(row.router, row.ref) : pairedRatio(row.ref, row.router);
      // > 1: this tree spends less router CPU per operation than the ref (the steadier figure).
      const cost = pairedRatio(row.ref, row.router, cpuPerOp);
      const costRatio = cost !== null ? cost.toFixed(3) : '—';
      refPart = ` ${fmt(fv)} | ${rr === null ? '—' : rr.toFixed(3)} | ${costRatio} |`;
    }
    const lat = first?.extra.p50_us !== undefined ? `${first.extra.p50_us} / ${first.extra.p99_us} / ${first.extra.p999_us}` : '';
    const cpu = first?.cpu ? `${first.cpu.serverMain} / ${first.cpu.serverTotal}` : '';
    const cost = first?.extra.server_cpu_us_per_op !== undefined ? `${fmt(costOf(row.router))} / ${row.limit ? fmt(costOf([row.limit])) : '—'}` : '';
    // The most anything else on the machine used while this cell's measurements ran.
    const others = [...row.router, ...row.ref, ...(row.limit ? [row.limit] : [])].map((r) => r.cpu?.others).filter((x): x is number => x !== undefined);
    const load = others.length === 0 ? '' : String(Math.max(...others));
    const pubs = first?.extra.publications_per_s !== undefined ? ` (${fmt(first.extra.publications_per_s)} pub/s)` : '';
    const status = cellStatus([...row.router, ...row.ref, ...(row.limit ? [row.limit] : [])]);
    out.push(
      `| ${c.scenario} | ${c.variant} | ${c.serializer} | ${metric} | ${fmt(rv)}${pubs} | ${fmt(lv)} | ${rl === null ? '—' : rl.toFixed(3)} |${refPart} ${cost} | ${lat} | ${cpu} | ${load} | ${status} |`,
    );
  }
  out.push('', ...targets(rows).map((t) => `- ${t}`), '');
  out.push(
    'router/limit: the router\'s figure over the raw uWS server\'s in the same run (for RSS per session: limit/router, so 1 = as lean as the limit). ' +
      'Limits: rpc, join and idle — the uWS echo server (one round trip per call); fanout — uWS native publish; fanin — a uWS forwarder that batches per event-loop turn (uWS publish is 3× slower with 100 senders); all driven by the same load generator. ' +
      'Server CPU µs/op: CPU time of the server process (all threads) per call, delivery or session — robust to other load, unlike the rates. ' +
      'Other load: % of one core used by everything else on the machine during the measurement (high = the rates are depressed and noisy).',
  );
  return `${out.join('\n')}\n`;
}

/** The issue's targets (msgpack, small payload), evaluated on this run. */
export function targets(rows: Row[]): string[] {
  const find = (s: string, v: string, ser: string): Row | undefined =>
    rows.find((r) => r.cell.scenario === s && r.cell.variant === v && r.cell.serializer === ser);
  const lines: string[] = [];
  const okRows = (rs: Row[]): boolean => rs.every((r) => [...r.router, ...(r.limit ? [r.limit] : [])].every((x) => x.status === 'ok'));
  const check = (name: string, value: number | null, goal: number, atLeast: boolean, from: Row[], aside = ''): void => {
    if (value === null) return void lines.push(`${name}: not measured`);
    const ok = atLeast ? value >= goal : value <= goal;
    const verdict = !okRows(from) ? '**NOT MET** (a measurement failed verification or did not run)' : ok ? 'MET' : '**MISSED**';
    lines.push(`${name}: ${value.toFixed(3)} (target ${atLeast ? '≥' : '≤'} ${goal}) ${verdict}${aside}`);
  };
  const rpc = find('rpc', 'small', 'msgpack');
  if (rpc) check('rpc msgpack small, calls/s ÷ echo round trips/s', ratio(typicalRun(rpc.router), rpc.limit?.value ?? null, true), 0.15, true, [rpc]);
  const fan = find('fanout', '100 subs small', 'msgpack');
  if (fan) check('fanout 100 msgpack small, deliveries/s ÷ uWS publish deliveries/s', ratio(typicalRun(fan.router), fan.limit?.value ?? null, true), 0.35, true, [fan]);
  for (const row of rows.filter((r) => r.cell.serializer === 'json')) {
    const mp = find(row.cell.scenario, row.cell.variant, 'msgpack');
    if (!mp || !row.router[0]?.higherIsBetter || row.router[0].status === 'unsupported') continue;
    // The rates of two cells can differ by the machine's other load alone; router CPU per
    // operation much less, so it is shown next to the verdict.
    const cost = pairedRatio(mp.router, row.router, cpuPerOp);
    let aside = cost !== null ? ` (router CPU per op, msgpack ÷ json: ${cost.toFixed(3)})` : '';
    if (row.router.length > 1 && row.router.length === mp.router.length) {
      // Run i of json against run i of msgpack (made seconds apart): the pairs behind the verdict.
      const pairs = row.router.map((r, i) => (r.value !== null && mp.router[i]!.value ? (r.value / mp.router[i]!.value!).toFixed(3) : '—'));
      aside += ` (run by run: ${pairs.join(', ')})`;
    }
    check(`json ÷ msgpack, ${row.cell.scenario} ${row.cell.variant}`, pairedRatio(row.router, mp.router), 0.8, true, [row, mp], aside);
  }
  for (const row of rows.filter((r) => r.cell.scenario === 'idle')) {
    check(`idle ${row.cell.serializer}, KiB router RSS per session`, typicalRun(row.router), 8, false, [row]);
  }
  const failed = rows.flatMap((r) => [...r.router, ...r.ref, ...(r.limit ? [r.limit] : [])]).filter((r) => r.status === 'failed');
  lines.push(failed.length === 0 ? 'lost events / call errors: none in any cell' : `**${failed.length} measurement(s) failed verification or did not run** (see status)`);
  return lines;
}

function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** A horizontal bar chart: per cell, the limit (grey) and the router (blue), scaled to the larger. */
export function svg(meta: Meta, rows: Row[]): string {
  const W = 960;
  const label = 300;
  const barW = W - label - 150;
  const rowH = 40;
  const top = 50;
  const H = top + rows.length * rowH + 30;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">Crosswire vs the raw uWS limit (same run, same load generator)</text>`,
    `<text x="10" y="38" fill="#555">${esc(`git ${meta.git_sha.slice(0, 10)} · ${meta.date} · Node ${meta.node} · ${meta.cores} cores`)}</text>`,
    `<rect x="${W - 190}" y="8" width="12" height="10" fill="#4a78c2"/><text x="${W - 174}" y="17">router</text>`,
    `<rect x="${W - 120}" y="8" width="12" height="10" fill="#bbb"/><text x="${W - 104}" y="17">limit</text>`,
  ];
  rows.forEach((row, i) => {
    const y = top + i * rowH;
    const rv = typicalRun(row.router);
    const lv = row.limit?.status === 'ok' ? row.limit.value : null;
    const max = Math.max(rv ?? 0, lv ?? 0) || 1;
    const metric = row.router[0]?.metric ?? '';
    const r = ratio(rv, lv, row.router[0]?.higherIsBetter ?? true);
    parts.push(`<text x="10" y="${y + 16}">${esc(cellId(row.cell))}</text>`);
    parts.push(`<text x="10" y="${y + 30}" fill="#777">${esc(metric)}${r === null ? '' : ` · ratio ${r.toFixed(2)}`}</text>`);
    const bar = (v: number | null, dy: number, color: string, text: string): void => {
      const w = v === null ? 0 : Math.max(1, (v / max) * barW);
      parts.push(`<rect x="${label}" y="${y + dy}" width="${w.toFixed(1)}" height="14" fill="${color}"/>`);
      parts.push(`<text x="${(label + w + 6).toFixed(1)}" y="${y + dy + 11}">${esc(text)}</text>`);
    };
    const status = row.router[0]?.status;
    bar(rv, 2, '#4a78c2', rv === null ? (status ?? 'not run') : fmt(rv));
    bar(lv, 18, '#bbb', lv === null ? 'no limit' : fmt(lv));
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
