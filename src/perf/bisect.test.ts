import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../log.js';
import { fakePktgenRunner } from '../testing/pktgen-runner.js';
import { bisectSeries, nextProbe, type SeriesPrefix } from './bisect.js';
import { CLOCK_THRESHOLDS } from './plan.js';

/**
 * Kernels "k1".."k4" are the prefixes; from `slowFrom` on, throughput is 8%
 * lower, with a small deterministic spread between rounds and runs.
 */
function fakeRunner(slowFrom: number) {
  return fakePktgenRunner((req, i) => {
    const k = req.kernel === 'base' ? 0 : Number(req.kernel.slice(1));
    return 372_292 * (k >= slowFrom ? 0.92 : 1) * (1 + (((req.round * 7 + i * 3) % 9) - 4) / 1000);
  });
}

const prefixes: SeriesPrefix[] = [1, 2, 3, 4].map((c) => ({ counter: c, title: `patch ${c}`, kernel: `k${c}` }));
const plan = {
  scenarios: [
    { name: 'dummy-xmit', description: '', run: './xmit.sh', env: { PKTGEN_COUNT: '1000000' }, timeoutSeconds: 60 },
  ],
  rounds: 8,
  minRounds: 3,
  warmup: 0,
  repetitions: 1,
};
const opts = {
  thresholds: { ...CLOCK_THRESHOLDS.wall, minRounds: 3, maxRounds: 8 },
  unit: 'session' as const,
  outDir: '/tmp/unused',
  log: silentLogger,
};

describe('perf bisection over a series', () => {
  it('probes the middle of the open interval', () => {
    assert.equal(nextProbe(-1, 3), 1);
    assert.equal(nextProbe(1, 3), 2);
    assert.equal(nextProbe(2, 3), null);
  });

  for (const slowFrom of [1, 2, 3, 4]) {
    it(`names patch ${slowFrom} when it is the first slow prefix, in at most 2 probes of 4 patches`, async () => {
      const runner = fakeRunner(slowFrom);
      const r = await bisectSeries(runner, plan, 'base', prefixes, 'dummy-xmit', opts);
      assert.deepEqual(r.culprit, { counter: slowFrom, title: `patch ${slowFrom}` });
      assert.ok(r.probes.length <= 2);
      assert.equal(r.note, null);
      // Each probe stops at its first decisive look, well before the budget's 8 rounds (16 boots).
      assert.ok(runner.requests.length <= r.probes.length * 8, `${runner.requests.length} boots`);
      for (const p of r.probes) assert.equal(p.verdict, p.counter >= slowFrom ? 'regression' : 'no-change');
    });
  }

  it('without per-patch kernels there is nothing to bisect', async () => {
    const r = await bisectSeries(fakeRunner(1), plan, 'base', [], 'dummy-xmit', opts);
    assert.equal(r.culprit, null);
    assert.match(r.note!, /without --per-patch/);
  });
});
