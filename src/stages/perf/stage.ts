import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { CancelledError, InfraError } from '../../errors.js';
import { analyzeAb, runAb } from '../../perf/ab.js';
import { bisectSeries } from '../../perf/bisect.js';
import { loadPerfSuite, perfPlan, perfRunner, perfScenarios, perfThresholds } from '../../perf/plan.js';
import type { StageDefinition, StageResult } from '../../pipeline/stage.js';
import { BuildStageDataSchema } from '../build/result.js';
import {
  newSplats,
  PerfStageDataSchema,
  perfFailed,
  perfDetails,
  perfSampleRows,
  perfSummary,
  type PerfStageData,
  type PerfSuiteData,
} from './result.js';
import { vmHostProblem } from '../../vm/settings.js';

/**
 * pktgen throughput of the series against its base: for each perf suite of
 * the run, both kernels of the suite's config are booted in turn on one
 * runner (base, series, series, base, ...) and each scenario gets a verdict.
 * A regression, or a series kernel that crashes or hangs under load, fails
 * the stage; a base kernel that does so is an infrastructure error, since
 * nothing can be compared then.
 */
export const perfStage: StageDefinition = {
  name: 'perf',
  needs: ['build'],
  role: 'perf',
  // One perf job per worker: two at once on one machine would measure each other.
  concurrency: 1,
  wantsSeries: false,
  details: perfDetails,
  async record(runId, data, sink) {
    const parsed = PerfStageDataSchema.safeParse(data);
    if (parsed.success) await sink.recordPerfSamples(runId, perfSampleRows(parsed.data));
  },
  variants: {
    all: (config) => [config.build.arch],
    of: (run) => run.build.arch,
    async served(config, log) {
      if (config.perf.runner === 'vm') {
        const problem = await vmHostProblem(config);
        if (problem) {
          log.error({ why: problem }, 'this host takes no perf jobs');
          return [];
        }
      } else if (!existsSync('/usr/bin/ssh')) {
        log.error(
          { host: config.perf.runner },
          'perf.runner is a bare-metal host, and this worker has no ssh client (apt-get install openssh-client)',
        );
        return [];
      }
      return ['x86_64'];
    },
  },
  async run(ctx) {
    const { config, run } = ctx;
    if (run.build.perfSuites.length === 0)
      return { status: 'skipped', summary: 'no perf run asked for (ksci run --perf)', data: { suites: [] } };
    const built = BuildStageDataSchema.safeParse(ctx.upstream.outcomes.find((o) => o.stage === 'build')?.data);
    if (!built.success) throw new InfraError(`perf of run ${run.runId}: the build stage left no kernels`);
    const suites: PerfSuiteData[] = [];
    for (const name of run.build.perfSuites) {
      const suite = loadPerfSuite(config, name);
      const build = built.data.builds.find((b) => b.config === suite.config);
      if (build?.series.status !== 'ok')
        throw new InfraError(`perf suite ${name} needs config ${suite.config}, which this run did not build`);
      const scenarios = perfScenarios(suite, config.perf.set);
      const plan = perfPlan(config, scenarios);
      const kernels = {
        base: join(build.base.artifactDir, 'bzImage'),
        series: join(build.series.artifactDir, 'bzImage'),
      };
      const { runner, exclusive } = await perfRunner(config, suite, {
        tree: run.tree.name,
        log: ctx.log,
        ...(ctx.redis ? { redis: ctx.redis } : {}),
        ...(run.build.perfClock ? { clock: run.build.perfClock } : {}),
      });
      const thresholds = perfThresholds(config, runner.clock.name, plan);
      const judge = { thresholds, unit: config.perf.sampleUnit };
      const outDir = join(config.dataDir, 'runs', run.runId, 'perf', name);
      const onProgress = (m: string) => void ctx.progress({ message: `${name}: ${m}` });
      // One hold of the runner for the comparison and the bisection: a host is not handed to another job in between.
      const { ab, verdicts, bisect } = await exclusive(async (signal) => {
        const ab = await runAb(runner, plan, kernels, {
          outDir,
          log: ctx.log,
          signal: signal ?? ctx.signal,
          onProgress,
          judge,
        });
        if (ctx.signal.aborted) throw new CancelledError(`perf of run ${run.runId} cancelled`);
        if (ab.stoppedBy?.side === 'base') {
          const f = ab.stoppedBy.failure!;
          throw new UnrecoverableError(
            `the base kernel ${build.base.commit.slice(0, 12)} (config ${suite.config}) failed under pktgen (${f.kind}: ${f.reason}); nothing to compare the series with (console: ${ab.stoppedBy.logFile})`,
          );
        }
        const verdicts = analyzeAb(ab, scenarios, thresholds, config.perf.sampleUnit);
        const worst = verdicts
          .filter((v) => v.comparison?.verdict === 'regression')
          .sort((a, b) => a.comparison!.change - b.comparison!.change)[0];
        if (!worst || !run.build.perfBisect) return { ab, verdicts, bisect: null };
        const prefixes = build.perPatch.flatMap((p) =>
          p.outcome.status === 'ok'
            ? [{ counter: p.counter, title: p.title, kernel: join(p.outcome.artifactDir, 'bzImage') }]
            : [],
        );
        const bisect = await bisectSeries(runner, plan, kernels.base, prefixes, worst.scenario, {
          thresholds,
          unit: config.perf.sampleUnit,
          outDir,
          log: ctx.log,
          signal: signal ?? ctx.signal,
          onProgress,
        });
        return { ab, verdicts, bisect };
      }, ctx.signal);
      if (ctx.signal.aborted) throw new CancelledError(`perf of run ${run.runId} cancelled`);
      suites.push({
        suite: name,
        config: suite.config,
        base: { commit: build.base.commit, kernel: kernels.base },
        series: { commit: build.series.commit, kernel: kernels.series },
        plan: {
          rounds: plan.rounds,
          minRounds: plan.minRounds,
          append: { base: [], series: [] },
          warmup: plan.warmup,
          repetitions: plan.repetitions,
          unit: config.perf.sampleUnit,
          runner: runner.name,
        },
        run: ab,
        verdicts,
        bisect,
      });
    }
    return perfResult({ suites });
  },
};

function perfResult(data: PerfStageData): StageResult {
  const broken = data.suites.filter((s) => perfFailed(s.run, s.verdicts, newSplats(s)));
  return { status: broken.length > 0 ? 'failed' : 'passed', summary: data.suites.map(perfSummary).join('; '), data };
}
