/**
 * The verdict on paired A/B rounds, taken after every round so a comparison
 * stops as soon as it is decided (adaptive rounds). Pure and deterministic.
 *
 * Data: per round i, d_i = ln(series_i / base_i); base and series of a round
 * ran back to back, so a host slowdown between rounds drops out of d_i.
 *
 * Model and test: the d_i are independent draws around a mean mu (the log
 * of the series' throughput ratio). At a look after n rounds the interval
 * for mu is the paired t interval on the d_i, mean +- q * s / sqrt(n), with
 * q the Student t quantile at n - 1 degrees of freedom, and s the rounds'
 * standard deviation, never below a noise floor. Unlike a rank test its
 * smallest p does not cap at 2/2^n, so near-deterministic samples (icount)
 * decide in a few rounds; the floor (the scenario's A/A noise, or the
 * clock's configured one) keeps three nearly equal rounds from claiming a
 * precision that boot-to-boot variation does not have.
 *
 * Sequential looks: the comparison looks after every round from minRounds
 * to maxRounds, K = maxRounds - minRounds + 1 looks in all, and each look's
 * interval is taken at level 1 - alpha/K: Bonferroni over the planned looks,
 * the simplest group-sequential bound. By the union bound, the chance that
 * any look's interval misses mu is at most alpha, so stopping at the first
 * decisive look keeps false alarms (a change called where there is none,
 * or "no change" where one exceeds the equivalence band) at or below alpha.
 * Pocock or O'Brien-Fleming boundaries would be tighter but rest on the
 * correlation of the looks under normality; Bonferroni needs nothing of the
 * kind and errs on the safe side.
 *
 * Decision at a look (change = exp(mean) - 1, interval likewise):
 *  - fewer than minRounds: undecided;
 *  - the interval excludes 0 and |change| >= minChange: regression or
 *    improvement (by the sign and higherIsBetter);
 *  - the interval lies within +-equivalence: no change (a real but small
 *    shift included);
 *  - otherwise undecided; at maxRounds that is "noisy", with how many rounds
 *    the same noise would need.
 */
import { formatPct, summarize, type PerfVerdict, type SampleSummary } from './stats.js';
import { tQuantile, twoSidedP } from './student-t.js';

export interface SequentialThresholds {
  /** Smallest relative change called a change (0.005 = 0.5%). */
  minChange: number;
  /** "No change" needs the whole interval within +-equivalence. */
  equivalence: number;
  /** Bound on false alarms over all looks of one comparison. */
  alpha: number;
  /** The standard deviation of a round's log ratio is taken as at least this (0.0005 = 0.05%). */
  noiseFloor: number;
  /** Rounds before the first look. */
  minRounds: number;
  /** The budget: at this many rounds an undecided comparison is "noisy". */
  maxRounds: number;
}

export interface SequentialComparison {
  base: SampleSummary;
  series: SampleSummary;
  /** exp(mean log ratio) - 1: the series' relative change. */
  change: number;
  /** The look's interval of that change, at level 1 - alpha/looks. */
  ci: [number, number];
  /** series/base per round, in round order. */
  ratios: number[];
  test: { name: 'paired t on log ratios'; p: number; alpha: number };
  /** This look (the rounds it saw) and how many the budget plans. */
  rounds: number;
  looks: number;
  /** Standard deviation of the rounds' log ratios: as observed, the floor, and what the interval used. */
  noise: { observed: number; floor: number; used: number };
  /** Whether this look is decisive; an undecided comparison wants more rounds. */
  decided: boolean;
  /** When the budget ran out undecided: about how many rounds in all this noise would need (null: no number of rounds would). */
  roundsNeeded: number | null;
  verdict: PerfVerdict;
  reason: string;
}

/** Looks a budget plans: one after every round from minRounds to maxRounds. */
export function plannedLooks(t: Pick<SequentialThresholds, 'minRounds' | 'maxRounds'>): number {
  return Math.max(1, t.maxRounds - t.minRounds + 1);
}

/** The t quantile for one look's two-sided interval when `looks` share alpha. */
function lookQuantile(alpha: number, looks: number, n: number): number {
  return tQuantile(alpha / looks, n - 1);
}

function validate(t: SequentialThresholds): void {
  const bad = (what: string) => {
    throw new Error(`compareSequential: invalid thresholds: ${what}`);
  };
  if (!(t.minChange >= 0 && Number.isFinite(t.minChange))) bad(`minChange ${t.minChange}`);
  if (!(t.equivalence >= 0 && Number.isFinite(t.equivalence))) bad(`equivalence ${t.equivalence}`);
  if (!(t.alpha > 0 && t.alpha < 1)) bad(`alpha ${t.alpha}`);
  if (!(t.noiseFloor >= 0 && Number.isFinite(t.noiseFloor))) bad(`noiseFloor ${t.noiseFloor}`);
  if (!(Number.isInteger(t.minRounds) && t.minRounds >= 2)) bad(`minRounds ${t.minRounds} (a t interval needs 2)`);
  if (!(Number.isInteger(t.maxRounds) && t.maxRounds >= t.minRounds)) bad(`maxRounds ${t.maxRounds}`);
}

/**
 * The look after base.length paired rounds. `noise`, when known from the
 * scenario's A/A history, raises the floor for this scenario.
 */
export function compareSequential(
  base: number[],
  series: number[],
  t: SequentialThresholds,
  o: {
    higherIsBetter?: boolean;
    label?: string;
    noise?: number;
    /** Rounds the pairs came from, when a round gives several (sampleUnit: run); default: one pair per round. */
    rounds?: number;
  } = {},
): SequentialComparison {
  validate(t);
  if (base.length !== series.length)
    throw new Error(`compareSequential: ${base.length} base and ${series.length} series rounds do not pair`);
  if (base.length === 0) throw new Error('compareSequential: no rounds');
  for (const x of [...base, ...series])
    if (!(Number.isFinite(x) && x > 0)) throw new Error(`compareSequential: ${x} is not a positive rate`);
  const higherIsBetter = o.higherIsBetter ?? true;
  const label = o.label ?? 'throughput';
  const n = base.length;
  const seen = o.rounds ?? n;
  const ratios = base.map((b, i) => series[i]! / b);
  const d = ratios.map(Math.log);
  const mean = d.reduce((a, x) => a + x, 0) / n;
  const observed = n > 1 ? Math.sqrt(d.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : 0;
  const floor = Math.max(t.noiseFloor, o.noise ?? 0);
  const used = Math.max(observed, floor);
  const looks = plannedLooks(t);
  const lookAlpha = t.alpha / looks;
  const change = Math.expm1(mean);
  const summary = { base: summarize(base), series: summarize(series), change, ratios };
  const noise = { observed, floor, used };
  const eq = formatPct(t.equivalence).replace('+', '');
  const min = formatPct(t.minChange).replace('+', '');

  if (seen < t.minRounds || n < 2) {
    return {
      ...summary,
      ci: [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
      test: { name: 'paired t on log ratios', p: 1, alpha: lookAlpha },
      rounds: seen,
      looks,
      noise,
      decided: false,
      roundsNeeded: t.minRounds,
      verdict: 'noisy',
      reason: `${label} ${formatPct(change)} after ${seen} round${seen === 1 ? '' : 's'}; the first look is after ${t.minRounds}: noisy`,
    };
  }
  const se = used / Math.sqrt(n);
  const q = lookQuantile(t.alpha, looks, n);
  const ci: [number, number] = [Math.expm1(mean - q * se), Math.expm1(mean + q * se)];
  const p = se > 0 ? twoSidedP(mean / se, n - 1) : mean === 0 ? 1 : 0;
  const excludesZero = ci[0] > 0 || ci[1] < 0;
  const bigEnough = Math.abs(change) >= t.minChange;
  const inside = ci[0] >= -t.equivalence && ci[1] <= t.equivalence;
  const level = `${+((1 - lookAlpha) * 100).toPrecision(4)}%`;
  const head =
    `${label} ${formatPct(change)} (${level} CI ${formatPct(ci[0])} .. ${formatPct(ci[1])}), ` +
    `${n === seen ? `${n} paired rounds` : `${n} pairs of ${seen} rounds`}, look ${seen - t.minRounds + 1} of ${looks}, paired t p=${formatP(p)}, ` +
    `noise ${pct2(used)} per round${used > observed ? ` (the floor; observed ${pct2(observed)})` : ''}`;
  const done = (verdict: PerfVerdict, decided: boolean, why: string, roundsNeeded: number | null = null) => ({
    ...summary,
    ci,
    test: { name: 'paired t on log ratios' as const, p, alpha: lookAlpha },
    rounds: seen,
    looks,
    noise,
    decided,
    roundsNeeded,
    verdict,
    reason: `${head}; ${why}: ${verdict}`,
  });

  if (excludesZero && bigEnough) {
    const better = change > 0 === higherIsBetter;
    return done(
      better ? 'improvement' : 'regression',
      true,
      `the interval excludes 0 and the change is at least ${min}`,
    );
  }
  if (inside)
    return done(
      'no-change',
      true,
      excludesZero
        ? `a real shift, but below ${min}, and the interval is within ±${eq}`
        : `the interval is within ±${eq}`,
    );
  if (seen < t.maxRounds)
    return done('noisy', false, `undecided: neither beyond 0 by ${min} nor within ±${eq} yet, more rounds to come`);
  const needed = roundsNeeded(mean, used, t);
  return done(
    'noisy',
    true,
    needed === null
      ? `the budget of ${t.maxRounds} rounds is spent and the change sits at the ${min} threshold: no number of rounds would settle it`
      : `too noisy at the budget of ${t.maxRounds} rounds; about ${needed - seen} more (${needed} in all) would be needed at this noise`,
    needed,
  );
}

/**
 * Rounds (a budget of that many, looks and all) after which an interval of
 * this noise around this mean would be decisive; null when none would be
 * (the change equals minChange, or the noise is zero and it still is not).
 */
export function roundsNeeded(mean: number, sd: number, t: SequentialThresholds, limit = 1000): number | null {
  const target = Math.max(
    Math.abs(Math.expm1(mean)) >= t.minChange ? Math.abs(mean) : 0,
    Math.log1p(t.equivalence) - Math.abs(mean),
  );
  if (!(target > 0) || !(sd > 0)) return null;
  for (let n = Math.max(t.minRounds, 2); n <= limit; n++) {
    const looks = plannedLooks({ minRounds: t.minRounds, maxRounds: Math.max(n, t.maxRounds) });
    if (lookQuantile(t.alpha, looks, n) * (sd / Math.sqrt(n)) < target) return n;
  }
  return null;
}

function formatP(p: number): string {
  if (p < 0.0001) return '<0.0001';
  return p >= 0.01 ? p.toFixed(3) : p.toPrecision(2);
}

function pct2(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}
