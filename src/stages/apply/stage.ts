import { join } from 'node:path';
import { applySeries, type ApplyResult } from '../../apply/apply.js';
import { UsageError } from '../../errors.js';
import type { StageDefinition, StageResult } from '../../pipeline/stage.js';
import { ensureTree } from '../../tree/trees.js';
import { applyDetails } from './result.js';

/** Applies the series with `git am -3` on a worktree of its base tree. */
export const applyStage: StageDefinition = {
  name: 'apply',
  needs: [],
  role: 'apply',
  concurrency: 1,
  wantsSeries: true,
  details: applyDetails,
  async run(ctx) {
    const series = ctx.job.series;
    if (!series) throw new Error(`apply job ${ctx.run.runId} carries no series`);
    const treeConfig = ctx.config.trees.find((t) => t.name === ctx.run.tree.name);
    if (!treeConfig) {
      throw new UsageError(
        `this worker has no tree "${ctx.run.tree.name}" configured`,
        'workers need the same trees in their config as the coordinator',
      );
    }
    await ctx.progress({ message: `preparing tree ${treeConfig.name}` });
    const tree = await ensureTree(treeConfig, {
      cacheDir: join(ctx.config.dataDir, 'cache'),
      log: ctx.log,
      signal: ctx.signal,
      onProgress: (message) => void ctx.progress({ message }),
    });
    await ctx.progress({
      message: `applying ${series.patches.length} patch(es)`,
      done: 0,
      total: series.patches.length,
    });
    const result = await applySeries(tree, series, {
      runId: ctx.run.runId,
      workRoot: join(ctx.config.dataDir, 'work'),
      mergedCheckDepth: ctx.config.apply.mergedCheckDepth,
      log: ctx.log,
      signal: ctx.signal,
    });
    return applyOutcome(result);
  },
};

export function applyOutcome(result: ApplyResult): StageResult {
  const short = (sha: string) => sha.slice(0, 12);
  switch (result.status) {
    case 'applied':
      return {
        status: 'passed',
        summary: `applied ${result.patches.length} patch(es) on ${short(result.baseCommit)}`,
        data: result,
      };
    case 'conflict':
      return {
        status: 'failed',
        summary: `patch ${result.failedPatch.counter} "${result.failedPatch.title}" does not apply on ${short(result.baseCommit)}`,
        data: result,
      };
    case 'already-merged':
      return {
        status: 'skipped',
        summary: `already merged in ${short(result.baseCommit)}: all ${result.matches.length} patch(es) found in the tree`,
        data: result,
      };
  }
}
