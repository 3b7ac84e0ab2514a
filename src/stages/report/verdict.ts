import type { StageOutcome } from '../../pipeline/payload.js';

export type Verdict = 'pass' | 'fail' | 'error' | 'cancelled' | 'skipped';

/**
 * The run's verdict from its stage outcomes. A failure the series caused
 * outranks an infrastructure error: the submitter has something to fix
 * either way, and "fail" tells them it is theirs. A run whose first stage
 * was skipped (series already merged) tested nothing: "skipped".
 */
export function decideVerdict(outcomes: StageOutcome[]): Verdict {
  if (outcomes.length === 0) return 'error';
  if (outcomes.some((o) => o.status === 'cancelled')) return 'cancelled';
  if (outcomes.some((o) => o.status === 'failed')) return 'fail';
  if (outcomes.some((o) => o.status === 'error')) return 'error';
  if (outcomes[0]?.status === 'skipped') return 'skipped';
  return 'pass';
}

export const VERDICT_LABEL: Record<Verdict, string> = {
  pass: 'PASS',
  fail: 'FAIL',
  error: 'ERROR (infrastructure)',
  cancelled: 'CANCELLED',
  skipped: 'SKIPPED',
};
