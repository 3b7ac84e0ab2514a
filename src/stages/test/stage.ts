import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { compareRuns } from '../../vm/compare.js';
import type { Config } from '../../config/schema.js';
import { CancelledError, InfraError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { StageDefinition, StageResult } from '../../pipeline/stage.js';
import { BuildStageDataSchema } from '../build/result.js';
import {
  suiteFailed,
  suiteSummary,
  TestStageDataSchema,
  testDetails,
  testResultRows,
  type SuiteRunData,
  type TestStageData,
} from './result.js';
import { selftestsGuestFiles } from '../../build/bpf-selftests.js';
import { splitExpanded } from '../../bpf/expand.js';
import { loadKnownSplats } from '../../splat/known.js';
import type { KnownSplat } from '../../splat/splat.js';
import { loadSuite, suitesDir, type Suite } from '../../suite/suite.js';
import { runKernel, type KernelRun } from '../../vm/kernel-run.js';
import { remoteExecutor, type BootExecutor, type RemoteExecutor } from '../../vm/remote.js';
import { vmHostProblem, vmSettings } from '../../vm/settings.js';

/** Bumped when what a base result means changes (the runner, the verdict rules). */
const RESULTS_FORMAT = 'vm-results-v1';
/** Base runs looked back on to call a failure flaky. */
const HISTORY_RUNS = 20;

/**
 * Boots the base and the series kernels the build stage made, runs each
 * suite on both, and blames the series only for what it changed. The base's
 * results are cached per base kernel and suite content.
 */
export const testStage: StageDefinition = {
  name: 'test',
  needs: ['build'],
  role: 'test',
  concurrency: 1,
  wantsSeries: false,
  details: testDetails,
  async record(runId, data, sink) {
    const parsed = TestStageDataSchema.safeParse(data);
    if (parsed.success) await sink.recordTestResults(runId, 'test', testResultRows(parsed.data));
  },
  variants: {
    all: (config) => [config.build.arch],
    of: (run) => run.build.arch,
    async served(config, log) {
      // With vmHosts: queue a test job only coordinates: its boots run wherever ksci-vm is consumed.
      if (config.test.vmHosts === 'queue') return ['x86_64'];
      const problem = await vmHostProblem(config);
      if (problem) {
        log.error({ why: problem }, 'this host takes no test jobs');
        return [];
      }
      return ['x86_64'];
    },
  },
  async run(ctx) {
    const { config, run } = ctx;
    const built = BuildStageDataSchema.safeParse(ctx.upstream.outcomes.find((o) => o.stage === 'build')?.data);
    if (!built.success) throw new InfraError(`test of run ${run.runId}: the build stage left no kernels`);
    const known = loadKnownSplats(config);
    const dir = suitesDir(config.test.suitesDir);
    const results: SuiteRunData[] = [];
    let remote: RemoteExecutor | null = null;
    if (config.test.vmHosts === 'queue') {
      if (!ctx.redis)
        throw new InfraError(
          'test.vmHosts is "queue" but this test worker has no Redis connection to reach the ksci-vm queue',
        );
      remote = await remoteExecutor({ redis: ctx.redis, shared: config.dataDir, log: ctx.log });
    }
    try {
      for (const name of run.build.suites) {
        const suite = loadSuite(dir, name);
        const build = built.data.builds.find((b) => b.config === suite.config);
        if (build?.series.status !== 'ok')
          throw new InfraError(`suite ${name} needs config ${suite.config}, which this run did not build`);
        const outDir = join(config.dataDir, 'runs', run.runId, 'test', name);
        const common = {
          suite,
          known,
          tree: run.tree.name,
          config,
          log: ctx.log,
          signal: ctx.signal,
          ...(remote ? { executor: remote.boot } : {}),
        };
        if (suite.needs.includes('bpf-selftests') && !build.selftests)
          throw new InfraError(`suite ${name} needs the BPF selftests, which the build stage did not build`);
        const shipped = (dir: string | undefined) => (dir ? selftestsGuestFiles(dir) : []);

        await ctx.progress({ message: `${name}: base ${build.base.commit.slice(0, 12)}` });
        const baseKey = createHash('sha256')
          .update(
            JSON.stringify([
              RESULTS_FORMAT,
              build.base.artifactKey,
              build.selftests?.base.artifactKey ?? null,
              suite.hash,
              vmShape(config),
            ]),
          )
          .digest('hex');
        const cachedBase = readCachedBase(config, baseKey);
        const base =
          cachedBase ??
          (await runOn(
            join(build.base.artifactDir, 'bzImage'),
            join(outDir, 'base'),
            { ...common, extraFiles: shipped(build.selftests?.base.artifactDir) },
            (m) => void ctx.progress({ message: `${name} base: ${m}` }),
          ));
        if (ctx.signal.aborted) throw new CancelledError(`test of run ${run.runId} cancelled`);
        if (base.bootFailure) {
          // Not the series' fault, and no comparison is possible: an infrastructure error that retrying will not fix.
          throw new UnrecoverableError(
            `the base kernel ${build.base.commit.slice(0, 12)} (config ${suite.config}) does not run suite ${name}: ${base.bootFailure} (console: ${base.boots[0]?.consoleFile})`,
          );
        }
        if (!cachedBase) writeCachedBase(config, baseKey, base);

        await ctx.progress({ message: `${name}: series ${build.series.commit.slice(0, 12)}` });
        const seriesKernel = join(build.series.artifactDir, 'bzImage');
        const durations = new Map(
          base.tests.filter((t) => t.last.seconds !== null).map((t) => [t.name, t.last.seconds!]),
        );
        const series = await runOn(
          seriesKernel,
          join(outDir, 'series'),
          { ...common, durations, extraFiles: shipped(build.selftests?.series.artifactDir) },
          (m) => void ctx.progress({ message: `${name} series: ${m}` }),
        );
        if (ctx.signal.aborted) throw new CancelledError(`test of run ${run.runId} cancelled`);
        const troubled = series.tests
          .filter((t) => t.attempts.some((a) => a !== 'pass' && a !== 'skip'))
          .map((t) => t.name);
        const stability =
          troubled.length && ctx.history
            ? await ctx.history.baseStability({
                tree: run.tree.name,
                suite: name,
                tests: troubled,
                limit: HISTORY_RUNS,
              })
            : {};
        const quarantine =
          troubled.length && ctx.history ? await ctx.history.quarantined({ tree: run.tree.name, suite: name }) : [];
        const comparison = compareRuns(
          base.tests,
          series.tests,
          { base: base.splats, series: series.splats },
          stability,
          new Map(
            quarantine.map((q) => [q.test, `quarantined by ${q.addedBy} on ${q.addedAt.slice(0, 10)}: ${q.reason}`]),
          ),
        );
        const blamed = [
          ...comparison.newFailures.map((r) => r.name),
          ...comparison.newSplats.map((s) => s.test).filter((t): t is string => t !== null),
        ];
        results.push({
          suite: name,
          config: suite.config,
          base: {
            ...base,
            commit: build.base.commit,
            kernel: join(build.base.artifactDir, 'bzImage'),
            cached: cachedBase !== null,
          },
          series: { ...series, commit: build.series.commit, kernel: seriesKernel, cached: false },
          comparison,
          reproducer:
            series.bootFailure || blamed.length
              ? reproducer(
                  seriesKernel,
                  build.selftests?.series.artifactDir ?? null,
                  suite,
                  [...new Set(blamed)],
                  build.series.commit,
                  run.tree.name,
                )
              : [],
        });
      }
    } finally {
      await remote?.close();
    }
    return testResult({ suites: results });
  },
};

function testResult(data: TestStageData): StageResult {
  const broken = data.suites.filter(suiteFailed);
  return {
    status: broken.length > 0 ? 'failed' : 'passed',
    summary: data.suites.map(suiteSummary).join('; ') || 'no suites',
    data,
  };
}

async function runOn(
  kernel: string,
  outDir: string,
  c: {
    suite: Suite;
    known: KnownSplat[];
    tree: string;
    config: Config;
    log: Logger;
    signal: AbortSignal;
    durations?: Map<string, number>;
    extraFiles?: { host: string; guest: string }[];
    executor?: BootExecutor;
  },
  onProgress: (m: string) => void,
): Promise<KernelRun> {
  return runKernel({
    kernel,
    suite: c.suite,
    ...vmSettings(c.config, c.suite),
    ...(c.durations ? { durations: c.durations } : {}),
    ...(c.extraFiles ? { extraFiles: c.extraFiles } : {}),
    ...(c.executor ? { executor: c.executor } : {}),
    known: c.known,
    tree: c.tree,
    outDir,
    log: c.log,
    signal: c.signal,
    onProgress,
  });
}

/** What changes a base result besides the kernel and the suite. */
function vmShape(config: Config): unknown {
  const t = config.test;
  return [t.memoryMiB, t.cpus, t.retries, t.maxBoots];
}

function cachePath(config: Config, key: string): string {
  return join(config.dataDir, 'cache', 'test-base', `${key}.json`);
}

function readCachedBase(config: Config, key: string): KernelRun | null {
  try {
    return JSON.parse(readFileSync(cachePath(config, key), 'utf8')) as KernelRun;
  } catch {
    return null;
  }
}

function writeCachedBase(config: Config, key: string, run: KernelRun): void {
  const file = cachePath(config, key);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify(run));
  renameSync(`${file}.tmp`, file);
}

/** The commands that rerun the failing tests on the same kernel (and the same BPF selftests build), locally. */
export function reproducer(
  kernel: string,
  selftests: string | null,
  suite: Suite,
  tests: string[],
  commit: string,
  tree: string,
): string[] {
  const parts = tests.map(splitExpanded);
  const runners = [...new Set(parts.map((p) => p.suiteTest))];
  const inner = (kind: string) =>
    parts
      .filter((p) => p.id !== null && suite.tests.find((t) => t.name === p.suiteTest)?.results === kind)
      .map((p) => p.id!);
  const progs = inner('test_progs');
  const verifier = inner('test_verifier');
  return [
    `# kernel: tree ${tree} at ${commit.slice(0, 12)}, config ${suite.config}`,
    ...(progs.length ? [`# failing test_progs tests: ${progs.join(', ')} (test_progs -a NAME runs one)`] : []),
    ...(verifier.length
      ? [`# failing test_verifier entries: ${verifier.join(', ')} (test_verifier N runs entry N of its table)`]
      : []),
    `ksci test --kernel ${kernel}${selftests ? ` --selftests ${selftests}` : ''} --suite ${suite.name}${runners.length ? ` --only ${runners.join(',')}` : ''}`,
  ];
}
