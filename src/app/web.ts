import { Queue } from 'bullmq';
import type { AddressInfo } from 'node:net';
import type { Coordinator } from '../coordinator/coordinator.js';
import { EXIT, type ExitCode, InfraError, UsageError, errorMessage } from '../errors.js';
import { stageQueues } from '../pipeline/stage.js';
import { hostLockKey } from '../perf/hostlock.js';
import { listWorkers } from '../queue/presence.js';
import { QUEUES } from '../queue/names.js';
import { scanKeys } from '../queue/redis.js';
import { pipelineStages } from '../stages/index.js';
import type { EmailReporter } from '../notify/email/reply.js';
import { queueAlertBisection } from '../perf/alert-bisect.js';
import { AdminTokens } from '../web/auth.js';
import type { LiveState } from '../web/page.js';
import { buildWebServer } from '../web/server.js';
import type { Context } from './context.js';
import type { Services } from './services.js';

export interface RunningWeb {
  url: string;
  close(): Promise<void>;
}

const STATES = ['waiting', 'active', 'delayed', 'waiting-children', 'failed', 'completed'] as const;

/** The dashboard of `ksci serve`, on web.host:web.port; its URL is logged and printed at start. */
export async function startWeb(deps: {
  services: Services;
  coordinator: Coordinator;
  replies: EmailReporter;
  /** The nightly queue, when trees are tracked: alert bisections run there. */
  nightly: Queue | null;
}): Promise<RunningWeb> {
  const { services, coordinator, replies, nightly } = deps;
  const { config, log } = services;
  const names = [
    ...pipelineStages(config).flatMap((s) => stageQueues(s, config)),
    ...(config.test.vmHosts === 'queue' ? [QUEUES.vm] : []),
    QUEUES.ingest,
    QUEUES.lore,
    ...(config.perf.nightly.trees.length ? [QUEUES.nightly] : []),
  ];
  const queues = [...new Set(names)].map((n) => new Queue(n, { connection: services.redis.connection }));
  const client = services.redis.client();
  const live: LiveState = {
    queues: () =>
      Promise.all(
        queues.map(async (q) => ({
          queue: q.name,
          counts: await q.getJobCounts(...STATES),
          workers: (await q.getWorkers()).length,
        })),
      ),
    workers: () => listWorkers(client),
    async hostLocks() {
      const prefix = hostLockKey('');
      const keys = await scanKeys(client, `${prefix}*`);
      return Promise.all(
        keys.map(async (k) => ({ host: k.slice(prefix.length), ttlSeconds: Math.max(0, await client.ttl(k)) })),
      );
    },
  };
  const app = await buildWebServer({
    db: services.db!,
    config,
    live,
    log,
    tokens: AdminTokens.forDataDir(config.dataDir),
    queues,
    actions: {
      async cancel(runId, by) {
        await coordinator.cancel(runId, `cancelled by ${by} from the dashboard`);
      },
      async retest(runId, by) {
        return (await coordinator.retest(runId, `web:${by}`)).runId;
      },
      resendReply: (runId, by) => replies.resend(runId, `web:${by}`),
      async bisectAlert(alertId, by) {
        if (!nightly)
          throw new UsageError(
            'no nightly worker runs here (perf.nightly.trees is empty), so nothing would bisect',
            'bisect by hand: the command is on the alert',
          );
        await queueAlertBisection(nightly, services.store!, alertId, `web:${by}`);
      },
    },
  });
  try {
    await app.listen({ host: config.web.host, port: config.web.port });
  } catch (err) {
    await Promise.all(queues.map((q) => q.close()));
    client.disconnect();
    throw new InfraError(
      `cannot serve the dashboard on ${config.web.host}:${config.web.port}: ${errorMessage(err)}`,
      'pick a free web.port in the config (0: any free port), or set web.enabled: false',
    );
  }
  const addr = app.server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  log.info({ url, publicUrl: config.web.baseUrl, publicRead: config.web.publicRead }, 'dashboard listening');
  if (process.stderr.isTTY) process.stderr.write(`ksci: dashboard at ${config.web.baseUrl ?? url}/\n`);
  return {
    url,
    async close() {
      await app.close();
      await Promise.all(queues.map((q) => q.close()));
      client.disconnect();
    },
  };
}

/** `ksci web token add|list|revoke`: the admin logins of the dashboard, kept hashed in the data dir. */
export function webToken(ctx: Context, action: 'add' | 'list' | 'revoke', name?: string): ExitCode {
  const tokens = AdminTokens.forDataDir(ctx.config.dataDir);
  if (action === 'list') {
    for (const t of tokens.list()) process.stdout.write(`${t.name}\t${t.createdAt}\n`);
    return EXIT.ok;
  }
  if (!name) throw new UsageError(`ksci web token ${action} needs a NAME`);
  if (action === 'add') {
    const token = tokens.add(name);
    process.stdout.write(`${token}\n`);
    process.stderr.write(
      `ksci: token for ${name}; it is shown once. Log in at /login, or send "Authorization: Bearer <token>".\n`,
    );
    return EXIT.ok;
  }
  if (!tokens.revoke(name)) throw new UsageError(`no token named ${name}`, 'ksci web token list');
  process.stderr.write(`ksci: token ${name} revoked; its logins end at their next request\n`);
  return EXIT.ok;
}
