// The import graph of the TypeScript sources, read from the .ts files (not dist/): every
// `import`, `import type`, `export … from` and `import()` with a relative specifier, type-only
// ones included (they tie modules together for a reader as much as value imports do; madge
// counts them too). Package and node: specifiers are not edges.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The repository root (this file runs as dist/test/helpers/import-graph.js). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Repository-relative paths ('src/shared/log.ts') of the .ts files under `folders`, sorted. */
export function sourceFiles(folders: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const p = posix.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  for (const f of folders) walk(f);
  return out.sort();
}

export interface Edge {
  from: string;
  to: string;
  /** The specifier as written. */
  spec: string;
}

/** The relative imports of `text` (the source of file `from`), resolved: './x.js' → 'dir/x.ts'. */
export function importsOf(from: string, text: string): Edge[] {
  const edges: Edge[] = [];
  for (const ref of ts.preProcessFile(text, true, true).importedFiles) {
    const spec = ref.fileName;
    if (!spec.startsWith('.')) continue;
    const to = posix.normalize(posix.join(posix.dirname(from), spec)).replace(/\.js$/, '.ts');
    if (!edges.some((e) => e.to === to)) edges.push({ from, to, spec });
  }
  return edges.sort((a, b) => (a.to < b.to ? -1 : a.to > b.to ? 1 : 0));
}

/** Each file's relative imports (importsOf), read from disk. */
export function importGraph(files: string[]): Map<string, Edge[]> {
  const graph = new Map<string, Edge[]>();
  for (const from of files) graph.set(from, importsOf(from, readFileSync(join(ROOT, from), 'utf8')));
  return graph;
}

/**
 * The import cycles, found as madge finds them: a depth-first walk from each file (in order)
 * records the path back to a file still on the walk's stack; each cycle once, starting at the
 * file where the walk entered it.
 */
export function cycles(graph: Map<string, Edge[]>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const onPath = new Set<string>();
  const visit = (file: string, path: string[]): void => {
    onPath.add(file);
    for (const { to } of graph.get(file) ?? []) {
      if (onPath.has(to)) found.push(path.slice(path.indexOf(to)));
      else if (!done.has(to) && graph.has(to)) visit(to, [...path, to]);
    }
    onPath.delete(file);
    done.add(file);
  };
  for (const file of graph.keys()) if (!done.has(file)) visit(file, [file]);
  return found;
}

