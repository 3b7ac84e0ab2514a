import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CancelledError, InfraError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Series } from '../series/types.js';
import { gitAt, gitFailure } from '../tree/git.js';
import { resolveBase, type PreparedTree } from '../tree/trees.js';
import { seriesMbox } from './mbox.js';

interface Base {
  reason: string;
  note: string | null;
}
interface PatchCommit {
  counter: number;
  title: string;
  commit: string;
}

export type ApplyResult =
  | {
      status: 'applied';
      baseCommit: string;
      headCommit: string;
      ref: string;
      base: Base;
      patches: PatchCommit[];
      partiallyMerged: PatchCommit[];
    }
  | {
      status: 'conflict';
      baseCommit: string;
      base: Base;
      failedPatch: { counter: number; title: string };
      appliedBefore: number;
      gitMessage: string;
      files: string[];
    }
  | { status: 'already-merged'; baseCommit: string; base: Base; matches: PatchCommit[] };

export function normaliseTitle(s: string): string {
  return s.toLowerCase().replace(/\s+/g, ' ').trim();
}

/** git am's "Patch failed at 0002 net: foo" and the files it names. */
export function parseAmFailure(output: string): { index: number | null; files: string[]; message: string } {
  const index = /Patch failed at (\d+)/.exec(output);
  const files = new Set<string>();
  for (const m of output.matchAll(/^error: patch failed: (.+?):\d+$/gm)) files.add(m[1]!);
  for (const m of output.matchAll(/^CONFLICT \([^)]*\): .*?(?:Merge conflict in |in )(\S+)/gm)) files.add(m[1]!);
  for (const m of output.matchAll(/^error: (.+?): does not exist in index$/gm)) files.add(m[1]!);
  // No blob for 3-way: the patch was made on a tree this base does not contain.
  for (const m of output.matchAll(/^error: sha1 information is lacking or useless \((.+)\)\.$/gm)) files.add(m[1]!);
  const message = output
    .split('\n')
    .filter(
      (l) =>
        l.trim() &&
        !/^(hint:|When you have resolved|If you prefer to skip|To restore the original|Use 'git am --show-current-patch)/.test(
          l,
        ),
    )
    .join('\n')
    .trim();
  return { index: index ? Number(index[1]) : null, files: [...files], message };
}

export async function applySeries(
  tree: PreparedTree,
  series: Series,
  opts: { runId: string; workRoot: string; mergedCheckDepth: number; log: Logger; signal?: AbortSignal },
): Promise<ApplyResult> {
  const base = await resolveBase(tree, series.baseCommit);
  const baseInfo = { reason: base.reason, note: base.note };
  const bare = gitAt(tree.gitDir, opts.signal);

  // kernel-patches-daemon's check: patch subjects against recent base subjects.
  const merged: PatchCommit[] = [];
  if (opts.mergedCheckDepth > 0) {
    const log = await bare.raw(['log', '--format=%H%x09%s', '-n', String(opts.mergedCheckDepth), base.commit]);
    const bySubject = new Map<string, string>();
    for (const line of log.split('\n')) {
      const tab = line.indexOf('\t');
      if (tab > 0) bySubject.set(normaliseTitle(line.slice(tab + 1)), line.slice(0, tab));
    }
    for (const p of series.patches) {
      const sha = bySubject.get(normaliseTitle(p.subject.title));
      if (sha) merged.push({ counter: p.counter, title: p.subject.title, commit: sha });
    }
    if (merged.length === series.patches.length)
      return { status: 'already-merged', baseCommit: base.commit, base: baseInfo, matches: merged };
  }

  mkdirSync(opts.workRoot, { recursive: true });
  const dir = join(opts.workRoot, opts.runId);
  const mbox = `${dir}.mbox`;
  rmSync(dir, { recursive: true, force: true });
  await bare.raw(['worktree', 'prune']);
  // Only the files the series touches are checked out: git am needs no
  // others, and a full kernel checkout (80k files) costs a minute or more.
  const paths = [
    ...new Set(
      series.patches
        .flatMap((p) => p.files.flatMap((f) => [f.oldPath, f.newPath]))
        .filter((p): p is string => p !== null),
    ),
  ];
  try {
    await bare.raw(['worktree', 'add', '--detach', '--no-checkout', '--quiet', dir, base.commit]);
    const sparse = gitAt(dir, opts.signal);
    await sparse.raw(['sparse-checkout', 'set', '--no-cone', '--', ...paths.map((p) => `/${p}`)]);
    await sparse.raw(['read-tree', '-mu', 'HEAD']);
  } catch (err) {
    throw gitFailure(`creating a worktree for run ${opts.runId}`, err, opts.signal);
  }
  const wt = gitAt(dir, opts.signal);
  try {
    writeFileSync(mbox, seriesMbox(series));
    try {
      await wt.raw(['am', '--3way', '--patch-format=mboxrd', '--quiet', mbox]);
    } catch (err) {
      if (opts.signal?.aborted) throw new CancelledError('apply cancelled');
      const output = errorMessage(err);
      const failure = parseAmFailure(output);
      if (failure.index === null)
        throw new InfraError(`git am failed without naming a patch: ${output.slice(0, 2000)}`);
      const unmerged = (await wt.raw(['diff', '--name-only', '--diff-filter=U']).catch(() => ''))
        .split('\n')
        .filter(Boolean);
      const appliedBefore = Number((await wt.raw(['rev-list', '--count', `${base.commit}..HEAD`])).trim());
      // No `git am --abort`: the worktree, and the am state in its private
      // git dir, are deleted below; aborting would only rewrite the index.
      const patch = series.patches[failure.index - 1];
      opts.log.info({ patch: failure.index, files: failure.files }, 'series does not apply');
      return {
        status: 'conflict',
        baseCommit: base.commit,
        base: baseInfo,
        failedPatch: { counter: patch?.counter ?? failure.index, title: patch?.subject.title ?? '?' },
        appliedBefore,
        gitMessage: failure.message,
        files: [...new Set([...unmerged, ...failure.files])],
      };
    }
    const head = (await wt.raw(['rev-parse', 'HEAD'])).trim();
    const commits = (await wt.raw(['rev-list', '--reverse', `${base.commit}..HEAD`])).split('\n').filter(Boolean);
    const ref = `refs/ksci/runs/${opts.runId}`;
    await wt.raw(['update-ref', ref, head]);
    return {
      status: 'applied',
      baseCommit: base.commit,
      headCommit: head,
      ref,
      base: baseInfo,
      patches: series.patches.map((p, i) => ({ counter: p.counter, title: p.subject.title, commit: commits[i] ?? '' })),
      partiallyMerged: merged,
    };
  } catch (err) {
    if (err instanceof CancelledError || err instanceof InfraError) throw err;
    throw gitFailure(`applying run ${opts.runId}`, err, opts.signal);
  } finally {
    rmSync(mbox, { force: true });
    rmSync(dir, { recursive: true, force: true });
    await gitAt(tree.gitDir)
      .raw(['worktree', 'prune'])
      .catch(() => undefined);
  }
}
