import { Queue } from 'bullmq';
import { Coordinator } from '../coordinator/coordinator.js';
import { startIngestWorker } from '../coordinator/ingest.js';
import { EXIT, type ExitCode, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { scheduleLorePolls, startLoreWorker } from '../lore/schedule.js';
import { EmailReporter } from '../notify/email/reply.js';
import { smtpSender } from '../notify/email/send.js';
import { scheduleNightly, startNightlyWorker } from '../perf/schedule.js';
import { QUEUES } from '../queue/names.js';
import { pipelineStages, rolesOf } from '../stages/index.js';
import type { Context } from './context.js';
import { nightlyIssuePublisher, startGitHubBot } from './github.js';
import { loreSubmitter } from './lore.js';
import { onShutdown, openServices, startWorkers, VM_ROLE } from './services.js';
import { startWeb } from './web.js';

export interface ServeOptions {
  /** Also run every worker role in this process. */
  withWorkers?: boolean;
}

/**
 * `ksci serve`: the coordinator, and what lives with it because it needs
 * the results database or submits runs: the ingest worker, the GitHub bot,
 * nightly tracking, lore polling and the email replies. Runs until a signal.
 */
export async function serve(ctx: Context, opts: ServeOptions): Promise<ExitCode> {
  const { config, log } = ctx;
  const services = await openServices(config, log, { db: true });
  const stages = pipelineStages(config);
  const coordinator = new Coordinator({ config, redis: services.redis, store: services.store!, stages, log });
  await coordinator.start();
  const ingest = startIngestWorker(coordinator, { redis: services.redis, config, log });
  const workers = opts.withWorkers ? await startWorkers(stages, rolesOf(stages), services) : null;
  const github = config.github.app ? await startGitHubBot({ config, coordinator, services, log }) : null;
  // Nightly tracking lives with the coordinator: it records into the results database.
  const nightly = config.perf.nightly.trees.length
    ? new Queue(QUEUES.nightly, { connection: services.redis.connection })
    : null;
  const onAlerts =
    github && config.github.nightlyIssues ? nightlyIssuePublisher(config, github.client, log) : undefined;
  const nightlyWorker = nightly
    ? startNightlyWorker({
        config,
        store: services.store!,
        connection: services.redis.connection,
        redis: () => services.redis.client(),
        log,
        ...(onAlerts ? { onAlerts } : {}),
      })
    : null;
  if (nightly)
    log.info(
      { schedulers: await scheduleNightly(nightly, config), cron: config.perf.nightly.cron },
      'nightly tracking scheduled',
    );
  // Lore polling lives with the coordinator too: it submits to it and remembers what it saw in the results database.
  const lore = new Queue(QUEUES.lore, { connection: services.redis.connection });
  const loreWorker = startLoreWorker({
    config,
    store: services.lore!,
    submit: loreSubmitter(coordinator),
    connection: services.redis.connection,
    log,
  });
  log.info(
    { schedulers: await scheduleLorePolls(lore, config), everySeconds: config.lore.pollSeconds },
    'lore polling scheduled',
  );
  // Always on: without SMTP every reply is recorded as not sent, so turning SMTP on later mails no backlog.
  const replies = new EmailReporter({
    config,
    results: services.store!,
    email: services.email!,
    sender: config.email.smtp ? smtpSender(config.email.smtp) : null,
    connection: services.redis.connection,
    log,
  });
  replies.start();
  coordinator.on(
    'run-finished',
    (rec) =>
      void replies
        .enqueue(rec.id)
        .catch((err) =>
          log.error(
            { runId: rec.id, err: errorMessage(err) },
            'could not queue the reply; it is queued on the next start',
          ),
        ),
  );
  log.info(
    {
      missed: await replies.reconcile(),
      smtp: config.email.smtp ? `${config.email.smtp.host}:${config.email.smtp.port}` : null,
    },
    'email replies on',
  );
  if (!config.email.smtp && config.lore.lists.some((l) => l.reply.mode !== 'off'))
    log.warn('lore.lists ask for replies but email.smtp is not set: no mail is sent');
  const web = config.web.enabled ? await startWeb({ services, coordinator, replies, nightly }) : null;
  log.info({ redis: services.redis.where, queues: workers?.workers.map((w) => w.queue) ?? [] }, 'coordinator running');
  await untilStopped(log, async (force) => {
    await web?.close();
    await nightlyWorker?.close(force);
    await nightly?.close();
    await loreWorker.close(force);
    await lore.close();
    await replies.close(force);
    await github?.close(force);
    await workers?.close(force);
    await ingest.close(force);
    await coordinator.close();
    await services.close();
  });
  return EXIT.ok;
}

/** The roles `ksci worker --role` takes: every stage's, and the VM host's. */
export function workerRoles(): string[] {
  return [...rolesOf(pipelineStages()), VM_ROLE];
}

/** `ksci worker`: stage workers of these roles (see workerRoles), until a signal. */
export async function runWorkers(ctx: Context, roles: string[]): Promise<ExitCode> {
  const { config, log } = ctx;
  // A database server can be shared (test history for reports); the embedded PGlite belongs to the coordinator.
  const services = await openServices(config, log, { db: config.databaseUrl !== null });
  const workers = await startWorkers(pipelineStages(config), roles, services);
  await untilStopped(log, async (force) => {
    await workers.close(force);
    await services.close();
  });
  return EXIT.ok;
}

/** Resolves once a first signal has stopped everything gracefully; a second forces the stop and exits. */
function untilStopped(log: Logger, stop: (force: boolean) => Promise<void>): Promise<void> {
  return new Promise<void>((done) => {
    const remove = onShutdown(
      log,
      async () => {
        await stop(false);
        remove();
        done();
      },
      () => {
        void stop(true).finally(() => process.exit(EXIT.interrupted));
      },
    );
  });
}
