import { z } from 'zod';
import type { StageOutcome } from '../../pipeline/payload.js';

const Base = z.object({ reason: z.string(), note: z.string().nullable() });
const Commit = z.object({ counter: z.number(), title: z.string(), commit: z.string() });

/** The apply stage's outcome data as it comes back through the queue. */
export const ApplyData = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('applied'),
    baseCommit: z.string(),
    headCommit: z.string(),
    ref: z.string(),
    base: Base,
    patches: z.array(Commit),
    partiallyMerged: z.array(Commit),
  }),
  z.object({
    status: z.literal('conflict'),
    baseCommit: z.string(),
    base: Base,
    failedPatch: z.object({ counter: z.number(), title: z.string() }),
    appliedBefore: z.number(),
    gitMessage: z.string(),
    files: z.array(z.string()),
  }),
  z.object({ status: z.literal('already-merged'), baseCommit: z.string(), base: Base, matches: z.array(Commit) }),
]);

/** How many lines of git's own message a report quotes. */
const GIT_MESSAGE_LINES = 15;

export function applyDetails(outcome: StageOutcome): string[] {
  const parsed = ApplyData.safeParse(outcome.data);
  if (!parsed.success) return [];
  const d = parsed.data;
  const lines = [
    `base: ${d.baseCommit.slice(0, 12)} (${d.base.reason === 'base-commit' ? "the series' base-commit" : 'branch head'})`,
  ];
  if (d.base.note) lines.push(`note: ${d.base.note}`);
  switch (d.status) {
    case 'applied':
      for (const p of d.patches) lines.push(`${String(p.counter).padStart(2)} ${p.commit.slice(0, 12)} ${p.title}`);
      for (const p of d.partiallyMerged)
        lines.push(`already in the base: patch ${p.counter} "${p.title}" (${p.commit.slice(0, 12)})`);
      lines.push(`result: ${d.headCommit.slice(0, 12)} (${d.ref})`);
      break;
    case 'conflict':
      lines.push(
        `patch ${d.failedPatch.counter} "${d.failedPatch.title}" failed after ${d.appliedBefore} applied cleanly`,
      );
      if (d.files.length > 0) lines.push(`conflicting files: ${d.files.join(', ')}`);
      lines.push(
        'git am said:',
        ...d.gitMessage
          .split('\n')
          .slice(0, GIT_MESSAGE_LINES)
          .map((l) => `  ${l}`),
      );
      break;
    case 'already-merged':
      for (const m of d.matches) lines.push(`patch ${m.counter} "${m.title}" is ${m.commit.slice(0, 12)} in the base`);
      break;
  }
  return lines;
}
