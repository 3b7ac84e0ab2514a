import { Queue, QueueEvents, type Worker } from 'bullmq';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { BadInputError, UsageError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { RedisHandle } from '../queue/redis.js';
import { parseMbox } from '../series/load.js';
import type { Coordinator, Submitted } from './coordinator.js';
import { QUEUES } from '../queue/names.js';
import { startQueueWorker } from '../queue/worker.js';

/*
 * `ksci submit` hands an mbox to a running `ksci serve` through this queue,
 * so the coordinator stays the only process that writes results. Lore and
 * GitHub ingestion will feed the same coordinator.submit().
 */

const IngestJobSchema = z.object({
  mboxBase64: z.string().min(1),
  /** Where it came from, for the record: a file name. */
  ref: z.string().min(1),
  force: z.boolean().default(false),
  tree: z.string().optional(),
  version: z.number().int().min(1).optional(),
  requestedBy: z.string().optional(),
  build: z
    .object({
      configs: z.array(z.string().min(1)).min(1).optional(),
      toolchain: z.enum(['gcc', 'llvm']).optional(),
      perPatch: z.boolean().optional(),
      suites: z.array(z.string().min(1)).min(1).optional(),
      perf: z.boolean().optional(),
      perfBisect: z.boolean().optional(),
      perfClock: z.enum(['auto', 'icount', 'wall']).optional(),
    })
    .default({}),
});
export type IngestJob = z.input<typeof IngestJobSchema>;

export function startIngestWorker(
  coordinator: Coordinator,
  deps: { redis: RedisHandle; config: Config; log: Logger },
): Worker {
  // The submitter gets a parse error as the job's failure; retrying a malformed mbox cannot help.
  return startQueueWorker({
    queue: QUEUES.ingest,
    connection: deps.redis.connection,
    what: 'ingest',
    schema: IngestJobSchema,
    log: deps.log,
    async handle(data): Promise<Submitted> {
      const series = await parseMbox(Buffer.from(data.mboxBase64, 'base64'), {
        ...deps.config.limits,
        ...(data.version ? { version: data.version } : {}),
      });
      return coordinator.submit(series, {
        force: data.force,
        ...(data.tree ? { tree: data.tree } : {}),
        ...(data.requestedBy ? { requestedBy: data.requestedBy } : {}),
        build: data.build,
        source: { kind: 'mbox', ref: data.ref },
      });
    },
  });
}

/** Queue an mbox for a running coordinator and wait for its answer. */
export async function submitToService(redis: RedisHandle, job: IngestJob, timeoutMs: number): Promise<Submitted> {
  const queue = new Queue(QUEUES.ingest, { connection: redis.connection });
  const events = new QueueEvents(QUEUES.ingest, { connection: redis.connection });
  try {
    await events.waitUntilReady();
    const added = await queue.add('mbox', job, {
      attempts: 3,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 3600 },
      removeOnFail: { age: 86400 },
    });
    try {
      return (await added.waitUntilFinished(events, timeoutMs)) as Submitted;
    } catch (err) {
      const msg = errorMessage(err);
      if (/timed out/i.test(msg)) {
        throw new UsageError(
          `no coordinator took the submission within ${Math.round(timeoutMs / 1000)} s`,
          'start one with "ksci serve" (the submission stays queued for it)',
        );
      }
      throw new BadInputError(msg);
    }
  } finally {
    await events.close();
    await queue.close();
  }
}
