import { Job, Queue, UnrecoverableError, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.js';
import { BadInputError, CancelledError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { RedisHandle } from '../queue/redis.js';
import { CANCEL_CHANNEL, CANCELLED_PREFIX, cancelReason, parseCancelMessage } from '../queue/cancel.js';
import {
  PipelineStateSchema,
  StageJobDataSchema,
  type PipelineState,
  type StageJobData,
  type StageOutcome,
} from './payload.js';
import { stageQueueName } from '../queue/names.js';
import { startQueueWorker } from '../queue/worker.js';
import type { StageContext, StageDefinition, StageResult } from './stage.js';
import type { TestHistorySource } from '../vm/history.js';

/**
 * Runs one stage's jobs: validates the payload, refuses cancelled runs,
 * gathers what earlier stages produced, skips when a prerequisite did not
 * pass, and turns the stage's fate into an outcome. Error policy:
 *  - the series is at fault (BadInputError): a failed outcome, no retry;
 *  - cancelled: UnrecoverableError, so BullMQ does not retry it;
 *  - anything else is infrastructure: thrown, so BullMQ retries with backoff,
 *    and after the last attempt the next stage records it as an error.
 */
export class StageWorker {
  private worker: Worker | null = null;
  private subscriber: Redis | null = null;
  private readonly client: Redis;
  private readonly queues = new Map<string, Queue>();
  /** jobId -> runId of the jobs this worker is running, for cancellation. */
  private readonly active = new Map<string, string>();

  constructor(
    private readonly def: StageDefinition,
    private readonly deps: { redis: RedisHandle; config: Config; log: Logger; history?: TestHistorySource | undefined },
    /** The stage's queue, or one of its variants' queues. */
    readonly queue: string = stageQueueName(def.name),
  ) {
    this.client = deps.redis.client();
  }

  get name(): string {
    return this.def.name;
  }

  async start(): Promise<void> {
    const { config, redis } = this.deps;
    const log = this.deps.log.child({ stage: this.def.name });
    // While Redis restarts these reconnect on their own; BullMQ reports its own errors.
    this.client.on('error', (err) => log.debug({ err: errorMessage(err) }, 'redis unavailable'));
    this.subscriber = redis.client();
    this.subscriber.on('error', (err) => log.debug({ err: errorMessage(err) }, 'redis unavailable (cancel channel)'));
    await this.subscriber.subscribe(CANCEL_CHANNEL);
    this.subscriber.on('message', (_channel: string, message: string) => {
      const msg = parseCancelMessage(message);
      if (!msg) return;
      for (const [id, runId] of this.active) {
        if ('run' in msg.target && runId === msg.target.run && this.worker?.cancelJob(id, msg.reason)) {
          log.info({ runId, jobId: id, reason: msg.reason }, 'cancelling running job');
        }
      }
    });

    this.worker = startQueueWorker({
      queue: this.queue,
      connection: redis.connection,
      what: `${this.def.name} stage`,
      schema: StageJobDataSchema,
      log,
      handle: (data, job, signal) => this.process(data, job, signal, log),
      concurrency: this.def.concurrency,
      lockDurationMs: config.queue.lockDurationMs,
      stalledIntervalMs: config.queue.stalledIntervalMs,
      // A worker that dies mid-job (OOM, kill -9, host lost) leaves a stalled
      // job; it is handed to another worker this many times before failing.
      maxStalledCount: 2,
      badInputIsFinal: false,
    });
    await this.worker.waitUntilReady();
    log.info({ queue: this.queue, concurrency: this.def.concurrency }, 'stage worker ready');
  }

  /** Graceful by default: running jobs finish first. `force` leaves them to be retried elsewhere. */
  async close(force = false): Promise<void> {
    await this.worker?.close(force);
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.subscriber?.disconnect();
    this.client.disconnect();
  }

  private async process(
    data: StageJobData,
    job: Job,
    signal: AbortSignal | undefined,
    log: Logger,
  ): Promise<PipelineState> {
    const runId = data.run.runId;
    const jlog = log.child({ runId, jobId: job.id, attempt: job.attemptsStarted });

    const cancelled = await cancelReason(this.client, { run: runId });
    if (cancelled !== null) throw new UnrecoverableError(CANCELLED_PREFIX + cancelled);

    const id = job.id ?? '';
    this.active.set(id, runId);
    const abort = signal ?? new AbortController().signal;
    const startedAt = new Date().toISOString();
    try {
      const upstream = await this.collectUpstream(job);
      const unmet = this.def.needs.filter((n) => upstream.outcomes.find((o) => o.stage === n)?.status !== 'passed');
      let result: StageResult;
      if (unmet.length > 0) {
        result = {
          status: 'skipped',
          summary: `not run: ${unmet.map((n) => `${n} ${upstream.outcomes.find((o) => o.stage === n)?.status ?? 'missing'}`).join(', ')}`,
          data: null,
        };
      } else {
        jlog.info('stage started');
        const ctx: StageContext = {
          run: data.run,
          job: data,
          upstream,
          config: this.deps.config,
          log: jlog,
          signal: abort,
          progress: (p) => job.updateProgress(p as unknown as object),
          ...(this.deps.history ? { history: this.deps.history } : {}),
          redis: () => this.deps.redis.client(),
        };
        try {
          result = await this.def.run(ctx);
        } catch (err) {
          if (!(err instanceof BadInputError) || abort.aborted) throw err;
          result = { status: 'failed', summary: err.message, data: { error: err.message, hint: err.hint ?? null } };
        }
      }
      const outcome: StageOutcome = {
        stage: this.def.name,
        ...result,
        attempts: job.attemptsStarted,
        startedAt,
        finishedAt: new Date().toISOString(),
      };
      jlog.info({ status: outcome.status, summary: outcome.summary }, 'stage finished');
      return { outcomes: [...upstream.outcomes, outcome] };
    } catch (err) {
      if (abort.aborted || err instanceof CancelledError) {
        const reason =
          typeof abort.reason === 'string'
            ? abort.reason
            : ((await cancelReason(this.client, { run: runId })) ?? errorMessage(err));
        throw new UnrecoverableError(CANCELLED_PREFIX + reason);
      }
      jlog.warn(
        { err: errorMessage(err), attemptsLeft: (job.opts.attempts ?? 1) - job.attemptsStarted },
        'stage attempt failed',
      );
      throw err;
    } finally {
      this.active.delete(id);
    }
  }

  /**
   * The state left by the stage before this one. A child that failed for
   * good is still followed (ignoreDependencyOnFailure), so its own upstream
   * is read from its children, and its failure becomes an outcome.
   */
  private async collectUpstream(job: Job): Promise<PipelineState> {
    const values = await job.getChildrenValues<unknown>();
    const completed = Object.values(values);
    if (completed.length > 0) return PipelineStateSchema.parse(completed[0]);

    const failures = await job.getIgnoredChildrenFailures();
    const [key, reason] = Object.entries(failures)[0] ?? [];
    if (!key) return { outcomes: [] };
    const child = await this.loadJob(key);
    const before = child ? await this.collectUpstream(child) : { outcomes: [] };
    const stage = child ? StageJobDataSchema.shape.stage.parse((child.data as { stage?: unknown }).stage) : key;
    const isCancel = (reason ?? '').startsWith(CANCELLED_PREFIX);
    before.outcomes.push({
      stage,
      status: isCancel ? 'cancelled' : 'error',
      summary: isCancel
        ? (reason ?? '')
        : `infrastructure error after ${child?.attemptsMade ?? '?'} attempt(s): ${reason ?? 'unknown'}`,
      data: null,
      attempts: child?.attemptsMade ?? 0,
      startedAt: child?.processedOn ? new Date(child.processedOn).toISOString() : null,
      finishedAt: child?.finishedOn ? new Date(child.finishedOn).toISOString() : null,
    });
    return before;
  }

  /** Job keys look like "bull:<queue>:<jobId>". */
  private async loadJob(key: string): Promise<Job | undefined> {
    const [, queue, ...rest] = key.split(':');
    if (!queue || rest.length === 0) return undefined;
    let q = this.queues.get(queue);
    if (!q) {
      q = new Queue(queue, { connection: this.deps.redis.connection });
      this.queues.set(queue, q);
    }
    return Job.fromId(q, rest.join(':'));
  }
}
