/**
 * Opt-in (KSCI_E2E_PERF=1): the perf stage through the whole pipeline.
 * `ksci run --perf-bisect` on examples/series/slow-path.mbox, whose second
 * patch allocates (and frees) a 64-byte object in __alloc_skb for every skb:
 * the perf config kernels of the base, of patch 1 and of the series are
 * built, booted in QEMU in interleaved rounds, and the regression must be
 * found and bisected to patch 2. Warm (ccache), about 20 minutes on 2
 * cores; cold, add a perf config build (~15 min). CI runs `ksci perf` on a
 * prebuilt kernel instead (src/e2e/perf.test.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../testing/paths.js';

const skip = process.env['KSCI_E2E_PERF'] === '1' ? false : 'opt-in: KSCI_E2E_PERF=1';

describe('perf stage end to end', { skip, timeout: 3 * 3600_000 }, () => {
  let dataDir: string;
  before(() => {
    dataDir = process.env['KSCI_E2E_PERF_DATA_DIR'] || mkdtempSync(join(tmpdir(), 'ksci-e2e-perf-'));
  });
  after(() => {
    if (!process.env['KSCI_E2E_PERF_DATA_DIR']) rmSync(dataDir, { recursive: true, force: true });
  });

  it('slow-path: the per-skb allocation is a dummy-xmit regression, bisected to patch 2', () => {
    const r = spawnSync(
      process.execPath,
      [
        join(repoRoot, 'bin/ksci'),
        'run',
        '--perf-bisect',
        '--force',
        join(repoRoot, 'examples', 'series', 'slow-path.mbox'),
      ],
      {
        encoding: 'utf8',
        env: {
          ...process.env,
          KSCI_DATA_DIR: dataDir,
          KSCI_CONFIG: '',
          REDIS_URL: '',
          DATABASE_URL: '',
          KSCI_LOG_LEVEL: 'warn',
          XDG_CONFIG_HOME: dataDir,
        },
        timeout: 3 * 3600_000,
      },
    );
    assert.equal(r.status, 1, r.stderr + r.stdout);
    assert.match(r.stdout, /perf\s+failed\s+pktgen: .*dummy-xmit REGRESSION \(-\d+\.\d%\)/);
    assert.match(
      r.stdout,
      /dummy-xmit: TX into dummy0.*\n\s+REGRESSION: [\d,]+ -> [\d,]+ pps, -\d+\.\d% \(CI -\d+\.\d% \.\. -\d+\.\d%\), \d rounds of at most 8, clock (icount|wall)\n/,
    );
    assert.match(
      r.stdout,
      /bisect \S+: patch 2 "net: skbuff: allocate a metadata object for every skb" is the first that costs the throughput/,
    );
    assert.match(r.stdout, /probes: patch 1: (no-change|noisy)/);
  });
});
