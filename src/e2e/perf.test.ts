/**
 * `ksci perf` end to end: the real binary boots Debian's prebuilt 6.12
 * kernel (scripts/test-kernel.sh, with the pktgen/dummy/veth modules it
 * builds as =m) in QEMU, base and "series" interleaved, and runs every
 * pktgen scenario of selftests/pktgen. An A/A comparison with two sessions a
 * side: the numbers must be real and parsed, and the verdict must admit it
 * has too few samples rather than claim anything.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import type { AbRun, ScenarioVerdict } from '../perf/ab.js';
import { repoRoot } from '../testing/paths.js';
import { testKernel, vmTestSkip } from '../testing/vm.js';

const execFileP = promisify(execFile);
const skip = await vmTestSkip(['/usr/bin/ip']);

describe('ksci perf on a real kernel in QEMU', { skip, timeout: 15 * 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ksci-perf-e2e-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('A/A on Debian 6.12: every scenario gives real pktgen numbers from every session, and n=2 is called too few', async () => {
    const kernel = testKernel();
    const list = join(dirname(kernel), `modules-${kernel.split('/vmlinuz-')[1]}`, 'modules.list');
    const modules = readFileSync(list, 'utf8').trim().split('\n');
    const { stdout } = await execFileP(
      join(repoRoot, 'bin', 'ksci'),
      [
        'perf',
        '--base',
        kernel,
        '--series',
        kernel,
        '--modules',
        modules.join(','),
        '--rounds',
        '2',
        '--warmup',
        '1',
        '--repetitions',
        '2',
        '--set',
        'PKTGEN_COUNT=100000',
        '--json',
        '-o',
        join(dir, 'out'),
      ],
      { env: { ...process.env, KSCI_DATA_DIR: join(dir, 'data'), KSCI_LOG_LEVEL: 'warn' }, maxBuffer: 64 << 20 },
    );
    const { run, verdicts } = JSON.parse(stdout) as { run: AbRun; verdicts: ScenarioVerdict[] };

    assert.equal(run.stoppedBy, null, `a session failed: ${JSON.stringify(run.stoppedBy)}`);
    assert.deepEqual(
      run.sessions.map((s) => `${s.side}${s.round}`),
      ['base1', 'series1', 'series2', 'base2'],
    );
    assert.ok(
      run.sessions.every((s) => kernel.endsWith(`vmlinuz-${s.kernelRelease}`)),
      'the guest ran the kernel given',
    );
    assert.deepEqual(run.invalid, [], 'no run was dropped');
    assert.deepEqual(
      verdicts.map((v) => v.scenario),
      ['dummy-xmit', 'veth-xmit', 'rx-meta'],
    );
    for (const v of verdicts) {
      assert.equal(v.base.length, 2, `${v.scenario}: one number per base session`);
      assert.equal(v.series.length, 2, `${v.scenario}: one number per series session`);
      assert.equal(v.comparison?.verdict, 'noisy', `${v.scenario}: two samples a side cannot tell anything`);
      assert.match(v.comparison!.reason, /only 2 base and 2 series samples/);
    }
    // Each kept run is one parsed pktgen result per device: 100000 packets, a positive rate, the device the scenario drives.
    assert.equal(run.samples.length, 3 * 2 * 2 * 2);
    for (const s of run.samples) {
      assert.equal(s.results.length, 1);
      const r = s.results[0]!;
      assert.equal(r.packets, 100_000);
      assert.ok(r.pps > 1000 && r.pps < 50_000_000, `${s.scenario}: ${r.pps} pps`);
      assert.equal(
        r.device,
        { 'dummy-xmit': 'dummy0@0', 'veth-xmit': 'ksci-veth0@0', 'rx-meta': 'ksci-rx0@0' }[s.scenario],
      );
      assert.equal(
        s.env['kernel_release'],
        run.sessions[0]!.kernelRelease,
        'the scenario recorded the kernel it ran on',
      );
    }
    const rx = run.samples.find((s) => s.scenario === 'rx-meta')!;
    assert.equal(rx.results[0]!.params['xmit_mode'], 'netif_receive');
    assert.equal(rx.results[0]!.errors, 100_000, 'every rx-meta packet was dropped at tc');
  });
});
