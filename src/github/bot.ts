import { Queue, UnrecoverableError, type Worker, type ConnectionOptions } from 'bullmq';
import { z } from 'zod';
import { resultsUrl, type Config, type GitHubRepoConfig } from '../config/schema.js';
import type { Coordinator, Submitted } from '../coordinator/coordinator.js';
import { BadInputError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { BuildStageDataSchema } from '../stages/build/result.js';
import type { Verdict } from '../stages/report/verdict.js';
import type { GitHubStore } from '../store/github.js';
import type { ResultsStore, RunRecord } from '../store/results.js';
import { githubFailure, type GitHubClient, type RepoClient } from './client.js';
import { canRunCommands, helpMarkdown, parseCommands } from './commands.js';
import { loadPrSeries } from './pr.js';
import { publishRun, type PublishStep } from './publish.js';
import type { BuildAnnotation, CheckRunInput } from './report.js';
import type { GitHubEvent } from './webhook.js';
import { QUEUES } from '../queue/names.js';
import { startQueueWorker } from '../queue/worker.js';

/*
 * Jobs of the GitHub queue. A webhook delivery becomes an "event" job at
 * once (GitHub gives up after 10 s; the work survives restarts in Redis);
 * "publish" mirrors a run's state onto its PRs; "poll" looks for new pushes
 * when webhooks cannot reach ksci. The job data is ours, but it comes back
 * from Redis: it is checked again.
 */
const Repo = z.object({ owner: z.string().min(1), repo: z.string().min(1) });
const PrJob = z.object({
  kind: z.literal('pr'),
  action: z.enum(['opened', 'synchronize', 'reopened', 'closed', 'labeled', 'ready_for_review']),
  repo: Repo,
  number: z.number().int().positive(),
  installationId: z.number().int().nullable(),
  sender: z.string(),
  draft: z.boolean(),
  labels: z.array(z.string()),
  label: z.string().nullable(),
  headSha: z.string(),
});
const CommentJob = z.object({
  kind: z.literal('comment'),
  repo: Repo,
  number: z.number().int().positive(),
  installationId: z.number().int().nullable(),
  author: z.string(),
  body: z.string(),
});
const PublishJob = z.object({ kind: z.literal('publish'), runId: z.string().min(1) });
const PollJob = z.object({ kind: z.literal('poll'), repo: z.string().min(1) });
const JobSchema = z.discriminatedUnion('kind', [PrJob, CommentJob, PublishJob, PollJob]);
type PrJob = z.infer<typeof PrJob>;
type CommentJob = z.infer<typeof CommentJob>;

export function eventJob(ev: GitHubEvent): PrJob | CommentJob {
  if (ev.kind === 'comment')
    return {
      kind: 'comment',
      repo: ev.repo,
      number: ev.number,
      installationId: ev.installationId,
      author: ev.author,
      body: ev.body,
    };
  return {
    kind: 'pr',
    action: ev.action,
    repo: ev.repo,
    number: ev.pr.number,
    installationId: ev.installationId,
    sender: ev.sender,
    draft: ev.pr.draft,
    labels: ev.pr.labels,
    label: ev.label,
    headSha: ev.pr.head.sha,
  };
}

export type PrDecision =
  | { do: 'test'; perf: boolean }
  | { do: 'cancel'; reason: string }
  | { do: 'ignore'; reason: string };

/** What a pull_request event asks of ksci, by the repository's settings. Pure. */
export function decidePullRequest(
  ev: Pick<PrJob, 'action' | 'draft' | 'labels' | 'label'>,
  repo: GitHubRepoConfig,
): PrDecision {
  if (ev.action === 'closed') return { do: 'cancel', reason: 'the pull request was closed' };
  if (ev.action === 'labeled' && ev.label !== repo.perfLabel)
    return { do: 'ignore', reason: `label ${ev.label ?? '?'} asks for nothing` };
  if (ev.draft && !repo.drafts) return { do: 'ignore', reason: 'a draft (github.repos[].drafts is off)' };
  if (ev.labels.includes(repo.skipLabel)) return { do: 'ignore', reason: `labelled ${repo.skipLabel}` };
  return { do: 'test', perf: ev.labels.includes(repo.perfLabel) };
}

/** Compiler errors of the series' builds and the warnings it added, for annotations on the PR's lines. */
export function annotationsOf(run: RunRecord): BuildAnnotation[] {
  const build = BuildStageDataSchema.safeParse(
    (run.stages.find((s) => s.name === 'build')?.result as { data?: unknown } | null)?.data,
  );
  if (!build.success) return [];
  const out: BuildAnnotation[] = [];
  for (const b of build.data.builds) {
    for (const d of b.series.errors)
      if (d.file && d.line !== null)
        out.push({
          path: d.file,
          line: d.line,
          level: 'failure',
          message: `${d.message}${d.flag ? ` [${d.flag}]` : ''} (${b.config})`,
        });
    for (const d of b.warnings.added)
      if (d.file && d.line !== null)
        out.push({
          path: d.file,
          line: d.line,
          level: 'warning',
          message: `${d.message}${d.flag ? ` [${d.flag}]` : ''} (${b.config})`,
        });
  }
  return out;
}

const STATUS: Record<string, 'queued' | 'in_progress' | 'completed'> = { queued: 'queued', running: 'in_progress' };

/** A run's state as the check run and the comment show it. */
export function checkInput(run: RunRecord, headSha: string, config: Config): CheckRunInput {
  const facts = {
    runId: run.id,
    headSha,
    ...(resultsUrl(config, run.id) ? { detailsUrl: resultsUrl(config, run.id)! } : {}),
    ...(run.startedAt ? { startedAt: run.startedAt.toISOString() } : {}),
  };
  const status = STATUS[run.status];
  if (status === 'queued' || status === 'in_progress') return { ...facts, status };
  const verdict = (
    ['pass', 'fail', 'error', 'cancelled', 'skipped'].includes(run.verdict ?? '') ? run.verdict : 'error'
  ) as Verdict;
  return {
    ...facts,
    status: 'completed',
    report: {
      verdict,
      headline: run.summary ?? run.status,
      markdown: run.reportMarkdown ?? `## ksci: ${run.status}\n\n${run.summary ?? ''}\n`,
      text: run.reportText ?? '',
    },
    ...(run.finishedAt ? { completedAt: run.finishedAt.toISOString() } : {}),
    annotations: annotationsOf(run),
  };
}

export const prLineage = (repo: string, number: number) => `github:${repo}#${number}`;

/**
 * The pull-request bot. Events come from the webhook (or polling) as jobs;
 * a PR's head becomes a series submitted to the coordinator (a new push
 * supersedes the run of the last one: same lineage); every change of a
 * run's state is published as a check run, one sticky comment and labels.
 * Runs in the coordinator's process: it submits and reads results.
 */
export class GitHubBot {
  private readonly queue: Queue;
  private worker: Worker | null = null;
  /** Heads refused as series ("repo#n@sha"), so polling does not refuse them on every pass. */
  private readonly refused = new Set<string>();

  constructor(
    private readonly deps: {
      config: Config;
      coordinator: Coordinator;
      results: ResultsStore;
      store: GitHubStore;
      client: GitHubClient;
      connection: ConnectionOptions;
      log: Logger;
    },
  ) {
    this.queue = new Queue(QUEUES.github, { connection: deps.connection });
  }

  /** The webhook's onEvent: queue it and answer GitHub. */
  async enqueueEvent(ev: GitHubEvent): Promise<void> {
    await this.queue.add(ev.kind, eventJob(ev), {
      jobId: `delivery-${ev.deliveryId}`,
      attempts: 4,
      backoff: { type: 'exponential', delay: 5000 },
      removeOnComplete: { age: 86400 },
      removeOnFail: { age: 7 * 86400 },
    });
  }

  async enqueuePublish(runId: string): Promise<void> {
    if ((await this.deps.store.forRun(runId)).length === 0) return;
    await this.queue.add(
      'publish',
      { kind: 'publish', runId },
      {
        attempts: 6,
        backoff: { type: 'exponential', delay: 10_000 },
        removeOnComplete: 1000,
        removeOnFail: { age: 7 * 86400 },
      },
    );
  }

  /** Every state change of a run is published; the job reads the state when it runs, so a late job is harmless. */
  watch(coordinator: Coordinator): void {
    const publish = (rec: RunRecord) =>
      void this.enqueuePublish(rec.id).catch((err) =>
        this.deps.log.error({ runId: rec.id, err: errorMessage(err) }, 'could not queue the GitHub update'),
      );
    coordinator.on('run-started', publish);
    coordinator.on('run-finished', publish);
  }

  /** Polling instead of webhooks: a scheduler per repository. */
  async schedulePolls(): Promise<void> {
    const { config } = this.deps;
    for (const r of config.github.repos) {
      const id = `github-poll:${r.repo}`;
      if (config.github.pollSeconds > 0)
        await this.queue.upsertJobScheduler(
          id,
          { every: config.github.pollSeconds * 1000 },
          {
            name: 'poll',
            data: { kind: 'poll', repo: r.repo },
            opts: { attempts: 1, removeOnComplete: 100, removeOnFail: 100 },
          },
        );
      else await this.queue.removeJobScheduler(id);
    }
  }

  start(): Worker {
    // One job at a time: two publishes of a run must not both create its check run.
    // A PR ksci cannot read as a series (a merge commit, too many commits) does not get better by retrying.
    this.worker = startQueueWorker({
      queue: QUEUES.github,
      connection: this.deps.connection,
      what: 'GitHub',
      schema: JobSchema,
      log: this.deps.log,
      handle: async (data) => {
        switch (data.kind) {
          case 'pr':
            return await this.onPullRequest(data);
          case 'comment':
            return await this.onComment(data);
          case 'publish':
            return await this.publish(data.runId);
          case 'poll':
            return await this.poll(data.repo);
        }
      },
    });
    return this.worker;
  }

  async close(force = false): Promise<void> {
    await this.worker?.close(force);
    await this.queue.close();
  }

  private repoConfig(repo: { owner: string; repo: string }): GitHubRepoConfig | undefined {
    const name = `${repo.owner}/${repo.repo}`.toLowerCase();
    return this.deps.config.github.repos.find((r) => r.repo.toLowerCase() === name);
  }

  private client(job: { repo: { owner: string; repo: string }; installationId: number | null }): Promise<RepoClient> {
    return this.deps.client.forRepo(job.repo, job.installationId ?? undefined);
  }

  async onPullRequest(job: PrJob): Promise<{ decision: PrDecision; submitted?: Submitted }> {
    const repo = this.repoConfig(job.repo);
    if (!repo)
      return { decision: { do: 'ignore', reason: `${job.repo.owner}/${job.repo.repo} is not in github.repos` } };
    const decision = decidePullRequest(job, repo);
    const log = this.deps.log.child({ pr: `${repo.repo}#${job.number}`, action: job.action });
    if (decision.do === 'ignore') {
      log.info({ reason: decision.reason }, 'pull request not tested');
      return { decision };
    }
    if (decision.do === 'cancel') {
      await this.cancelPr(repo.repo, job.number, decision.reason);
      return { decision };
    }
    const client = await this.client(job);
    try {
      const submitted = await this.test(client, repo, job.number, job.installationId, {
        perf: decision.perf,
        force: false,
        requestedBy: `github:${job.sender}`,
      });
      return { decision, submitted };
    } catch (err) {
      if (!(err instanceof BadInputError)) throw err;
      // A PR ksci cannot make a series of (a merge commit, too many commits): the author hears why, on the PR.
      this.refused.add(`${repo.repo}#${job.number}@${job.headSha}`);
      await this.refuse(client, job.number, job.headSha, err);
      throw err;
    }
  }

  private async refuse(client: RepoClient, number: number, headSha: string, err: BadInputError): Promise<void> {
    const why = `${err.message}${err.hint ? `\n\n${err.hint}` : ''}`;
    const result = await publishRun(
      client,
      {
        number,
        checkRunId: null,
        run: {
          status: 'completed',
          runId: `refused-${headSha.slice(0, 12)}`,
          headSha,
          report: {
            verdict: 'fail',
            headline: `FAIL: cannot test this pull request: ${err.message}`,
            markdown: `## ksci: cannot test this pull request\n\n${why}\n`,
            text: why,
          },
        },
      },
      this.deps.log,
    );
    this.deps.log.info(
      { pr: `${client.owner}/${client.repo}#${number}`, reason: err.message, deferred: result.deferred },
      'pull request refused',
    );
  }

  private async test(
    client: RepoClient,
    repo: GitHubRepoConfig,
    number: number,
    installationId: number | null,
    opts: { perf: boolean; force: boolean; requestedBy: string },
  ): Promise<Submitted> {
    const { pr, series } = await loadPrSeries(client, number, {
      ...this.deps.config.limits,
      maxPatches: Math.min(this.deps.config.limits.maxPatches, this.deps.config.github.maxCommits),
    });
    const submitted = await this.deps.coordinator.submit(series, {
      source: { kind: 'github', ref: pr.htmlUrl },
      lineage: prLineage(repo.repo, number),
      ...(repo.tree ? { tree: repo.tree } : {}),
      build: opts.perf ? { perf: true } : {},
      force: opts.force,
      requestedBy: opts.requestedBy,
    });
    await this.deps.store.link({
      runId: submitted.runId,
      repo: repo.repo,
      number,
      headSha: pr.head.sha,
      installationId,
    });
    this.deps.log.info(
      {
        pr: `${repo.repo}#${number}`,
        head: pr.head.sha.slice(0, 12),
        runId: submitted.runId,
        created: submitted.created,
        superseded: submitted.superseded,
        fork: pr.fromFork,
      },
      'pull request submitted',
    );
    await this.publish(submitted.runId);
    return submitted;
  }

  private async cancelPr(repo: string, number: number, reason: string): Promise<string[]> {
    const cancelled: string[] = [];
    for (const r of await this.deps.store.forPr(repo, number)) {
      const run = await this.deps.results.getRun(r.runId);
      if (run && (run.status === 'queued' || run.status === 'running')) {
        await this.deps.coordinator.cancel(r.runId, reason);
        cancelled.push(r.runId);
      }
    }
    return cancelled;
  }

  async onComment(job: CommentJob): Promise<{ did: string[] }> {
    const repo = this.repoConfig(job.repo);
    const commands = parseCommands(job.body);
    if (!repo || commands.length === 0) return { did: [] };
    const client = await this.client(job);
    const reply = async (body: string) => {
      try {
        await client.octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
          owner: client.owner,
          repo: client.repo,
          issue_number: job.number,
          body,
        });
      } catch (err) {
        throw githubFailure(err, `replying on ${repo.repo}#${job.number}`);
      }
    };
    const { allowed, permission } = await canRunCommands(client, job.author);
    if (!allowed) {
      await reply(
        `@${job.author}: thanks — ksci takes commands only from people with write access to ${repo.repo} (yours: ${permission}). A maintainer can run \`/ksci retest\` for you.`,
      );
      return { did: ['refused'] };
    }
    const did: string[] = [];
    for (const c of commands) {
      if (c.name === 'retest' || c.name === 'perf') {
        const sub = await this.test(client, repo, job.number, job.installationId, {
          perf: c.name === 'perf',
          force: c.name === 'retest',
          requestedBy: `github:${job.author}`,
        });
        did.push(`${c.name} ${sub.runId}`);
      } else if (c.name === 'cancel') {
        const runs = await this.cancelPr(repo.repo, job.number, `cancelled by @${job.author}`);
        await reply(
          runs.length
            ? `@${job.author}: cancelled ${runs.map((r) => `\`${r}\``).join(', ')}.`
            : `@${job.author}: nothing of this pull request is running.`,
        );
        did.push('cancel');
      } else {
        await reply(helpMarkdown(c.name === 'unknown' ? c.word : undefined));
        did.push('help');
      }
    }
    return { did };
  }

  /** The run's current state onto every PR it tests: skipped when already published, except steps deferred by the rate limit. */
  async publish(runId: string): Promise<{ published: number }> {
    const run = await this.deps.results.getRun(runId);
    if (!run) throw new UnrecoverableError(`no run ${runId}`);
    let published = 0;
    for (const link of await this.deps.store.forRun(runId)) {
      const input = checkInput(run, link.headSha, this.deps.config);
      const steps: PublishStep[] | undefined =
        link.published === input.status ? (link.deferred.length ? (link.deferred as PublishStep[]) : []) : undefined;
      if (steps?.length === 0) continue;
      const [owner, repo] = link.repo.split('/') as [string, string];
      const client = await this.deps.client.forRepo({ owner, repo }, link.installationId ?? undefined);
      const result = await publishRun(
        client,
        { number: link.number, run: input, checkRunId: link.checkRunId, ...(steps ? { steps } : {}) },
        this.deps.log,
      );
      await this.deps.store.published(runId, link.repo, link.number, {
        checkRunId: result.checkRunId,
        published: input.status,
        deferred: result.deferred,
      });
      if (result.deferred.length) {
        // Below the rate-limit floor or failed: publish the rest when the quota is back.
        const delay = result.retryAt ? Math.max(1000, result.retryAt.getTime() - Date.now()) : 60_000;
        await this.queue.add(
          'publish',
          { kind: 'publish', runId },
          { delay, attempts: 6, backoff: { type: 'exponential', delay: 10_000 }, removeOnComplete: 1000 },
        );
      }
      published++;
    }
    return { published };
  }

  /** Webhooks off: open PRs whose head has no run yet are treated as pushed. */
  async poll(repoName: string): Promise<{ submitted: number }> {
    const repo = this.deps.config.github.repos.find((r) => r.repo === repoName);
    if (!repo) throw new UnrecoverableError(`${repoName} is no longer in github.repos`);
    const [owner, name] = repo.repo.split('/') as [string, string];
    const client = await this.deps.client.forRepo({ owner, repo: name });
    const PullList = z.array(
      z.object({
        number: z.number().int(),
        draft: z.boolean().optional(),
        labels: z.array(z.object({ name: z.string() })),
        head: z.object({ sha: z.string() }),
        user: z.object({ login: z.string() }),
      }),
    );
    let pulls: z.infer<typeof PullList>;
    try {
      pulls = PullList.parse(
        await client.octokit.paginate('GET /repos/{owner}/{repo}/pulls', {
          owner,
          repo: name,
          state: 'open',
          per_page: 100,
        }),
      );
    } catch (err) {
      throw githubFailure(err, `listing the open pull requests of ${repo.repo}`);
    }
    let submitted = 0;
    for (const p of pulls) {
      const known = await this.deps.store.forPr(repo.repo, p.number);
      if (known.some((k) => k.headSha === p.head.sha) || this.refused.has(`${repo.repo}#${p.number}@${p.head.sha}`))
        continue;
      try {
        const res = await this.onPullRequest({
          kind: 'pr',
          action: 'synchronize',
          repo: { owner, repo: name },
          number: p.number,
          installationId: null,
          sender: p.user.login,
          draft: p.draft ?? false,
          labels: p.labels.map((l) => l.name),
          label: null,
          headSha: p.head.sha,
        });
        if (res.submitted) submitted++;
      } catch (err) {
        // One PR that cannot be tested (told so on the PR) does not stop the others.
        if (!(err instanceof BadInputError)) throw err;
      }
    }
    return { submitted };
  }
}
