// Which thread runs what, checked on the import graph of the sources (docs/architecture.md):
// src/shared/ (run by both threads) imports nothing outside itself; workers/ (realm worker
// threads) imports from src/ only src/shared/; the main thread (the rest of src/) never imports
// workers/ (it names the worker entry points by URL, which is not an import). And no import
// cycles, type-only imports included, reported per layer.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cycles, type Edge, importGraph, importsOf, sourceFiles } from '../helpers/import-graph.js';

const graph = importGraph(sourceFiles(['src', 'workers']));
const edges = [...graph.values()].flat();

const SHARED = 'src/shared/';
const isShared = (p: string) => p.startsWith(SHARED);
const isWorkers = (p: string) => p.startsWith('workers/');
const isMain = (p: string) => p.startsWith('src/') && !isShared(p);

const show = (list: Edge[]) => list.map((e) => `  ${e.from} imports '${e.spec}'`).join('\n');
const showCycles = (list: string[][]) => list.map((c) => `  ${[...c, c[0]].join(' → ')}`).join('\n');

/** The cycles with a file in `layer`. A cycle across layers breaks a rule above as well. */
const cyclesIn = (layer: (p: string) => boolean) => cycles(graph).filter((c) => c.some(layer));

describe('layers: which thread runs which folder', () => {
  test('the graph has the files and the imports it should (sanity)', () => {
    assert.ok(graph.size > 100, `${graph.size} files`);
    assert.ok(graph.get('workers/realm-worker.ts')?.some((e) => e.to === 'src/shared/ipc/protocol.ts'));
    // Every kind of import is an edge, type-only ones included; packages and node: are not.
    const src = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "export { c } from './c/c.js';",
      "export type { D } from './d.js';",
      "const e = await import('./e.js');",
      "type F = import('./f.js').F;",
      "import 'node:fs'; import { pino } from 'pino';",
    ].join('\n');
    assert.deepEqual(
      importsOf('src/x/y.ts', src).map((e) => e.to),
      ['src/b.ts', 'src/x/a.ts', 'src/x/c/c.ts', 'src/x/d.ts', 'src/x/e.ts', 'src/x/f.ts'],
    );
  });

  test('the cycle finder finds cycles (sanity)', () => {
    const g = new Map<string, Edge[]>();
    const link = (from: string, ...to: string[]) => g.set(from, to.map((t) => ({ from, to: t, spec: t })));
    link('a', 'b');
    link('b', 'c', 'd');
    link('c', 'a');
    link('d', 'd');
    link('e', 'a');
    assert.deepEqual(cycles(g), [['a', 'b', 'c'], ['d']]);
  });

  test('src/shared/ imports nothing outside src/shared/', () => {
    const bad = edges.filter((e) => isShared(e.from) && !isShared(e.to));
    assert.equal(bad.length, 0, `src/shared/ is run by both threads and imports only itself:\n${show(bad)}`);
  });

  test('workers/ imports from src/ only src/shared/', () => {
    const bad = edges.filter((e) => isWorkers(e.from) && !isWorkers(e.to) && !isShared(e.to));
    assert.equal(bad.length, 0, `workers/ runs in realm worker threads:\n${show(bad)}`);
  });

  test('the main thread (src/ outside src/shared/) does not import workers/', () => {
    const bad = edges.filter((e) => isMain(e.from) && isWorkers(e.to));
    assert.equal(bad.length, 0, `src/ runs on the main thread; worker entry points are named by URL:\n${show(bad)}`);
  });

  test('no import cycles in src/shared/', () => {
    const found = cyclesIn(isShared);
    assert.equal(found.length, 0, `${found.length} import cycles:\n${showCycles(found)}`);
  });

  test('no import cycles in src/ outside src/shared/ (main thread)', () => {
    const found = cyclesIn(isMain);
    assert.equal(found.length, 0, `${found.length} import cycles:\n${showCycles(found)}`);
  });

  test('no import cycles in workers/', () => {
    const found = cyclesIn(isWorkers);
    assert.equal(found.length, 0, `${found.length} import cycles:\n${showCycles(found)}`);
  });
});
