// The code blocks of README.md and docs/*.md that can be run are run, so the docs cannot rot:
// - every ```json block that is a complete node config ("version": 2) passes `crosswire check`
//   (a `"workers": [ … ]` elision is filled with the embedded default's workers; any other
//   elision, or a block that does not parse, fails; the "${VAR}" references it makes are set);
// - every ```js block that opens an AutobahnJS connection to ws://127.0.0.1:8080/ws (README's
//   minimal client) runs against a real router on an ephemeral port and must print each line its
//   own console.log calls promise.
// Not run, and listed in this test's diagnostics: shell commands (npm, docker, openssl,
// nats-server), YAML for other programs, config fragments without "version", component modules
// (the containers tests run components).
import '../helpers/quiet.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DEFAULT_CONFIG } from '../../src/config/default.js';
import { runCli } from '../helpers/process.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { within } from '../helpers/wait.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'crosswire-docs-'));
// The repository may be read-only (scripts/test-node-matrix.sh): snippets are written to the
// temporary directory, beside a link to the repository's node_modules for require and import.
symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');

interface Block {
  file: string;
  line: number;
  lang: string;
  body: string;
}

function blocks(): Block[] {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const out: Block[] = [];
  for (const file of files.sort()) {
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const open = /^\s*```(\S*)\s*$/.exec(lines[i]!);
      if (open === null) continue;
      const start = i;
      const body: string[] = [];
      for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
      out.push({ file, line: start + 1, lang: open[1]!, body: body.join('\n') });
    }
  }
  return out;
}

const ALL = blocks();
const where = (b: Block) => `${b.file}:${b.line}`;
const isConfig = (b: Block) => (b.lang === 'json' || b.lang === 'jsonc') && /"version"\s*:\s*2\b/.test(b.body);
const isClient = (b: Block) => b.lang === 'js' && b.body.includes('new autobahn.Connection') && b.body.includes('ws://127.0.0.1:8080/ws');
const ELISION = /\[\s*(…|\.\.\.)\s*\]/;

describe('doc snippets', () => {
  test('which blocks are run and which are not', (t) => {
    const configs = ALL.filter(isConfig);
    const clients = ALL.filter(isClient);
    // The docs hold at least these today (docs/configuration.md, docs/auth.md, README's client).
    assert.ok(configs.length >= 2, `complete configs found: ${configs.map(where).join(', ')}`);
    assert.ok(clients.length >= 1, 'README.md has a minimal client');
    t.diagnostic(`checked with crosswire check: ${configs.map(where).join(', ')}`);
    t.diagnostic(`run against a router: ${clients.map(where).join(', ')}`);
    const rest = ALL.filter((b) => !isConfig(b) && !isClient(b));
    t.diagnostic(`not run: ${rest.map((b) => `${where(b)} (${b.lang || 'text'})`).join(', ')}`);
  });

  for (const b of ALL.filter(isConfig)) {
    test(`${where(b)}: crosswire check accepts it`, async () => {
      let text = b.body.replace(/("workers"\s*:\s*)\[\s*(…|\.\.\.)\s*\]/, (_, key: string) => key + JSON.stringify(DEFAULT_CONFIG.workers));
      assert.doesNotMatch(text, ELISION, 'an elision other than "workers": [ … ] cannot be checked');
      text = JSON.stringify(JSON.parse(text)); // a syntax error names the block here
      const file = join(dir, `${b.file.replace(/[/.]/g, '_')}_${b.line}.json`);
      writeFileSync(file, text);
      // The "${VAR}" references the docs tell the reader to set are set.
      const vars = Object.fromEntries([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => [m[1]!, `doc-snippet-${m[1]!}`]));
      const { code, stdout, stderr } = await runCli(['check', '--config', file], { CROSSWIRE_PORT: undefined, ...vars });
      assert.equal(code, 0, `${where(b)}: ${stderr}${stdout}`);
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
});
