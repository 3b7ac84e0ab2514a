import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Services } from './services.js';
import type { Config } from '../config/schema.js';
import type { PerfAlert } from '../perf/history.js';
import { upsertTrackingIssue } from '../github/tracking.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import { InfraError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { GitHubBot } from '../github/bot.js';
import { createAppClient, type GitHubClient } from '../github/client.js';
import { createWebhookHandler, RedisDeliveryLog } from '../github/webhook.js';

export interface RunningGitHubBot {
  bot: GitHubBot;
  client: GitHubClient;
  /** Where the webhook listens: http://host:port/ */
  webhookUrl: string;
  close(force?: boolean): Promise<void>;
}

/**
 * The PR bot inside `ksci serve`: the App client, the bot's worker, the
 * coordinator's run events, optional polling, and the webhook endpoint.
 */
export async function startGitHubBot(deps: {
  config: Config;
  coordinator: Coordinator;
  services: Services;
  log: Logger;
  client?: GitHubClient;
}): Promise<RunningGitHubBot> {
  const { config, services, log } = deps;
  const app = config.github.app!;
  const client = deps.client ?? (await createAppClient(app, { log: log.child({ component: 'github' }) }));
  const bot = new GitHubBot({
    config,
    coordinator: deps.coordinator,
    results: services.store!,
    store: services.github!,
    client,
    connection: services.redis.connection,
    log: log.child({ component: 'github' }),
  });
  bot.start();
  bot.watch(deps.coordinator);
  await bot.schedulePolls();
  const redis = services.redis.client();
  const handler = createWebhookHandler({
    secret: app.webhookSecret,
    deliveries: new RedisDeliveryLog(redis),
    onEvent: (ev) => bot.enqueueEvent(ev),
    log,
  });
  const server: Server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new InfraError(
          `cannot listen for GitHub webhooks on ${config.github.webhook.host}:${config.github.webhook.port}: ${errorMessage(err)}`,
          'pick a free github.webhook.port',
        ),
      ),
    );
    server.listen(config.github.webhook.port, config.github.webhook.host, resolve);
  });
  const addr = server.address() as AddressInfo;
  const webhookUrl = `http://${addr.address}:${addr.port}/`;
  log.info(
    { webhook: webhookUrl, repos: config.github.repos.map((r) => r.repo), pollSeconds: config.github.pollSeconds },
    'GitHub pull-request bot on',
  );
  return {
    bot,
    client,
    webhookUrl,
    async close(force = false) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await bot.close(force);
      redis.disconnect();
    },
  };
}

/** Nightly change points as GitHub issues (github.nightlyIssues); a failure is logged, the alert stays in the database and the report file. */
export function nightlyIssuePublisher(
  config: Config,
  client: GitHubClient,
  log: Logger,
): (alerts: PerfAlert[]) => Promise<void> {
  const target = config.github.nightlyIssues!;
  const [owner, repo] = target.repo.split('/') as [string, string];
  return async (alerts) => {
    for (const a of alerts) {
      try {
        const issue = await upsertTrackingIssue(await client.forRepo({ owner, repo }), a, { label: target.label });
        log.info(
          { tree: a.tree, scenario: a.scenario, issue: issue.url, created: issue.created },
          'nightly change point on GitHub',
        );
      } catch (err) {
        log.error({ tree: a.tree, scenario: a.scenario, err: errorMessage(err) }, 'could not open the tracking issue');
      }
    }
  };
}
