/**
 * Bisections of nightly change points asked for from the dashboard: a job
 * on the nightly queue, run by the nightly worker (in the coordinator's
 * process, where the alert and its result live). The bisection itself is
 * bisectRange, the same as `ksci nightly bisect`; this module owns only
 * the bookkeeping around it: one bisection of an alert at a time, its
 * state, and its outcome written back on the alert.
 */
import type { Queue } from 'bullmq';
import { z } from 'zod';
import { errorMessage, UsageError } from '../errors.js';
import type { Logger } from '../log.js';

export const AlertBisectJobSchema = z.object({ alertId: z.number().int().positive(), by: z.string().min(1) });
export type AlertBisectJob = z.infer<typeof AlertBisectJobSchema>;

/** Where an alert's bisection stands. */
export type BisectState = 'queued' | 'running' | 'done' | 'failed';

export interface AlertBisectResult {
  culprit: string | null;
  probes: { counter: number; verdict: string; change: number | null }[];
  /** How many first-parent commits the range held. */
  commits: number;
  note: string | null;
  /** Set when the bisection could not finish (a commit that does not build, a host lost). */
  error?: string;
}

/** What the bookkeeping needs of the results store. */
export interface AlertBisections {
  /** The alert's range, or null when there is no such alert. */
  alertRange(id: number): Promise<{ tree: string; scenario: string; lastGood: string; firstChanged: string } | null>;
  /**
   * Moves an alert's bisection to `to` when it is in one of `from` (null:
   * never bisected); false when it was not (someone else got there first).
   */
  moveBisect(id: number, from: (BisectState | null)[], to: BisectState, by?: string): Promise<boolean>;
  recordBisect(id: number, state: 'done' | 'failed', result: AlertBisectResult): Promise<void>;
}

export type RangeBisector = (range: { tree: string; scenario: string; good: string; bad: string }) => Promise<{
  culprit: { title: string } | null;
  probes: { counter: number; verdict: string; change: number | null }[];
  note: string | null;
  commits: number;
}>;

/** Queues the bisection of an alert; refused while one is queued or running. */
export async function queueAlertBisection(
  queue: Queue,
  store: AlertBisections,
  alertId: number,
  by: string,
): Promise<void> {
  if (!(await store.alertRange(alertId))) throw new UsageError(`no alert ${alertId}`);
  if (!(await store.moveBisect(alertId, [null, 'done', 'failed'], 'queued', by)))
    throw new UsageError(`alert ${alertId} is being bisected already`, 'its state is on the alerts page');
  // One job per alert and bisection; gone once finished (the outcome is on the alert), so a later one can be queued.
  await queue.add('bisect', { alertId, by } satisfies AlertBisectJob, {
    jobId: `bisect-${alertId}-${Date.now()}`,
    attempts: 1,
    removeOnComplete: 100,
    removeOnFail: 100,
  });
}

/** The nightly worker's handling of a bisect job: the range bisected, its outcome on the alert. */
export async function runAlertBisection(
  store: AlertBisections,
  job: AlertBisectJob,
  bisect: RangeBisector,
  log: Logger,
): Promise<AlertBisectResult> {
  const range = await store.alertRange(job.alertId);
  if (!range) throw new UsageError(`no alert ${job.alertId}`);
  // A job whose alert is no longer queued (a coordinator restarted mid-bisection, then a retry) starts over cleanly.
  await store.moveBisect(job.alertId, ['queued', 'running', 'failed', 'done', null], 'running');
  try {
    const r = await bisect({
      tree: range.tree,
      scenario: range.scenario,
      good: range.lastGood,
      bad: range.firstChanged,
    });
    const result: AlertBisectResult = {
      culprit: r.culprit?.title ?? null,
      probes: r.probes,
      commits: r.commits,
      note: r.note,
    };
    await store.recordBisect(job.alertId, 'done', result);
    log.info({ alertId: job.alertId, culprit: result.culprit, probes: r.probes.length }, 'alert bisected');
    return result;
  } catch (err) {
    await store.recordBisect(job.alertId, 'failed', {
      culprit: null,
      probes: [],
      commits: 0,
      note: null,
      error: errorMessage(err),
    });
    throw err;
  }
}
