import { z } from 'zod';
import { BuildOutcomeSchema, type BuildOutcome } from '../../build/kernel.js';
import type { Diagnostic } from '../../build/log.js';
import { SelftestsOutcomeSchema } from '../../build/bpf-selftests.js';
import { describeMismatch } from '../../kconfig/fragment.js';
import type { StageOutcome } from '../../pipeline/payload.js';

const DiagnosticShape = BuildOutcomeSchema.shape.warnings;

const ConfigBuildSchema = z.object({
  config: z.string(),
  configHash: z.string(),
  base: BuildOutcomeSchema,
  series: BuildOutcomeSchema,
  perPatch: z.array(z.object({ counter: z.number(), title: z.string(), outcome: BuildOutcomeSchema })),
  warnings: z.object({ before: z.number(), after: z.number(), added: DiagnosticShape, removed: DiagnosticShape }),
  /** The BPF selftests built against each kernel, when a suite of the run needs them. */
  selftests: z.object({ base: SelftestsOutcomeSchema, series: SelftestsOutcomeSchema }).nullable().default(null),
});
export type ConfigBuild = z.infer<typeof ConfigBuildSchema>;

export const BuildStageDataSchema = z.object({
  toolchain: z.string(),
  toolchainVersions: z.record(z.string(), z.string()),
  builds: z.array(ConfigBuildSchema),
});
export type BuildStageData = z.infer<typeof BuildStageDataSchema>;

const MAX_WARNINGS_LISTED = 10;
const CONTEXT_LINES = 8;

export function where(d: Diagnostic): string {
  return d.file ? `${d.file}${d.line !== null ? `:${d.line}` : ''}${d.column !== null ? `:${d.column}` : ''}` : d.tool;
}

export function oneLine(d: Diagnostic): string {
  return `${where(d)}: ${d.severity}: ${d.message}${d.flag ? ` [${d.flag}]` : ''}`;
}

/** One line on why a build did not produce a kernel. */
export function describeBuild(b: BuildOutcome, perPatch: ConfigBuild['perPatch'] = []): string {
  const culprit = perPatch.find((p) => p.outcome.status !== 'ok');
  const prefix = culprit ? `patch ${culprit.counter} "${culprit.title}" breaks the build: ` : '';
  if (b.status === 'config')
    return `${prefix}config options did not survive olddefconfig: ${b.configMismatches.map(describeMismatch).join('; ')}`;
  if (b.status === 'ok') return `${prefix}built`;
  if (b.networkAttempt)
    return `${prefix}the build tried to reach the network (builds run without one)${b.firstError ? `: ${oneLine(b.firstError)}` : ''}`;
  if (b.firstError) return `${prefix}${oneLine(b.firstError)}`;
  if (b.failedTargets.length > 0) return `${prefix}make failed on ${b.failedTargets.join(', ')}`;
  return `${prefix}make failed (see the end of the log)`;
}

/** The build stage's part of the report. */
export function buildDetails(outcome: StageOutcome): string[] {
  const parsed = BuildStageDataSchema.safeParse(outcome.data);
  if (!parsed.success) return [];
  const d = parsed.data;
  const lines = [`toolchain: ${Object.values(d.toolchainVersions).slice(0, 2).join('; ')}`];
  for (const b of d.builds) {
    const s = b.series;
    const secs = (o: BuildOutcome) => (o.cacheHit ? 'cached' : `${Math.round(o.durationMs / 1000)} s`);
    lines.push(
      `config ${b.config} (${b.configHash.slice(0, 12)}): base ${b.base.commit.slice(0, 12)} ${secs(b.base)}, series ${s.commit.slice(0, 12)} ${s.status === 'ok' ? 'built' : 'FAILED'} ${secs(s)}`,
    );
    for (const p of b.perPatch)
      lines.push(`  patch ${p.counter} ${p.outcome.status === 'ok' ? 'builds' : 'BREAKS THE BUILD'}: ${p.title}`);
    if (s.status !== 'ok') {
      lines.push(`  ${describeBuild(s, b.perPatch)}`);
      if (s.firstError) lines.push(...s.firstError.context.slice(0, CONTEXT_LINES).map((l) => `    ${l}`));
      const more = s.errors.length - 1;
      if (more > 0)
        lines.push(
          `  and ${more} more error(s): ${s.errors.slice(1, 4).map(where).join(', ')}${more > 3 ? ', ...' : ''}`,
        );
      if (!s.firstError && s.configMismatches.length === 0)
        lines.push('  end of the log:', ...s.logTail.slice(-12).map((l) => `    ${l}`));
    }
    const w = b.warnings;
    lines.push(
      `  warnings before: ${w.before}, this series: ${w.after}${w.added.length ? `, new: ${w.added.length}` : ''}${w.removed.length ? `, fixed: ${w.removed.length}` : ''}`,
    );
    for (const x of w.added.slice(0, MAX_WARNINGS_LISTED)) lines.push(`    + ${oneLine(x)}`);
    if (w.added.length > MAX_WARNINGS_LISTED) lines.push(`    ... and ${w.added.length - MAX_WARNINGS_LISTED} more`);
    if (s.status === 'ok') lines.push(`  artifacts: ${s.artifactDir}`);
    if (b.selftests) {
      for (const [side, t] of [
        ['base', b.selftests.base],
        ['series', b.selftests.series],
      ] as const) {
        const how = t.cacheHit ? 'cached' : `${Math.round(t.durationMs / 1000)} s`;
        lines.push(
          `  BPF selftests (${side}): ${t.status === 'ok' ? `built ${t.runners.join(', ')}${t.modules ? ' and the test modules' : ''}, ${t.files} files` : 'FAILED'} ${how}${t.dropped.length ? `; left out (no BPF source in the tree): ${t.dropped.map((d) => d.test).join(', ')}` : ''}`,
        );
        if (t.status !== 'ok')
          lines.push(
            ...(t.firstError ? t.firstError.context.slice(0, CONTEXT_LINES) : t.logTail.slice(-12)).map(
              (l) => `    ${l}`,
            ),
          );
      }
    }
  }
  return lines;
}
