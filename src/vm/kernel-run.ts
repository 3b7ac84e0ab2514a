import { join } from 'node:path';
import type { TestHistory } from '../compare/tests.js';
import type { Logger } from '../log.js';
import type { KnownSplat } from '../splat/splat.js';
import type { Suite, SuiteTest } from '../suite/suite.js';
import { runGuest, type GuestOptions } from './guest.js';
import { failed, judgeVm, type SplatSummary, type TestOutcome, type VmOutcome } from './outcome.js';

export interface BootRecord {
  /** The tests this boot was given. */
  tests: string[];
  purpose: 'run' | 'continue' | 'retry';
  outcome: Omit<VmOutcome, 'tests'>;
  consoleFile: string;
}

/** Everything one kernel did with one suite: its boots, and each test's attempts. */
export interface KernelRun {
  boots: BootRecord[];
  tests: (TestHistory & { last: TestOutcome })[];
  splats: SplatSummary[];
  ignoredSplats: (SplatSummary & { reason: string })[];
  /** Set when the kernel never got to run a test: no test result means anything then. */
  bootFailure: string | null;
}

export interface KernelRunOptions extends Omit<GuestOptions, 'tests' | 'outDir'> {
  suite: Suite;
  /** Each failing test runs again this many times in a fresh boot (a pass then makes it flaky). */
  retries: number;
  /** Boots for one kernel at most: a kernel that crashes in every test is not booted forever. */
  maxBoots: number;
  known: KnownSplat[];
  tree: string;
  outDir: string;
}

/**
 * Runs a suite on one kernel: every test once (a test after a crash gets
 * the next boot), then each failure again in a fresh boot.
 */
export async function runKernel(o: KernelRunOptions): Promise<KernelRun> {
  const byName = new Map(o.suite.tests.map((t) => [t.name, t]));
  const attempts = new Map<string, TestOutcome[]>(o.suite.tests.map((t) => [t.name, []]));
  const run: KernelRun = { boots: [], tests: [], splats: [], ignoredSplats: [], bootFailure: null };

  const boot = async (tests: SuiteTest[], purpose: BootRecord['purpose']): Promise<VmOutcome> => {
    const n = run.boots.length + 1;
    const g = await runGuest({ ...o, tests, bootIndex: n, outDir: join(o.outDir, `boot-${n}`) });
    const outcome = judgeVm(g, o.known, o.tree);
    const { tests: results, ...rest } = outcome;
    run.boots.push({ tests: tests.map((t) => t.name), purpose, outcome: rest, consoleFile: g.consoleFile });
    for (const r of results) if (r.status !== 'not-run') attempts.get(r.name)!.push(r);
    run.splats.push(...outcome.splats);
    run.ignoredSplats.push(...outcome.ignoredSplats);
    o.log.info({ suite: o.suite.name, boot: n, purpose, verdict: outcome.verdict, reason: outcome.reason, tests: tests.length }, 'vm finished');
    return outcome;
  };

  // Every test once; a crash or hang leaves the rest for the next boot.
  let pending = o.suite.tests;
  let progressed = true;
  while (pending.length > 0 && progressed && run.boots.length < o.maxBoots) {
    const outcome = await boot(pending, run.boots.length === 0 ? 'run' : 'continue');
    if (o.signal?.aborted) break;
    if (outcome.verdict === 'boot-failure' || outcome.verdict === 'infra-error') {
      if (run.boots.length === 1) run.bootFailure = `${outcome.verdict}: ${outcome.reason}`;
      break;
    }
    const left = pending.filter((t) => attempts.get(t.name)!.length === 0);
    progressed = left.length < pending.length;
    pending = left;
  }

  for (let r = 0; r < o.retries && !run.bootFailure && !o.signal?.aborted; r++) {
    const again = o.suite.tests.filter((t) => {
      const a = attempts.get(t.name)!;
      return a.length === r + 1 && failed(a[a.length - 1]!);
    });
    if (again.length === 0 || run.boots.length >= o.maxBoots) break;
    await boot(again.map((t) => byName.get(t.name)!), 'retry');
  }

  run.tests = o.suite.tests.map((t) => {
    const a = attempts.get(t.name)!;
    // The last failing attempt explains most; a flaky test shows its failure.
    const last = [...a].reverse().find(failed) ?? a[a.length - 1] ?? { name: t.name, status: 'not-run' as const, exitCode: null, seconds: null, output: [] };
    return { name: t.name, attempts: a.map((x) => x.status), last };
  });
  return run;
}
