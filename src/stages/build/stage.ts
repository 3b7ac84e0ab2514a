import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { buildEnv } from '../../build/env.js';
import { KernelBuilder } from '../../build/kernel.js';
import { warningDelta } from '../../build/log.js';
import { detectCapabilities, detectToolchain } from '../../build/toolchain.js';
import { SourceTree } from '../../build/workspace.js';
import type { Config } from '../../config/schema.js';
import { InfraError, UsageError } from '../../errors.js';
import { loadKernelConfig } from '../../kconfig/load.js';
import type { StageDefinition, StageResult } from '../../pipeline/stage.js';
import { ApplyData } from '../apply/result.js';
import { buildDetails, describeBuild, oneLine, type BuildStageData, type ConfigBuild } from './result.js';
import { sandboxAvailable } from '../../sandbox/run.js';
import { ensureTree } from '../../tree/trees.js';
import { loadSuite, suitesDir } from '../../suite/suite.js';
import { bpfSelftestsFor } from '../../build/bpf-selftests.js';
import type { Runner } from '../../bpf/runners.js';

const TOOLCHAINS = ['gcc', 'llvm'] as const;

/**
 * Builds each kernel config the run asks for, on the base and on the
 * series, in the sandbox. The base must build: if it does not, the tree or
 * the config is broken, which no series can be blamed for.
 */
export const buildStage: StageDefinition = {
  name: 'build',
  needs: ['apply'],
  role: 'build',
  concurrency: 1,
  wantsSeries: false,
  details: buildDetails,
  variants: {
    all: (config) => TOOLCHAINS.map((t) => `${config.build.arch}-${t}`),
    of: (run) => `${run.build.arch}-${run.build.toolchain}`,
    async served(config, log) {
      const sandbox = await sandboxAvailable();
      if (!sandbox.ok) {
        log.error({ why: sandbox.why }, 'bubblewrap cannot create its sandbox here; this host takes no build jobs');
        return [];
      }
      const caps = await detectCapabilities({ sandbox: true });
      if (caps.arch !== config.build.arch) return [];
      log.info(
        {
          arch: caps.arch,
          cores: caps.cores,
          toolchains: caps.toolchains.map((t) => `${t.name}: ${Object.values(t.versions)[0]}`),
        },
        'build capabilities',
      );
      return caps.toolchains.map((t) => `${caps.arch}-${t.name}`);
    },
  },
  async run(ctx) {
    const { config, run } = ctx;
    const applied = ApplyData.safeParse(ctx.upstream.outcomes.find((o) => o.stage === 'apply')?.data);
    if (!applied.success || applied.data.status !== 'applied')
      throw new InfraError(`build of run ${run.runId}: the apply stage left no applied series`);
    const apply = applied.data;
    const treeConfig = config.trees.find((t) => t.name === run.tree.name);
    if (!treeConfig)
      throw new UsageError(
        `this worker has no tree "${run.tree.name}" configured`,
        'workers need the same trees in their config as the coordinator',
      );
    const toolchain = await detectToolchain(run.build.toolchain);
    if (!toolchain)
      throw new InfraError(
        `this worker has no ${run.build.toolchain} toolchain`,
        'build workers only take the variants they detected; was a compiler removed?',
      );

    const cacheDir = join(config.dataDir, 'cache');
    const tree = await ensureTree(treeConfig, { cacheDir, log: ctx.log, signal: ctx.signal });
    const source = new SourceTree(tree, cacheDir, ctx.log);
    const b = config.build;
    const env = buildEnv(config, toolchain, run.build.arch, {
      log: ctx.log,
      signal: ctx.signal,
      onProgress: (p) => void ctx.progress(p),
    });

    const results: ConfigBuild[] = [];
    const workDir = join(config.dataDir, 'work', `${run.runId}-build`);
    try {
      for (const name of run.build.configs) {
        const kconfig = loadKernelConfig(b, name);
        const builder = new KernelBuilder(tree, source, kconfig, env);
        await ctx.progress({ message: `${name}: base ${apply.baseCommit.slice(0, 12)}` });
        const base = await builder.buildBase(apply.baseCommit);
        if (base.status !== 'ok') {
          // Deterministic: retrying cannot help, and the series is not to blame.
          throw new UnrecoverableError(
            `the base ${apply.baseCommit.slice(0, 12)} does not build with config ${name}: ${describeBuild(base)} (log: ${base.artifactDir})`,
          );
        }
        await ctx.progress({ message: `${name}: series ${apply.headCommit.slice(0, 12)}` });
        const perPatch = run.build.perPatch ? apply.patches.map((p) => ({ counter: p.counter, commit: p.commit })) : [];
        const series = await builder.buildSeries(base, apply.headCommit, workDir, perPatch);
        let selftests: ConfigBuild['selftests'] = null;
        const runners = selftestRunners(config, run.build.suites, name);
        if (series.head.status === 'ok' && runners.length > 0) {
          const st = { source, baseObjDir: builder.baseDir, workDir, env, runners };
          await ctx.progress({ message: `${name}: BPF selftests for the base` });
          const stBase = await bpfSelftestsFor(base, st);
          if (stBase.status !== 'ok') {
            throw new UnrecoverableError(
              `the BPF selftests of the base ${apply.baseCommit.slice(0, 12)} do not build with config ${name}: ${stBase.firstError ? oneLine(stBase.firstError) : stBase.logTail.slice(-3).join(' / ')}`,
            );
          }
          await ctx.progress({ message: `${name}: BPF selftests for the series` });
          selftests = { base: stBase, series: await bpfSelftestsFor(series.head, st) };
        }
        results.push({
          config: name,
          configHash: kconfig.hash,
          selftests,
          base,
          series: series.head,
          perPatch: series.perPatch.map((p) => ({
            counter: p.counter,
            title: apply.patches.find((x) => x.counter === p.counter)?.title ?? '',
            outcome: p.outcome,
          })),
          warnings: warningDelta(base.warnings, series.head.warnings),
        });
      }
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
    const data: BuildStageData = { toolchain: toolchain.id, toolchainVersions: toolchain.versions, builds: results };
    return buildResult(data, config.build.newWarnings);
  },
};

/** The BPF selftest runners the run's suites that boot this config need: built once, for all of them. */
function selftestRunners(config: Config, suites: string[], kconfig: string): Runner[] {
  const dir = suitesDir(config.test.suitesDir);
  const wanted = new Set<Runner>();
  for (const n of suites) {
    const s = loadSuite(dir, n);
    if (s.config === kconfig && s.needs.includes('bpf-selftests')) for (const r of s.bpfRunners) wanted.add(r);
  }
  return [...wanted];
}

export function buildResult(data: BuildStageData, newWarnings: 'fail' | 'report'): StageResult {
  const broken = data.builds.filter(
    (b) =>
      b.series.status !== 'ok' ||
      b.selftests?.series.status === 'failed' ||
      (newWarnings === 'fail' && b.warnings.added.length > 0),
  );
  const parts = data.builds.map((b) => {
    if (b.series.status !== 'ok') return `${b.config}: ${describeBuild(b.series, b.perPatch)}`;
    const st = b.selftests?.series;
    if (st && st.status !== 'ok')
      return `${b.config}: the BPF selftests do not build with the series: ${st.firstError ? oneLine(st.firstError) : 'see the log tail'}`;
    const w = b.warnings;
    const counts = `warnings ${w.before} -> ${w.after}`;
    if (newWarnings === 'fail' && w.added.length > 0)
      return `${b.config}: ${w.added.length} new warning(s), first ${oneLine(w.added[0]!)} (${counts})`;
    return `${b.config}: built${b.series.cacheHit ? ' (cached)' : ''}, ${counts}${w.added.length ? ` (${w.added.length} new)` : ''}`;
  });
  return { status: broken.length > 0 ? 'failed' : 'passed', summary: parts.join('; '), data };
}
