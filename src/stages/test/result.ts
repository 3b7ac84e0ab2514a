import { z } from 'zod';
import { settle } from '../../vm/compare.js';
import type { KernelRun as VmKernelRun } from '../../vm/kernel-run.js';
import type { StageOutcome } from '../../pipeline/payload.js';
import type { TestResult } from '../../vm/history.js';

const Status = z.enum(['pass', 'fail', 'skip', 'timeout', 'crash', 'hang', 'not-run']);
const Settled = z.enum(['pass', 'fail', 'flaky', 'skip', 'not-run']);
export const SplatSchema = z.object({
  kind: z.string(),
  title: z.string(),
  fingerprint: z.string(),
  test: z.string().nullable(),
  excerpt: z.array(z.string()),
});
const TestOutcome = z.object({
  name: z.string(),
  status: Status,
  exitCode: z.number().nullable(),
  seconds: z.number().nullable(),
  output: z.array(z.string()),
});
const Boot = z.object({
  tests: z.array(z.string()),
  purpose: z.enum(['run', 'continue', 'retry']),
  outcome: z
    .object({
      verdict: z.enum(['completed', 'kernel-crash', 'hang', 'boot-failure', 'infra-error']),
      reason: z.string(),
      excerpt: z.array(z.string()),
      kernelRelease: z.string().nullable(),
      bootSeconds: z.number().nullable(),
      durationMs: z.number(),
      accel: z.string(),
    })
    .passthrough(),
  consoleFile: z.string(),
  /** The VM host that ran the boot (`hostname:pid`); absent in results stored before it was recorded. */
  host: z.string().optional(),
});
const KernelRun = z.object({
  commit: z.string(),
  kernel: z.string(),
  cached: z.boolean(),
  boots: z.array(Boot),
  tests: z.array(z.object({ name: z.string(), attempts: z.array(Status), last: TestOutcome })),
  splats: z.array(SplatSchema),
  ignoredSplats: z.array(SplatSchema.extend({ reason: z.string() })),
  bootFailure: z.string().nullable(),
});
const Row = z.object({
  name: z.string(),
  base: Settled,
  series: Settled,
  seriesAttempts: z.array(Status),
  history: z.string().optional(),
  quarantine: z.string().optional(),
});

export const SuiteRunSchema = z.object({
  suite: z.string(),
  config: z.string(),
  base: KernelRun,
  series: KernelRun,
  comparison: z.object({
    newFailures: z.array(Row),
    preExisting: z.array(Row),
    flaky: z.array(Row),
    fixed: z.array(Row),
    // Absent from results recorded before quarantines existed.
    quarantined: z.array(Row).default([]),
    notRun: z.array(z.string()),
    newSplats: z.array(SplatSchema),
    preExistingSplats: z.array(SplatSchema),
  }),
  /** Shell lines that rerun a failure locally. */
  reproducer: z.array(z.string()),
});
export type SuiteRunData = z.infer<typeof SuiteRunSchema>;

export const TestStageDataSchema = z.object({ suites: z.array(SuiteRunSchema) });
export type TestStageData = z.infer<typeof TestStageDataSchema>;

const EXCERPT_LINES = 25;
const MAX_LISTED = 30;

/** The test stage's verdict on a suite: the series kernel does not boot, or fails or splats where its base did not. */
export function suiteFailed(s: SuiteRunData): boolean {
  return s.series.bootFailure !== null || s.comparison.newFailures.length > 0 || s.comparison.newSplats.length > 0;
}

/**
 * The same verdict for one kernel with nothing to compare it with (`ksci
 * test`): it does not boot, a test fails or does not run, or it splats.
 */
export function kernelRunFailed(run: Pick<VmKernelRun, 'bootFailure' | 'splats' | 'tests'>): boolean {
  return (
    run.bootFailure !== null ||
    run.splats.length > 0 ||
    run.tests.some((t) => settle(t.attempts) === 'fail' || settle(t.attempts) === 'not-run')
  );
}

/** One line per suite for the stage summary. */
export function suiteSummary(s: SuiteRunData): string {
  const c = s.comparison;
  if (s.series.bootFailure) return `${s.suite}: the series kernel does not boot (${s.series.bootFailure})`;
  const counts = countBy(
    s.series.tests.map((t) => (t.attempts[0] === 'pass' ? 'passed' : t.attempts[0] === 'skip' ? 'skipped' : 'other')),
  );
  const parts = [
    `${counts['passed'] ?? 0}/${s.series.tests.length} passed${counts['skipped'] ? `, ${counts['skipped']} skipped` : ''}`,
  ];
  if (c.newFailures.length)
    parts.push(`new failures: ${c.newFailures.map((r) => `${r.name} (${r.seriesAttempts.join(', ')})`).join(', ')}`);
  if (c.newSplats.length) parts.push(`new kernel splats: ${c.newSplats.map((x) => x.title).join('; ')}`);
  if (c.preExisting.length) parts.push(`also failing on the base: ${c.preExisting.map((r) => r.name).join(', ')}`);
  if (c.flaky.length) parts.push(`flaky: ${c.flaky.map((r) => r.name).join(', ')}`);
  if (c.quarantined.length)
    parts.push(`quarantined, not counted: ${c.quarantined.map((r) => `${r.name} (${r.series})`).join(', ')}`);
  return `${s.suite}: ${parts.join('; ')}`;
}

/** The test stage's part of the report. */
export function testDetails(outcome: StageOutcome): string[] {
  const parsed = TestStageDataSchema.safeParse(outcome.data);
  if (!parsed.success) return [];
  const lines: string[] = [];
  for (const s of parsed.data.suites) {
    const first = s.series.boots[0]?.outcome;
    const env = first
      ? `${first.kernelRelease ?? '?'} under ${first.accel.toUpperCase()}, boot ${first.bootSeconds ?? '?'} s`
      : 'no boot';
    lines.push(
      `suite ${s.suite} (config ${s.config}): ${env}; base ${s.base.commit.slice(0, 12)}${s.base.cached ? ' (cached)' : ''}, series ${s.series.commit.slice(0, 12)}`,
    );
    // A test_progs suite has hundreds of results: then only those that did not simply pass on both kernels are listed.
    const clean = (t: { attempts: string[] }) => t.attempts.length > 0 && t.attempts.every((a) => a === 'pass');
    const many = s.series.tests.length > MAX_LISTED;
    const listed = many
      ? s.series.tests.filter(
          (t) => !clean(t) || !clean(s.base.tests.find((b) => b.name === t.name) ?? { attempts: [] }),
        )
      : s.series.tests;
    if (many)
      lines.push(
        `  ${s.series.tests.length - listed.length} of ${s.series.tests.length} results passed on both kernels; the others:`,
      );
    for (const t of listed) {
      const base = s.base.tests.find((b) => b.name === t.name);
      const secs = t.last.seconds !== null ? ` ${t.last.seconds} s` : '';
      lines.push(
        `  ${t.attempts.join(' -> ') || 'not-run'}  ${t.name}${secs}  (base: ${base?.attempts.join(' -> ') || 'not-run'})`,
      );
    }
    const c = s.comparison;
    for (const r of c.newFailures) {
      const t = s.series.tests.find((x) => x.name === r.name);
      lines.push(
        `  NEW FAILURE ${r.name}: ${r.seriesAttempts.join(', then ')}; passed on the base${r.history ? ` (${r.history})` : ''}`,
      );
      if (t) lines.push(...t.last.output.slice(-EXCERPT_LINES).map((l) => `    | ${l}`));
    }
    for (const b of s.series.boots.filter((x) => x.outcome.verdict !== 'completed')) {
      lines.push(`  boot (${b.purpose}${b.host ? ` on ${b.host}` : ''}): ${b.outcome.verdict}: ${b.outcome.reason}`);
      lines.push(...b.outcome.excerpt.slice(0, EXCERPT_LINES).map((l) => `    | ${l}`));
      lines.push(`    console: ${b.consoleFile}`);
    }
    for (const x of c.newSplats) {
      lines.push(`  NEW SPLAT ${x.title}${x.test ? ` (during ${x.test})` : ''}, fingerprint ${x.fingerprint}`);
      lines.push(...x.excerpt.slice(0, EXCERPT_LINES).map((l) => `    | ${l}`));
    }
    for (const x of c.preExistingSplats) lines.push(`  splat also on the base: ${x.title}`);
    for (const x of s.series.ignoredSplats) lines.push(`  known splat ignored: ${x.title} (${x.reason})`);
    for (const r of c.preExisting)
      lines.push(`  fails on the base too: ${r.name}${r.history ? ` (${r.history})` : ''}`);
    for (const r of c.flaky)
      lines.push(
        `  flaky: ${r.name} (series ${r.seriesAttempts.join(' -> ')}, base ${r.base}${r.history ? `; ${r.history}` : ''})`,
      );
    for (const r of c.quarantined)
      lines.push(
        `  quarantined, not counted: ${r.name} ${r.series} (${r.seriesAttempts.join(' -> ')}); ${r.quarantine}`,
      );
    for (const r of c.fixed) lines.push(`  fixed by the series: ${r.name}`);
    if (c.notRun.length) lines.push(`  not run: ${c.notRun.join(', ')}`);
    if (s.reproducer.length) lines.push('  reproduce:', ...s.reproducer.map((l) => `    ${l}`));
  }
  return lines;
}

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

/** The rows the results store keeps per test; a cached base result was recorded by the run that made it. */
export function testResultRows(data: TestStageData): TestResult[] {
  const rows: TestResult[] = [];
  for (const s of data.suites) {
    for (const [kernel, run] of [
      ['base', s.base],
      ['series', s.series],
    ] as const) {
      if (run.cached) continue;
      for (const t of run.tests) {
        const settled = settle(t.attempts);
        if (settled === 'not-run') continue;
        rows.push({
          suite: s.suite,
          test: t.name,
          subtest: null,
          kernel,
          status: settled,
          durationMs: t.last.seconds === null ? null : Math.round(t.last.seconds * 1000),
          message:
            settled === 'pass' || settled === 'skip'
              ? null
              : `${t.attempts.join(' -> ')}${t.last.output.length ? `: ${t.last.output[t.last.output.length - 1]}` : ''}`,
        });
      }
    }
  }
  return rows;
}
