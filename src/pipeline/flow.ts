import type { FlowJob } from 'bullmq';
import type { Config } from '../config/schema.js';
import type { Series } from '../series/types.js';
import type { RunContext, StageJobData } from './payload.js';
import { jobId, stageQueue, type StageDefinition } from './stage.js';

const DAY_SECONDS = 24 * 3600;

/**
 * A run as a BullMQ flow: a chain whose leaf is the first stage and whose
 * root is the last (BullMQ runs children before parents). Every child lets
 * its parent run even when it fails for good (ignoreDependencyOnFailure), so
 * the report stage always runs and can say what broke.
 */
export function buildFlow(run: RunContext, series: Series, stages: StageDefinition[], queue: Config['queue']): FlowJob {
  let child: FlowJob | undefined;
  for (const def of stages) {
    const data: StageJobData = { run, stage: def.name, ...(def.wantsSeries ? { series } : {}) };
    const node: FlowJob = {
      name: def.name,
      queueName: stageQueue(def, run),
      data,
      opts: {
        jobId: jobId(run.runId, def.name),
        attempts: queue.attempts,
        backoff: { type: 'exponential', delay: queue.backoffMs },
        // Kept for a while so `ksci status` and the coordinator can still read
        // them; results live in the database for good.
        removeOnComplete: { age: 7 * DAY_SECONDS },
        removeOnFail: { age: 30 * DAY_SECONDS },
      },
      ...(child ? { children: [child] } : {}),
    };
    if (child) child.opts = { ...child.opts, ignoreDependencyOnFailure: true };
    child = node;
  }
  if (!child) throw new Error('a pipeline needs at least one stage');
  return child;
}
