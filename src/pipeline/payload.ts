import { z } from 'zod';
import type { CoverLetter, Patch, Person, Series, SubjectInfo, Trailer } from '../series/types.js';

/*
 * Job payloads are validated when a worker takes them: Redis is shared, and
 * a worker of another version (or a hand-made job) must be refused with a
 * clear error instead of half-running. The `z.ZodType<...>` annotations keep
 * these schemas in lockstep with the types in src/series/types.ts.
 */

const PersonSchema: z.ZodType<Person> = z.object({ name: z.string(), address: z.string() });

const TrailerSchema: z.ZodType<Trailer> = z.object({
  key: z.string(),
  value: z.string(),
  fromMessageId: z.string().nullable(),
  via: z.enum(['patch', 'reply', 'cover', 'earlier-version']).optional(),
  fromVersion: z.number().int().min(1).optional(),
});

const SubjectSchema: z.ZodType<SubjectInfo> = z.object({
  raw: z.string(),
  isReply: z.boolean(),
  isPatch: z.boolean(),
  isRfc: z.boolean(),
  isResend: z.boolean(),
  version: z.number().int().min(1),
  counter: z.number().int().min(0).nullable(),
  total: z.number().int().min(0).nullable(),
  treeTags: z.array(z.string()),
  title: z.string(),
});

const PatchSchema: z.ZodType<Patch> = z.object({
  counter: z.number().int().min(1),
  messageId: z.string().min(1),
  subject: SubjectSchema,
  author: PersonSchema,
  date: z.string().nullable(),
  trailers: z.array(TrailerSchema),
  files: z.array(
    z.object({
      oldPath: z.string().nullable(),
      newPath: z.string().nullable(),
      binary: z.boolean(),
      newMode: z.string().nullable(),
    }),
  ),
  rawBase64: z.string().min(1),
});

const CoverSchema: z.ZodType<CoverLetter> = z.object({
  messageId: z.string().min(1),
  subject: SubjectSchema,
  author: PersonSchema,
  date: z.string().nullable(),
  body: z.string(),
  trailers: z.array(TrailerSchema),
});

export const SeriesSchema: z.ZodType<Series> = z.object({
  title: z.string(),
  version: z.number().int().min(1),
  total: z.number().int().min(1),
  isRfc: z.boolean(),
  isResend: z.boolean(),
  treeTags: z.array(z.string()),
  author: PersonSchema,
  messageId: z.string().min(1),
  leadReferences: z.array(z.string()).optional(),
  cover: CoverSchema.nullable(),
  patches: z.array(PatchSchema).min(1),
  baseCommit: z.string().nullable(),
  changeId: z.string().nullable(),
  fingerprint: z.string().regex(/^[0-9a-f]{64}$/),
  mismatchedTrailers: z
    .array(
      z.object({
        key: z.string(),
        value: z.string(),
        fromMessageId: z.string(),
        sender: z.string(),
        target: z.union([z.number().int().min(1), z.literal('cover')]),
      }),
    )
    .optional(),
  partialReroll: z
    .object({ fromVersion: z.number().int().min(1), reused: z.array(z.number().int().min(1)) })
    .optional(),
});

/** What a run builds: named kernel configs (kconfigs/), for which arch, with which compiler. */
export const RunBuildSchema = z.object({
  configs: z.array(z.string().min(1)).min(1),
  arch: z.string().min(1),
  toolchain: z.enum(['gcc', 'llvm']),
  /** Also build after each patch (bisectability). */
  perPatch: z.boolean(),
  /** Test suites to boot the kernels with (selftests/<suite>); empty when the test stage is off. */
  suites: z.array(z.string().min(1)).default([]),
  /** Perf suites (pktgen) run base vs series; empty unless asked for (ksci run --perf). */
  perfSuites: z.array(z.string().min(1)).default([]),
  /** When a perf scenario regresses, bisect the series' per-patch kernels for the patch that costs it. */
  perfBisect: z.boolean().default(false),
  /** The clock of the perf stage (src/perf/clock.ts); null when no perf run was asked for. */
  perfClock: z.enum(['auto', 'icount', 'wall']).nullable().default(null),
});
export type RunBuild = z.infer<typeof RunBuildSchema>;

/** What every stage knows about its run; small, so it rides along in every job. */
export const RunContextSchema = z.object({
  runId: z.string().min(1),
  /** Stage names in pipeline order; the last one is the root of the flow. */
  stages: z.array(z.string().min(1)).min(1),
  tree: z.object({
    name: z.string(),
    /** Why this tree: "subject tag bpf-next", "default tree". */
    reason: z.string(),
  }),
  build: RunBuildSchema,
  series: z.object({
    title: z.string(),
    version: z.number().int(),
    total: z.number().int(),
    isRfc: z.boolean(),
    author: PersonSchema,
    messageId: z.string(),
    patches: z.array(z.object({ counter: z.number().int(), title: z.string() })),
    /** Trailers replies gave, and where from (the report says; the tested commits are the patches as sent). */
    review: z
      .object({
        given: z.array(
          z.object({
            /** The patch, or null for a reply to the cover letter (every patch). */
            counter: z.number().int().nullable(),
            trailer: z.string(),
            from: z.string(),
          }),
        ),
        mismatched: z.array(z.object({ target: z.string(), trailer: z.string(), sender: z.string() })),
        partialReroll: z.string().nullable(),
      })
      .optional(),
  }),
});
export type RunContext = z.infer<typeof RunContextSchema>;

export const StageJobDataSchema = z.object({
  run: RunContextSchema,
  stage: z.string().min(1),
  /** The whole series, for stages that need the patches themselves (apply). */
  series: SeriesSchema.optional(),
});
export type StageJobData = z.infer<typeof StageJobDataSchema>;

export const OUTCOME_STATUSES = ['passed', 'failed', 'skipped', 'error', 'cancelled'] as const;
export type OutcomeStatus = (typeof OUTCOME_STATUSES)[number];

export const StageOutcomeSchema = z.object({
  stage: z.string(),
  status: z.enum(OUTCOME_STATUSES),
  /** One line a human reads first. */
  summary: z.string(),
  /** Stage-specific result (ApplyResult, build log analysis, test results...). */
  data: z.unknown(),
  attempts: z.number().int().min(0),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
export type StageOutcome = z.infer<typeof StageOutcomeSchema>;

/** A stage job's return value: every outcome so far, oldest first. */
export const PipelineStateSchema = z.object({ outcomes: z.array(StageOutcomeSchema) });
export type PipelineState = z.infer<typeof PipelineStateSchema>;

export function summarizeSeries(series: Series): RunContext['series'] {
  return {
    title: series.title,
    version: series.version,
    total: series.total,
    isRfc: series.isRfc,
    author: series.author,
    messageId: series.messageId,
    patches: series.patches.map((p) => ({ counter: p.counter, title: p.subject.title })),
    review: reviewOf(series),
  };
}

function reviewOf(series: Series): NonNullable<RunContext['series']['review']> {
  const given: NonNullable<RunContext['series']['review']>['given'] = (series.cover?.trailers ?? []).map((t) => ({
    counter: null,
    trailer: `${t.key}: ${t.value}`,
    from: `reply <${t.fromMessageId}> to the cover letter`,
  }));
  for (const p of series.patches)
    for (const t of p.trailers) {
      if (t.via !== 'reply' && t.via !== 'earlier-version') continue;
      given.push({
        counter: p.counter,
        trailer: `${t.key}: ${t.value}`,
        from:
          t.via === 'earlier-version'
            ? `reply <${t.fromMessageId}> to the same patch in v${t.fromVersion}`
            : `reply <${t.fromMessageId}>`,
      });
    }
  return {
    given,
    mismatched: (series.mismatchedTrailers ?? []).map((m) => ({
      target: m.target === 'cover' ? 'the cover letter' : `patch ${m.target}`,
      trailer: `${m.key}: ${m.value}`,
      sender: m.sender,
    })),
    partialReroll: series.partialReroll
      ? `patch${series.partialReroll.reused.length === 1 ? '' : 'es'} ${series.partialReroll.reused.join(', ')} taken from v${series.partialReroll.fromVersion} (a partial reroll)`
      : null,
  };
}
