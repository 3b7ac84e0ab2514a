import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fixturePath } from '../testing/paths.js';
import { analyzeAb, sessionOrder, sessionRuns, samplesOf, unitValues, type AbRun, type PerfSample } from './ab.js';
import type { PerfScenario, PerfSessionResult } from './runner.js';
import { DEFAULT_THRESHOLDS } from './stats.js';

const scenario = (name: string, count = 1_000_000): PerfScenario => ({
  name,
  description: name,
  run: `./${name}.sh`,
  env: { PKTGEN_COUNT: String(count) },
  timeoutSeconds: 60,
});
const file = (name: string) => readFileSync(fixturePath('pktgen', name));

describe('A/B order', () => {
  it('alternates base and series and swaps who goes first every round (A B B A ...)', () => {
    assert.deepEqual(
      sessionOrder(3).map((s) => `${s.side[0]}${s.round}`),
      ['b1', 's1', 's2', 'b2', 'b3', 's3'],
    );
  });

  it('a session runs the warm-ups first, then the repetitions with scenarios interleaved', () => {
    const runs = sessionRuns({ scenarios: [scenario('a'), scenario('b')], warmup: 1, repetitions: 2 });
    assert.deepEqual(
      runs.map((r) => `${r.scenario.name}.${r.warmup ? 'w' : 'r'}${r.rep}`),
      ['a.w1', 'b.w1', 'a.r1', 'b.r1', 'a.r2', 'b.r2'],
    );
  });
});

describe("samplesOf: a session's runs become samples or reasons, never made-up numbers", () => {
  const session = (runs: PerfSessionResult['runs']): PerfSessionResult => ({
    failure: null,
    runs,
    kernelRelease: '6.12.117+deb12-amd64',
    splats: [],
    logFile: '/dev/null',
    where: 'qemu tcg 2 vCPUs',
  });
  const ok = { exitCode: 0, timedOut: false, output: [] };

  it('a real finished run is a sample with its environment; warm-ups are dropped', () => {
    const s = session([
      { scenario: 'dummy-xmit', rep: 1, warmup: true, ...ok, files: { 'pktgen.dummy0': file('shared-dummy0.txt') } },
      {
        scenario: 'dummy-xmit',
        rep: 1,
        warmup: false,
        ...ok,
        files: { 'pktgen.dummy0': file('shared-dummy0.txt'), env: file('env.txt') },
      },
    ]);
    const { samples, invalid } = samplesOf('base', 2, s, [scenario('dummy-xmit')]);
    assert.deepEqual(invalid, []);
    assert.equal(samples.length, 1);
    assert.deepEqual(
      [samples[0]!.pps, samples[0]!.round, samples[0]!.side, samples[0]!.env['cpu_model'], samples[0]!.env['where']],
      [372_292, 2, 'base', 'QEMU TCG CPU version 2.5+', 'qemu tcg 2 vCPUs'],
    );
  });

  it('a failing, timed-out, short or idle run is invalid, with why', () => {
    const s = session([
      {
        scenario: 'x',
        rep: 1,
        warmup: false,
        exitCode: 1,
        timedOut: false,
        output: ['pktgen scenario: no /proc/net/pktgen: the kernel lacks CONFIG_NET_PKTGEN', ''],
        files: {},
      },
      { scenario: 'x', rep: 2, warmup: false, exitCode: 143, timedOut: true, output: [], files: {} },
      { scenario: 'x', rep: 3, warmup: false, ...ok, files: { 'pktgen.dummy0@0': file('stopped.txt') } },
      { scenario: 'x', rep: 4, warmup: false, ...ok, files: { 'pktgen.dummy0@0': file('idle.txt') } },
    ]);
    const { samples, invalid } = samplesOf('series', 1, s, [scenario('x')]);
    assert.deepEqual(samples, []);
    assert.deepEqual(
      invalid.map((x) => x.reason),
      [
        'exit 1: pktgen scenario: no /proc/net/pktgen: the kernel lacks CONFIG_NET_PKTGEN',
        'timed out',
        'pktgen on dummy0@0 stopped early: 537965 of 1000000 packets sent',
        'pktgen never ran on dummy0@0 (Result: Idle)',
      ],
    );
  });
});

describe('analyzeAb', () => {
  const sample = (side: 'base' | 'series', round: number, rep: number, pps: number): PerfSample => ({
    scenario: 'a',
    side,
    round,
    rep,
    pps,
    results: [],
    env: {},
  });

  it('session unit: one median per round; run unit: every run', () => {
    const xs = [
      sample('base', 1, 1, 100),
      sample('base', 1, 2, 300),
      sample('base', 1, 3, 200),
      sample('base', 2, 1, 50),
    ];
    assert.deepEqual(unitValues(xs, 'session'), [200, 50]);
    assert.deepEqual(unitValues(xs, 'run'), [100, 300, 200, 50]);
  });

  it('a clear drop on every round is a regression; a side without samples is no comparison', () => {
    const samples: PerfSample[] = [];
    for (let r = 1; r <= 8; r++) {
      for (let k = 1; k <= 3; k++) {
        samples.push(sample('base', r, k, 1000 + ((r * 7 + k * 3) % 11)));
        samples.push(sample('series', r, k, 900 + ((r * 5 + k * 2) % 11)));
      }
    }
    const run: AbRun = {
      sessions: [],
      samples,
      invalid: [{ scenario: 'b', side: 'series', round: 1, rep: 1, reason: 'exit 1: boom' }],
      stoppedBy: null,
    };
    const [a, b] = analyzeAb(run, [scenario('a'), scenario('b')], DEFAULT_THRESHOLDS, 'session');
    assert.equal(a!.comparison!.verdict, 'regression');
    assert.equal(a!.base.length, 8);
    assert.equal(b!.comparison, null);
    assert.equal(b!.missing, 'no valid base samples');
  });
});
