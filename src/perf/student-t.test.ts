import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tQuantile, twoSidedP } from './student-t.js';

describe('tQuantile', () => {
  // Reference values: scipy.stats.t.ppf (and @stdlib's t quantile, which agree to 1e-12).
  const cases: [oneSided: number, df: number, q: number][] = [
    [0.975, 2, 4.302652729749462],
    [1 - 0.01 / 12, 2, 24.464268168374964],
    [1 - 0.01 / 12, 3, 10.868783894160021],
    [0.995, 7, 3.4994832973504932],
    [0.9995, 30, 3.6459586350420627],
  ];
  for (const [level, df, q] of cases)
    it(`the ${level} quantile at ${df} degrees of freedom is ${q.toFixed(6)}`, () => {
      const got = tQuantile(2 * (1 - level), df);
      assert.ok(Math.abs(got - q) <= 1e-8 * q, `${got}`);
      assert.ok(Math.abs(twoSidedP(got, df) - 2 * (1 - level)) < 1e-12);
    });

  it('refuses a tail outside (0, 1) and a df that is not positive', () => {
    assert.throws(() => tQuantile(0, 3), /not in \(0, 1\)/);
    assert.throws(() => tQuantile(0.05, 0), /df 0/);
  });
});
