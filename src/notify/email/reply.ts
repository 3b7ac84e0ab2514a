import { Job, Queue, UnrecoverableError, type Worker, type ConnectionOptions } from 'bullmq';
import { z } from 'zod';
import { resultsUrl, type Config, type LoreListConfig } from '../../config/schema.js';
import { errorMessage, UsageError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { RunBuildSchema } from '../../pipeline/payload.js';
import { renderEmail, type RenderedEmail } from './render.js';
import type { Verdict } from '../../stages/report/verdict.js';
import type { Series } from '../../series/types.js';
import type { EmailStore } from './replies.js';
import type { ResultsStore, RunRecord } from '../../store/results.js';
import { MailRejectedError, type MailSender } from './send.js';
import { QUEUES } from '../../queue/names.js';
import { startQueueWorker } from '../../queue/worker.js';

const ReplyJobSchema = z.object({
  runId: z.string().min(1),
  /** An admin asked for the reply to be sent again (the dashboard's "re-send"). */
  resendBy: z.string().min(1).optional(),
});
const VERDICTS = ['pass', 'fail', 'error', 'cancelled', 'skipped'] as const;

/** "*@kernel.org" or an exact address, compared without case. */
export function authorAllowed(allow: string[], address: string): boolean {
  if (allow.length === 0) return true;
  const a = address.toLowerCase();
  return allow.some((p) => {
    const pat = p.toLowerCase();
    return pat.startsWith('*@') ? a.endsWith(pat.slice(1)) : a === pat;
  });
}

/** The configured list a lore source reference belongs to. */
export function listOf(config: Config, source: { kind: string; ref: string }): LoreListConfig | null {
  if (source.kind !== 'lore') return null;
  return config.lore.lists.find((l) => source.ref.startsWith(l.url)) ?? null;
}

export interface ReplyPlan {
  /** The mail as it would go out (rendered even when it will not, for `ksci report --email`). */
  mail: RenderedEmail;
  /** Why it is not sent, or null when policy says send. */
  skip: string | null;
}

/**
 * The reply to a finished run and whether policy lets it go out. Pure:
 * everything comes from the stored run, its series and the config, so a
 * preview shows exactly what the worker sends.
 */
export function planReply(
  config: Config,
  run: RunRecord,
  series: Series,
  source: { kind: string; ref: string },
  /** An admin asks for it by hand: the rule that hand runs mail nobody gives way, the others hold. */
  opts: { resend?: boolean } = {},
): ReplyPlan {
  const verdict = (VERDICTS as readonly string[]).includes(run.verdict ?? '') ? (run.verdict as Verdict) : 'error';
  const list = listOf(config, source);
  const build = RunBuildSchema.safeParse(run.options);
  const configs = build.success ? build.data.configs : [];
  const lead = series.cover ?? series.patches[0]!;
  const reproducer = [
    `ksci run ${source.kind === 'mbox' ? '<the series mbox>' : source.ref} --tree ${run.tree}`,
    configs.length ? ` -k ${configs.join(',')}` : '',
    build.success && build.data.suites.length ? ` -s ${build.data.suites.join(',')}` : '',
    build.success && build.data.perfBisect
      ? ' --perf-bisect'
      : build.success && build.data.perfSuites.length
        ? ' --perf'
        : '',
  ].join('');
  const mail = renderEmail({
    series: {
      title: series.title,
      version: series.version,
      isRfc: series.isRfc,
      total: series.total,
      author: series.author,
      messageId: series.messageId,
      references: series.leadReferences ?? [],
      subject: lead.subject.raw,
    },
    runId: run.id,
    verdict,
    headline: run.summary ?? run.status,
    report: run.reportText ?? '',
    tree: { name: run.tree, reason: run.treeReason ?? 'not recorded' },
    baseCommit: baseCommitOf(run),
    configs,
    resultsUrl: resultsUrl(config, run.id),
    reproducer,
    policy: {
      mode: list?.reply.mode === 'list' ? 'list' : 'author',
      listAddress: list?.address ?? '',
      from: config.email.from,
      cc: list?.reply.cc ?? [],
    },
  });
  let skip: string | null = null;
  if (source.kind !== 'lore') skip = `the series did not come from a list (${source.kind})`;
  else if (!list) skip = `${source.ref} is on no configured list (lore.lists)`;
  // Someone testing a list series by hand (`ksci run <message-id>`) has not asked to mail the list.
  else if (!opts.resend && !(run.requestedBy ?? '').startsWith('lore:'))
    skip = `run by hand (${run.requestedBy ?? 'unknown'}), not by the list poller`;
  else if (!series.author.address) skip = 'the series has no author address to answer';
  else if (list.reply.mode === 'off') skip = `replies are off for list ${list.name} (lore.lists[].reply.mode)`;
  else if (!(config.email.on as string[]).includes(verdict))
    skip = `no reply for a ${verdict} verdict (email.on: ${config.email.on.join(', ')})`;
  else if (!authorAllowed(list.reply.allow, series.author.address))
    skip = `${series.author.address} is not on list ${list.name}'s reply allowlist`;
  return { mail, skip };
}

function baseCommitOf(run: RunRecord): string | null {
  const apply = run.stages.find((s) => s.name === 'apply');
  const parsed = z.object({ data: z.object({ baseCommit: z.string() }) }).safeParse(apply?.result);
  return parsed.success ? parsed.data.data.baseCommit : null;
}

/**
 * Replies on the list: a job per finished run of a lore series (deduped
 * by run id), sent by a worker in the coordinator's process. At most one
 * mail per change of a series version's verdict (src/store/email.ts);
 * SMTP outages are retried with backoff, a permanent refusal is recorded.
 */
export class EmailReporter {
  private readonly queue: Queue;
  private worker: Worker | null = null;

  /** Without a sender (no email.smtp) every reply is decided and recorded as not sent, so enabling SMTP later mails no backlog. */
  constructor(
    private readonly deps: {
      config: Config;
      results: ResultsStore;
      email: EmailStore;
      sender: MailSender | null;
      connection: ConnectionOptions;
      log: Logger;
    },
  ) {
    this.queue = new Queue(QUEUES.email, { connection: deps.connection });
  }

  async enqueue(runId: string): Promise<void> {
    await this.queue.add(
      'reply',
      { runId },
      {
        jobId: `reply-${runId}`,
        attempts: 6,
        backoff: { type: 'exponential', delay: 30_000 },
        removeOnComplete: { age: 7 * 86400 },
        removeOnFail: { age: 30 * 86400 },
      },
    );
  }

  /**
   * An admin's "send the reply again" (the list lost it, SMTP refused it,
   * it was skipped while SMTP was off). Refused here, with the reason, when
   * policy would not send it at all; the sending is a queued job, one at a
   * time per run (a second click while one waits is the same job).
   */
  async resend(runId: string, by: string): Promise<void> {
    const { results, config, sender } = this.deps;
    if (!sender)
      throw new UsageError(
        'no SMTP server is configured (email.smtp): nothing can be sent',
        'set email.smtp in the config and restart ksci serve',
      );
    const run = await results.getRun(runId);
    if (!run) throw new UsageError(`no run ${runId}`);
    if (!run.finishedAt)
      throw new UsageError(`run ${runId} has not finished (${run.status})`, 'a reply is written when the run ends');
    const series = await results.getSeries(run.seriesId);
    const source = await results.seriesSource(run.seriesId);
    if (!series || !source) throw new UsageError(`run ${runId}: its series is not in the database`);
    const { skip } = planReply(config, run, series, source, { resend: true });
    if (skip) throw new UsageError(`the reply of run ${runId} cannot be sent: ${skip}`);
    await this.queue.add(
      'resend',
      { runId, resendBy: by },
      {
        jobId: `resend-${runId}`,
        attempts: 3,
        backoff: { type: 'exponential', delay: 30_000 },
        // Gone once done or failed (the outcome is in email_replies), so a later re-send can be queued again.
        removeOnComplete: true,
        removeOnFail: true,
      },
    );
  }

  /** Runs that finished while no coordinator listened (or Redis lost the job) get their decision now. */
  async reconcile(sinceMs = 7 * 86400_000): Promise<number> {
    const ids = await this.deps.email.undecided(new Date(Date.now() - sinceMs));
    for (const id of ids) {
      // A reply whose job used up its attempts (SMTP down for long) gets a fresh job.
      const old = await Job.fromId(this.queue, `reply-${id}`);
      if (old && (await old.isFailed())) await old.remove();
      await this.enqueue(id);
    }
    return ids.length;
  }

  start(): Worker {
    this.worker = startQueueWorker({
      queue: QUEUES.email,
      connection: this.deps.connection,
      what: 'email reply',
      schema: ReplyJobSchema,
      log: this.deps.log,
      handle: (data) => this.reply(data.runId, data.resendBy),
    });
    return this.worker;
  }

  /** Decide and, when policy says so, send the reply of one run (again, when an admin asks: resendBy). */
  async reply(
    runId: string,
    resendBy?: string,
  ): Promise<{ status: 'sent' | 'skipped' | 'unchanged' | 'done' | 'busy'; detail: string }> {
    const { results, email, sender, config, log } = this.deps;
    const run = await results.getRun(runId);
    if (!run) throw new UnrecoverableError(`no run ${runId}`);
    if (!run.finishedAt) throw new UnrecoverableError(`run ${runId} has not finished`);
    const series = await results.getSeries(run.seriesId);
    const source = await results.seriesSource(run.seriesId);
    if (!series || !source) throw new UnrecoverableError(`run ${runId}: its series is not in the database`);
    const plan = planReply(config, run, series, source, { resend: resendBy !== undefined });
    const { mail } = plan;
    const skip = plan.skip ?? (sender ? null : 'no SMTP server is configured (email.smtp)');
    if (skip || !sender) {
      await email.skip({
        seriesId: run.seriesId,
        runId,
        verdict: run.verdict ?? run.status,
        messageId: mail.messageId,
        reason: skip ?? 'no sender',
      });
      return { status: 'skipped', detail: skip ?? 'no sender' };
    }
    const claimed = {
      seriesId: run.seriesId,
      runId,
      verdict: run.verdict ?? run.status,
      messageId: mail.messageId,
      recipients: [...mail.to, ...mail.cc],
    };
    const claim = resendBy ? await email.claimResend({ ...claimed, by: resendBy }) : await email.claim(claimed);
    if (claim !== 'claimed')
      return {
        status: claim,
        detail:
          claim === 'unchanged'
            ? 'the last reply on this series version said the same'
            : claim === 'busy'
              ? 'another worker is sending it right now'
              : 'already decided',
      };
    try {
      const sent = await sender.send(mail);
      await email.finish(runId, { status: 'sent' });
      log.info({ runId, messageId: sent.messageId, to: mail.to, cc: mail.cc, rejected: sent.rejected }, 'reply sent');
      return { status: 'sent', detail: `to ${[...mail.to, ...mail.cc].join(', ')}` };
    } catch (err) {
      const permanent = err instanceof MailRejectedError;
      await email.finish(runId, { status: permanent ? 'rejected' : 'failed', error: errorMessage(err) });
      if (permanent) throw new UnrecoverableError(`the server refused the reply for good: ${err.message}`);
      throw err;
    }
  }

  async close(force = false): Promise<void> {
    await this.worker?.close(force);
    await this.queue.close();
  }
}

/** For `ksci report --email`: the reply of a run as it would be sent, or why it would not be. */
export async function previewReply(config: Config, results: ResultsStore, runId: string): Promise<ReplyPlan> {
  const run = await results.getRun(runId);
  if (!run) throw new UsageError(`no run ${runId}`, '"ksci status" lists runs');
  const series = await results.getSeries(run.seriesId);
  const source = await results.seriesSource(run.seriesId);
  if (!series || !source) throw new UsageError(`run ${runId}: its series is not in the database`);
  if (!run.finishedAt)
    throw new UsageError(`run ${run.id} has not finished (${run.status})`, 'a reply is written when the run ends');
  const plan = planReply(config, run, series, source);
  return plan.skip || config.email.smtp ? plan : { ...plan, skip: 'no SMTP server is configured (email.smtp)' };
}

/** The mail as text, headers first: what `ksci report --email` prints. */
export function formatMail(mail: RenderedEmail): string {
  const h = [
    `From: ${mail.from}`,
    `To: ${mail.to.join(', ')}`,
    ...(mail.cc.length ? [`Cc: ${mail.cc.join(', ')}`] : []),
    `Subject: ${mail.subject}`,
    `Message-ID: <${mail.messageId}>`,
    `In-Reply-To: <${mail.inReplyTo}>`,
    `References: ${mail.references.map((r) => `<${r}>`).join(' ')}`,
    ...Object.entries(mail.headers).map(([k, v]) => `${k}: ${v}`),
  ];
  return `${h.join('\n')}\n\n${mail.text}`;
}
