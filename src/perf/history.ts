/*
 * What perf tracking keeps across runs, as the results store holds it. The
 * store implements PerfHistory; nightly tracking and its alerts use only
 * this, so perf/ does not depend on the database.
 */

/** A perf sample as the results store keeps it: one row per metric of a session. */
export interface StoredPerfSample {
  scenario: string;
  side: 'base' | 'series';
  metric: string;
  value: number;
  unit: string;
  iteration: number;
  env: Record<string, unknown>;
}

/** One scenario's throughput on a tree head one night: the value tracked, and what it came from. */
export interface NightlyPoint {
  /** The nightly job that measured it (idempotent recording). */
  jobId: string;
  tree: string;
  commit: string;
  scenario: string;
  /** The night's median throughput (pps). */
  value: number;
  /** The numbers it is the median of (one per session). */
  samples: number[];
  env: Record<string, string>;
  measuredAt: string;
}

export interface PerfAlert {
  tree: string;
  scenario: string;
  lastGood: string;
  firstChanged: string;
  direction: 'regression' | 'improvement';
  change: number;
  p: number;
  /** The text of the alert as written. */
  report: string;
}

export interface PerfHistory {
  recordNightly(points: NightlyPoint[]): Promise<number>;
  nightlyHistory(tree: string, scenario: string, limit?: number): Promise<NightlyPoint[]>;
  nightlyScenarios(tree: string): Promise<string[]>;
  recordAlert(a: PerfAlert): Promise<void>;
  alerts(tree: string, scenario?: string): Promise<(PerfAlert & { createdAt: string })[]>;
}
