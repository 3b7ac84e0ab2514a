import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_CHANGEPOINT_OPTIONS,
  detectChangePoints,
  pendingAlerts,
  welchTTest,
  type AlertedChange,
  type ChangePoint,
  type HistoryPoint,
} from './changepoint.js';
import { regularizedIncompleteBeta, twoSidedP } from './student-t.js';
import { seededRng } from '../random.js';

// Standard normals by Box–Muller.
function normal(rng: () => number): number {
  const u = 1 - rng(); // (0, 1]
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** n nightly points around `base` pps with relative noise `cv`; from night `at` on the level is multiplied by `factor`. */
function series(
  seed: number,
  n: number,
  cv: number,
  steps: Array<{ at: number; factor: number }> = [],
  base = 1_000_000,
): HistoryPoint[] {
  const rng = seededRng(seed);
  const out: HistoryPoint[] = [];
  for (let i = 0; i < n; i++) {
    let level = base;
    for (const s of steps) if (i >= s.at) level *= s.factor;
    out.push({
      commit: `c${i}`,
      time: new Date(Date.UTC(2025, 0, 1) + i * 86_400_000).toISOString(),
      value: level * (1 + cv * normal(rng)),
    });
  }
  return out;
}

const close = (actual: number, expected: number, tol: number, what = '') =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what} ${actual} not within ${tol} of ${expected}`);

describe('twoSidedP / welchTTest', () => {
  it('matches tabulated t quantiles and scipy.stats.t.sf (two-sided: 2 * sf(|t|))', () => {
    // t(0.975, 10) = 2.228: two-sided p = 0.05 (scipy: 0.0500118)
    close(twoSidedP(2.228, 10), 0.0500118, 1e-6, 'two-sided p');
    close(twoSidedP(0, 7), 1, 1e-15);
    // df = 1 is Cauchy: P(|T| > t) = 1 - 2 atan(t) / pi
    close(twoSidedP(0.7, 1), 1 - (2 * Math.atan(0.7)) / Math.PI, 1e-12, 'cauchy');
    // fractional df, far tail, large df (scipy values, doubled one-sided tails)
    close(twoSidedP(-1.5, 3.7), 2 * 0.10679908460100675, 2e-10, 'df 3.7');
    close(twoSidedP(-40, 2.2), 2 * 0.00017115773828230282, 2e-12, 'far tail');
    close(twoSidedP(3.0, 200.5), 2 * (1 - 0.9984789179160496), 2e-10, 'df 200.5');
    close(twoSidedP(1.959964, Infinity), 0.05, 2e-6, 'normal limit');
    // symmetry, and the beta function's closed form I_x(1, 1) = x
    close(twoSidedP(-1.3, 4), twoSidedP(1.3, 4), 1e-14);
    close(regularizedIncompleteBeta(0.3, 1, 1), 0.3, 1e-14);
  });

  it('Welch test on the two examples from Wikipedia ("Welch\'s t-test"), checked with scipy.stats.ttest_ind(equal_var=False)', () => {
    // Example 1 (equal sizes, 15 vs 15): t = -2.455356, df = 24.98853, p = 0.021378
    const a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4];
    const b1 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4];
    const r1 = welchTTest(a1, b1);
    close(r1.t, -2.455356398286006, 1e-9, 't');
    close(r1.df, 24.988529290231416, 1e-9, 'df');
    close(r1.p, 0.021378001462866992, 1e-9, 'p');
    // Example 2 (10 vs 20, unequal variances): t = -1.565434, df = 9.904741, p = 0.148842
    const a2 = [17.2, 20.9, 22.6, 18.1, 21.7, 21.4, 23.5, 24.2, 14.7, 21.8];
    const b2 = [
      21.5, 22.8, 21.0, 23.0, 21.6, 23.6, 22.5, 20.7, 23.4, 21.8, 20.7, 21.7, 21.5, 22.5, 23.6, 21.5, 22.5, 23.5, 21.5,
      21.8,
    ];
    const r2 = welchTTest(a2, b2);
    close(r2.t, -1.5654335235985037, 1e-9, 't');
    close(r2.df, 9.904741248650831, 1e-9, 'df');
    close(r2.p, 0.14884169660532817, 1e-9, 'p');
  });

  it('degenerate inputs: constant sides, too few values', () => {
    assert.deepEqual(welchTTest([5, 5, 5], [5, 5]), { t: 0, df: 3, p: 1 });
    assert.deepEqual(welchTTest([5, 5, 5], [4, 4]), { t: Infinity, df: 3, p: 0 });
    assert.equal(welchTTest([1], [2, 3]).p, 1);
  });
});

describe('detectChangePoints', () => {
  it('noise only (60 nights, CV 1.5 %): at most 2 % of 200 series get any change point', (t) => {
    let flagged = 0;
    for (let seed = 1; seed <= 200; seed++) if (detectChangePoints(series(seed, 60, 0.015)).length > 0) flagged++;
    t.diagnostic(`false-alarm rate: ${flagged}/200 series`);
    assert.ok(flagged <= 4, `${flagged}/200 noise-only series flagged`);
    assert.deepEqual(detectChangePoints(series(7, 60, 0.015)), []);
  });

  it('a 5 % drop at night 40 of 60 is found within ±1 night, as a regression naming the commit range', (t) => {
    const h = series(42, 60, 0.015, [{ at: 40, factor: 0.95 }]);
    const cps = detectChangePoints(h);
    assert.equal(cps.length, 1);
    const cp = cps[0]!;
    assert.ok(Math.abs(cp.index - 40) <= 1, `index ${cp.index}`);
    assert.equal(cp.direction, 'regression');
    assert.equal(cp.lastGood, h[cp.index - 1]!.commit);
    assert.equal(cp.firstChanged, h[cp.index]!.commit);
    assert.ok(cp.p < DEFAULT_CHANGEPOINT_OPTIONS.alpha);
    close(cp.change, -0.05, 0.015, 'change');
    close(cp.change, (cp.meanAfter - cp.meanBefore) / cp.meanBefore, 1e-12);

    // the same over 100 seeds: localisation
    let exact = 0;
    let within1 = 0;
    let wrongCount = 0;
    for (let seed = 1; seed <= 100; seed++) {
      const found = detectChangePoints(series(1000 + seed, 60, 0.015, [{ at: 40, factor: 0.95 }]));
      if (found.length !== 1 || found[0]!.direction !== 'regression') {
        wrongCount++;
        continue;
      }
      const d = Math.abs(found[0]!.index - 40);
      if (d === 0) exact++;
      if (d <= 1) within1++;
    }
    t.diagnostic(`5 % drop, 100 seeds: exact ${exact}, within ±1 ${within1}, not exactly one regression ${wrongCount}`);
    assert.equal(wrongCount, 0);
    assert.ok(within1 >= 98, `within ±1: ${within1}/100`);
  });

  it('a drop and a later recovery give two change points', () => {
    const h = series(3, 60, 0.015, [
      { at: 25, factor: 0.95 },
      { at: 45, factor: 1 / 0.95 },
    ]);
    const cps = detectChangePoints(h);
    assert.deepEqual(
      cps.map((c) => c.direction),
      ['regression', 'improvement'],
    );
    assert.ok(Math.abs(cps[0]!.index - 25) <= 1 && Math.abs(cps[1]!.index - 45) <= 1, cps.map((c) => c.index).join());
    assert.equal(cps[1]!.lastGood, h[cps[1]!.index - 1]!.commit);
  });

  it('a 1 % shift (below minChange) is not flagged, even when it is statistically clear', () => {
    for (let seed = 1; seed <= 20; seed++) {
      assert.deepEqual(detectChangePoints(series(seed, 60, 0.015, [{ at: 30, factor: 0.99 }])), [], `seed ${seed}`);
      // low noise: the 1 % step is highly significant, only minChange keeps it out
      assert.deepEqual(
        detectChangePoints(series(seed, 60, 0.002, [{ at: 30, factor: 0.99 }])),
        [],
        `quiet seed ${seed}`,
      );
    }
    // ...and with minChange lowered it is found
    const quiet = detectChangePoints(series(1, 60, 0.002, [{ at: 30, factor: 0.99 }]), {
      ...DEFAULT_CHANGEPOINT_OPTIONS,
      minChange: 0.005,
    });
    assert.deepEqual(
      quiet.map((c) => [c.index, c.direction]),
      [[30, 'regression']],
    );
  });

  it('short or empty histories, and unmeasured nights', () => {
    assert.deepEqual(detectChangePoints([]), []);
    assert.deepEqual(detectChangePoints(series(1, 5, 0.015, [{ at: 3, factor: 0.5 }])), []);
    const h = series(5, 30, 0.01, [{ at: 15, factor: 0.9 }]);
    h[15]!.value = NaN; // a night that produced no number
    const cps = detectChangePoints(h);
    assert.equal(cps.length, 1);
    assert.equal(cps[0]!.index, 16);
    assert.equal(cps[0]!.lastGood, 'c14');
    assert.equal(cps[0]!.firstChanged, 'c16');
  });
});

describe('pendingAlerts', () => {
  const cp = (index: number, direction: ChangePoint['direction'], h: HistoryPoint[]): ChangePoint => ({
    index,
    lastGood: h[index - 1]!.commit,
    firstChanged: h[index]!.commit,
    meanBefore: 1,
    meanAfter: direction === 'regression' ? 0.95 : 1.05,
    change: direction === 'regression' ? -0.05 : 0.05,
    p: 1e-9,
    direction,
  });
  const remember = (scenario: string, c: ChangePoint): AlertedChange => ({
    scenario,
    lastGood: c.lastGood,
    firstChanged: c.firstChanged,
    direction: c.direction,
  });

  it('a change alerted yesterday is not alerted again tonight, even when it moves by an index', () => {
    const tonight = series(42, 61, 0.015, [{ at: 40, factor: 0.95 }]);
    const yesterday = tonight.slice(0, 60);
    const y = detectChangePoints(yesterday);
    assert.equal(pendingAlerts('udp64', yesterday, y, []).length, 1);
    const alerted = y.map((c) => remember('udp64', c));
    // real detection on tonight's history
    assert.deepEqual(pendingAlerts('udp64', tonight, detectChangePoints(tonight), alerted), []);
    // the detected point moved by one (or two) nights either way
    for (const shift of [-2, -1, 1, 2]) {
      const moved = cp(y[0]!.index + shift, 'regression', tonight);
      assert.deepEqual(pendingAlerts('udp64', tonight, [moved], alerted), [], `shift ${shift}`);
    }
  });

  it('a new change in the other direction, far away, or in another scenario is pending', () => {
    const h = series(9, 61, 0.015);
    const alerted = [remember('udp64', cp(40, 'regression', h))];
    const opposite = cp(41, 'improvement', h);
    const far = cp(55, 'regression', h);
    const sameNear = cp(41, 'regression', h);
    assert.deepEqual(pendingAlerts('udp64', h, [opposite, far, sameNear], alerted), [opposite, far]);
    assert.deepEqual(pendingAlerts('tcp1500', h, [sameNear], alerted), [sameNear]);
    // tolerance: 4 nights away is outside the default, inside tolerance 4
    const four = cp(44, 'regression', h);
    assert.deepEqual(pendingAlerts('udp64', h, [four], alerted), [four]);
    assert.deepEqual(pendingAlerts('udp64', h, [four], alerted, 4), []);
  });

  it('a tree head measured on several nights; alerts whose commits fell out of the window', () => {
    const h = series(9, 30, 0.015).map((p, i) => ({ ...p, commit: i >= 10 && i < 15 ? 'same' : p.commit }));
    // alerted range 'c9'..'same' spans nights 9..14; a point at 16 (range 15..16) is 1 away
    const alerted: AlertedChange[] = [{ scenario: 's', lastGood: 'c9', firstChanged: 'same', direction: 'regression' }];
    assert.deepEqual(pendingAlerts('s', h, [cp(16, 'regression', h)], alerted), []);
    const gone: AlertedChange[] = [{ scenario: 's', lastGood: 'old1', firstChanged: 'old2', direction: 'regression' }];
    const p = cp(2, 'regression', h);
    assert.deepEqual(pendingAlerts('s', h, [p], gone), [p]);
  });
});
