import type { Queue, Worker, ConnectionOptions } from 'bullmq';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { PerfAlert, PerfHistory } from './history.js';
import { AlertBisectJobSchema, type AlertBisections, runAlertBisection } from './alert-bisect.js';
import { bisectRange, measureTreeHead, NightlyJobSchema, trackNightly } from './nightly.js';
import { z } from 'zod';
import { QUEUES } from '../queue/names.js';
import { startQueueWorker } from '../queue/worker.js';

const schedulerId = (tree: string) => `nightly:${tree}`;

/**
 * One BullMQ job scheduler per tracked tree (perf.nightly.trees), on the
 * configured cron pattern; schedulers of trees no longer tracked are
 * removed. Upserting is idempotent, so every coordinator start calls it.
 */
export async function scheduleNightly(queue: Queue, config: Config): Promise<string[]> {
  const { trees, cron, tz } = config.perf.nightly;
  const wanted = new Set(trees.map(schedulerId));
  for (const s of await queue.getJobSchedulers()) {
    if (!wanted.has(s.key)) await queue.removeJobScheduler(s.key);
  }
  for (const tree of trees) {
    await queue.upsertJobScheduler(
      schedulerId(tree),
      { pattern: cron, tz },
      {
        name: 'nightly',
        data: { tree },
        // A night that fails for the infrastructure is tried again; the next night comes anyway.
        opts: {
          attempts: 2,
          backoff: { type: 'exponential', delay: 10 * 60_000 },
          removeOnComplete: 200,
          removeOnFail: 200,
        },
      },
    );
  }
  return [...wanted];
}

/**
 * The nightly worker runs in the coordinator's process (`ksci serve`): the
 * tracking needs the results database, which only the coordinator writes.
 * The measurement itself builds and boots kernels on this host. It also
 * runs the bisections of alerts asked for from the dashboard (job name
 * "bisect"): they build and measure the same way, on the same hosts.
 */
export function startNightlyWorker(deps: {
  config: Config;
  store: PerfHistory & AlertBisections;
  connection: ConnectionOptions;
  redis: () => import('ioredis').Redis;
  log: Logger;
  onAlerts?: (alerts: PerfAlert[]) => Promise<void>;
}): Worker {
  return startQueueWorker({
    queue: QUEUES.nightly,
    connection: deps.connection,
    what: 'nightly',
    schema: z.union([AlertBisectJobSchema, NightlyJobSchema]),
    log: deps.log,
    lockDurationMs: 60_000,
    async handle(data, job, signal) {
      if ('alertId' in data) {
        const log = deps.log.child({ job: job.id, alertId: data.alertId });
        return runAlertBisection(
          deps.store,
          data,
          (range) =>
            bisectRange(
              deps.config,
              range.tree,
              { good: range.good, bad: range.bad, scenario: range.scenario },
              {
                log,
                redis: deps.redis,
                ...(signal ? { signal } : {}),
                onProgress: (m) => void job.updateProgress({ message: m }),
              },
            ),
          log,
        );
      }
      const log = deps.log.child({ job: job.id, tree: data.tree });
      const result = await measureTreeHead(deps.config, data.tree, {
        jobId: String(job.id),
        log,
        redis: deps.redis,
        onProgress: (m) => void job.updateProgress({ message: m }),
      });
      const alerts = await trackNightly(deps.store, result, { config: deps.config, log });
      if (alerts.length) await deps.onAlerts?.(alerts);
      log.info(
        { commit: result.commit, points: result.points.length, missing: result.missing, alerts: alerts.length },
        'nightly measured',
      );
      return {
        commit: result.commit,
        points: result.points.map((p) => ({ scenario: p.scenario, value: p.value })),
        missing: result.missing,
        alerts: alerts.map((a) => a.report),
      };
    },
  });
}
