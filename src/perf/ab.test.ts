import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fixturePath } from '../testing/paths.js';
import { fakePktgenRunner } from '../testing/pktgen-runner.js';
import {
  analyzeAb,
  runAb,
  sessionOrder,
  sessionRuns,
  samplesOf,
  unitValues,
  type AbRun,
  type PerfSample,
} from './ab.js';
import type { PerfScenario, PerfSessionResult } from './runner.js';
import { silentLogger } from '../log.js';
import { CLOCK_THRESHOLDS } from './plan.js';

const WALL = { ...CLOCK_THRESHOLDS.wall, minRounds: 3, maxRounds: 8 };
const ICOUNT = { ...CLOCK_THRESHOLDS.icount, minRounds: 3, maxRounds: 8 };

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
    const { samples, invalid } = samplesOf(
      'base',
      2,
      s,
      [scenario('dummy-xmit')],
      'icount shift=0,sleep=off,align=off',
    );
    assert.deepEqual(invalid, []);
    assert.equal(samples.length, 1);
    assert.deepEqual(
      [
        samples[0]!.pps,
        samples[0]!.round,
        samples[0]!.side,
        samples[0]!.env['cpu_model'],
        samples[0]!.env['where'],
        samples[0]!.env['clock'],
      ],
      [372_292, 2, 'base', 'QEMU TCG CPU version 2.5+', 'qemu tcg 2 vCPUs', 'icount shift=0,sleep=off,align=off'],
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
    const { samples, invalid } = samplesOf('series', 1, s, [scenario('x')], 'wall');
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
      clock: 'wall',
      sessions: [],
      samples,
      invalid: [{ scenario: 'b', side: 'series', round: 1, rep: 1, reason: 'exit 1: boom' }],
      stoppedBy: null,
    };
    const [a, b] = analyzeAb(run, [scenario('a'), scenario('b')], WALL, 'session');
    assert.equal(a!.comparison!.verdict, 'regression');
    assert.equal(a!.base.length, 8);
    assert.equal(b!.comparison, null);
    assert.equal(b!.missing, 'no valid base samples');
  });
});

describe('runAb: adaptive rounds', () => {
  const ICOUNT_CLOCK = { name: 'icount' as const, icount: { shift: 0, sleep: false, align: false } };
  /** Every run at the capture's rate scaled by `scale(kernel, round)`. */
  const runner = (scale: (kernel: string, round: number) => number) =>
    fakePktgenRunner((req) => 372_292 * scale(req.kernel, req.round), ICOUNT_CLOCK);
  const boots = (r: ReturnType<typeof runner>) =>
    r.requests.map((q) => `${q.label}${q.round}${q.append.length ? `+${q.append.join(' ')}` : ''}`);
  const plan = { scenarios: [scenario('dummy-xmit')], rounds: 8, minRounds: 3, warmup: 0, repetitions: 1 };
  const o = { outDir: '/tmp/unused', log: silentLogger };

  it('stops at the first decisive look: a 19% drop after 3 rounds, identical A/A rounds after 4; without a judge all 8 run', async () => {
    const slow = runner((k, r) => (k === 'series' ? 0.807 : 1) * (1 + r / 1e5));
    const judge = { thresholds: ICOUNT, unit: 'session' as const };
    const drop = await runAb(slow, plan, { base: 'base', series: 'series' }, { ...o, judge });
    assert.equal(drop.clock, 'icount shift=0,sleep=off,align=off');
    assert.equal(drop.sessions.length, 6);
    assert.equal(analyzeAb(drop, plan.scenarios, ICOUNT, 'session')[0]!.comparison!.verdict, 'regression');

    const same = runner(() => 1);
    const aa = await runAb(same, plan, { base: 'k', series: 'k' }, { ...o, judge });
    assert.equal(aa.sessions.length, 8);
    assert.equal(analyzeAb(aa, plan.scenarios, ICOUNT, 'session')[0]!.comparison!.verdict, 'no-change');

    const unjudged = await runAb(
      runner(() => 1),
      plan,
      { base: 'k', series: 'k' },
      o,
    );
    assert.equal(unjudged.sessions.length, 16);
  });

  it("each side boots with its own kernel arguments: the series' init_on_free=1, the base's none", async () => {
    const r = runner(() => 1);
    await runAb(
      r,
      { ...plan, rounds: 2, minRounds: 2 },
      { base: 'k', series: 'k' },
      { ...o, append: { series: ['init_on_free=1'] } },
    );
    assert.deepEqual(boots(r), ['base1', 'series1+init_on_free=1', 'series2+init_on_free=1', 'base2']);
  });
});
