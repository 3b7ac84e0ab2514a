import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testConfig } from '../testing/harness.js';

const config = (perf?: unknown) => testConfig('/var/lib/ksci', perf ? { perf } : {});

describe('perf config: clocks and thresholds', () => {
  it('defaults: clock auto, icount shift 0 with sleep and align off, 3 to 8 rounds, no threshold overrides', () => {
    const { perf } = config();
    assert.equal(perf.clock, 'auto');
    assert.deepEqual(perf.icount, { shift: 0, sleep: false, align: false });
    assert.deepEqual([perf.minRounds, perf.rounds], [3, 8]);
    assert.deepEqual(perf.thresholds, {});
    assert.equal(perf.nightly.minChange, undefined, 'per clock unless set');
  });

  it('thresholds are per clock; the flat shape of before is refused by name, not silently dropped', () => {
    assert.deepEqual(config({ thresholds: { icount: { minChange: 0.01 } } }).perf.thresholds, {
      icount: { minChange: 0.01 },
    });
    assert.throws(() => config({ thresholds: { minChange: 0.05 } }), /minChange/);
    assert.throws(() => config({ clock: 'cycles' }), /clock/);
  });
});
