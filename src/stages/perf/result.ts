import { z } from 'zod';
import type { AbRun, ScenarioVerdict } from '../../perf/ab.js';
import { clockMeaning, icountShift, instructionsPerPacket } from '../../perf/clock.js';
import { formatPct, formatPps as pps } from '../../perf/stats.js';
import type { StageOutcome } from '../../pipeline/payload.js';
import type { StoredPerfSample as StoredSample } from '../../perf/history.js';
import { SplatSchema } from '../test/result.js';

const Summary = z.object({
  n: z.number(),
  median: z.number(),
  mean: z.number(),
  stddev: z.number(),
  cv: z.number(),
  min: z.number(),
  max: z.number(),
});
// Runs stored before the sequential verdict (a fixed number of rounds, Wilcoxon) still parse: the fields it added have defaults.
const Comparison = z.object({
  base: Summary,
  series: Summary,
  change: z.number(),
  ci: z.tuple([z.number(), z.number()]),
  test: z.object({
    name: z.enum(['paired t on log ratios', 'Mann-Whitney', 'Wilcoxon signed-rank']),
    p: z.number(),
    alpha: z.number().optional(),
  }),
  ratios: z
    .array(z.number())
    .nullable()
    .transform((r) => r ?? []),
  rounds: z.number().optional(),
  looks: z.number().default(1),
  noise: z
    .object({ observed: z.number(), floor: z.number(), used: z.number() })
    .default({ observed: 0, floor: 0, used: 0 }),
  decided: z.boolean().default(true),
  roundsNeeded: z.number().nullable().default(null),
  verdict: z.enum(['improvement', 'regression', 'no-change', 'noisy']),
  reason: z.string(),
});
const Invalid = z.object({
  scenario: z.string(),
  side: z.enum(['base', 'series']),
  round: z.number(),
  rep: z.number(),
  reason: z.string(),
});
const Session = z.object({
  side: z.enum(['base', 'series']),
  round: z.number(),
  failure: z
    .object({
      kind: z.enum(['boot-failure', 'kernel-crash', 'hang', 'wrong-kernel', 'infra-error', 'cancelled']),
      reason: z.string(),
      excerpt: z.array(z.string()),
    })
    .nullable(),
  kernelRelease: z.string().nullable(),
  splats: z.array(SplatSchema),
  logFile: z.string(),
  where: z.string(),
});
const Pktgen = z.object({
  device: z.string(),
  packets: z.number(),
  usec: z.number(),
  idleUsec: z.number(),
  pktSize: z.number(),
  frags: z.number(),
  pps: z.number(),
  mbps: z.number(),
  bps: z.number(),
  errors: z.number(),
  params: z.record(z.string(), z.string()),
});
const Sample = z.object({
  scenario: z.string(),
  side: z.enum(['base', 'series']),
  round: z.number(),
  rep: z.number(),
  pps: z.number(),
  results: z.array(Pktgen),
  env: z.record(z.string(), z.string()),
});

/** What the perf stage returns, per perf suite: validated where the coordinator stores samples and the report renders them. */
export const PerfSuiteSchema = z.object({
  suite: z.string(),
  config: z.string(),
  base: z.object({ commit: z.string(), kernel: z.string() }),
  series: z.object({ commit: z.string(), kernel: z.string() }),
  plan: z.object({
    rounds: z.number(),
    minRounds: z.number().optional(),
    warmup: z.number(),
    repetitions: z.number(),
    unit: z.enum(['session', 'run']),
    runner: z.string(),
    /** Kernel arguments per side (a planted cost). */
    append: z.object({ base: z.array(z.string()), series: z.array(z.string()) }).default({ base: [], series: [] }),
  }),
  run: z.object({
    clock: z.string().default('wall'),
    sessions: z.array(Session),
    samples: z.array(Sample),
    invalid: z.array(Invalid),
    stoppedBy: Session.nullable(),
  }),
  verdicts: z.array(
    z.object({
      scenario: z.string(),
      description: z.string(),
      base: z.array(z.number()),
      series: z.array(z.number()),
      comparison: Comparison.nullable(),
      missing: z.string().nullable(),
      invalid: z.array(Invalid),
    }),
  ),
  bisect: z
    .object({
      scenario: z.string(),
      culprit: z.object({ counter: z.number(), title: z.string() }).nullable(),
      probes: z.array(z.object({ counter: z.number(), verdict: z.string(), change: z.number().nullable() })),
      note: z.string().nullable(),
    })
    .nullable()
    .default(null),
});
export type PerfSuiteData = z.infer<typeof PerfSuiteSchema>;
export const PerfStageDataSchema = z.object({ suites: z.array(PerfSuiteSchema) });
export type PerfStageData = z.infer<typeof PerfStageDataSchema>;

const VERDICT_WORD = {
  improvement: 'IMPROVEMENT',
  regression: 'REGRESSION',
  'no-change': 'no change',
  noisy: 'too noisy to tell',
} as const;

type StoredVerdict = PerfSuiteData['verdicts'][number];

/** What ran where, and how often: the first lines of every perf report. */
export function perfHeader(
  run: Pick<AbRun, 'sessions' | 'stoppedBy'> & { clock: string; samples: { env: Record<string, string> }[] },
  unit: string,
): string[] {
  const of = (side: 'base' | 'series') => run.sessions.filter((s) => s.side === side);
  const release = (side: 'base' | 'series') => of(side).find((s) => s.kernelRelease)?.kernelRelease ?? 'unknown';
  const env = run.samples[0]?.env ?? {};
  const lines = [
    `base ${release('base')} (${of('base').length} sessions) vs series ${release('series')} (${of('series').length} sessions), interleaved`,
    `where: ${run.sessions[0]?.where ?? 'nowhere'}; CPU ${env['cpu_model'] ?? 'unknown'}, governor ${env['governor'] ?? 'unknown'}; one sample = ${unit === 'session' ? "a session's median run" : 'one run'}`,
    clockMeaning(run.clock),
  ];
  if (run.stoppedBy) {
    const s = run.stoppedBy;
    lines.push(
      `STOPPED: the ${s.side} kernel's session ${s.round} ended in ${s.failure!.kind}: ${s.failure!.reason}`,
      ...s.failure!.excerpt.slice(0, 20).map((l) => `    ${l}`),
    );
  }
  for (const s of run.sessions)
    for (const sp of s.splats)
      lines.push(
        `splat on the ${s.side} kernel (round ${s.round}${sp.test ? `, during ${sp.test}` : ''}): ${sp.title}`,
      );
  return lines;
}

/**
 * One block per scenario: base and series rate, the change with its
 * interval, the rounds it took, the verdict, under icount the cost in guest
 * instructions per packet, the statistics' reason, and every sample.
 */
export function perfScenarioLines(v: StoredVerdict, clock: string, budget?: number): string[] {
  const head = `${v.scenario}: ${v.description}`;
  if (!v.comparison) return [head, `  no comparison: ${v.missing}`, ...invalidLines(v)];
  const c = v.comparison;
  const rounds = c.rounds ?? c.ratios.length;
  const shift = icountShift(clock);
  const lines = [
    head,
    `  ${VERDICT_WORD[c.verdict]}: ${pps(c.base.median)} -> ${pps(c.series.median)} pps, ${formatPct(c.change)} (CI ${formatPct(c.ci[0])} .. ${formatPct(c.ci[1])}), ${rounds} round${rounds === 1 ? '' : 's'}${budget ? ` of at most ${budget}` : ''}, clock ${clock.split(' ')[0]}`,
  ];
  if (shift !== null) {
    const ipp = (x: number) => instructionsPerPacket(x, shift);
    const delta = ipp(c.series.median) - ipp(c.base.median);
    lines.push(
      `  guest instructions per packet: ${ipp(c.base.median).toFixed(0)} -> ${ipp(c.series.median).toFixed(0)} (${delta >= 0 ? '+' : ''}${delta.toFixed(1)})`,
    );
  }
  lines.push(
    `  ${c.reason}`,
    `  base   (n=${c.base.n}, cv ${cvPct(c.base.cv)}): ${v.base.map(pps).join(' ')}`,
    `  series (n=${c.series.n}, cv ${cvPct(c.series.cv)}): ${v.series.map(pps).join(' ')}`,
    ...invalidLines(v),
  );
  return lines;
}

/** Coefficients of variation: icount's are hundredths of a percent. */
function cvPct(cv: number): string {
  return `${(cv * 100).toFixed(cv < 0.001 ? 3 : cv < 0.01 ? 2 : 1)}%`;
}

function invalidLines(v: Pick<StoredVerdict, 'invalid'>): string[] {
  return v.invalid.map((x) => `  dropped: ${x.side} round ${x.round} run ${x.rep}: ${x.reason}`);
}

export function formatPerf(run: AbRun, verdicts: ScenarioVerdict[], unit: string, budget?: number): string {
  return [
    ...perfHeader(run, unit),
    '',
    ...verdicts.flatMap((v) => [...perfScenarioLines(v, run.clock, budget), '']),
    '',
  ].join('\n');
}

/** Splats the series kernel printed under pktgen that the base did not (by fingerprint). */
export function newSplats(s: {
  run: { sessions: Pick<PerfSuiteData['run']['sessions'][number], 'side' | 'splats'>[] };
}): string[] {
  const onBase = new Set(
    s.run.sessions.filter((x) => x.side === 'base').flatMap((x) => x.splats.map((p) => p.fingerprint)),
  );
  return [
    ...new Set(
      s.run.sessions
        .filter((x) => x.side === 'series')
        .flatMap((x) => x.splats.filter((p) => !onBase.has(p.fingerprint)).map((p) => p.title)),
    ),
  ];
}

/**
 * The perf stage's verdict on a comparison: a kernel stopped under load, a
 * scenario regressed, or the series kernel printed splats its base did not.
 */
export function perfFailed(
  run: Pick<AbRun, 'stoppedBy'>,
  verdicts: { comparison: { verdict: string } | null }[],
  seriesOnlySplats: string[],
): boolean {
  return (
    run.stoppedBy !== null ||
    seriesOnlySplats.length > 0 ||
    verdicts.some((v) => v.comparison?.verdict === 'regression')
  );
}

/** One line per suite for the stage summary. */
export function perfSummary(s: PerfSuiteData): string {
  if (s.run.stoppedBy)
    return `${s.suite}: the ${s.run.stoppedBy.side} kernel's session ${s.run.stoppedBy.round} ended in ${s.run.stoppedBy.failure?.kind}`;
  const parts = s.verdicts.map((v) =>
    v.comparison
      ? `${v.scenario} ${VERDICT_WORD[v.comparison.verdict]} (${formatPct(v.comparison.change)})`
      : `${v.scenario}: no comparison`,
  );
  const splats = newSplats(s);
  if (splats.length) parts.push(`new kernel splats under load: ${splats.join('; ')}`);
  return `${s.suite}: ${parts.join(', ')}`;
}

/** The perf stage's part of the report. */
export function perfDetails(outcome: StageOutcome): string[] {
  const parsed = PerfStageDataSchema.safeParse(outcome.data);
  if (!parsed.success) return [];
  return parsed.data.suites.flatMap((s) => [
    `suite ${s.suite} (config ${s.config}, runner ${s.plan.runner}): base ${s.base.commit.slice(0, 12)}, series ${s.series.commit.slice(0, 12)}; ${roundsPlanned(s.plan)} of ${s.plan.warmup} warm-up + ${s.plan.repetitions} runs`,
    ...perfHeader(s.run, s.plan.unit).map((l) => `  ${l}`),
    ...s.verdicts.flatMap((v) => perfScenarioLines(v, s.run.clock, s.plan.rounds).map((l) => `  ${l}`)),
    ...bisectLines(s.bisect).map((l) => `  ${l}`),
    '  reproduce:',
    `    ksci perf --base ${s.base.kernel} --series ${s.series.kernel} --suite ${s.suite} --clock ${s.run.clock.split(' ')[0]}${appendFlags(s.plan.append)}`,
  ]);
}

function roundsPlanned(p: PerfSuiteData['plan']): string {
  const min = p.minRounds ?? p.rounds;
  return min === p.rounds ? `${p.rounds} rounds` : `${min} to ${p.rounds} rounds (stopping once decided)`;
}

function appendFlags(a: PerfSuiteData['plan']['append']): string {
  const q = (args: string[]) => `'${args.join(' ')}'`;
  return `${a.base.length ? ` --base-append ${q(a.base)}` : ''}${a.series.length ? ` --series-append ${q(a.series)}` : ''}`;
}

function bisectLines(b: PerfSuiteData['bisect']): string[] {
  if (!b) return [];
  const probes = b.probes
    .map((p) => `patch ${p.counter}: ${p.verdict}${p.change !== null ? ` (${formatPct(p.change)})` : ''}`)
    .join('; ');
  return [
    b.culprit
      ? `bisect ${b.scenario}: patch ${b.culprit.counter} "${b.culprit.title}" is the first that costs the throughput`
      : `bisect ${b.scenario}: no culprit`,
    ...(probes ? [`  probes: ${probes}`] : []),
    ...(b.note ? [`  note: ${b.note}`] : []),
  ];
}

/** The rows the results store keeps: one per kept run, with its environment. */
export function perfSampleRows(data: PerfStageData): StoredSample[] {
  return data.suites.flatMap((s) =>
    s.run.samples.map((x) => ({
      scenario: `${s.suite}/${x.scenario}`,
      side: x.side,
      metric: 'pps',
      value: x.pps,
      unit: 'packets/s',
      iteration: x.round * 1000 + x.rep,
      env: { ...x.env, round: x.round, rep: x.rep, commit: s[x.side].commit },
    })),
  );
}
