import { Queue, QueueEvents } from 'bullmq';
import type { Coordinator } from '../coordinator/coordinator.js';
import { UsageError, errorMessage, InfraError } from '../errors.js';
import type { RedisHandle } from '../queue/redis.js';
import { QUEUES } from '../queue/names.js';
import type { PollDeps, PollResult } from '../lore/poll.js';

/** How a polled series reaches the coordinator: source lore, routed by the list's trees. */
export function loreSubmitter(coordinator: Coordinator): PollDeps['submit'] {
  return (series, { list, ref }) =>
    coordinator.submit(series, {
      source: { kind: 'lore', ref },
      requestedBy: `lore:${list.name}`,
      ...(list.trees.length ? { routeOrder: list.trees } : {}),
    });
}

/** `ksci lore poll`: one poll now, by the coordinator (which owns the database), and its result. */
export async function pollThroughService(redis: RedisHandle, list: string, timeoutMs: number): Promise<PollResult> {
  const queue = new Queue(QUEUES.lore, { connection: redis.connection });
  const events = new QueueEvents(QUEUES.lore, { connection: redis.connection });
  try {
    await events.waitUntilReady();
    const job = await queue.add(
      'poll',
      { list },
      { attempts: 1, removeOnComplete: { age: 3600 }, removeOnFail: { age: 86400 } },
    );
    try {
      return (await job.waitUntilFinished(events, timeoutMs)) as PollResult;
    } catch (err) {
      const msg = errorMessage(err);
      if (/timed out/i.test(msg))
        throw new UsageError(
          `no coordinator finished polling ${list} within ${Math.round(timeoutMs / 1000)} s`,
          'is "ksci serve" running? if it is, the poll is still going: see "ksci lore status" later, or raise --timeout',
        );
      throw new InfraError(
        `polling ${list} failed: ${msg}`,
        '"ksci lore status" shows the list\'s last error; the scheduled polls go on',
      );
    }
  } finally {
    await events.close();
    await queue.close();
  }
}

export function formatPoll(r: PollResult): string {
  const out = [
    `${r.list}: ${r.fresh} new message(s)${r.gap ? `; gap since the last poll: ${r.gap.filled} found by search${r.gap.error ? ` (${r.gap.error})` : ''}` : ''}`,
  ];
  for (const s of r.submitted)
    out.push(`  ${s.created ? 'queued ' : 'known  '} v${s.version} ${s.title} -> run ${s.runId}`);
  for (const w of r.waiting) out.push(`  waiting <${w.messageId}>: ${w.detail}`);
  for (const w of r.incomplete) out.push(`  incomplete <${w.messageId}>: ${w.detail}`);
  for (const w of r.invalid) out.push(`  invalid <${w.messageId}>: ${w.detail}`);
  return `${out.join('\n')}\n`;
}
