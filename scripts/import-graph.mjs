#!/usr/bin/env node
// The import graph in numbers, from dependency-cruiser's own reading of it:
// modules, imports, upward imports against the layers of
// .dependency-cruiser.cjs, and folders of src/ that reach each other in a
// cycle (which the per-module rules cannot see: two folders of one layer may
// still import each other). Exits 1 when any folder is in a cycle.
//   node scripts/import-graph.mjs [--json]
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const root = new URL('..', import.meta.url).pathname;
const LAYERS = createRequire(import.meta.url)('./layers.cjs');
const out = execFileSync(
  process.execPath,
  [
    `${root}node_modules/dependency-cruiser/bin/dependency-cruise.mjs`,
    'src',
    'workers',
    '--config',
    '.dependency-cruiser.cjs',
    '--output-type',
    'json',
  ],
  { cwd: root, encoding: 'utf8', maxBuffer: 256 << 20 },
);
const { modules } = JSON.parse(out);
const production = (p) => !/\.test\.ts$|^src\/testing\/|^src\/e2e\/|^bench\//.test(p);

/** A module's folder under src/ (top-level files are their own). */
const folder = (p) => {
  const parts = p.split('/');
  return parts.length > 2 ? parts[1] : parts[1].replace(/\.ts$/, '');
};
const layerOf = (p) => {
  const f = folder(p);
  return LAYERS.findIndex((names) =>
    names.some((n) => (n.endsWith('.ts') ? new RegExp(`^${n}$`).test(`${f}.ts`) : n === f)),
  );
};

const edges = [];
for (const m of modules) {
  if (!m.source.startsWith('src/') || !production(m.source)) continue;
  for (const d of m.dependencies)
    if (d.resolved.startsWith('src/') && production(d.resolved)) edges.push([m.source, d.resolved]);
}
const upward = edges.filter(([a, b]) => layerOf(a) >= 0 && layerOf(b) > layerOf(a));

// Folders in cycles: strongly connected components of the folder graph.
const graph = new Map();
for (const [a, b] of edges) {
  const fa = folder(a);
  const fb = folder(b);
  if (!graph.has(fa)) graph.set(fa, new Set());
  if (fa !== fb) graph.get(fa).add(fb);
}
const reach = (from) => {
  const seen = new Set([from]);
  const todo = [from];
  while (todo.length) for (const n of graph.get(todo.pop()) ?? []) if (!seen.has(n) && todo.push(n)) seen.add(n);
  return seen;
};
const inCycle = [...graph.keys()].filter((f) => [...graph.get(f)].some((g) => reach(g).has(f))).sort();

const result = {
  modules: modules.filter((m) => m.source.startsWith('src/') && production(m.source)).length,
  imports: edges.length,
  upwardImports: upward.length,
  foldersInCycles: inCycle,
};
if (process.argv.includes('--json')) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`${result.modules} modules, ${result.imports} imports between them`);
  console.log(`upward imports: ${result.upwardImports}`);
  for (const [a, b] of upward) console.log(`  ${a} -> ${b}`);
  console.log(`folders in import cycles: ${inCycle.length}${inCycle.length ? ` (${inCycle.join(', ')})` : ''}`);
}
process.exit(inCycle.length > 0 ? 1 : 0);
