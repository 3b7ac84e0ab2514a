/**
 * Change points in nightly throughput history, and alerting once per change.
 *
 * Method (after Apache Otava, formerly Hunter): E-divisive means picks the best split of a segment (the Matteson & James energy
 * statistic, kappa fixed at the segment end); Welch's t-test between the two sides decides whether it is significant (deterministic,
 * no permutations). Binary segmentation recurses on both halves of every significant split. Finally every kept point is re-tested
 * against its neighbouring segments and the weakest failing one (p >= alpha, or relative change below minChange) is dropped, merging
 * its two segments, until all remaining points pass.
 */
import { twoSidedP } from './student-t.js';

export interface HistoryPoint {
  /** commit id of the tree head measured */
  commit: string;
  /** ISO time of the run */
  time: string;
  /** the night's median throughput */
  value: number;
}

export interface ChangePointOptions {
  /** two-sided p-value a split must beat, e.g. 0.001 */
  alpha: number;
  /** smallest relative change of the segment means worth flagging, e.g. 0.03 */
  minChange: number;
  /** fewest points on each side of a change, e.g. 3 (at least 2 is used: the energy statistic needs pairs on each side) */
  minSegment: number;
}

export const DEFAULT_CHANGEPOINT_OPTIONS: ChangePointOptions = Object.freeze({
  alpha: 0.001,
  minChange: 0.03,
  minSegment: 3,
});

/** How far (in history indices) a change point may move between nights and still count as the one already alerted. */
export const DEFAULT_ALERT_TOLERANCE = 2;

export interface ChangePoint {
  /** index in the history of the first point after the change */
  index: number;
  /** the commit range where the change happened: last commit before, first commit after */
  lastGood: string;
  firstChanged: string;
  meanBefore: number;
  meanAfter: number;
  /** (meanAfter - meanBefore) / meanBefore */
  change: number;
  p: number;
  direction: 'regression' | 'improvement'; // higher throughput is better
}

/** What an alert already sent is remembered by. */
export interface AlertedChange {
  scenario: string;
  firstChanged: string;
  lastGood: string;
  direction: ChangePoint['direction'];
}

// ---------------------------------------------------------------------------------------------------------------------------------
// Tests

function meanVar(xs: readonly number[]): { n: number; mean: number; variance: number } {
  const n = xs.length;
  let mean = 0;
  for (const x of xs) mean += x;
  mean /= n;
  let ss = 0;
  for (const x of xs) ss += (x - mean) * (x - mean);
  return { n, mean, variance: n > 1 ? ss / (n - 1) : 0 };
}

/**
 * Welch's unequal-variances t-test of mean(a) vs mean(b): t = (mean(a) - mean(b)) / sqrt(va/na + vb/nb), Welch–Satterthwaite df,
 * two-sided p. Each side needs at least 2 values (else t = NaN, p = 1). When both sides have zero variance, the df falls back to
 * na + nb - 2 and t is ±Infinity (p = 0) if the means differ, 0 (p = 1) if not.
 */
export function welchTTest(a: number[], b: number[]): { t: number; df: number; p: number } {
  if (a.length < 2 || b.length < 2) return { t: NaN, df: NaN, p: 1 };
  const A = meanVar(a);
  const B = meanVar(b);
  const sa = A.variance / A.n;
  const sb = B.variance / B.n;
  const se2 = sa + sb;
  const diff = A.mean - B.mean;
  if (se2 === 0) {
    const df = A.n + B.n - 2;
    if (diff === 0) return { t: 0, df, p: 1 };
    return { t: diff > 0 ? Infinity : -Infinity, df, p: 0 };
  }
  const t = diff / Math.sqrt(se2);
  const df = (se2 * se2) / ((sa * sa) / (A.n - 1) + (sb * sb) / (B.n - 1));
  return { t, df, p: twoSidedP(t, df) };
}

// ---------------------------------------------------------------------------------------------------------------------------------
// E-divisive means

/**
 * The split τ in [lo + minSeg, hi - minSeg] of x[lo..hi) that maximizes the energy statistic
 * Q(τ) = m n / (m + n) · ( 2/(m n) Σ|xi - yj| - 1/C(m,2) Σ_{i<k}|xi - xk| - 1/C(n,2) Σ_{j<k}|yj - yk| ),
 * X = x[lo..τ), Y = x[τ..hi), m = |X|, n = |Y|. O((hi-lo)²) by updating the three sums as τ advances.
 * Returns undefined when the segment is too short.
 */
export function bestEnergySplit(
  x: readonly number[],
  lo: number,
  hi: number,
  minSeg: number,
): { tau: number; q: number } | undefined {
  const len = hi - lo;
  if (len < 2 * minSeg) return undefined;
  const dist = (i: number, j: number) => Math.abs(x[i]! - x[j]!);
  // τ = lo: X empty, Y everything.
  let within = 0; // Σ over pairs in X
  let between = 0; // Σ over X×Y
  let rest = 0; // Σ over pairs in Y
  for (let i = lo; i < hi; i++) for (let j = i + 1; j < hi; j++) rest += dist(i, j);
  let best: { tau: number; q: number } | undefined;
  for (let tau = lo; tau < hi - minSeg; tau++) {
    // move x[tau] from Y to X
    let toX = 0;
    for (let i = lo; i < tau; i++) toX += dist(i, tau);
    let toY = 0;
    for (let j = tau + 1; j < hi; j++) toY += dist(tau, j);
    within += toX;
    rest -= toY;
    between += toY - toX;
    const split = tau + 1;
    const m = split - lo;
    const n = hi - split;
    if (m < minSeg || n < minSeg) continue;
    const e = (2 * between) / (m * n) - within / ((m * (m - 1)) / 2) - rest / ((n * (n - 1)) / 2);
    const q = ((m * n) / (m + n)) * e;
    if (best === undefined || q > best.q) best = { tau: split, q };
  }
  return best;
}

function relChange(before: number, after: number): number {
  if (before === 0) return after === 0 ? 0 : after > 0 ? Infinity : -Infinity;
  return (after - before) / Math.abs(before);
}

/**
 * Change points of a throughput history, sorted by index. Points whose value is not a finite number are ignored (a change point's
 * lastGood / firstChanged then name the nearest measured nights around it; `index` still refers to `history`).
 */
export function detectChangePoints(
  history: HistoryPoint[],
  o: ChangePointOptions = DEFAULT_CHANGEPOINT_OPTIONS,
): ChangePoint[] {
  const minSeg = Math.max(2, Math.floor(o.minSegment));
  const idx: number[] = [];
  for (let i = 0; i < history.length; i++) if (Number.isFinite(history[i]!.value)) idx.push(i);
  const x = idx.map((i) => history[i]!.value);
  const N = x.length;

  // Binary segmentation: split while the best energy split is significant.
  const splits: number[] = [];
  const stack: Array<[number, number]> = [[0, N]];
  while (stack.length > 0) {
    const [lo, hi] = stack.pop()!;
    const s = bestEnergySplit(x, lo, hi, minSeg);
    if (!s) continue;
    const { p } = welchTTest(x.slice(lo, s.tau), x.slice(s.tau, hi));
    if (!(p < o.alpha)) continue;
    splits.push(s.tau);
    stack.push([lo, s.tau], [s.tau, hi]);
  }
  splits.sort((a, b) => a - b);

  // Re-test every split against its neighbouring segments; drop the weakest failing one and repeat.
  type Tested = { tau: number; p: number; meanBefore: number; meanAfter: number; change: number };
  const mean = (lo: number, hi: number) => {
    let s = 0;
    for (let i = lo; i < hi; i++) s += x[i]!;
    return s / (hi - lo);
  };
  let tested: Tested[] = [];
  for (;;) {
    tested = splits.map((tau, k) => {
      const lo = k > 0 ? splits[k - 1]! : 0;
      const hi = k + 1 < splits.length ? splits[k + 1]! : N;
      const { p } = welchTTest(x.slice(lo, tau), x.slice(tau, hi));
      const meanBefore = mean(lo, tau);
      const meanAfter = mean(tau, hi);
      return { tau, p, meanBefore, meanAfter, change: relChange(meanBefore, meanAfter) };
    });
    let worst = -1;
    for (let k = 0; k < tested.length; k++) {
      const t = tested[k]!;
      if (t.p < o.alpha && Math.abs(t.change) >= o.minChange) continue;
      if (worst < 0) {
        worst = k;
        continue;
      }
      const w = tested[worst]!;
      // weakest: the larger p; on a tie, the smaller change
      if (t.p > w.p || (t.p === w.p && Math.abs(t.change) < Math.abs(w.change))) worst = k;
    }
    if (worst < 0) break;
    splits.splice(worst, 1);
  }

  return tested.map((t) => {
    const first = history[idx[t.tau]!]!;
    const last = history[idx[t.tau - 1]!]!;
    return {
      index: idx[t.tau]!,
      lastGood: last.commit,
      firstChanged: first.commit,
      meanBefore: t.meanBefore,
      meanAfter: t.meanAfter,
      change: t.change,
      p: t.p,
      direction: t.change < 0 ? 'regression' : 'improvement',
    };
  });
}

// ---------------------------------------------------------------------------------------------------------------------------------
// Alerting once per change

/**
 * The change points that still need an alert: a change point counts as already alerted when an earlier alert for the same scenario and
 * direction named a commit range that overlaps or lies within `tolerance` points (by index in `history`) of this one —
 * because as nights are appended a detected change point can shift by a point or two, and that must not alert again.
 *
 * A change point's range is [index - 1, index]. An alert's range is located by its commits in `history`; since the tree head may
 * not move between nights, a commit can occur on several nights, and the range spans all of them (min..max index). An alert none of
 * whose commits is in `history` any more only matches a change point naming exactly the same commits.
 */
export function pendingAlerts(
  scenario: string,
  history: HistoryPoint[],
  points: ChangePoint[],
  alerted: AlertedChange[],
  tolerance: number = DEFAULT_ALERT_TOLERANCE,
): ChangePoint[] {
  const where = new Map<string, { lo: number; hi: number }>();
  history.forEach((h, i) => {
    const w = where.get(h.commit);
    if (w) w.hi = i;
    else where.set(h.commit, { lo: i, hi: i });
  });
  const ranges = alerted
    .filter((a) => a.scenario === scenario)
    .map((a) => {
      const ws = [where.get(a.lastGood), where.get(a.firstChanged)].filter((w) => w !== undefined);
      const range =
        ws.length > 0 ? { lo: Math.min(...ws.map((w) => w.lo)), hi: Math.max(...ws.map((w) => w.hi)) } : undefined;
      return { a, range };
    });
  return points.filter((p) => {
    const lo = p.index - 1;
    const hi = p.index;
    const seen = ranges.some(({ a, range }) => {
      if (a.direction !== p.direction) return false;
      if (!range) return a.lastGood === p.lastGood && a.firstChanged === p.firstChanged;
      const gap = Math.max(0, range.lo - hi, lo - range.hi);
      return gap <= tolerance;
    });
    return !seen;
  });
}
