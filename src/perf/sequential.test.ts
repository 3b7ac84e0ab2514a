import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRng } from '../random.js';
import { compareSequential, plannedLooks, roundsNeeded, type SequentialThresholds } from './sequential.js';

const ICOUNT: SequentialThresholds = {
  minChange: 0.005,
  equivalence: 0.005,
  alpha: 0.01,
  noiseFloor: 0.0005,
  minRounds: 3,
  maxRounds: 8,
};

function normalStream(seed: number) {
  const rng = seededRng(seed);
  return () => {
    let u = 0;
    while (u === 0) u = rng();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
  };
}

/**
 * One comparison as runAb drives it: a round at a time, a look after each
 * from minRounds on, stop at the first decisive look. Rounds are pairs of
 * base and series rates with per-session noise `sd` (relative) and a true
 * change `shift` of the series.
 */
function sequentialRun(t: SequentialThresholds, shift: number, sd: number, normal: () => number) {
  const base: number[] = [];
  const series: number[] = [];
  for (let n = 1; n <= t.maxRounds; n++) {
    const level = 600_000 * (1 + 0.2 * normal()); // the host's speed this round: shared by both sides
    base.push(level * Math.exp(sd * normal()));
    series.push(level * (1 + shift) * Math.exp(sd * normal()));
    if (n < t.minRounds) continue;
    const c = compareSequential(base, series, t);
    if (c.decided) return c;
  }
  throw new Error('the budget always decides');
}

function rates(trials: number, t: SequentialThresholds, shift: number, sd: number, seed: number) {
  const normal = normalStream(seed);
  const count = { regression: 0, improvement: 0, 'no-change': 0, noisy: 0 };
  let rounds = 0;
  for (let i = 0; i < trials; i++) {
    const c = sequentialRun(t, shift, sd, normal);
    count[c.verdict]++;
    rounds += c.rounds;
  }
  return { ...count, meanRounds: rounds / trials };
}

describe('compareSequential', () => {
  it('A/A under repeated looks: false alarms stay at or below alpha (icount-like noise, and noise well above the floor)', () => {
    for (const sd of [0.0003, 0.002, 0.01]) {
      const r = rates(4000, ICOUNT, 0, sd, 1 + Math.round(sd * 1e5));
      const falseAlarms = (r.regression + r.improvement) / 4000;
      assert.ok(falseAlarms <= ICOUNT.alpha, `sd ${sd}: false alarm rate ${falseAlarms}`);
      if (sd === 0.0003) {
        assert.ok(r['no-change'] / 4000 >= 0.99, `icount-like A/A ends in "no change": ${JSON.stringify(r)}`);
        // Three rounds at the floor's noise are not yet within ±0.5% at the first look's level; four are.
        assert.ok(r.meanRounds <= 4.1, `and decides in four rounds: ${r.meanRounds}`);
      }
    }
  });

  it('the looks are what keep it honest: one fixed-level interval per look would alarm far more often', () => {
    // The same data judged at each look's level without the split (looks: 1 each time).
    const single = { ...ICOUNT, minRounds: 3, maxRounds: 3 };
    const normal = normalStream(7);
    let alarms = 0;
    const trials = 1500;
    for (let i = 0; i < trials; i++) {
      const base: number[] = [];
      const series: number[] = [];
      for (let n = 1; n <= 8; n++) {
        base.push(600_000 * Math.exp(0.01 * normal()));
        series.push(600_000 * Math.exp(0.01 * normal()));
        if (n < 3) continue;
        const c = compareSequential(base, series, { ...single, minRounds: n, maxRounds: n, minChange: 0 });
        if (c.verdict === 'regression' || c.verdict === 'improvement') {
          alarms++;
          break;
        }
      }
    }
    // Six looks at 1% each: more than alpha (the union bound allows up to 6%).
    assert.ok(alarms / trials > ICOUNT.alpha, `peeking without the split alarms in ${alarms / trials}`);
  });

  it('a 1% slowdown at icount-like noise is a regression in >= 95% of comparisons, within 4 rounds', () => {
    const normal = normalStream(11);
    let found = 0;
    let within4 = 0;
    for (let i = 0; i < 2000; i++) {
      const c = sequentialRun(ICOUNT, -0.01, 0.0004, normal);
      if (c.verdict === 'regression') {
        found++;
        if (c.rounds <= 4) within4++;
      }
    }
    assert.ok(found / 2000 >= 0.95, `found ${found / 2000}`);
    assert.ok(within4 / 2000 >= 0.95, `within 4 rounds ${within4 / 2000}`);
  });

  it("the issue's init_on_free rounds (0.8071 / 0.8075 / 0.8075) are a regression at the first look", () => {
    const base = [646_724, 647_165, 646_732];
    const series = base.map((b, i) => b * [0.8071, 0.8075, 0.8075][i]!);
    const c = compareSequential(base, series, ICOUNT);
    assert.equal(c.verdict, 'regression');
    assert.equal(c.decided, true);
    assert.equal(c.rounds, 3);
    assert.ok(Math.abs(c.change - -0.1927) < 0.001, String(c.change));
    assert.ok(c.ci[1] < -0.18 && c.ci[0] > -0.21, `CI ${c.ci}`);
    assert.match(c.reason, /throughput -19\.3% .* 3 paired rounds, look 1 of 6, paired t p=.*: regression$/);
  });

  it('identical rounds do not claim infinite precision: the floor is the noise, and the reason says so', () => {
    const c = compareSequential([500_000, 500_000, 500_000], [500_000, 500_000, 500_000], ICOUNT);
    assert.equal(c.noise.observed, 0);
    assert.equal(c.noise.used, ICOUNT.noiseFloor);
    assert.ok(c.ci[0] < 0 && c.ci[1] > 0);
    assert.match(c.reason, /noise 0\.05% per round \(the floor; observed 0\.00%\)/);
    // The scenario's own A/A noise raises the floor further.
    const noisy = compareSequential([500_000, 500_000, 500_000], [500_000, 500_000, 500_000], ICOUNT, { noise: 0.01 });
    assert.equal(noisy.noise.used, 0.01);
    assert.equal(noisy.verdict, 'noisy');
    assert.equal(noisy.decided, false);
  });

  it('before the first look nothing is decided; at the budget an undecided run says how many rounds it would take', () => {
    const early = compareSequential([1, 1], [1, 1], ICOUNT);
    assert.equal(early.decided, false);
    assert.match(early.reason, /the first look is after 3/);
    const normal = normalStream(3);
    const base = Array.from({ length: 8 }, () => 600_000 * Math.exp(0.02 * normal()));
    const series = Array.from({ length: 8 }, () => 600_000 * Math.exp(0.02 * normal()));
    const last = compareSequential(base, series, ICOUNT);
    assert.equal(last.verdict, 'noisy');
    assert.equal(last.decided, true);
    assert.ok(last.roundsNeeded !== null && last.roundsNeeded > 8, String(last.roundsNeeded));
    assert.match(last.reason, /too noisy at the budget of 8 rounds; about \d+ more \(\d+ in all\) would be needed/);
  });

  it('a change sitting exactly on minChange with a wide equivalence: no number of rounds settles it', () => {
    assert.equal(roundsNeeded(Math.log1p(0.005), 0.001, { ...ICOUNT, minChange: 0.0051, equivalence: 0.004 }), null);
    assert.ok((roundsNeeded(0, 0.001, ICOUNT) ?? 0) >= 3);
  });

  it('higher is better only by default: a drop in a lower-is-better metric is an improvement', () => {
    const c = compareSequential([100, 100, 100], [90, 90.01, 89.99], ICOUNT, { higherIsBetter: false });
    assert.equal(c.verdict, 'improvement');
  });

  it('refuses rounds that do not pair, non-positive rates and a budget below its minimum', () => {
    assert.throws(() => compareSequential([1, 2], [1], ICOUNT), /do not pair/);
    assert.throws(() => compareSequential([1, 0, 1], [1, 1, 1], ICOUNT), /not a positive rate/);
    assert.throws(() => compareSequential([1], [1], { ...ICOUNT, maxRounds: 2 }), /maxRounds/);
    assert.equal(plannedLooks({ minRounds: 3, maxRounds: 8 }), 6);
  });
});
