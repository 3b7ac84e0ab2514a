import { RequestError } from 'octokit';
import { z } from 'zod';
import { errorMessage } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { githubFailure, type RepoClient } from './client.js';
import {
  buildCheckRun,
  buildStickyComment,
  isStickyComment,
  verdictLabels,
  type CheckRunInput,
  type CheckRunPlan,
} from './report.js';

const IdSchema = z.object({ id: z.number().int() });
const CommentSchema = z.object({
  id: z.number().int(),
  body: z.string().optional(),
  user: z.object({ login: z.string() }).nullable(),
});
const LabelSchema = z.object({ name: z.string() });

/**
 * Creates the check run, or updates it (checkRunId from an earlier call for
 * the same run), then adds the annotations past the first 50 in further
 * updates: GitHub appends annotations, so a plan is sent once.
 */
export async function publishCheckRun(
  client: RepoClient,
  plan: CheckRunPlan,
  checkRunId: number | null,
): Promise<number> {
  const where = { owner: client.owner, repo: client.repo };
  const { head_sha, ...update } = plan.body;
  let id: number;
  try {
    if (checkRunId === null) {
      const { data } = await client.octokit.request('POST /repos/{owner}/{repo}/check-runs', {
        ...where,
        ...plan.body,
      });
      id = IdSchema.parse(data).id;
    } else {
      await client.octokit.request('PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}', {
        ...where,
        check_run_id: checkRunId,
        ...update,
      });
      id = checkRunId;
    }
    const { title, summary } = plan.body.output;
    for (const annotations of plan.annotationBatches) {
      await client.octokit.request('PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}', {
        ...where,
        check_run_id: id,
        output: { title, summary, annotations },
      });
    }
  } catch (err) {
    throw githubFailure(err, `publishing the check run for ${head_sha.slice(0, 12)} on ${client.owner}/${client.repo}`);
  }
  return id;
}

/**
 * Edits ksci's comment on the PR, or posts it when there is none. Only a
 * comment that carries the marker and was written by ksci's own login
 * counts: anyone can paste the marker. `render` gets the previous body, for
 * the history line.
 */
export async function upsertStickyComment(
  client: RepoClient,
  number: number,
  render: (previous: string | null) => string,
): Promise<{ id: number; created: boolean }> {
  const where = { owner: client.owner, repo: client.repo, issue_number: number };
  try {
    const me = await client.login();
    let found: z.infer<typeof CommentSchema> | undefined;
    // Stops at the page that has it: the sticky comment is usually among the first.
    for await (const page of client.octokit.paginate.iterator(
      'GET /repos/{owner}/{repo}/issues/{issue_number}/comments',
      { ...where, per_page: 100 },
    )) {
      found = z
        .array(CommentSchema)
        .parse(page.data)
        .find((c) => c.user?.login === me && isStickyComment(c.body ?? ''));
      if (found) break;
    }
    if (found) {
      await client.octokit.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', {
        owner: client.owner,
        repo: client.repo,
        comment_id: found.id,
        body: render(found.body ?? null),
      });
      return { id: found.id, created: false };
    }
    const { data } = await client.octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
      ...where,
      body: render(null),
    });
    return { id: IdSchema.parse(data).id, created: true };
  } catch (err) {
    throw githubFailure(err, `updating ksci's comment on ${client.owner}/${client.repo}#${number}`);
  }
}

/** Adds and removes labels, touching only those that change (each change is a write). */
export async function applyLabels(
  client: RepoClient,
  number: number,
  change: { add: string[]; remove: string[] },
): Promise<void> {
  const where = { owner: client.owner, repo: client.repo, issue_number: number };
  try {
    const { data } = await client.octokit.request('GET /repos/{owner}/{repo}/issues/{issue_number}/labels', {
      ...where,
      per_page: 100,
    });
    const have = new Set(
      z
        .array(LabelSchema)
        .parse(data)
        .map((l) => l.name),
    );
    for (const name of change.remove.filter((n) => have.has(n))) {
      await client.octokit
        .request('DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}', { ...where, name })
        .catch((err: unknown) => {
          // Someone removed it in the meantime: the goal is reached.
          if (!(err instanceof RequestError && err.status === 404)) throw err;
        });
    }
    const add = change.add.filter((n) => !have.has(n));
    if (add.length > 0)
      await client.octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', {
        ...where,
        labels: add,
      });
  } catch (err) {
    throw githubFailure(err, `setting labels on ${client.owner}/${client.repo}#${number}`);
  }
}

export const PUBLISH_STEPS = ['check', 'comment', 'labels'] as const;
export type PublishStep = (typeof PUBLISH_STEPS)[number];

export interface PublishInput {
  /** The pull request. */
  number: number;
  run: CheckRunInput;
  /** The check run an earlier publish of this run created. */
  checkRunId: number | null;
  /** All by default; a later call passes what an earlier one deferred. */
  steps?: readonly PublishStep[];
}

export interface PublishResult {
  checkRunId: number | null;
  commentId: number | null;
  /** Steps not done: skipped below the rate-limit floor, or failed (logged). Publish them later with `steps`. */
  deferred: PublishStep[];
  /** When the quota resets, if it is why steps were deferred. */
  retryAt: Date | null;
}

/**
 * A run's state on the PR: the check run first, since it is the verdict and
 * what branch protection reads; failing it fails the publish. The comment
 * and labels repeat it for people, so they wait when the quota is below the
 * floor, and a failure of one is reported in `deferred` rather than thrown.
 */
export async function publishRun(
  client: RepoClient,
  input: PublishInput,
  log: Logger = silentLogger,
): Promise<PublishResult> {
  const steps = new Set(input.steps ?? PUBLISH_STEPS);
  const result: PublishResult = { checkRunId: input.checkRunId, commentId: null, deferred: [], retryAt: null };
  if (steps.has('check')) result.checkRunId = await publishCheckRun(client, buildCheckRun(input.run), input.checkRunId);

  const verdict = input.run.status === 'completed' ? input.run.report.verdict : undefined;
  const optional = {
    comment: async () => {
      result.commentId = (
        await upsertStickyComment(client, input.number, (prev) => buildStickyComment(prev, input.run))
      ).id;
    },
    labels: () => applyLabels(client, input.number, verdictLabels(input.run.status, verdict)),
  };
  for (const step of ['comment', 'labels'] as const) {
    if (!steps.has(step)) continue;
    if (!client.budget.allowsDeferrable()) {
      result.deferred.push(step);
      result.retryAt = client.budget.resetAt === null ? null : new Date(client.budget.resetAt);
      log.warn(
        { step, remaining: client.budget.remaining, floor: client.budget.floor, retryAt: result.retryAt },
        'GitHub quota below the floor; deferred',
      );
      continue;
    }
    try {
      await optional[step]();
    } catch (err) {
      result.deferred.push(step);
      log.error(
        { step, pr: `${client.owner}/${client.repo}#${input.number}`, err: errorMessage(err) },
        'publishing to GitHub failed; deferred',
      );
    }
  }
  return result;
}
