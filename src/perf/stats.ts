/**
 * Summaries and formatting of throughput samples, shared by the verdict
 * (sequential.ts), the nightly series and the reports. Pure.
 */

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

function checkFinite(xs: readonly number[], what: string): void {
  if (!Array.isArray(xs) || xs.length === 0) throw new Error(`${what}: need at least one sample`);
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    if (typeof x !== 'number' || !Number.isFinite(x))
      throw new Error(`${what}: sample ${i} is not a finite number (${String(x)})`);
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
