/**
 * A/B throughput comparison of two kernels on one runner: the order of the
 * sessions, what a session runs, how its output becomes samples, and the
 * verdict per scenario. Only runAb does I/O (through the runner).
 */
import type { Logger } from '../log.js';
import { parseEnvFile, parseRunFiles, type PktgenResult } from '../pktgen/parse.js';
import { clockLabel } from './clock.js';
import type { PerfRunner, PerfRunSpec, PerfScenario, PerfSessionResult } from './runner.js';
import { compareSequential, type SequentialComparison, type SequentialThresholds } from './sequential.js';
import { median } from './stats.js';

export type Side = 'base' | 'series';

export interface AbPlan {
  scenarios: PerfScenario[];
  /** The most sessions (boots) per kernel: a comparison stops earlier once every scenario is decided. */
  rounds: number;
  /** Rounds before the first look at the verdict. */
  minRounds: number;
  /** Runs of each scenario at the start of every session whose numbers are dropped. */
  warmup: number;
  /** Kept runs of each scenario per session. */
  repetitions: number;
}

/**
 * Base and series alternate, and every other round swaps which goes first
 * (A B B A A B ...): a drift that is linear in time then costs both sides
 * the same, and neither always runs on a host that just finished the other.
 */
export function sessionOrder(rounds: number): { side: Side; round: number }[] {
  const order: { side: Side; round: number }[] = [];
  for (let r = 1; r <= rounds; r++) {
    const pair: Side[] = r % 2 === 1 ? ['base', 'series'] : ['series', 'base'];
    for (const side of pair) order.push({ side, round: r });
  }
  return order;
}

/** A session: every scenario's warm-ups, then the repetitions with the scenarios interleaved, so drift within a boot is shared too. */
export function sessionRuns(plan: Pick<AbPlan, 'scenarios' | 'warmup' | 'repetitions'>): PerfRunSpec[] {
  const runs: PerfRunSpec[] = [];
  for (let w = 1; w <= plan.warmup; w++)
    for (const scenario of plan.scenarios) runs.push({ scenario, rep: w, warmup: true });
  for (let r = 1; r <= plan.repetitions; r++)
    for (const scenario of plan.scenarios) runs.push({ scenario, rep: r, warmup: false });
  return runs;
}

/** One kept repetition: its throughput (all devices and threads together) and where it ran. */
export interface PerfSample {
  scenario: string;
  side: Side;
  round: number;
  rep: number;
  pps: number;
  results: PktgenResult[];
  env: Record<string, string>;
}

/** A kept repetition that gave no number, and why. */
export interface InvalidRun {
  scenario: string;
  side: Side;
  round: number;
  rep: number;
  reason: string;
}

export interface SessionRecord {
  side: Side;
  round: number;
  failure: PerfSessionResult['failure'];
  kernelRelease: string | null;
  splats: PerfSessionResult['splats'];
  logFile: string;
  where: string;
}

export interface AbRun {
  /** What timed the sessions (clockLabel): every sample of the run has it. */
  clock: string;
  sessions: SessionRecord[];
  samples: PerfSample[];
  invalid: InvalidRun[];
  /** Set when a session failed and the comparison stopped there. */
  stoppedBy: SessionRecord | null;
}

/** Turns one session's kept runs into samples; a run that failed or whose pktgen files do not add up is an InvalidRun, never a number. */
export function samplesOf(
  side: Side,
  round: number,
  session: PerfSessionResult,
  scenarios: PerfScenario[],
  clock: string,
): { samples: PerfSample[]; invalid: InvalidRun[] } {
  const samples: PerfSample[] = [];
  const invalid: InvalidRun[] = [];
  const byName = new Map(scenarios.map((s) => [s.name, s]));
  for (const run of session.runs) {
    if (run.warmup) continue;
    const at = { scenario: run.scenario, side, round, rep: run.rep };
    if (run.timedOut || run.exitCode !== 0) {
      const said = run.output.filter((l) => l.trim()).slice(-1)[0] ?? 'no output';
      invalid.push({ ...at, reason: run.timedOut ? 'timed out' : `exit ${run.exitCode}: ${said}` });
      continue;
    }
    const count = Number(byName.get(run.scenario)?.env['PKTGEN_COUNT'] ?? 0);
    const parsed = parseRunFiles(run.files, count > 0 ? { count } : {});
    if (!parsed.ok) {
      invalid.push({ ...at, reason: parsed.reason });
      continue;
    }
    const env = run.files['env'] ? parseEnvFile(run.files['env'].toString()) : {};
    samples.push({ ...at, pps: parsed.pps, results: parsed.results, env: { ...env, where: session.where, clock } });
  }
  return { samples, invalid };
}

/** How a comparison is judged while it runs: after each round from plan.minRounds on, it stops once every scenario is decided. */
export interface AbJudge {
  thresholds: SequentialThresholds;
  unit: SampleUnit;
}

/**
 * Boots base and series in turn (sessionOrder) and collects samples, up to
 * plan.rounds rounds; with a judge, it stops after the first round at which
 * every scenario's verdict is decided (src/perf/sequential.ts says why that
 * early stop keeps the verdict honest). A session that fails (the kernel
 * crashed, hung, did not boot) ends the comparison: its record says which
 * kernel and why, and the caller decides whose fault that is.
 */
export async function runAb(
  runner: PerfRunner,
  plan: AbPlan,
  kernels: Record<Side, string>,
  o: {
    outDir: string;
    log: Logger;
    signal?: AbortSignal | undefined;
    onProgress?: (message: string) => void;
    /** Kernel arguments per side: the same kernel with `init_on_free=1` on the series is a real, known slowdown. */
    append?: Partial<Record<Side, string[]>>;
    judge?: AbJudge;
  },
): Promise<AbRun> {
  const clock = clockLabel(runner.clock);
  const run: AbRun = { clock, sessions: [], samples: [], invalid: [], stoppedBy: null };
  const runs = sessionRuns(plan);
  const order = sessionOrder(plan.rounds);
  for (const [i, { side, round }] of order.entries()) {
    if (o.signal?.aborted) break;
    o.onProgress?.(`round ${round} (at most ${plan.rounds}): ${side}`);
    const s = await runner.session({
      kernel: kernels[side],
      label: side,
      round,
      runs,
      append: o.append?.[side] ?? [],
      outDir: o.outDir,
      log: o.log,
      signal: o.signal,
    });
    const record: SessionRecord = {
      side,
      round,
      failure: s.failure,
      kernelRelease: s.kernelRelease,
      splats: s.splats,
      logFile: s.logFile,
      where: s.where,
    };
    run.sessions.push(record);
    const got = samplesOf(side, round, s, plan.scenarios, clock);
    run.samples.push(...got.samples);
    run.invalid.push(...got.invalid);
    o.log.info(
      {
        side,
        round,
        samples: got.samples.length,
        invalid: got.invalid.length,
        failure: s.failure?.kind ?? null,
        where: s.where,
      },
      'perf session done',
    );
    if (s.failure) {
      run.stoppedBy = record;
      break;
    }
    const roundDone = i % 2 === 1;
    if (o.judge && roundDone && round >= plan.minRounds && round < plan.rounds) {
      const verdicts = analyzeAb(run, plan.scenarios, o.judge.thresholds, o.judge.unit);
      if (verdicts.every((v) => v.comparison === null || v.comparison.decided)) {
        o.log.info({ rounds: round, budget: plan.rounds }, 'perf comparison decided early');
        break;
      }
    }
  }
  return run;
}

/**
 * What a sample is for the statistics. `session`: the median of a
 * session's repetitions, one number per boot. Runs within a boot share its
 * memory layout and timer state, so they are not independent; treating
 * them as such would make the rank test's p too small. `run`: every
 * repetition, for hosts where boots are expensive and runs are known to be
 * independent enough.
 */
export type SampleUnit = 'session' | 'run';

export interface ScenarioVerdict {
  scenario: string;
  description: string;
  /** The numbers the comparison used (pps), in session order. */
  base: number[];
  series: number[];
  comparison: SequentialComparison | null;
  /** Why there is no comparison: no samples on a side. */
  missing: string | null;
  invalid: InvalidRun[];
}

export function unitValues(samples: PerfSample[], unit: SampleUnit): number[] {
  return [...keyedValues(samples, unit).values()];
}

/** The unit values by where they ran (`3`: round 3; `3.2`: its second run), in run order. */
function keyedValues(samples: PerfSample[], unit: SampleUnit): Map<string, number> {
  const sorted = [...samples].sort((a, b) => a.round - b.round || a.rep - b.rep);
  if (unit === 'run') return new Map(sorted.map((s) => [`${s.round}.${s.rep}`, s.pps]));
  const rounds = [...new Set(sorted.map((s) => s.round))];
  return new Map(rounds.map((r) => [String(r), median(sorted.filter((s) => s.round === r).map((s) => s.pps))]));
}

function roundsRun(run: Pick<AbRun, 'samples' | 'invalid'>, scenario: string): number {
  return Math.max(0, ...[...run.samples, ...run.invalid].filter((x) => x.scenario === scenario).map((x) => x.round));
}

/**
 * A verdict per scenario, as of the rounds run so far. Base and series
 * values of the same round (or the same run of it) ran back to back, so
 * they are compared as pairs (compareSequential); a round that lost its
 * number on one side drops out of the pairs, and `base`/`series` list only
 * the paired values.
 */
export function analyzeAb(
  run: Pick<AbRun, 'samples' | 'invalid'>,
  scenarios: PerfScenario[],
  thresholds: SequentialThresholds,
  unit: SampleUnit,
): ScenarioVerdict[] {
  return scenarios.map((sc) => {
    const of = (side: Side) =>
      keyedValues(
        run.samples.filter((s) => s.scenario === sc.name && s.side === side),
        unit,
      );
    const b = of('base');
    const sr = of('series');
    const keys = [...b.keys()].filter((k) => sr.has(k));
    const base = keys.map((k) => b.get(k)!);
    const series = keys.map((k) => sr.get(k)!);
    const invalid = run.invalid.filter((x) => x.scenario === sc.name);
    const empty = (side: Side, n: number) =>
      n === 0
        ? `no valid ${side} samples${invalid.some((x) => x.side === side) ? ` (${invalid.filter((x) => x.side === side)[0]!.reason})` : ''}`
        : null;
    const missing =
      empty('base', b.size) ??
      empty('series', sr.size) ??
      (keys.length === 0 ? 'no round has a valid number on both kernels' : null);
    return {
      scenario: sc.name,
      description: sc.description,
      base,
      series,
      // Looks count the rounds run, also those that lost a number: the budget is spent either way.
      comparison: missing ? null : compareSequential(base, series, thresholds, { rounds: roundsRun(run, sc.name) }),
      missing,
      invalid,
    };
  });
}
