import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { selftestsGuestFiles } from '../build/bpf-selftests.js';
import { CancelledError, EXIT, type ExitCode, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { analyzeAb, runAb } from '../perf/ab.js';
import { loadPerfSuite, perfPlan, perfRunner, perfScenarios, perfThresholds } from '../perf/plan.js';
import { openRedis } from '../queue/redis.js';
import { loadKnownSplats } from '../splat/known.js';
import { formatPerf, newSplats, perfFailed } from '../stages/perf/result.js';
import { kernelRunFailed } from '../stages/test/result.js';
import { loadSuite, suitesDir } from '../suite/suite.js';
import { settle } from '../vm/compare.js';
import { type KernelRun, runKernel } from '../vm/kernel-run.js';
import { parseKernelArgs } from '../vm/qemu.js';
import { vmSettings } from '../vm/settings.js';
import type { Context } from './context.js';
import { fileSize } from './input.js';
import { onShutdown } from './services.js';

/*
 * What the test and perf stages do, on kernel images the user names and
 * outside any run: the reproducers that reports print. Their exit codes
 * are the stages' own verdicts.
 */

type Accel = 'auto' | 'kvm' | 'tcg';

/** A new directory under the data directory, named so that they sort by time. */
function defaultOutDir(ctx: Context, kind: 'vm' | 'perf', suite: string): string {
  return join(ctx.config.dataDir, kind, `${new Date().toISOString().replace(/[:.]/g, '-')}-${suite}`);
}

/** An AbortSignal that the first SIGINT/SIGTERM fires (the second exits); `done` removes the handlers. */
function abortOnSignal(log: Logger): { signal: AbortSignal; done: () => void } {
  const ctl = new AbortController();
  const done = onShutdown(
    log,
    async () => ctl.abort(),
    () => process.exit(EXIT.interrupted),
  );
  return { signal: ctl.signal, done };
}

const progress = (m: string) => process.stderr.write(`ksci: ${m}\n`);

export interface TestOptions {
  /** The kernel image to boot. */
  kernel: string;
  /** A directory of selftests/ with a suite.yaml. */
  suite: string;
  /** Run only these tests of the suite. */
  only?: string[];
  accel?: Accel;
  /** Run a failing test again this many times. */
  retries?: number;
  /** VMs at once, each with a share of the tests. */
  parallel?: number;
  /** Console and channel logs go here (default: a new directory under the data dir). */
  out?: string;
  /** The BPF selftests build a suite that needs them runs. */
  selftests?: string;
}

/** `ksci test`: boots one kernel image with a suite; exit 1 on the test stage's verdict for a lone kernel. */
export async function testKernel(ctx: Context, opts: TestOptions): Promise<ExitCode> {
  const { config, log } = ctx;
  const kernel = resolve(opts.kernel);
  if (fileSize(kernel) <= 0) throw new UsageError(`no kernel image at ${kernel}`);
  const full = loadSuite(suitesDir(config.test.suitesDir), opts.suite);
  if (full.kind === 'perf')
    throw new UsageError(
      `suite ${full.name} is a perf suite`,
      `measure it with: ksci perf --base ${opts.kernel} --series ${opts.kernel} --suite ${full.name}`,
    );
  const unknown = (opts.only ?? []).filter((n) => !full.tests.some((t) => t.name === n));
  if (unknown.length)
    throw new UsageError(
      `suite ${full.name} has no test(s) ${unknown.join(', ')}`,
      `its tests: ${full.tests.map((t) => t.name).join(', ')}`,
    );
  const suite = opts.only ? { ...full, tests: full.tests.filter((t) => opts.only!.includes(t.name)) } : full;
  const selftests = opts.selftests ? resolve(opts.selftests) : null;
  if (full.needs.includes('bpf-selftests') && !selftests)
    throw new UsageError(
      `suite ${full.name} runs the BPF selftests: --selftests names the build to run`,
      "a report's reproducer names it; the build stage stores one per kernel under the data directory's artifacts/",
    );
  if (selftests && !full.bpfRunners.some((r) => existsSync(join(selftests, r))))
    throw new UsageError(`${selftests} holds none of suite ${full.name}'s runners (${full.bpfRunners.join(', ')})`);
  const outDir = resolve(opts.out ?? defaultOutDir(ctx, 'vm', suite.name));
  const { signal, done } = abortOnSignal(log);
  try {
    const vm = vmSettings(config, suite);
    const run = await runKernel({
      kernel,
      suite,
      ...vm,
      accel: opts.accel ?? vm.accel,
      retries: opts.retries ?? vm.retries,
      maxBoots: Math.max(vm.maxBoots, opts.parallel ?? 1),
      parallel: opts.parallel ?? vm.parallel,
      ...(selftests ? { extraFiles: selftestsGuestFiles(selftests) } : {}),
      known: loadKnownSplats(config),
      tree: 'local',
      outDir,
      log,
      signal,
      onProgress: progress,
    });
    process.stdout.write(formatKernelRun(run, outDir));
    return kernelRunFailed(run) ? EXIT.verdictFail : EXIT.ok;
  } finally {
    done();
  }
}

/** `ksci test`'s report: a line per test, then what went wrong with the kernel. */
export function formatKernelRun(run: KernelRun, outDir: string): string {
  const lines: string[] = [];
  const first = run.boots[0]?.outcome;
  if (first)
    lines.push(
      `kernel ${first.kernelRelease ?? '(did not reach the init)'} under ${first.accel.toUpperCase()}; boot ${first.bootSeconds ?? '?'} s`,
    );
  for (const b of run.boots) {
    lines.push(
      `boot ${run.boots.indexOf(b) + 1} (${b.purpose}, ${b.tests.length} test(s)): ${b.outcome.verdict}: ${b.outcome.reason}`,
    );
    if (b.outcome.verdict !== 'completed') lines.push(...b.outcome.excerpt.slice(0, 30).map((l) => `  | ${l}`));
  }
  for (const t of run.tests) {
    const s = settle(t.attempts);
    lines.push(
      `${s.toUpperCase().padEnd(7)} ${t.name}  (${t.attempts.join(' -> ') || 'not run'}${t.last.seconds !== null ? `, ${t.last.seconds} s` : ''})`,
    );
    if (s === 'fail' || s === 'flaky') lines.push(...t.last.output.slice(-15).map((l) => `  | ${l}`));
  }
  for (const x of run.splats) {
    lines.push(`SPLAT ${x.kind}: ${x.title}${x.test ? ` (during ${x.test})` : ''}`, `  fingerprint ${x.fingerprint}`);
    lines.push(...x.excerpt.slice(0, 30).map((l) => `  | ${l}`));
  }
  for (const x of run.ignoredSplats) lines.push(`known splat ignored: ${x.title} (${x.reason})`);
  lines.push(`logs: ${outDir}`);
  return `${lines.join('\n')}\n`;
}

export interface PerfOptions {
  /** The reference kernel image. */
  base: string;
  /** The kernel image under test (the same image for an A/A check). */
  series: string;
  /** A perf suite (selftests/<name>, kind: perf). */
  suite: string;
  /** Only these scenarios. */
  only?: string[];
  /** The most sessions per kernel (the comparison stops earlier once decided). */
  rounds?: number;
  /** Rounds before the first look at the verdict. */
  minRounds?: number;
  /** What times the guest (over perf.clock). */
  clock?: 'auto' | 'icount' | 'wall';
  /** Kernel arguments per side, space-separated as on a kernel command line. */
  baseAppend?: string;
  seriesAppend?: string;
  /** Dropped runs per scenario and session. */
  warmup?: number;
  /** Kept runs per scenario and session. */
  repetitions?: number;
  /** Scenario parameters for every run, over perf.set. */
  set?: Record<string, string>;
  /** Kernel modules (.ko) the guest loads first, in order. */
  modules?: string[];
  accel?: Accel;
  /** The samples and verdicts as JSON instead of the text report. */
  json?: boolean;
  /** Consoles and per-run files go here (default: a new directory under the data dir). */
  out?: string;
}

/** `ksci perf`: pktgen A/B of two kernel images; exit 1 on the perf stage's verdict. */
export async function perfKernels(ctx: Context, opts: PerfOptions): Promise<ExitCode> {
  const { config, log } = ctx;
  const kernels = { base: resolve(opts.base), series: resolve(opts.series) };
  for (const k of Object.values(kernels)) if (fileSize(k) <= 0) throw new UsageError(`no kernel image at ${k}`);
  if (opts.warmup !== undefined && !(Number.isInteger(opts.warmup) && opts.warmup >= 0))
    throw new UsageError('--warmup takes a whole number >= 0');
  const suite = loadPerfSuite(config, opts.suite);
  const scenarios = perfScenarios(suite, { ...config.perf.set, ...opts.set }, opts.only);
  const plan = perfPlan(config, scenarios, {
    ...(opts.rounds ? { rounds: opts.rounds } : {}),
    ...(opts.minRounds ? { minRounds: opts.minRounds } : {}),
    ...(opts.warmup !== undefined ? { warmup: opts.warmup } : {}),
    ...(opts.repetitions ? { repetitions: opts.repetitions } : {}),
  });
  const outDir = resolve(opts.out ?? defaultOutDir(ctx, 'perf', suite.name));
  const { signal: interrupted, done } = abortOnSignal(log);
  try {
    // A bare-metal host is locked through Redis; a VM needs none.
    const redis =
      config.perf.runner === 'vm' ? null : await openRedis({ redisUrl: config.redisUrl, dataDir: config.dataDir, log });
    try {
      const { runner, exclusive } = await perfRunner(config, suite, {
        tree: 'local',
        log,
        ...(redis ? { redis: () => redis.client() } : {}),
        ...(opts.modules ? { modules: opts.modules.map((m) => resolve(m)) } : {}),
        ...(opts.accel ? { accel: opts.accel } : {}),
        ...(opts.clock ? { clock: opts.clock } : {}),
      });
      const judge = { thresholds: perfThresholds(config, runner.clock.name, plan), unit: config.perf.sampleUnit };
      const append = { base: parseKernelArgs(opts.baseAppend), series: parseKernelArgs(opts.seriesAppend) };
      const run = await exclusive(
        (signal) => runAb(runner, plan, kernels, { outDir, log, signal, onProgress: progress, append, judge }),
        interrupted,
      );
      if (interrupted.aborted) throw new CancelledError('cancelled');
      const verdicts = analyzeAb(run, scenarios, judge.thresholds, judge.unit);
      process.stdout.write(
        opts.json
          ? `${JSON.stringify({ plan: { ...plan, scenarios: scenarios.map((s) => s.name), append }, run, verdicts }, null, 2)}\n`
          : formatPerf(run, verdicts, config.perf.sampleUnit, plan.rounds),
      );
      return perfFailed(run, verdicts, newSplats({ run })) ? EXIT.verdictFail : EXIT.ok;
    } finally {
      await redis?.stop();
    }
  } finally {
    done();
  }
}
