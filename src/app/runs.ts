import { EXIT, type ExitCode, UsageError } from '../errors.js';
import { formatMail, previewReply } from '../notify/email/reply.js';
import { requestCancel } from '../queue/cancel.js';
import type { RunStatus } from '../store/results.js';
import type { Context } from './context.js';
import { openServices } from './services.js';

/** The exit code of a command that reports a run: what its status means to a script. */
export const STATUS_EXIT: Record<RunStatus, ExitCode> = {
  queued: EXIT.infra,
  running: EXIT.infra,
  passed: EXIT.ok,
  skipped: EXIT.ok,
  failed: EXIT.verdictFail,
  error: EXIT.infra,
  cancelled: EXIT.cancelled,
};

export interface ShowOptions {
  /** Markdown instead of plain text. */
  markdown?: boolean;
  /** The reply on the list instead, and whether policy sends it. */
  email?: boolean;
}

/** `ksci show` (`ksci report`): a run's report, or with `email` the reply ksci sends (or would send) for it. */
export async function showRun(ctx: Context, id: string, opts: ShowOptions): Promise<ExitCode> {
  const { config, log } = ctx;
  const services = await openServices(config, log, { db: true });
  try {
    if (opts.email) {
      const plan = await previewReply(config, services.store!, id);
      process.stdout.write(formatMail(plan.mail));
      process.stderr.write(
        plan.skip
          ? `ksci: this reply is not sent: ${plan.skip}\n`
          : 'ksci: policy sends this reply when the run finishes (ksci serve)\n',
      );
      return EXIT.ok;
    }
    const rec = await services.store!.getRun(id);
    if (!rec) throw new UsageError(`no run ${id}`, '"ksci status" lists runs');
    const body = opts.markdown ? rec.reportMarkdown : rec.reportText;
    process.stdout.write(
      body ??
        `run ${rec.id}: ${rec.status}${rec.summary ? ` — ${rec.summary}` : ''}\n${rec.stages.map((s) => `  ${s.name}: ${s.status}${s.error ? ` (${s.error})` : ''}`).join('\n')}\n`,
    );
    return STATUS_EXIT[rec.status];
  } finally {
    await services.close();
  }
}

/** `ksci cancel`: asks the workers through Redis; running stages stop, waiting ones will not start. */
export async function cancelRun(ctx: Context, id: string): Promise<ExitCode> {
  const services = await openServices(ctx.config, ctx.log, { db: false });
  try {
    const client = services.redis.client();
    await requestCancel(client, { run: id }, 'cancelled by the user');
    client.disconnect();
    process.stderr.write(`ksci: cancel requested for ${id}; running stages stop, waiting ones will not start\n`);
    return EXIT.ok;
  } finally {
    await services.close();
  }
}
