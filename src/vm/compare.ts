/**
 * Base against series, test by test. A series is blamed only for what it
 * changed: a test that fails on both kernels is pre-existing, one that fails
 * and then passes on a retry is flaky, and only a test that passed on the
 * base and fails twice on the series is a new failure — unless the base's
 * history (recent base runs of the same tree) shows the test failing there
 * too, which makes it flaky. A quarantined test (an admin's decision, with
 * a reason) that fails or flakes is listed apart and blames nothing. Splats
 * are never quarantined: a kernel that oopses is broken whichever test made
 * it. Pure.
 */
import type { SplatSummary, TestStatus } from './outcome.js';

/** A test's result on one kernel after its retry: the attempts in order. */
export interface TestHistory {
  name: string;
  attempts: TestStatus[];
}

export type Settled = 'pass' | 'fail' | 'flaky' | 'skip' | 'not-run';

export function settle(attempts: TestStatus[]): Settled {
  const [first, ...rest] = attempts;
  if (first === undefined || first === 'not-run') return rest.length ? settle(rest) : 'not-run';
  if (first === 'pass') return 'pass';
  if (first === 'skip') return 'skip';
  return rest.some((s) => s === 'pass') ? 'flaky' : 'fail';
}

export interface TestComparison {
  name: string;
  base: Settled;
  series: Settled;
  /** The series' failing attempts (fail, timeout, crash, hang). */
  seriesAttempts: TestStatus[];
  /** "fails or is flaky in 3 of the last 20 base runs", when the history is known. */
  history?: string;
  /** Why the test is quarantined on this tree, and by whom. */
  quarantine?: string;
}

export interface Comparison {
  /** Passed on the base, failed every attempt on the series: the series' fault. */
  newFailures: TestComparison[];
  /** Failed on both kernels. */
  preExisting: TestComparison[];
  /** Failed then passed (on either kernel): not blamed, but listed. */
  flaky: TestComparison[];
  /** Failed on the base, pass with the series. */
  fixed: TestComparison[];
  /** Failed or flaky on the series, and quarantined on the tree: listed, not counted. */
  quarantined: TestComparison[];
  /** On the series, not run (the kernel died first) or absent. */
  notRun: string[];
  /** Splats the base did not print (by fingerprint): each fails the run. */
  newSplats: SplatSummary[];
  preExistingSplats: SplatSummary[];
}

/** Base results of earlier runs, newest first (settled statuses). */
export type BaseStability = Record<string, { recent: string[] }>;

export function compareRuns(
  base: TestHistory[],
  series: TestHistory[],
  splats: { base: SplatSummary[]; series: SplatSummary[] },
  stability: BaseStability = {},
  /** Quarantined tests of the suite on the run's tree: name to reason. */
  quarantinedTests: ReadonlyMap<string, string> = new Map(),
): Comparison {
  const onBase = new Map(base.map((t) => [t.name, settle(t.attempts)]));
  const c: Comparison = {
    newFailures: [],
    preExisting: [],
    flaky: [],
    fixed: [],
    quarantined: [],
    notRun: [],
    newSplats: [],
    preExistingSplats: [],
  };
  for (const t of series) {
    const s = settle(t.attempts);
    const b = onBase.get(t.name) ?? 'not-run';
    const recent = stability[t.name]?.recent ?? [];
    const unstable = recent.filter((x) => x !== 'pass' && x !== 'skip').length;
    const history = recent.length
      ? `fails or is flaky in ${unstable} of the last ${recent.length} base runs`
      : undefined;
    const row: TestComparison = {
      name: t.name,
      base: b,
      series: s,
      seriesAttempts: t.attempts,
      ...(history ? { history } : {}),
    };
    const quarantine = quarantinedTests.get(t.name);
    if (s === 'not-run') c.notRun.push(t.name);
    else if (quarantine !== undefined && (s === 'fail' || s === 'flaky')) c.quarantined.push({ ...row, quarantine });
    else if (s === 'flaky' || (s === 'fail' && (b === 'flaky' || (b === 'pass' && unstable > 0)))) c.flaky.push(row);
    else if (s === 'fail' && b === 'fail') c.preExisting.push(row);
    // A test the base could not run (it crashed earlier) has no baseline: failing on the series counts.
    else if (s === 'fail') c.newFailures.push(row);
    else if (s === 'pass' && b === 'fail') c.fixed.push(row);
  }
  const baseFingerprints = new Set(splats.base.map((s) => s.fingerprint));
  for (const s of dedupe(splats.series))
    (baseFingerprints.has(s.fingerprint) ? c.preExistingSplats : c.newSplats).push(s);
  return c;
}

function dedupe(splats: SplatSummary[]): SplatSummary[] {
  const seen = new Set<string>();
  return splats.filter((s) => !seen.has(s.fingerprint) && seen.add(s.fingerprint));
}
