/**
 * `ksci perf` end to end: the real binary boots Debian's prebuilt 6.12
 * kernel (scripts/test-kernel.sh, with the pktgen/dummy/veth modules it
 * builds as =m) in QEMU under instruction counting, base and "series"
 * interleaved, and runs every pktgen scenario of selftests/pktgen. An A/A
 * comparison must give real, parsed numbers and "no change" within the
 * icount band; the same kernel booted with init_on_free=1 (a real cost on
 * every free) on the series side must be a regression, found in the first
 * look's three rounds.
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

describe('ksci perf on a real kernel in QEMU, icount', { skip, timeout: 20 * 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ksci-perf-e2e-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** `ksci perf` of the test kernel against itself; its JSON and exit code (1: the verdict failed the comparison). */
  async function perf(out: string, extra: string[]) {
    const kernel = testKernel();
    const list = join(dirname(kernel), `modules-${kernel.split('/vmlinuz-')[1]}`, 'modules.list');
    const modules = readFileSync(list, 'utf8').trim().split('\n');
    const argv = [
      'perf',
      ...['--base', kernel, '--series', kernel, '--modules', modules.join(','), '--clock', 'icount'],
      ...['--warmup', '1', '--repetitions', '2', '--set', 'PKTGEN_COUNT=100000', '--json', '-o', join(dir, out)],
      ...extra,
    ];
    const env = { ...process.env, KSCI_DATA_DIR: join(dir, 'data'), KSCI_LOG_LEVEL: 'warn' };
    let stdout: string;
    let code = 0;
    try {
      ({ stdout } = await execFileP(join(repoRoot, 'bin', 'ksci'), argv, { env, maxBuffer: 64 << 20 }));
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      if (typeof e.code !== 'number' || !e.stdout) throw err;
      ({ stdout, code } = { stdout: e.stdout, code: e.code });
    }
    return { kernel, code, ...(JSON.parse(stdout) as { run: AbRun; verdicts: ScenarioVerdict[] }) };
  }

  it('A/A on Debian 6.12: every scenario gives real pktgen numbers from every session, and dummy-xmit is "no change" within ±0.5%', async () => {
    const { kernel, code, run, verdicts } = await perf('aa', []);
    assert.equal(run.stoppedBy, null, `a session failed: ${JSON.stringify(run.stoppedBy)}`);
    assert.equal(run.clock, 'icount shift=0,sleep=off,align=off');
    const rounds = run.sessions.length / 2;
    assert.ok(Number.isInteger(rounds) && rounds >= 3 && rounds <= 8, `${run.sessions.length} sessions`);
    assert.deepEqual(
      run.sessions.slice(0, 4).map((s) => `${s.side}${s.round}`),
      ['base1', 'series1', 'series2', 'base2'],
    );
    assert.ok(
      run.sessions.every((s) => kernel.endsWith(`vmlinuz-${s.kernelRelease}`) && s.where.includes('icount')),
      'the guest ran the kernel given, under icount',
    );
    assert.deepEqual(run.invalid, [], 'no run was dropped');
    assert.deepEqual(
      verdicts.map((v) => v.scenario),
      ['dummy-xmit', 'veth-xmit', 'rx-meta'],
    );
    for (const v of verdicts) {
      assert.equal(v.base.length, rounds, `${v.scenario}: one number per base session`);
      assert.notEqual(v.comparison?.verdict, 'regression', `${v.scenario}: ${v.comparison?.reason}`);
      assert.notEqual(v.comparison?.verdict, 'improvement', `${v.scenario}: ${v.comparison?.reason}`);
    }
    const dummy = verdicts[0]!.comparison!;
    assert.equal(dummy.verdict, 'no-change', dummy.reason);
    assert.ok(dummy.ci[0] >= -0.005 && dummy.ci[1] <= 0.005, `CI ${dummy.ci}`);
    assert.equal(code, 0);
    // Each kept run is one parsed pktgen result per device: 100000 packets, a positive rate, the device the scenario drives.
    assert.equal(run.samples.length, 3 * 2 * rounds * 2);
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

  it('the same kernel with init_on_free=1 on the series side: a dummy-xmit regression at the first look', async () => {
    const { code, run, verdicts } = await perf('init-on-free', [
      '--only',
      'dummy-xmit',
      '--series-append',
      'init_on_free=1',
    ]);
    assert.equal(run.stoppedBy, null);
    const c = verdicts[0]!.comparison!;
    assert.equal(c.verdict, 'regression', c.reason);
    assert.ok(c.change < -0.05 && c.ci[1] < -0.05, `${c.change} ${c.ci}`);
    assert.equal(c.rounds, 3, 'decided at the first look');
    assert.equal(run.sessions.length, 6, 'and stopped there');
    assert.equal(code, 1, 'a regression fails the comparison');
  });
});
