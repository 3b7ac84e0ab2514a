/**
 * Building a series on a warm base, against the plain incremental make of
 * the same change, in the same run.
 *
 * The series (bench/fixtures/net-core-3.mbox) has 3 patches touching
 * net/core/{skbuff,dev,sock}.c. Both sides start from the same state: the
 * base built, the source checkout at the base.
 *  - reference: a copy of the base build dir (not timed), then `git checkout`
 *    of the series and `make -jN bzImage` in the same sandbox (timed);
 *  - ksci: KernelBuilder.buildSeries (copy of the base build dir, checkout,
 *    configure + survival check, make, log analysis, artifacts), its cache
 *    entry removed first so it really builds.
 * Reps alternate (ref, ksci, ref, ksci, ...) so drift hits both; medians
 * and their ratio are printed (goal: <= 1.1). Then the cost of a cache hit:
 * the same request again.
 *
 * Uses the data directory of the config (KSCI_DATA_DIR), so an imported
 * tree and a built base are reused; the first run imports and builds them.
 *   node dist/bench/build-series.js [reps=2]
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { median } from './stats.js';
import { promisify } from 'node:util';
import { applySeries } from '../src/apply/apply.js';
import { KernelBuilder } from '../src/build/kernel.js';
import { detectToolchain } from '../src/build/toolchain.js';
import { SourceTree } from '../src/build/workspace.js';
import { loadConfig } from '../src/config/load.js';
import { loadKernelConfig } from '../src/kconfig/load.js';
import { createLogger } from '../src/log.js';
import { packageRoot } from '../src/paths.js';
import { loadSeries } from '../src/series/load.js';
import { buildEnv } from '../src/build/env.js';
import { ensureTree, resolveBase } from '../src/tree/trees.js';

const execFileP = promisify(execFile);
const reps = Number(process.argv[2] ?? 2);
const log = createLogger('bench', process.env['KSCI_LOG_LEVEL'] ?? 'warn');
const { config } = loadConfig();
const treeConfig = config.trees.find((t) => t.name === config.defaultTree)!;
const cacheDir = join(config.dataDir, 'cache');
const work = join(config.dataDir, 'work', `bench-${process.pid}`);
mkdirSync(work, { recursive: true });

const tree = await ensureTree(treeConfig, { cacheDir, log });
const base = (await resolveBase(tree, null)).commit;
const series = await loadSeries(join(packageRoot, 'bench', 'fixtures', 'net-core-3.mbox'), config.limits);
const applied = await applySeries(tree, series, {
  runId: `bench-${process.pid}`,
  workRoot: work,
  mergedCheckDepth: 0,
  log,
});
if (applied.status !== 'applied') throw new Error(`bench series does not apply: ${applied.status}`);
const head = applied.headCommit;

const toolchain = (await detectToolchain(config.build.toolchain))!;
const env = buildEnv(config, toolchain, config.build.arch, { log });
const source = new SourceTree(tree, cacheDir, log);
const builder = new KernelBuilder(tree, source, loadKernelConfig(config.build, 'vm'), env);

let t = performance.now();
const baseOutcome = await builder.buildBase(base);
if (baseOutcome.status !== 'ok') throw new Error(`base does not build: ${baseOutcome.status}`);
console.log(
  `base ${base.slice(0, 12)} (config vm, ${env.jobs} jobs): ${baseOutcome.cacheHit ? 'already built' : `built in ${((performance.now() - t) / 1000).toFixed(0)} s`}`,
);

const atBase = () => source.use(async (checkout) => checkout(base));

async function reference(): Promise<number> {
  const dir = join(work, 'ref');
  rmSync(dir, { recursive: true, force: true });
  await atBase();
  await execFileP('cp', ['-a', '--reflink=auto', builder.baseDir, dir]);
  return source.use(async (checkout) => {
    const start = performance.now();
    await checkout(head);
    const r = await builder.sandboxed(dir, false, builder.makeCommand(), join(work, 'ref.log'));
    const ms = performance.now() - start;
    if (r.exitCode !== 0) throw new Error(`reference make failed, see ${join(work, 'ref.log')}`);
    rmSync(dir, { recursive: true, force: true });
    return ms;
  });
}

async function viaKsci(): Promise<number> {
  const { key } = await builder.keyOf(head);
  rmSync(env.artifacts.get(key)?.dir ?? join(work, 'none'), { recursive: true, force: true });
  await atBase();
  const start = performance.now();
  const r = await builder.buildSeries(baseOutcome, head, work);
  const ms = performance.now() - start;
  if (r.head.status !== 'ok' || r.head.cacheHit)
    throw new Error(`ksci build: ${r.head.status}${r.head.cacheHit ? ' (cache hit)' : ''}`);
  return ms;
}

const ref: number[] = [];
const ksci: number[] = [];
for (let i = 0; i < reps; i++) {
  ref.push(await reference());
  ksci.push(await viaKsci());
  console.log(`rep ${i + 1}: reference make ${(ref[i]! / 1000).toFixed(1)} s, ksci ${(ksci[i]! / 1000).toFixed(1)} s`);
}
const r = median(ref);
const k = median(ksci);
console.log(
  `3-patch net/core series on a warm base: reference median ${(r / 1000).toFixed(1)} s, ksci median ${(k / 1000).toFixed(1)} s, ratio ksci/reference ${(k / r).toFixed(2)} (goal <= 1.1)`,
);

const hits: number[] = [];
for (let i = 0; i < 5; i++) {
  t = performance.now();
  const again = await builder.buildSeries(baseOutcome, head, work);
  hits.push(performance.now() - t);
  if (!again.head.cacheHit) throw new Error('second request was not a cache hit');
}
t = performance.now();
await builder.buildBase(base);
const baseHit = performance.now() - t;
console.log(
  `cache hit, same series again: median ${median(hits).toFixed(1)} ms over 5; base again: ${baseHit.toFixed(1)} ms`,
);
rmSync(work, { recursive: true, force: true });
