/**
 * Pure statistics for deciding whether a patch series changed pktgen throughput.
 *
 * Input: repeated throughput samples (pps) of one scenario on the base kernel (A) and on
 * base+series (B), typically 5-12 per side, interleaved on the same host. No I/O here and
 * everything is deterministic: the bootstrap uses a seeded PRNG, so the same samples always
 * give the same verdict.
 *
 * Decision rule, in order:
 *  1. Fewer than `minSamples` on either side -> "noisy". With so few runs neither a change nor
 *     its absence can be shown (the smallest two-sided exact Mann-Whitney p for 4 vs 4 runs is
 *     2/70 = 0.029, so alpha = 0.01 could never be reached; 5 vs 5 is the first size where it can,
 *     2/252 = 0.0079).
 *  2. A change (improvement / regression) is called only when ALL of these hold:
 *     - Mann-Whitney p < alpha: the rank test is distribution-free and barely moved by the odd
 *       outlier run (an interrupt storm, a noisy neighbour), which is what pktgen noise looks
 *       like; it controls the false-alarm rate at alpha whatever the noise shape.
 *     - the bootstrap interval of the relative change of medians excludes 0 on the side of the
 *       point estimate: a second, effect-size-based check that the shift is in the medians and
 *       not only in the ranks (the rank test also reacts to spread/shape differences).
 *     - |change| >= minChange: statistically significant but practically irrelevant shifts
 *       (a 0.5 % drift of a 10 Mpps link) must not page anyone.
 *     The sign of the change and `higherIsBetter` give improvement vs regression.
 *  3. Otherwise "no-change" only if the whole interval lies within +-equivalence: absence of a
 *     significant result is not evidence of no change; only a tight interval around 0 is
 *     (the bootstrap analogue of an equivalence test). If the interval is wider, "noisy":
 *     the runs could hide a change of the size we care about, so the honest answer is "rerun
 *     with more samples / a quieter host". A significant change smaller than minChange ends
 *     up here too: "no-change" (the reason says it was significant but below the threshold)
 *     when its interval is within +-equivalence, else "noisy" - we do not claim "no change"
 *     while the interval still admits a change bigger than the equivalence margin.
 *
 * Paired (comparePerf with paired: true, what the perf stage uses for interleaved rounds): the
 * same rules with the change taken as the median of the rounds' series/base ratios, its interval
 * bootstrapped over rounds, and Wilcoxon signed-rank on the log ratios in place of Mann-Whitney
 * (which is still reported). Its exact p cannot go below 2/2^n, so fewer than 8 rounds can never
 * beat alpha = 0.01, and the reason says so.
 *
 * Non-finite or non-positive samples are a programming error (a failed run must be dropped by
 * the caller, not recorded as 0 pps) and throw.
 */

import { seededRng } from '../random.js';

export interface PerfThresholds {
  /** Smallest relative change worth calling a change, e.g. 0.02 = 2 %. */
  minChange: number;
  /** Significance level of the two-sided rank test, e.g. 0.01. */
  alpha: number;
  /** Confidence level of the bootstrap interval, e.g. 0.99. */
  confidence: number;
  /** "no change" is claimed only when the whole interval of the relative change lies within ±equivalence (e.g. 0.03); otherwise, without a significant change, the verdict is "noisy". */
  equivalence: number;
  /** Fewer samples than this on either side: "noisy" (too few to tell). */
  minSamples: number;
  /** Bootstrap resamples, e.g. 2000. */
  resamples: number;
}

/**
 * Defaults. minChange (2 %) and equivalence (3 %) are policy; alpha and confidence were tuned
 * with the synthetic noise model of stats.test.ts (normal with CV 2 %, plus a 5 % low outlier in
 * ~5 % of runs; rates from 1000-3000 seeded trials):
 *  - alpha 0.01: A/A false change rate ~0.4 % at n = 8 and n = 12 per side. alpha 0.05 would
 *    lift 5 %-shift detection at n = 8 from ~83 % to ~95 %, but the A/A false change rate goes
 *    to ~2 % - too many bogus regression mails. No setting of this rule reaches both <= 1 %
 *    false changes and >= 95 % detection of a 5 % shift at n = 8 (best found: ~91 % at ~0.9 %);
 *    n = 10 gives ~95 % and n = 12 ~98 % with these defaults.
 *  - confidence 0.95 instead of 0.99: with alpha 0.01 the rank test already bounds false
 *    changes, so the interval mostly decides "no-change" vs "noisy". A 95 % interval inside
 *    +-equivalence is a TOST-style equivalence claim at the 2.5 % level per side, and measured
 *    that way a true 3 % shift (the margin itself) is called "no-change" in only ~1.5 % of
 *    trials, ~0 % for a 4 % shift. With 0.99, A/A at n = 8 would be "no-change" in ~5 % of
 *    trials (the rest "noisy"), with 0.95 in ~31 % (n = 12: ~23 % vs ~58 %); detection of a
 *    5 % shift at n = 8 also rises from ~80 % to ~83 %.
 *  - 2000 resamples: the 2.5 % / 97.5 % percentiles rest on ~50 resamples each, so the interval
 *    is stable to well under 0.1 %; one comparison takes < 1 ms at n <= 12.
 */
export const DEFAULT_THRESHOLDS: PerfThresholds = Object.freeze({
  minChange: 0.02,
  alpha: 0.01,
  confidence: 0.95,
  equivalence: 0.03,
  minSamples: 5,
  resamples: 2000,
});

export type PerfVerdict = 'improvement' | 'regression' | 'no-change' | 'noisy';

export interface SampleSummary {
  n: number;
  median: number;
  mean: number;
  /** Sample standard deviation (n - 1 denominator); 0 for a single sample. */
  stddev: number;
  /** stddev / mean */
  cv: number;
  min: number;
  max: number;
}

export interface PerfComparison {
  base: SampleSummary;
  series: SampleSummary;
  /** (median(series) - median(base)) / median(base) */
  change: number;
  /** Bootstrap percentile interval of that relative change of medians at `confidence`. */
  ci: [number, number];
  mannWhitney: { u: number; p: number; exact: boolean };
  /** The test the verdict used: Mann-Whitney on the two samples, or Wilcoxon signed-rank on the rounds' log ratios when paired. */
  test: { name: 'Mann-Whitney' | 'Wilcoxon signed-rank'; p: number; exact: boolean };
  /** Paired: series/base per round, in round order. */
  ratios: number[] | null;
  verdict: PerfVerdict;
  /** One plain sentence saying why, with the numbers (percentages to 1 decimal). */
  reason: string;
}

function checkFinite(xs: readonly number[], what: string): void {
  if (!Array.isArray(xs) || xs.length === 0) throw new Error(`${what}: need at least one sample`);
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    if (typeof x !== 'number' || !Number.isFinite(x))
      throw new Error(`${what}: sample ${i} is not a finite number (${String(x)})`);
  }
}

function checkPositive(xs: readonly number[], what: string): void {
  checkFinite(xs, what);
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    if (!(x > 0)) throw new Error(`${what}: sample ${i} is not positive (${x}); throughput samples must be > 0`);
  }
}

/** Median of a sorted Float64Array / array, first `n` entries. */
function sortedMedian(s: ArrayLike<number>, n: number): number {
  const h = n >> 1;
  return n % 2 === 1 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

export function median(xs: number[]): number {
  checkFinite(xs, 'median');
  const s = Float64Array.from(xs).sort();
  return sortedMedian(s, s.length);
}

export function summarize(xs: number[]): SampleSummary {
  checkFinite(xs, 'summarize');
  const n = xs.length;
  const s = Float64Array.from(xs).sort();
  let sum = 0;
  for (const x of xs) sum += x;
  const mean = sum / n;
  let ss = 0;
  for (const x of xs) ss += (x - mean) * (x - mean);
  const stddev = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
  return {
    n,
    median: sortedMedian(s, n),
    mean,
    stddev,
    cv: mean !== 0 ? stddev / mean : NaN,
    min: s[0]!,
    max: s[n - 1]!,
  };
}

// ---------------------------------------------------------------------------------------------
// Mann-Whitney U

/** Largest side for which the exact null distribution is used (n1*n2 <= 900, ~0.2 M cell updates). */
export const MW_EXACT_MAX = 30;

const exactCache = new Map<string, Float64Array>();

/**
 * Null distribution of U (pairs with a > b) for m a's and n b's, as probabilities P(U = u),
 * u = 0..m*n. Recurrence on the largest of the m+n values: with probability m/(m+n) it is an a
 * and beats all n b's, else it is a b and beats nothing:
 *   p(m, n, u) = m/(m+n) p(m-1, n, u-n) + n/(m+n) p(m, n-1, u).
 * Working in probabilities rather than counts keeps it exact-enough in doubles (C(60,30) > 2^53).
 */
function exactNull(m: number, n: number): Float64Array {
  const key = `${m},${n}`;
  const hit = exactCache.get(key);
  if (hit) return hit;
  // prev[j] = p(i-1, j, ·), cur[j] = p(i, j, ·)
  let prev: Float64Array[] = [];
  for (let j = 0; j <= n; j++) prev.push(Float64Array.of(1)); // i = 0: U = 0
  for (let i = 1; i <= m; i++) {
    const cur: Float64Array[] = [Float64Array.of(1)]; // j = 0
    for (let j = 1; j <= n; j++) {
      const d = new Float64Array(i * j + 1);
      const fromA = prev[j]!; // p(i-1, j), shifted by j
      const fromB = cur[j - 1]!; // p(i, j-1)
      const wa = i / (i + j);
      const wb = j / (i + j);
      for (let u = 0; u < fromA.length; u++) d[u + j]! += wa * fromA[u]!;
      for (let u = 0; u < fromB.length; u++) d[u]! += wb * fromB[u]!;
      cur.push(d);
    }
    prev = cur;
  }
  const dist = prev[n]!;
  exactCache.set(key, dist);
  return dist;
}

/** erfc, Numerical Recipes' Chebyshev fit (fractional error < 1.2e-7 everywhere). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/**
 * Two-sided Mann-Whitney U. `u` is the statistic of the first sample: the number of pairs
 * (a_i, b_j) with a_i > b_j, ties counting 1/2 (scipy.stats.mannwhitneyu(a, b).statistic).
 * Exact null distribution when there are no ties and both sides have <= MW_EXACT_MAX samples;
 * otherwise the normal approximation with tie and continuity correction.
 * p = min(1, 2 * min(P(U <= u), P(U >= u))).
 */
export function mannWhitneyU(a: number[], b: number[]): { u: number; p: number; exact: boolean } {
  checkFinite(a, 'mannWhitneyU(a)');
  checkFinite(b, 'mannWhitneyU(b)');
  const n1 = a.length;
  const n2 = b.length;
  const N = n1 + n2;
  // Rank the pooled sample with average ranks for ties.
  const pooled: { v: number; fromA: boolean }[] = [];
  for (const v of a) pooled.push({ v, fromA: true });
  for (const v of b) pooled.push({ v, fromA: false });
  pooled.sort((x, y) => x.v - y.v);
  let rankSumA = 0;
  let tieTerm = 0; // sum over tie groups of t^3 - t
  for (let i = 0; i < N; ) {
    let j = i + 1;
    while (j < N && pooled[j]!.v === pooled[i]!.v) j++;
    const t = j - i;
    const avgRank = (i + 1 + j) / 2; // ranks i+1 .. j
    for (let k = i; k < j; k++) if (pooled[k]!.fromA) rankSumA += avgRank;
    if (t > 1) tieTerm += t * t * t - t;
    i = j;
  }
  const u = rankSumA - (n1 * (n1 + 1)) / 2;

  if (tieTerm === 0 && n1 <= MW_EXACT_MAX && n2 <= MW_EXACT_MAX) {
    const dist = exactNull(n1, n2);
    // u is an integer here (no ties).
    let lower = 0;
    for (let k = 0; k <= u; k++) lower += dist[k]!;
    let upper = 0;
    for (let k = u; k < dist.length; k++) upper += dist[k]!;
    return { u, p: Math.min(1, 2 * Math.min(lower, upper)), exact: true };
  }

  const mu = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (N + 1 - tieTerm / (N * (N - 1)));
  if (!(variance > 0)) return { u, p: 1, exact: false }; // every value tied: no evidence at all
  const z = Math.max(0, Math.abs(u - mu) - 0.5) / Math.sqrt(variance);
  return { u, p: Math.min(1, erfc(z / Math.SQRT2)), exact: false };
}

// ---------------------------------------------------------------------------------------------
// Bootstrap

/** Type-7 (linear interpolation) quantile of a sorted array. */
function quantileSorted(s: Float64Array, q: number): number {
  const h = (s.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (h - lo) * (s[hi]! - s[lo]!);
}

/**
 * Median of one bootstrap resample of `sorted` (ascending), without sorting: draw n indices
 * into the sorted sample, count them, and read the middle order statistic(s) off the
 * cumulative counts. O(n) per resample instead of a typed-array sort.
 */
function resampledMedian(sorted: Float64Array, counts: Int32Array, rng: () => number): number {
  const n = sorted.length;
  counts.fill(0);
  for (let i = 0; i < n; i++) counts[Math.floor(rng() * n)]!++;
  const hi = n >> 1; // 0-based position of the upper middle
  const lo = n % 2 === 1 ? hi : hi - 1;
  let seen = 0;
  let atLo = NaN;
  for (let k = 0; k < n; k++) {
    seen += counts[k]!;
    if (Number.isNaN(atLo) && seen > lo) atLo = sorted[k]!;
    if (seen > hi) return (atLo + sorted[k]!) / 2;
  }
  throw new Error('unreachable: resample counts do not add up');
}

/**
 * Two-sided Wilcoxon signed-rank test of "symmetric around 0" (here: the log
 * ratios of paired rounds). Zeros are dropped (Wilcoxon's convention), ties
 * get average ranks. Exact null distribution (counting sign assignments of
 * the ranks by their sum, ties included) for n <= MW_EXACT_MAX; beyond, the
 * normal approximation with tie and continuity correction. The smallest exact p
 * for n pairs is 2/2^n: 6 pairs cannot go below 0.031, 8 reach 0.0078.
 */
export function wilcoxonSignedRank(d: number[]): { w: number; p: number; exact: boolean } {
  checkFinite(d, 'wilcoxonSignedRank');
  const nz = d.filter((x) => x !== 0);
  const n = nz.length;
  if (n === 0) return { w: 0, p: 1, exact: true };
  const order = nz.map((x, i) => [Math.abs(x), i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(n);
  let tieTerm = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && order[j + 1]![0] === order[i]![0]) j++;
    for (let k = i; k <= j; k++) ranks[order[k]![1]] = (i + j + 2) / 2;
    const t = j - i + 1;
    if (t > 1) tieTerm += t * t * t - t;
    i = j + 1;
  }
  const w = nz.reduce((sum, x, i) => (x > 0 ? sum + ranks[i]! : sum), 0);
  if (n <= MW_EXACT_MAX) {
    // Every sign assignment of these ranks is equally likely under H0. Ranks are
    // multiples of 1/2 (ties average), so doubled they are integers and the
    // distribution of the sum is a subset-sum count: exact, ties included.
    const doubled = ranks.map((r) => Math.round(r * 2));
    const max = doubled.reduce((a, b) => a + b, 0);
    const ways = new Float64Array(max + 1);
    ways[0] = 1;
    for (const r of doubled) for (let sum = max; sum >= r; sum--) ways[sum]! += ways[sum - r]!;
    const w2 = Math.round(w * 2);
    let lower = 0;
    let upper = 0;
    for (let sum = 0; sum <= max; sum++) {
      if (sum <= w2) lower += ways[sum]!;
      if (sum >= w2) upper += ways[sum]!;
    }
    return { w, p: Math.min(1, (2 * Math.min(lower, upper)) / 2 ** n), exact: true };
  }
  const mu = (n * (n + 1)) / 4;
  const variance = (n * (n + 1) * (2 * n + 1)) / 24 - tieTerm / 48;
  if (!(variance > 0)) return { w, p: 1, exact: false };
  const z = Math.max(0, Math.abs(w - mu) - 0.5) / Math.sqrt(variance);
  return { w, p: Math.min(1, erfc(z / Math.SQRT2)), exact: false };
}

/** Percentile bootstrap interval of median(b_i / a_i) - 1, resampling the pairs. */
export function bootstrapPairedChange(
  a: number[],
  b: number[],
  resamples: number,
  confidence: number,
  rng: () => number,
): [number, number] {
  checkPositive(a, 'bootstrapPairedChange(a)');
  checkPositive(b, 'bootstrapPairedChange(b)');
  if (a.length !== b.length)
    throw new Error(`bootstrapPairedChange: ${a.length} base and ${b.length} series samples do not pair`);
  if (!(confidence > 0 && confidence < 1))
    throw new Error(`bootstrapPairedChange: confidence must be in (0, 1), got ${confidence}`);
  const ratios = Float64Array.from(a.map((x, i) => b[i]! / x)).sort();
  const counts = new Int32Array(ratios.length);
  const stats = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) stats[r] = resampledMedian(ratios, counts, rng) - 1;
  stats.sort();
  const tail = (1 - confidence) / 2;
  return [quantileSorted(stats, tail), quantileSorted(stats, 1 - tail)];
}

/** Percentile bootstrap interval of (median(b) - median(a)) / median(a), resampling each side independently. */
export function bootstrapRelativeChange(
  a: number[],
  b: number[],
  resamples: number,
  confidence: number,
  rng: () => number,
): [number, number] {
  checkPositive(a, 'bootstrapRelativeChange(a)');
  checkPositive(b, 'bootstrapRelativeChange(b)');
  if (!Number.isInteger(resamples) || resamples < 1)
    throw new Error(`bootstrapRelativeChange: resamples must be a positive integer, got ${resamples}`);
  if (!(confidence > 0 && confidence < 1))
    throw new Error(`bootstrapRelativeChange: confidence must be in (0, 1), got ${confidence}`);
  const sa = Float64Array.from(a).sort();
  const sb = Float64Array.from(b).sort();
  const ca = new Int32Array(a.length);
  const cb = new Int32Array(b.length);
  const stats = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    const ma = resampledMedian(sa, ca, rng);
    const mb = resampledMedian(sb, cb, rng);
    stats[r] = (mb - ma) / ma;
  }
  stats.sort();
  const tail = (1 - confidence) / 2;
  return [quantileSorted(stats, tail), quantileSorted(stats, 1 - tail)];
}

// ---------------------------------------------------------------------------------------------
// Verdict

/** Default bootstrap seed: any fixed constant; only determinism matters. */
export const DEFAULT_SEED = 0x6b736369; // "ksci"

function validateThresholds(t: PerfThresholds): void {
  const bad = (what: string) => {
    throw new Error(`comparePerf: invalid thresholds: ${what}`);
  };
  if (!(t.minChange >= 0 && Number.isFinite(t.minChange))) bad(`minChange ${t.minChange}`);
  if (!(t.alpha > 0 && t.alpha < 1)) bad(`alpha ${t.alpha}`);
  if (!(t.confidence > 0 && t.confidence < 1)) bad(`confidence ${t.confidence}`);
  if (!(t.equivalence >= 0 && Number.isFinite(t.equivalence))) bad(`equivalence ${t.equivalence}`);
  if (!(Number.isInteger(t.minSamples) && t.minSamples >= 1)) bad(`minSamples ${t.minSamples}`);
  if (!(Number.isInteger(t.resamples) && t.resamples >= 1)) bad(`resamples ${t.resamples}`);
}

/** Packets per second as a reader counts them: 372,292. */
export function formatPps(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Signed percentage to 1 decimal, e.g. "-4.8%", "+0.3%", "0.0%". */
export function formatPct(x: number): string {
  const s = (x * 100).toFixed(1);
  if (s === '0.0' || s === '-0.0') return '0.0%';
  return `${x > 0 ? '+' : ''}${s}%`;
}

function formatP(p: number): string {
  if (p < 0.0001) return '<0.0001';
  return `=${p >= 0.01 ? p.toFixed(3) : p.toPrecision(2)}`;
}

/**
 * Compare base (A) and series (B) samples. higherIsBetter: true (default) for pps, where a drop
 * is a regression. seed: bootstrap seed, defaults to DEFAULT_SEED so the same samples always
 * give the same verdict. label: the metric name used in `reason` (default "throughput").
 *
 * paired: base[i] and series[i] ran back to back (one A/B round). Then the change is the median
 * of the rounds' ratios, its interval a bootstrap over rounds, and the test Wilcoxon
 * signed-rank on their logs: a slowdown of the whole host between rounds hits both sides of a
 * round, so it drops out, where the unpaired comparison counts it as noise. Mann-Whitney is
 * still computed and shown.
 */
export function comparePerf(
  base: number[],
  series: number[],
  t: PerfThresholds = DEFAULT_THRESHOLDS,
  o: { higherIsBetter?: boolean; seed?: number; label?: string; paired?: boolean } = {},
): PerfComparison {
  checkPositive(base, 'comparePerf(base)');
  checkPositive(series, 'comparePerf(series)');
  validateThresholds(t);
  const higherIsBetter = o.higherIsBetter ?? true;
  const label = o.label ?? 'throughput';

  const paired = o.paired === true;
  if (paired && base.length !== series.length)
    throw new Error(`comparePerf: ${base.length} base and ${series.length} series samples do not pair`);
  const sa = summarize(base);
  const sb = summarize(series);
  const rng = seededRng(o.seed ?? DEFAULT_SEED);
  const ratios = paired ? base.map((x, i) => series[i]! / x) : null;
  const change = ratios ? median(ratios) - 1 : (sb.median - sa.median) / sa.median;
  const ci = ratios
    ? bootstrapPairedChange(base, series, t.resamples, t.confidence, rng)
    : bootstrapRelativeChange(base, series, t.resamples, t.confidence, rng);
  const mw = mannWhitneyU(base, series);
  const wsr = ratios ? wilcoxonSignedRank(ratios.map(Math.log)) : null;
  const test = wsr
    ? { name: 'Wilcoxon signed-rank' as const, p: wsr.p, exact: wsr.exact }
    : { name: 'Mann-Whitney' as const, p: mw.p, exact: mw.exact };

  const confPct = `${+(t.confidence * 100).toFixed(1)}%`;
  const head = `${label} ${formatPct(change)} (${confPct} CI ${formatPct(ci[0])} .. ${formatPct(ci[1])}), ${ratios ? `${ratios.length} paired rounds, Wilcoxon signed-rank` : 'Mann-Whitney'} p${formatP(test.p)}`;
  const done = (verdict: PerfVerdict, why: string): PerfComparison => ({
    base: sa,
    series: sb,
    change,
    ci,
    mannWhitney: mw,
    test,
    ratios,
    verdict,
    reason: `${head}${why}: ${verdict}`,
  });

  if (sa.n < t.minSamples || sb.n < t.minSamples) {
    return done('noisy', `; only ${sa.n} base and ${sb.n} series samples, need ${t.minSamples} per side to tell`);
  }
  // The exact test's floor: below it no change can ever be called, however clear.
  if (ratios && 2 / 2 ** ratios.length >= t.alpha) {
    const inside = ci[0] >= -t.equivalence && ci[1] <= t.equivalence;
    return done(
      inside ? 'no-change' : 'noisy',
      `; ${ratios.length} rounds cannot reach p < ${t.alpha} (the smallest possible is ${(2 / 2 ** ratios.length).toPrecision(2)}): run more rounds`,
    );
  }

  const significant = test.p < t.alpha;
  const ciExcludesZero = change > 0 ? ci[0] > 0 : change < 0 ? ci[1] < 0 : false;
  const bigEnough = Math.abs(change) >= t.minChange;
  const inside = ci[0] >= -t.equivalence && ci[1] <= t.equivalence;
  const eq = formatPct(t.equivalence).replace('+', '');
  const min = formatPct(t.minChange).replace('+', '');

  if (significant && ciExcludesZero && bigEnough) {
    const better = change > 0 === higherIsBetter;
    return done(better ? 'improvement' : 'regression', ` < ${t.alpha}`);
  }
  if (significant && ciExcludesZero) {
    // Real but small.
    return inside
      ? done('no-change', ` < ${t.alpha}, significant but below the ${min} threshold, CI within ±${eq}`)
      : done('noisy', ` < ${t.alpha}, significant but below the ${min} threshold, and the CI reaches beyond ±${eq}`);
  }
  const notSig = significant ? ` < ${t.alpha} but the CI includes 0` : ` >= ${t.alpha}`;
  return inside
    ? done('no-change', `${notSig}, CI within ±${eq}`)
    : done('noisy', `${notSig}, CI reaches beyond ±${eq}`);
}
