// The code blocks of README.md, CONTRIBUTING.md, bench/README.md and docs/*.md are checked, so the
// docs cannot rot; each block is checked by what it is:
// - ```json, a complete node config ("version": 2): `crosswire check` accepts it (a
//   `"workers": [ … ]` elision is filled with the embedded default's workers);
// - ```json, a fragment (a transport, a realm, a container worker, or one key such as "paths",
//   "endpoint", "auth", "transport"): put where it belongs in the embedded default, the config
//   builder accepts it (unknown keys and wrong values are errors there, as for a file);
// - ```js: README's client runs against a real router and prints what it promises; any other
//   block passes `node --check`; ```python: parses with python3's `ast`;
// - ```sh / ```console: every command line is checked: `npm run` scripts exist, `npm start`,
//   `crosswire` and `node dist/src/cli.js` use subcommands and flags `crosswire --help` lists,
//   `node dist/bench/*.js` flags are in that script's --help, `node --test` files exist and a
//   --test-name-pattern names a test in them, CROSSWIRE_* variables exist, other variables are
//   "${VAR}" references of the config the command names, `--config` files under config/ exist;
//   a block of only mkdir, cd, openssl and `npm start` lines runs in a copy of config/, with
//   `npm start --` as `crosswire check`;
// - text blocks of `crosswire …` lines are the usage `crosswire --help` prints; of "<sha256>
//   <file>" lines, the checksums of those uWebSockets.js binaries.
// A block that cannot be checked carries `<!-- not-tested: reason -->` on the line before its
// fence, one checked only in part `<!-- partly-tested: reason -->`; an unmarked block with
// anything unchecked fails, and the diagnostics list every unchecked block and line.
// Beside the blocks: relative links (and their #anchors) resolve, and repository paths in
// backticks (`src/…`, `workers/…`, `config/…`, a `dist/…` output's source, …) exist.
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { after, describe, test } from 'node:test';
import { DEFAULT_CONFIG } from '../../src/config/default.js';
import { envVars } from '../../src/config/effective.js';
import { buildConfig } from '../../src/config/load.js';
import { runCli } from '../helpers/process.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { within } from '../helpers/wait.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'crosswire-docs-'));
// The repository may be read-only (scripts/test-node-matrix.sh): snippets are written to the
// temporary directory, beside a link to the repository's node_modules for require and import.
symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');

const DOCS = ['README.md', 'CONTRIBUTING.md', 'bench/README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)].sort();

interface Block {
  file: string;
  line: number;
  lang: string;
  body: string;
  marker: { kind: 'not-tested' | 'partly-tested'; reason: string } | null;
}

const MARKER = /^<!--\s*(not-tested|partly-tested):\s*(\S.*?)\s*-->$/;

function blocks(): Block[] {
  const out: Block[] = [];
  for (const file of DOCS) {
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const open = /^\s*```(\S*)\s*$/.exec(lines[i]!);
      if (open === null) continue;
      const start = i;
      const m = start > 0 ? MARKER.exec(lines[start - 1]!.trim()) : null;
      const body: string[] = [];
      for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
      out.push({ file, line: start + 1, lang: open[1]!, body: body.join('\n'), marker: m === null ? null : { kind: m[1] as 'not-tested', reason: m[2]! } });
    }
  }
  return out;
}

const ALL = blocks();
const where = (b: Block) => `${b.file}:${b.line}`;
const isJson = (b: Block) => b.lang === 'json' || b.lang === 'jsonc';
const isConfig = (b: Block) => isJson(b) && /"version"\s*:\s*2\b/.test(b.body);
const isClient = (b: Block) => b.lang === 'js' && b.body.includes('new autobahn.Connection') && b.body.includes('ws://127.0.0.1:8080/ws');
const ELISION = /\[\s*(…|\.\.\.)\s*\]/;
/** The "${VAR}" references a text makes, each set to a value. */
const varsOf = (text: string) => Object.fromEntries([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => [m[1]!, `doc-snippet-${m[1]!}`]));

// ---- JSON fragments: where each shape goes in the embedded default ----

type Json = Record<string, unknown>;
const clone = <T>(x: T): T => structuredClone(x);
/** The embedded default with a `backend` role beside `anonymous` (the role the fragments name). */
function base(): Json & { workers: Json[] } {
  const c = clone(DEFAULT_CONFIG) as unknown as Json & { workers: Json[] };
  const realm = (c.workers[0]!.realms as Json[])[0]!;
  (realm.roles as Json[]).push({ name: 'backend', permissions: [{ uri: '', match: 'prefix', allow: { call: true, register: true, publish: true, subscribe: true } }] });
  return c;
}
const router = (c: { workers: Json[] }) => c.workers[0]!;
const TLS_ENDPOINT = { type: 'tcp', port: 8443, tls: { key: 'server.key', certificate: 'server.crt', ca_certificates: ['client-ca.crt'] } };

/** The config a fragment is checked in, or an error naming what the test does not know. */
function embed(text: string): Json {
  const c = base();
  const roles = (router(c).realms as Json[])[0]!.roles;
  const parsed = JSON.parse(text.trimStart().startsWith('"') ? `{${text}}` : text.replace(/("roles"\s*:\s*)\[\s*(…|\.\.\.)\s*\]/, '$1[]')) as Json;
  const keys = Object.keys(parsed);
  if (text.trimStart().startsWith('"')) {
    assert.equal(keys.length, 1, 'a "key": value fragment has one key');
    const [k] = keys as [string];
    const v = parsed[k];
    if (k === 'paths') router(c).transports = [{ type: 'web', endpoint: { type: 'tcp', port: 8080 }, paths: v }];
    else if (k === 'endpoint') router(c).transports = [{ type: 'websocket', endpoint: v }];
    else if (k === 'auth') router(c).transports = [{ type: 'websocket', endpoint: TLS_ENDPOINT, auth: v }];
    else if (k === 'nats') c.crosswire = { ...((c.crosswire as Json | undefined) ?? {}), cluster: { nats: v } };
    else if (k === 'transport') c.workers.push({ type: 'container', components: [{ type: 'class', classname: 'm.C', realm: 'realm1', transport: v }] });
    else assert.fail(`no place known for a "${k}" fragment: teach embed() or mark the block`);
    return c;
  }
  if (typeof parsed.type === 'string' && ['websocket', 'rawsocket', 'universal', 'web'].includes(parsed.type) && 'endpoint' in parsed) router(c).transports = [parsed];
  else if (parsed.type === 'container' || parsed.type === 'guest') c.workers.push(parsed);
  else if ('name' in parsed && 'roles' in parsed) {
    if ((parsed.roles as unknown[]).length === 0) parsed.roles = roles;
    router(c).realms = [parsed];
  } else assert.fail(`no place known for a fragment with keys ${keys.join(', ')}: teach embed() or mark the block`);
  return c;
}

// ---- command lines ----

const SCRIPTS = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
const ENV_NAMES = new Set(envVars().map((v) => v.name));
/** The flags a help text names; --help itself is known to work, the help came from it. */
const flagsIn = (text: string) => new Set(['--help', ...[...text.matchAll(/(?:^|[\s[|])(--?[a-z][a-z0-9-]*)/g)].map((m) => m[1]!)]);
const helps = new Map<string, string>();
/** What `node <script> --help` prints (once per script). */
function helpOf(script: string): string {
  let h = helps.get(script);
  if (h === undefined) helps.set(script, (h = execFileSync(process.execPath, [join(ROOT, script), '--help'], { encoding: 'utf8', timeout: 15000 })));
  return h;
}
const cliHelp = () => helpOf('dist/src/cli.js');
/** `crosswire …` usage lines of `crosswire --help`, each as its command part. */
const usage = () =>
  cliHelp()
    .split('\n')
    .map((l) => /^\s+(crosswire .*?)(?:\s{2,}.*)?$/.exec(l)?.[1])
    .filter((l): l is string => l !== undefined);

/** Shell words of one command (quotes removed; no expansion). */
function words(cmd: string): string[] {
  return [...cmd.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

function checkCrosswireArgs(args: string[], env: Record<string, string>, what: string): void {
  const sub = args.find((a) => !a.startsWith('-')) ?? 'start';
  const subs = new Set(usage().map((u) => u.split(' ')[1]!));
  assert.ok(subs.has(sub) || args.every((a) => a.startsWith('-')), `${what}: crosswire has no subcommand '${sub}' (${[...subs].join(', ')})`);
  const flags = flagsIn(usage().join('\n'));
  for (const a of args) if (a.startsWith('-')) assert.ok(flags.has(a), `${what}: crosswire --help lists no flag ${a}`);
  const i = args.indexOf('--config');
  const file = i >= 0 ? args[i + 1]! : undefined;
  const text = file !== undefined && existsSync(join(ROOT, file)) ? readFileSync(join(ROOT, file), 'utf8') : '';
  // A path under config/ is the repository's; a bare name (router.json, FILE) is the reader's file.
  if (file !== undefined && file.includes('/')) assert.ok(existsSync(join(ROOT, file)), `${what}: ${file} does not exist`);
  for (const name of Object.keys(env)) {
    if (name.startsWith('CROSSWIRE_')) assert.ok(ENV_NAMES.has(name), `${what}: crosswire reads no ${name} (crosswire --help lists them)`);
    else assert.ok(text.includes(`\${${name}}`), `${what}: ${name} is not a "\${${name}}" reference of ${file ?? 'a config'}`);
  }
}

function checkNodeTest(args: string[], what: string): void {
  const files = args.filter((a) => a.startsWith('dist/'));
  assert.ok(files.length > 0, `${what}: no test file`);
  const sources = files.map((f) => {
    const ts = f.replace(/^dist\//, '').replace(/\.js$/, '.ts');
    assert.ok(existsSync(join(ROOT, ts)), `${what}: ${ts} does not exist`);
    return readFileSync(join(ROOT, ts), 'utf8');
  });
  for (const a of args) {
    const p = /^--test-name-pattern=(.*)$/.exec(a);
    if (p !== null) assert.ok(sources.some((s) => new RegExp(p[1]!).test(s)), `${what}: no test in ${files.join(', ')} matches ${p[1]}`);
  }
}

/** Checks one command; returns false for a program the test does not know (not checked). */
function checkCommand(cmd: string, what: string): boolean {
  const w = words(cmd);
  const env: Record<string, string> = {};
  while (w.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(w[0]!)) {
    const [k, ...v] = w.shift()!.split('=');
    env[k!] = v.join('=');
  }
  const [prog, ...args] = w;
  const dash = args.indexOf('--');
  const after = dash >= 0 ? args.slice(dash + 1) : [];
  if (prog === 'npm') {
    const sub = args[0];
    if (sub === 'ci' || sub === 'test') return true;
    if (sub === 'start') {
      checkCrosswireArgs(['start', ...after], env, what);
      return true;
    }
    assert.equal(sub, 'run', `${what}: npm ${sub} is not checked here`);
    const name = args[1]!;
    assert.ok(name in SCRIPTS, `${what}: package.json has no script '${name}'`);
    if (name === 'bench') for (const f of after.filter((a) => a.startsWith('-'))) assert.ok(flagsIn(helpOf('dist/bench/run.js')).has(f), `${what}: bench --help lists no ${f}`);
    if (name.startsWith('test:') && after.length > 0) {
      const suite = name === 'test:unit' ? 'test/unit' : 'test/integration';
      const ts = readdirSync(join(ROOT, suite)).filter((f) => f.endsWith('.ts')).map((f) => `dist/${suite}/${f.replace(/\.ts$/, '.js')}`);
      checkNodeTest([...after, ...ts], what);
    }
    if (name === 'check-config') checkCrosswireArgs(['check', ...after], env, what);
    return true;
  }
  if (prog === 'node') {
    if (args.includes('--test')) {
      checkNodeTest(args, what);
      return true;
    }
    const script = args[0]!;
    const ts = script.replace(/^dist\//, '').replace(/\.js$/, '.ts');
    assert.ok(script.startsWith('dist/') && existsSync(join(ROOT, ts)), `${what}: ${script} is not the output of a source in the repository`);
    if (script === 'dist/src/cli.js') {
      checkCrosswireArgs(args.slice(1), env, what);
      return true;
    }
    const flags = flagsIn(helpOf(script));
    for (const f of args.slice(1).filter((a) => a.startsWith('-'))) assert.ok(flags.has(f), `${what}: ${script} --help lists no ${f}`);
    return true;
  }
  if (prog === 'crosswire') {
    checkCrosswireArgs(args, env, what);
    return true;
  }
  return false;
}

/** The command lines of a sh or console block: [line number in the block, command]; console output lines as null. */
function commandLines(b: Block): [number, string | null][] {
  const out: [number, string | null][] = [];
  const lines = b.body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i]!;
    const at = i;
    if (b.lang === 'console') {
      if (!l.startsWith('$ ')) {
        out.push([at, null]);
        continue;
      }
      l = l.slice(2);
    }
    while (l.endsWith('\\') && i + 1 < lines.length) l = `${l.slice(0, -1)} ${lines[++i]!.trim()}`;
    l = l.replace(/(^|\s)#.*$/, '').trim();
    if (l !== '') for (const c of l.split(/\s*(?:&&|;)\s*/)) out.push([at, c]);
  }
  return out;
}

// ---- checking a block: what was checked, what was not ----

interface Outcome {
  checked: string[];
  unchecked: string[];
}

const SHA_LINE = /^([0-9a-f]{64}) {2}(\S+)$/;
/** Programs of a sh block that only make files where they run (see the sh branch of check). */
const RUNNABLE = new Set(['mkdir', 'cd', 'openssl']);

async function check(b: Block): Promise<Outcome> {
  const o: Outcome = { checked: [], unchecked: [] };
  if (isConfig(b)) {
    let text = b.body.replace(/("workers"\s*:\s*)\[\s*(…|\.\.\.)\s*\]/, (_, key: string) => key + JSON.stringify(DEFAULT_CONFIG.workers));
    assert.doesNotMatch(text, ELISION, 'an elision other than "workers": [ … ] cannot be checked');
    text = JSON.stringify(JSON.parse(text)); // a syntax error names the block here
    const file = join(dir, `${b.file.replace(/[/.]/g, '_')}_${b.line}.json`);
    writeFileSync(file, text);
    const { code, stdout, stderr } = await runCli(['check', '--config', file], { CROSSWIRE_PORT: undefined, ...varsOf(text) });
    assert.equal(code, 0, `${where(b)}: ${stderr}${stdout}`);
    o.checked.push('crosswire check');
  } else if (isJson(b)) {
    const c = embed(b.body);
    assert.doesNotThrow(() => buildConfig(c, varsOf(b.body), join(ROOT, 'config')), `${where(b)}: the fragment in ${JSON.stringify(c)}`);
    o.checked.push('accepted in a config');
  } else if (isClient(b)) {
    o.checked.push('runs against a router'); // the 'clients' tests below
  } else if (b.lang === 'js' || b.lang === 'mjs') {
    const file = join(dir, `${b.file.replace(/[/.]/g, '_')}_${b.line}.${/^\s*(import|export)\s/m.test(b.body) ? 'mjs' : 'cjs'}`);
    writeFileSync(file, b.body);
    const r = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 15000 });
    assert.equal(r.status, 0, `${where(b)}: ${r.stderr}`);
    o.checked.push('node --check');
  } else if (b.lang === 'python') {
    const r = spawnSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], { input: b.body, encoding: 'utf8', timeout: 15000 });
    assert.equal(r.status, 0, `${where(b)}: ${r.error?.message ?? r.stderr}`);
    o.checked.push('python3 ast.parse');
  } else if (b.lang === 'sh' || b.lang === 'console') {
    const local: string[] = [];
    for (const [i, cmd] of commandLines(b)) {
      const what = `${b.file}:${b.line + 1 + i}`;
      if (cmd === null) o.unchecked.push(`${what} output`);
      else if (checkCommand(cmd, what)) o.checked.push(cmd);
      else if (b.lang === 'sh' && RUNNABLE.has(words(cmd)[0]!)) local.push(`${what} ${cmd}`);
      else o.unchecked.push(`${what} ${cmd}`);
    }
    // A block of local file commands and `npm start` runs whole, in a copy of config/, with
    // `npm start --` turned into `crosswire check` (which opens every file start would).
    if (local.length > 0 && o.unchecked.length === 0 && /npm start -- /.test(b.body)) {
      const cwd = mkdtempSync(join(dir, 'run-'));
      cpSync(join(ROOT, 'config'), join(cwd, 'config'), { recursive: true });
      const script = b.body.replaceAll('npm start -- ', `${JSON.stringify(process.execPath)} ${JSON.stringify(join(ROOT, 'dist/src/cli.js'))} check `);
      const env = { ...process.env };
      for (const k of Object.keys(env)) if (k.startsWith('CROSSWIRE_')) delete env[k];
      const r = spawnSync('bash', ['-e', '-c', script], { cwd, encoding: 'utf8', timeout: 60000, env });
      const said = `${r.stderr}${r.stdout}`.split('\n').filter((l) => !/^[.+*-]*$/.test(l)); // not openssl's progress dots
      assert.equal(r.status, 0, `${where(b)} run in ${cwd}: ${r.error?.message ?? ''}\n${said.join('\n')}`);
      assert.match(r.stdout, /configuration OK/, `${where(b)}: ${r.stdout}`);
      o.checked.push(...local.map((l) => `${l} (run)`));
    } else o.unchecked.push(...local);
  } else if (b.lang === '' || b.lang === 'text') {
    const lines = b.body.split('\n').filter((l) => l.trim() !== '');
    if (lines.every((l) => SHA_LINE.test(l))) {
      for (const l of lines) {
        const [, sum, name] = SHA_LINE.exec(l)!;
        const actual = createHash('sha256').update(readFileSync(join(ROOT, 'node_modules/uWebSockets.js', name!))).digest('hex');
        assert.equal(actual, sum, `${where(b)}: node_modules/uWebSockets.js/${name}`);
      }
      o.checked.push('the uWebSockets.js binaries have these SHA-256 sums');
    } else if (lines.every((l) => l.startsWith('crosswire '))) {
      const u = usage();
      for (const l of lines) {
        const cmd = l.split(/\s{2,}/)[0]!;
        assert.ok(u.includes(cmd), `${where(b)}: '${cmd}' is not a usage line of crosswire --help (${u.join('; ')})`);
      }
      o.checked.push('the usage lines of crosswire --help');
    } else o.unchecked.push(`${where(b)} (text)`);
  } else o.unchecked.push(`${where(b)} (${b.lang})`);
  return o;
}

describe('doc snippets', () => {
  after(() => rmSync(dir, { recursive: true, force: true })); // the node_modules link, not its target
  test('which blocks are checked and which are not', (t) => {
    // The docs hold at least these today (docs/configuration.md, docs/authentication.md, README's client).
    assert.ok(ALL.filter(isConfig).length >= 2, `complete configs found: ${ALL.filter(isConfig).map(where).join(', ')}`);
    assert.ok(ALL.filter(isClient).length >= 1, 'README.md has a minimal client');
    for (const b of ALL.filter((x) => x.marker?.kind === 'not-tested')) t.diagnostic(`not tested: ${where(b)} (${b.lang || 'text'}): ${b.marker!.reason}`);
  });

  for (const b of ALL.filter((x) => x.marker?.kind !== 'not-tested')) {
    test(`${where(b)} (${b.lang || 'text'})`, async (t) => {
      const o = await check(b);
      assert.ok(o.checked.length > 0, `${where(b)}: nothing in this block is checked: mark it <!-- not-tested: reason --> (unchecked: ${o.unchecked.join('; ')})`);
      if (b.marker === null) {
        assert.deepEqual(o.unchecked, [], `${where(b)}: these are not checked: check them or mark the block <!-- partly-tested: reason -->`);
      } else {
        assert.ok(o.unchecked.length > 0, `${where(b)}: everything is checked: drop the partly-tested marker`);
        t.diagnostic(`partly tested (${b.marker.reason}); not checked: ${o.unchecked.join('; ')}`);
      }
    });
  }

  describe('clients', () => {
    const routers: TestRouter[] = [];
    after(() => Promise.all(routers.map((r) => r.stop())));
    for (const b of ALL.filter(isClient)) {
      test(`${where(b)}: runs against a router and prints what it says`, async () => {
        const r = await startRouter();
        routers.push(r);
        const esm = /^\s*import\s/m.test(b.body);
        const file = join(dir, `${b.file.replace(/[/.]/g, '_')}_${b.line}.${esm ? 'mjs' : 'cjs'}`);
        writeFileSync(file, b.body.replace('ws://127.0.0.1:8080/ws', r.url));
        // What the snippet's console.log calls print: '2 + 3 =', 5 and 'event:', ['world'].
        const expected = ['2 + 3 = 5', "event: [ 'world' ]"];
        const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        try {
          await within(
            new Promise<void>((resolve, reject) => {
              child.stdout.on('data', (d: Buffer) => {
                out += d.toString();
                if (expected.every((l) => out.split('\n').includes(l))) resolve();
              });
              child.on('exit', (code) => reject(new Error(`the snippet exited (${code}): ${out}${err}`)));
            }),
            10000,
            `the snippet to print ${JSON.stringify(expected)}`,
          ).catch((e: Error) => {
            throw new Error(`${e.message}; it printed ${JSON.stringify(out)} ${err}`);
          });
        } finally {
          child.kill();
        }
      });
    }
  });

  // ---- links and paths in the prose ----

  /** GitHub's heading anchors of a Markdown file. */
  function anchors(file: string): Set<string> {
    const seen = new Map<string, number>();
    const out = new Set<string>();
    let fenced = false;
    for (const l of readFileSync(file, 'utf8').split('\n')) {
      if (/^\s*```/.test(l)) fenced = !fenced;
      const h = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(l);
      if (h === null) continue;
      const slug = h[1]!
        .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
        .toLowerCase()
        .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
        .replace(/ /g, '-');
      const n = seen.get(slug) ?? 0;
      seen.set(slug, n + 1);
      out.add(n === 0 ? slug : `${slug}-${n}`);
    }
    return out;
  }

  /** The prose of a doc: fenced blocks blanked out, so line numbers stay. */
  const prose = (file: string) => readFileSync(join(ROOT, file), 'utf8').replace(/^\s*```[^\n]*\n[\s\S]*?^\s*```\s*$/gm, (m) => m.replace(/[^\n]/g, ''));
  const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;

  test('relative links and their anchors resolve', () => {
    const broken: string[] = [];
    for (const file of DOCS) {
      const text = prose(file);
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/i.test(target)) continue;
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const abs = path === '' ? join(ROOT, file) : normalize(join(ROOT, dirname(file), path));
        const at = `${file}:${lineOf(text, m.index)} ${target}`;
        if (!existsSync(abs)) broken.push(`${at}: no such file`);
        else if (anchor !== undefined && abs.endsWith('.md') && !anchors(abs).has(anchor)) broken.push(`${at}: no such heading`);
      }
    }
    assert.deepEqual(broken, []);
  });

  /** Paths that are not files of this repository: Crossbar.io's source tree (cited), the bench's output directory (made by a run). */
  const NOT_OURS = /^(src\/crossbar\/|bench\/results\/)/;

  test('repository paths in backticks exist', () => {
    // File names of the tree (no git: the Node matrix runs the suite in a root without it).
    const names = new Set<string>();
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory() && !['node_modules', 'dist', '.git', 'results'].includes(e.name)) walk(join(d, e.name));
        else if (e.isFile()) names.add(e.name);
      }
    };
    walk(ROOT);
    const missing: string[] = [];
    let count = 0;
    for (const file of DOCS) {
      const text = prose(file);
      for (const m of text.matchAll(/`([^`\s]+)`/g)) {
        const p = m[1]!.replace(/[.,:;]$/, '');
        if (/[*<>…{}$]/.test(p) || p.includes('://') || NOT_OURS.test(p)) continue;
        const at = `${file}:${lineOf(text, m.index)} ${p}`;
        if (/^(src|workers|test|bench|scripts|python|docs|\.ci)\//.test(p) || /^config\/[^/]+(\/[^/]+)?\.(json|mjs|js)$/.test(p)) {
          count++;
          if (!existsSync(join(ROOT, p))) missing.push(at);
        } else if (/^dist\/.+\.js$/.test(p)) {
          count++;
          if (!existsSync(join(ROOT, p.replace(/^dist\//, '').replace(/\.js$/, '.ts')))) missing.push(`${at} (no source)`);
        } else if (/^[\w-]+\.ts$/.test(p)) {
          // A file named without its folder (architecture.md's folder lists): some file has that name.
          count++;
          if (!names.has(p)) missing.push(at);
        }
      }
    }
    assert.ok(count > 50, `paths found: ${count}`);
    assert.deepEqual(missing, []);
  });
});
