/**
 * Pure decisions behind the flakes and compare pages, free of I/O: how
 * stable a test is over a tree's runs (NIPA's flakes page: flips and the
 * current streak), and what changed between two sets of results (KernelCI's
 * categories).
 */

export interface Observation {
  suite: string;
  test: string;
  /** ISO time of the run. */
  at: string;
  status: string;
}

export interface TestStability {
  suite: string;
  test: string;
  runs: number;
  failures: number;
  /** Changes between pass and fail from one run to the next. */
  flips: number;
  /** How many of the newest runs in a row failed (0: the newest passed). */
  failingFor: number;
  firstFlakyAt: string | null;
  lastFailureAt: string | null;
  /** Per day (the `days` given, YYYY-MM-DD): pass, fail, flaky (both, or a flaky retry), skip, or none. */
  cells: string[];
}

const failed = (s: string) => s === 'fail' || s === 'error';

/** Observations sorted oldest first; the least stable tests first (most flips, then the longest failing streak). */
export function stability(obs: Observation[], days: string[]): TestStability[] {
  const byTest = new Map<string, Observation[]>();
  for (const o of obs) {
    const k = `${o.suite}\u0000${o.test}`;
    let list = byTest.get(k);
    if (!list) byTest.set(k, (list = []));
    list.push(o);
  }
  const out: TestStability[] = [];
  for (const list of byTest.values()) {
    list.sort((a, b) => a.at.localeCompare(b.at));
    let flips = 0;
    let firstFlakyAt: string | null = null;
    let lastFailureAt: string | null = null;
    let prev: boolean | null = null;
    for (const o of list) {
      if (o.status === 'skip') continue;
      const f = failed(o.status);
      if (f) lastFailureAt = o.at;
      if (o.status === 'flaky' || (prev !== null && prev !== f)) {
        flips++;
        firstFlakyAt ??= o.at;
      }
      prev = f;
    }
    let failingFor = 0;
    for (let i = list.length - 1; i >= 0 && failed(list[i]!.status); i--) failingFor++;
    const dayStatus = new Map<string, Set<string>>();
    for (const o of list) {
      const d = o.at.slice(0, 10);
      if (!dayStatus.has(d)) dayStatus.set(d, new Set());
      dayStatus.get(d)!.add(failed(o.status) ? 'fail' : o.status);
    }
    const cells = days.map((d) => {
      const s = dayStatus.get(d);
      if (!s) return 'none';
      if (s.has('flaky') || (s.has('fail') && s.has('pass'))) return 'flaky';
      if (s.has('fail')) return 'fail';
      if (s.has('pass')) return 'pass';
      return 'skip';
    });
    const first = list[0]!;
    out.push({
      suite: first.suite,
      test: first.test,
      runs: list.length,
      failures: list.filter((o) => failed(o.status)).length,
      flips,
      failingFor,
      firstFlakyAt,
      lastFailureAt,
      cells,
    });
  }
  return out.sort(
    (a, b) =>
      b.flips - a.flips || b.failingFor - a.failingFor || b.failures - a.failures || a.test.localeCompare(b.test),
  );
}

export const CATEGORIES = [
  'new failure',
  'still failing',
  'fixed',
  'new pass',
  'appeared',
  'disappeared',
  'unchanged',
] as const;
export type Category = (typeof CATEGORIES)[number];

/**
 * Each test's change from `before` to `after` (name -> status), in
 * KernelCI's terms: a test only in `after` appeared, only in `before`
 * disappeared; a pass after a skip is a new pass.
 */
export function compareResults(
  before: Map<string, string>,
  after: Map<string, string>,
): { test: string; before: string | null; after: string | null; category: Category }[] {
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  return names.map((test) => {
    const a = before.get(test) ?? null;
    const b = after.get(test) ?? null;
    let category: Category;
    if (a === null) category = 'appeared';
    else if (b === null) category = 'disappeared';
    else if (failed(b)) category = failed(a) ? 'still failing' : 'new failure';
    else if (failed(a)) category = 'fixed';
    else if (b === 'pass' && a !== 'pass') category = 'new pass';
    else category = 'unchanged';
    return { test, before: a, after: b, category };
  });
}
