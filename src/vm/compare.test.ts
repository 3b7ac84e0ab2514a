import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SplatSummary } from './outcome.js';
import { compareRuns, settle } from './compare.js';

const splat = (fingerprint: string): SplatSummary => ({
  kind: 'warning',
  title: fingerprint,
  fingerprint,
  test: null,
  excerpt: [],
});

describe('settle', () => {
  it('first attempt decides unless a retry passes', () => {
    assert.equal(settle(['pass']), 'pass');
    assert.equal(settle(['skip']), 'skip');
    assert.equal(settle(['fail', 'fail']), 'fail');
    assert.equal(settle(['crash', 'pass']), 'flaky');
    assert.equal(settle(['timeout']), 'fail');
    assert.equal(settle([]), 'not-run');
  });
});

describe('compareRuns', () => {
  it('blames the series only for tests that passed on the base', () => {
    const base = [
      { name: 'a', attempts: ['pass' as const] },
      { name: 'b', attempts: ['fail' as const, 'fail' as const] },
      { name: 'c', attempts: ['pass' as const] },
      { name: 'd', attempts: ['fail' as const, 'pass' as const] },
      { name: 'e', attempts: ['fail' as const, 'fail' as const] },
    ];
    const series = [
      { name: 'a', attempts: ['fail' as const, 'fail' as const] },
      { name: 'b', attempts: ['fail' as const, 'fail' as const] },
      { name: 'c', attempts: ['crash' as const, 'pass' as const] },
      { name: 'd', attempts: ['fail' as const, 'fail' as const] },
      { name: 'e', attempts: ['pass' as const] },
      { name: 'f', attempts: [] },
    ];
    const c = compareRuns(base, series, { base: [splat('old')], series: [splat('old'), splat('new'), splat('new')] });
    assert.deepEqual(
      c.newFailures.map((r) => r.name),
      ['a'],
    );
    assert.deepEqual(
      c.preExisting.map((r) => r.name),
      ['b'],
    );
    assert.deepEqual(
      c.flaky.map((r) => r.name),
      ['c', 'd'],
    );
    assert.deepEqual(
      c.fixed.map((r) => r.name),
      ['e'],
    );
    assert.deepEqual(c.notRun, ['f']);
    assert.deepEqual(
      c.newSplats.map((s) => s.fingerprint),
      ['new'],
      'one entry per fingerprint',
    );
    assert.deepEqual(
      c.preExistingSplats.map((s) => s.fingerprint),
      ['old'],
    );
  });

  it("a failure the base's history has seen before is flaky, not new", () => {
    const base = [
      { name: 'a', attempts: ['pass' as const] },
      { name: 'b', attempts: ['pass' as const] },
    ];
    const series = [
      { name: 'a', attempts: ['fail' as const, 'fail' as const] },
      { name: 'b', attempts: ['fail' as const, 'fail' as const] },
    ];
    const c = compareRuns(
      base,
      series,
      { base: [], series: [] },
      { a: { recent: ['pass', 'flaky', 'pass', 'fail'] }, b: { recent: ['pass', 'pass', 'skip'] } },
    );
    assert.deepEqual(
      c.flaky.map((r) => [r.name, r.history]),
      [['a', 'fails or is flaky in 2 of the last 4 base runs']],
    );
    assert.deepEqual(
      c.newFailures.map((r) => [r.name, r.history]),
      [['b', 'fails or is flaky in 0 of the last 3 base runs']],
    );
  });

  it('a quarantined test that fails or flakes is listed apart and blames nothing; its splats still count', () => {
    const base = ['a', 'b', 'c', 'd'].map((name) => ({ name, attempts: ['pass' as const] }));
    const series = [
      { name: 'a', attempts: ['fail' as const, 'fail' as const] },
      { name: 'b', attempts: ['fail' as const, 'pass' as const] },
      { name: 'c', attempts: ['pass' as const] },
      { name: 'd', attempts: ['fail' as const, 'fail' as const] },
    ];
    const why = new Map([
      ['a', 'hangs on TCG'],
      ['b', 'races the timer'],
      ['c', 'unused'],
    ]);
    const newSplat = { ...splat('oops'), test: 'a' };
    const c = compareRuns(base, series, { base: [], series: [newSplat] }, {}, why);
    assert.deepEqual(
      c.quarantined.map((r) => [r.name, r.series, r.quarantine]),
      [
        ['a', 'fail', 'hangs on TCG'],
        ['b', 'flaky', 'races the timer'],
      ],
    );
    assert.deepEqual(
      c.newFailures.map((r) => r.name),
      ['d'],
    );
    assert.deepEqual(c.flaky, []);
    assert.deepEqual(
      c.newSplats.map((s) => s.test),
      ['a'],
    );
  });
});
