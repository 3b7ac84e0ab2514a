import { join } from 'node:path';
import type { TestHistory } from './compare.js';
import type { KnownSplat } from '../splat/splat.js';
import type { Suite, SuiteTest } from '../suite/suite.js';
import type { GuestOptions } from './guest.js';
import { localBoot, type BootExecutor } from './remote.js';
import { splitExpanded } from '../bpf/expand.js';
import { failed, judgeVm, type SplatSummary, type TestOutcome, type VmOutcome } from './outcome.js';

export interface BootRecord {
  /** The tests this boot was given. */
  tests: string[];
  purpose: 'run' | 'continue' | 'retry';
  outcome: Omit<VmOutcome, 'tests'>;
  consoleFile: string;
  /** Which host ran the boot (`hostname:pid`), when the executor says. */
  host?: string;
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
  /** VMs booted at once for the first pass over the tests (sharding); 1: one VM at a time. */
  parallel?: number;
  /** Seconds each test took before (the base's run), to balance the shards. */
  durations?: Map<string, number>;
  /** Where each boot runs: on this host (runGuest), or on a VM host through the queue (remote.ts). */
  executor?: BootExecutor;
}

/**
 * Runs a suite on one kernel: every test once (a test after a crash gets
 * the next boot), then each failure again in a fresh boot.
 */
export async function runKernel(o: KernelRunOptions): Promise<KernelRun> {
  const attempts = new Map<string, TestOutcome[]>(o.suite.tests.map((t) => [t.name, []]));
  const run: KernelRun = { boots: [], tests: [], splats: [], ignoredSplats: [], bootFailure: null };

  let booted = 0;
  const dead = (x: VmOutcome) =>
    x.verdict === 'boot-failure' || (x.verdict === 'infra-error' && x.reason !== 'cancelled');
  // A guest that does not reach the init is booted once more before that is
  // the verdict, as KernelCI retries infrastructure errors: one bad boot of a
  // good kernel on a loaded emulator must not fail the series. Multi-threaded
  // TCG made that common here ("Oops: int3 in sched_clock_cpu"); qemu.ts now
  // runs TCG single-threaded, which removes that cause.
  const boot = async (tests: SuiteTest[], purpose: BootRecord['purpose']): Promise<VmOutcome> => {
    const outcome = await bootOnce(tests, purpose);
    if (!dead(outcome) || o.signal?.aborted) return outcome;
    o.log.warn(
      { suite: o.suite.name, verdict: outcome.verdict, reason: outcome.reason },
      'the guest did not reach the init; booting once more before concluding',
    );
    return bootOnce(tests, purpose);
  };
  const bootOnce = async (tests: SuiteTest[], purpose: BootRecord['purpose']): Promise<VmOutcome> => {
    const n = ++booted;
    const g = await (o.executor ?? localBoot)({ ...o, tests, bootIndex: n, outDir: join(o.outDir, `boot-${n}`) });
    const outcome = judgeVm(g, o.known, o.tree);
    const { tests: results, ...rest } = outcome;
    run.boots.push({
      tests: tests.map((t) => t.name),
      purpose,
      outcome: rest,
      consoleFile: g.consoleFile,
      ...(g.host ? { host: g.host } : {}),
    });
    for (const r of results) {
      if (r.status === 'not-run') continue;
      // A test_progs runner's tests appear as they are found.
      if (!attempts.has(r.name)) attempts.set(r.name, []);
      attempts.get(r.name)!.push(r);
    }
    run.splats.push(...outcome.splats);
    run.ignoredSplats.push(...outcome.ignoredSplats);
    o.log.info(
      {
        suite: o.suite.name,
        boot: n,
        purpose,
        verdict: outcome.verdict,
        reason: outcome.reason,
        tests: tests.length,
        host: g.host,
      },
      'vm finished',
    );
    return outcome;
  };

  // Every test once; a crash or hang leaves the rest for the next boot.
  let pending = o.suite.tests;
  let progressed = true;
  while (pending.length > 0 && progressed && booted < o.maxBoots) {
    const first = booted === 0;
    // The first pass may be sharded over several VMs; continuing after a crash is one VM.
    const shards = first
      ? shardTests(pending, o.durations ?? new Map(), Math.min(o.parallel ?? 1, o.maxBoots))
      : [pending];
    const outcomes = await Promise.all(shards.map((s) => boot(s, first ? 'run' : 'continue')));
    if (o.signal?.aborted) break;
    // The kernel does not boot only if no VM of this pass got to the init; one shard's bad luck is retried below.
    if (outcomes.every(dead)) {
      if (first) run.bootFailure = `${outcomes[0]!.verdict}: ${outcomes[0]!.reason}`;
      break;
    }
    // A suite test ran if it, or any test_progs test it ran, has an attempt.
    const ran = new Set([...attempts].filter(([, a]) => a.length > 0).map(([name]) => splitExpanded(name).suiteTest));
    const left = pending.filter((t) => !ran.has(t.name));
    progressed = left.length < pending.length;
    pending = left;
  }

  for (let r = 0; r < o.retries && !run.bootFailure && !o.signal?.aborted; r++) {
    const failing = [...attempts]
      .filter(([, a]) => a.length === r + 1 && failed(a[a.length - 1]!))
      .map(([name]) => name);
    const again = retryPlan(o.suite.tests, failing);
    if (again.length === 0 || booted >= o.maxBoots) break;
    await boot(again, 'retry');
  }

  // A runner whose results were all expanded has none of its own.
  const expandedFrom = new Set(
    [...attempts.keys()]
      .map(splitExpanded)
      .filter((x) => x.id !== null)
      .map((x) => x.suiteTest),
  );
  run.tests = [...attempts]
    .filter(([name, a]) => a.length > 0 || !expandedFrom.has(name))
    .map(([name, a]) => {
      // The last failing attempt explains most; a flaky test shows its failure.
      const last = [...a].reverse().find(failed) ??
        a[a.length - 1] ?? { name, status: 'not-run' as const, exitCode: null, seconds: null, output: [] };
      return { name, attempts: a.map((x) => x.status), last };
    });
  return run;
}

/**
 * What a retry boot runs: each suite test that failed as a whole again; a
 * test_progs runner only for the tests of it that failed ($KSCI_ONLY).
 */
export function retryPlan(tests: SuiteTest[], failing: string[]): SuiteTest[] {
  const plan: SuiteTest[] = [];
  for (const t of tests) {
    const mine = failing.map(splitExpanded).filter((f) => f.suiteTest === t.name);
    if (mine.length === 0) continue;
    const ids = mine.map((f) => f.id);
    plan.push(ids.includes(null) ? t : { ...t, only: ids as string[] });
  }
  return plan;
}

/**
 * Splits tests over `n` VMs, longest first onto the least loaded VM (LPT),
 * by their durations in an earlier run; tests never timed count as the
 * average of those that were (or 1 s when none were). Each VM runs its
 * share in suite order: a suite may put its sanity checks first.
 */
export function shardTests(tests: SuiteTest[], durations: Map<string, number>, n: number): SuiteTest[][] {
  if (n <= 1) return tests.length ? [tests] : [];
  const order = new Map(tests.map((t, i) => [t.name, i]));
  const known = [...durations.values()];
  const fallback = known.length ? known.reduce((a, b) => a + b, 0) / known.length : 1;
  const cost = (t: SuiteTest) => durations.get(t.name) ?? fallback;
  const shards = Array.from({ length: Math.max(1, Math.min(n, tests.length)) }, () => ({
    tests: [] as SuiteTest[],
    load: 0,
  }));
  for (const t of [...tests].sort((a, b) => cost(b) - cost(a))) {
    const target = shards.reduce((min, s) => (s.load < min.load ? s : min));
    target.tests.push(t);
    target.load += cost(t);
  }
  return shards.map((s) => s.tests.sort((a, b) => order.get(a.name)! - order.get(b.name)!)).filter((s) => s.length > 0);
}
