/**
 * Base against series, test by test. A series is blamed only for what it
 * changed: a test that fails on both kernels is pre-existing, one that fails
 * and then passes on a retry is flaky, and only a test that passed on the
 * base and fails twice on the series is a new failure. Pure.
 */
import type { SplatSummary, TestStatus } from '../vm/outcome.js';

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
  /** On the series, not run (the kernel died first) or absent. */
  notRun: string[];
  /** Splats the base did not print (by fingerprint): each fails the run. */
  newSplats: SplatSummary[];
  preExistingSplats: SplatSummary[];
}

export function compareRuns(base: TestHistory[], series: TestHistory[], splats: { base: SplatSummary[]; series: SplatSummary[] }): Comparison {
  const onBase = new Map(base.map((t) => [t.name, settle(t.attempts)]));
  const c: Comparison = { newFailures: [], preExisting: [], flaky: [], fixed: [], notRun: [], newSplats: [], preExistingSplats: [] };
  for (const t of series) {
    const s = settle(t.attempts);
    const b = onBase.get(t.name) ?? 'not-run';
    const row = { name: t.name, base: b, series: s, seriesAttempts: t.attempts };
    if (s === 'not-run') c.notRun.push(t.name);
    else if (s === 'flaky' || (s === 'fail' && b === 'flaky')) c.flaky.push(row);
    else if (s === 'fail' && b === 'fail') c.preExisting.push(row);
    // A test the base could not run (it crashed earlier) has no baseline: failing on the series counts.
    else if (s === 'fail') c.newFailures.push(row);
    else if (s === 'pass' && b === 'fail') c.fixed.push(row);
  }
  const baseFingerprints = new Set(splats.base.map((s) => s.fingerprint));
  for (const s of dedupe(splats.series)) (baseFingerprints.has(s.fingerprint) ? c.preExistingSplats : c.newSplats).push(s);
  return c;
}

function dedupe(splats: SplatSummary[]): SplatSummary[] {
  const seen = new Set<string>();
  return splats.filter((s) => !seen.has(s.fingerprint) && seen.add(s.fingerprint));
}
