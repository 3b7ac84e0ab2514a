/**
 * Student's t distribution: its two-sided tail and its quantile, for the
 * change-point test (changepoint.ts) and the sequential verdict
 * (sequential.ts). The CDF comes from the regularized incomplete beta
 * function (continued fraction, modified Lentz); the quantile is the CDF
 * inverted by bisection, cached per (tail, df) since a comparison asks for
 * the same few again and again.
 */

/** ln Γ(x) for x > 0, Lanczos approximation (g = 7, 9 terms; ~1e-15 relative), reflection for x < 0.5. */
export function lnGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const z = x - 1;
  let s = c[0]!;
  for (let i = 1; i < 9; i++) s += c[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/**
 * Continued fraction for I_x(a, b) (without the prefactor), evaluated by the modified Lentz method:
 * I_x(a,b) = x^a (1-x)^b / (a B(a,b)) · 1/(1+ d1/(1+ d2/(1+ …))) with
 * d_{2m+1} = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1)),  d_{2m} = m (b-m) x / ((a+2m-1)(a+2m)).
 * Converges quickly for x < (a+1)/(a+b+2).
 */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  const eps = 1e-15;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1); // d_1 folded into the first denominator
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let f = d;
  for (let m = 1; m <= 100000; m++) {
    const m2 = 2 * m;
    // even step d_{2m}
    let num = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    f *= d * c;
    // odd step d_{2m+1}
    num = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    f *= delta;
    if (Math.abs(delta - 1) < eps) return f;
  }
  return f; // not converged to eps; the last value is still a close approximation
}

/** The regularized incomplete beta function I_x(a, b), a, b > 0, 0 <= x <= 1. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0) || !(b > 0) || Number.isNaN(x)) return NaN;
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  const front = Math.exp(lnFront);
  // Use the symmetry I_x(a,b) = 1 - I_{1-x}(b,a) to stay where the continued fraction converges fast.
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(a, b, x)) / a;
  return 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** Standard normal CDF (only for df = Infinity); erfc by Abramowitz & Stegun 7.1.26, absolute error < 1.5e-7. */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erfc = poly * Math.exp(-x * x);
  return z >= 0 ? 1 - erfc / 2 : erfc / 2;
}

/** Two-sided p-value of a t statistic. */
export function twoSidedP(t: number, df: number): number {
  if (Number.isNaN(t)) return 1;
  if (!Number.isFinite(t)) return 0;
  const x = df / (df + t * t);
  if (df === Infinity) return 2 * normalCdf(-Math.abs(t));
  return Math.min(1, regularizedIncompleteBeta(x, df / 2, 0.5));
}

const quantiles = new Map<string, number>();

/**
 * The t value whose two-sided tail is `p`: P(|T| > q) = p at df degrees of
 * freedom (so 1 - p/2 is its one-sided level; q(0.05, 10) = 2.228).
 */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`tQuantile: tail ${p} is not in (0, 1)`);
  if (!(df > 0)) throw new Error(`tQuantile: df ${df} is not positive`);
  const key = `${p}:${df}`;
  const hit = quantiles.get(key);
  if (hit !== undefined) return hit;
  let lo = 0;
  let hi = 1;
  while (twoSidedP(hi, df) > p) hi *= 2;
  // twoSidedP falls as t grows: bisect until the bracket is as tight as doubles allow.
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (twoSidedP(mid, df) > p) lo = mid;
    else hi = mid;
  }
  const q = (lo + hi) / 2;
  quantiles.set(key, q);
  return q;
}
