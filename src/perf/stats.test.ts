import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRng } from '../random.js';
import { formatPct, formatPps, median, summarize } from './stats.js';

const close = (actual: number, expected: number, tol: number, what = '') =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what} expected ${expected} ± ${tol}, got ${actual}`);

describe('median / summarize', () => {
  it('odd, even, unsorted, single', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([7]), 7);
    const xs = [5, 1, 4];
    median(xs);
    assert.deepEqual(xs, [5, 1, 4], 'input not mutated');
  });

  it('summarize: sample stddev (n - 1), cv, min, max', () => {
    // mean 5, squared deviations sum 32, sample variance 32/7.
    const s = summarize([2, 4, 4, 4, 5, 5, 7, 9]);
    assert.equal(s.n, 8);
    assert.equal(s.median, 4.5);
    assert.equal(s.mean, 5);
    close(s.stddev, Math.sqrt(32 / 7), 1e-12);
    close(s.cv, Math.sqrt(32 / 7) / 5, 1e-12);
    assert.deepEqual([s.min, s.max], [2, 9]);
    assert.equal(summarize([3]).stddev, 0);
  });

  it('bad input throws', () => {
    assert.throws(() => median([]), /at least one sample/);
    assert.throws(() => summarize([]), /at least one sample/);
    assert.throws(() => median([1, NaN]), /sample 1 is not a finite number/);
    assert.throws(() => summarize([1, Infinity]), /not a finite number/);
  });
});

describe('seededRng', () => {
  it('seededRng is deterministic, in [0, 1), and seed-dependent', () => {
    const a = seededRng(42);
    const b = seededRng(42);
    const xs = Array.from({ length: 1000 }, () => a());
    assert.deepEqual(
      xs,
      Array.from({ length: 1000 }, () => b()),
    );
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    close(xs.reduce((s, x) => s + x, 0) / xs.length, 0.5, 0.05, 'mean');
    assert.notEqual(seededRng(43)(), seededRng(42)());
  });
});

describe('formatting', () => {
  it('rates with thousands separators, changes signed to one decimal, never "-0.0%"', () => {
    assert.equal(formatPps(372_291.6), '372,292');
    assert.equal(formatPct(-0.0481), '-4.8%');
    assert.equal(formatPct(0.003), '+0.3%');
    assert.equal(formatPct(-0.0004), '0.0%');
  });
});
