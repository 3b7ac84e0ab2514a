/*
 * What the test stage keeps of its results across runs, and reads back to
 * tell a flaky test from a broken one. The results store holds the rows and
 * answers the questions; the VM tests see only these shapes.
 */

/** One test's settled result on one kernel of a run: a row of the results store. */
export interface TestResult {
  suite: string;
  test: string;
  subtest: string | null;
  status: 'pass' | 'fail' | 'skip' | 'flaky' | 'error';
  durationMs: number | null;
  message: string | null;
  kernel: 'base' | 'series';
}

/** How a test fared on recent base kernels of a tree, newest first. */
export interface TestStability {
  /** Settled statuses of the last base runs (pass, fail, flaky, skip), newest first. */
  recent: string[];
}

/** A test an admin took out of the verdicts of a tree: it still runs, its failures are listed and not counted. */
export interface QuarantinedTest {
  tree: string;
  suite: string;
  test: string;
  reason: string;
  addedBy: string;
  addedAt: string;
}

export interface TestHistorySource {
  baseStability(q: {
    tree: string;
    suite: string;
    tests: string[];
    limit: number;
  }): Promise<Record<string, TestStability>>;
  /** The tests of a suite quarantined on a tree. */
  quarantined(q: { tree: string; suite: string }): Promise<QuarantinedTest[]>;
}
