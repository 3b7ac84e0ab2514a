/**
 * The perf stage in a real pipeline (private redis-server, PGlite, the real
 * coordinator and workers): a scripted build stage hands it Debian's
 * prebuilt 6.12 as both the base and the series kernel (perf.modules ships
 * the pktgen/dummy/veth modules Debian builds as =m), and the stage boots it
 * in QEMU, A/A, two rounds. What is checked is the plumbing around real
 * numbers: the stage's verdict and summary, the samples in perf_samples, the
 * report's perf section.
 */
import assert from 'node:assert/strict';
import { kvmDevice } from '../../vm/qemu.js';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BuildOutcome } from '../../build/kernel.js';
import type { BuildStageData } from '../build/result.js';
import { sandboxAvailable } from '../../sandbox/run.js';
import { fakeSeries, startPipeline, type Pipeline } from '../../testing/harness.js';
import { testKernel } from '../../testing/vm.js';
import { scriptedStage } from '../../testing/stages.js';
import { perfStage } from './stage.js';
import { reportStage } from '../report/stage.js';

const required = process.env['KSCI_REQUIRE_E2E'] === '1';
const sandbox = await sandboxAvailable();
const skip = required ? false : !sandbox.ok ? 'bubblewrap cannot run here' : false;

describe('perf stage in the pipeline, on a real kernel', { skip, timeout: 10 * 60_000 }, () => {
  let p: Pipeline;
  let dir: string;
  before(async () => {
    const kernel = testKernel();
    const modules = readFileSync(
      join(dirname(kernel), `modules-${kernel.split('/vmlinuz-')[1]}`, 'modules.list'),
      'utf8',
    )
      .trim()
      .split('\n');
    dir = mkdtempSync(join(tmpdir(), 'ksci-perf-stage-'));
    const artifacts = join(dir, 'artifacts');
    mkdirSync(artifacts);
    symlinkSync(kernel, join(artifacts, 'bzImage'));
    const outcome: BuildOutcome = {
      config: 'perf',
      commit: 'a'.repeat(40),
      treeId: 'b'.repeat(40),
      status: 'ok',
      cacheHit: true,
      durationMs: 0,
      artifactKey: 'debian',
      artifactDir: artifacts,
      configMismatches: [],
      firstError: null,
      errors: [],
      failedTargets: [],
      warnings: [],
      steps: 0,
      networkAttempt: false,
      logTail: [],
    };
    const built: BuildStageData = {
      toolchain: 'gcc',
      toolchainVersions: {},
      builds: [
        {
          config: 'perf',
          configHash: 'debian',
          base: outcome,
          series: outcome,
          perPatch: [],
          warnings: { before: 0, after: 0, added: [], removed: [] },
          selftests: null,
        },
      ],
    };
    const build = scriptedStage('build', async () => ({
      status: 'passed',
      summary: 'the prebuilt Debian kernel',
      data: built,
    }));
    p = await startPipeline([build, perfStage, reportStage([perfStage])], {
      config: {
        stages: ['apply', 'build', 'perf'],
        perf: { rounds: 2, warmup: 0, repetitions: 1, set: { PKTGEN_COUNT: 50000 }, modules },
      },
    });
  });
  after(async () => {
    await p?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('A/A: real samples for every scenario, stored, reported; two rounds a side are too few to call anything', async () => {
    const sub = await p.coordinator.submit(fakeSeries('perf plumbing'), {
      source: { kind: 'mbox', ref: 'test' },
      build: { perf: true },
    });
    const run = await p.coordinator.waitForRun(sub.runId, 9 * 60_000);
    const perf = run.stages.find((s) => s.name === 'perf')!;
    assert.equal(perf.status, 'passed', `${perf.error ?? ''} ${run.reportText ?? ''}`);
    assert.equal(run.status, 'passed');
    assert.match(
      run.reportText ?? '',
      /perf\s+passed\s+pktgen: dummy-xmit too noisy to tell \([+-]\d+\.\d%\), veth-xmit too noisy to tell/,
    );
    assert.match(
      run.reportText ?? '',
      /suite pktgen \(config perf, runner vm\): base aaaaaaaaaaaa, series aaaaaaaaaaaa; 2 rounds of 0 warm-up \+ 1 runs/,
    );
    assert.match(
      run.reportText ?? '',
      /2 paired rounds, look 1 of 1, .*too noisy at the budget of 2 rounds; about \d+ more/,
    );
    assert.match(run.reportText ?? '', /ksci perf --base .*bzImage --series .*bzImage --suite pktgen/);
    const samples = await p.services.store!.perfSamples(sub.runId);
    assert.equal(samples.length, 3 * 2 * 2, 'three scenarios, two rounds, two sides, one run each');
    assert.deepEqual([...new Set(samples.map((s) => s.scenario))].sort(), [
      'pktgen/dummy-xmit',
      'pktgen/rx-meta',
      'pktgen/veth-xmit',
    ]);
    for (const s of samples) {
      assert.equal(s.metric, 'pps');
      assert.ok(s.value > 1000, `${s.scenario}: ${s.value} pps`);
      assert.equal(s.env['commit'], 'a'.repeat(40));
      assert.match(String(s.env['kernel_release']), /^6\.12\./);
      // perf.clock auto: icount under TCG, wall under KVM; every stored sample says which.
      assert.equal(s.env['clock'], kvmDevice() ? 'wall' : 'icount shift=0,sleep=off,align=off');
    }
  });
});
