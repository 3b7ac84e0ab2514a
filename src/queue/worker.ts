import { type ConnectionOptions, type Job, UnrecoverableError, Worker } from 'bullmq';
import { z } from 'zod';
import { BadInputError, errorMessage, UsageError } from '../errors.js';
import type { Logger } from '../log.js';

export interface QueueWorkerOptions<T> {
  queue: string;
  connection: ConnectionOptions;
  /** What a job is, for log lines ("lore poll", "boot"). */
  what: string;
  /** The payload, checked before the handler sees it: a malformed job is failed for good, never retried. */
  schema: z.ZodType<T>;
  handle(data: T, job: Job, signal: AbortSignal | undefined): Promise<unknown>;
  log: Logger;
  concurrency?: number;
  /** A job whose worker stops renewing its lock for this long is handed to another worker (config queue.lockDurationMs). */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** How often a job whose worker died (OOM, kill -9, host lost) is started again before it fails. */
  maxStalledCount?: number;
  /**
   * Whether BadInputError and UsageError fail the job for good (default).
   * The pipeline's stage workers handle both themselves: a stage's bad
   * input is a failed outcome, and another worker may have the config one
   * lacks.
   */
  badInputIsFinal?: boolean;
}

/**
 * Every BullMQ worker of ksci, made one way: validated payloads, bad input
 * (a malformed mbox, a PR that is no series) failed without retries since
 * retrying cannot fix it, and the same log lines for worker errors and
 * failed attempts. Closing is BullMQ's: `close()` lets running jobs finish,
 * `close(true)` leaves them to be taken over.
 */
export function startQueueWorker<T>(o: QueueWorkerOptions<T>): Worker {
  const worker = new Worker(
    o.queue,
    async (job, _token, signal) => {
      const parsed = o.schema.safeParse(job.data);
      if (!parsed.success)
        throw new UnrecoverableError(`invalid ${o.queue} job ${job.id} payload: ${z.prettifyError(parsed.error)}`);
      try {
        return await o.handle(parsed.data, job, signal);
      } catch (err) {
        const bad = err instanceof BadInputError || err instanceof UsageError;
        if (bad && (o.badInputIsFinal ?? true)) throw new UnrecoverableError(err.message);
        throw err;
      }
    },
    {
      connection: o.connection,
      concurrency: o.concurrency ?? 1,
      ...(o.lockDurationMs !== undefined ? { lockDuration: o.lockDurationMs } : {}),
      ...(o.stalledIntervalMs !== undefined ? { stalledInterval: o.stalledIntervalMs } : {}),
      ...(o.maxStalledCount !== undefined ? { maxStalledCount: o.maxStalledCount } : {}),
    },
  );
  worker.on('error', (err) => o.log.error({ queue: o.queue, err: errorMessage(err) }, `${o.what} worker error`));
  worker.on('failed', (job, err) =>
    o.log.warn({ queue: o.queue, jobId: job?.id, attempt: job?.attemptsMade, err: err.message }, `${o.what} failed`),
  );
  return worker;
}
