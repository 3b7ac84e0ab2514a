import { type Queue, UnrecoverableError, type Worker, type ConnectionOptions } from 'bullmq';
import { z } from 'zod';
import type { Config, LoreListConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { LoreStore } from '../store/lore.js';
import { loreClientFor, type LoreClient } from './client.js';
import { pollList, type PollDeps, type PollResult } from './poll.js';
import { QUEUES } from '../queue/names.js';
import { startQueueWorker } from '../queue/worker.js';

const schedulerId = (list: string) => `lore-poll:${list}`;
const PollJobSchema = z.object({ list: z.string().min(1) });

/**
 * One BullMQ job scheduler per polled list, every lore.pollSeconds;
 * schedulers of lists no longer polled are removed. Idempotent: every
 * coordinator start calls it.
 */
export async function scheduleLorePolls(queue: Queue, config: Config): Promise<string[]> {
  const lists = config.lore.lists.filter((l) => l.poll);
  const wanted = new Set(lists.map((l) => schedulerId(l.name)));
  for (const s of await queue.getJobSchedulers()) {
    if (!wanted.has(s.key)) await queue.removeJobScheduler(s.key);
  }
  for (const l of lists) {
    await queue.upsertJobScheduler(
      schedulerId(l.name),
      { every: config.lore.pollSeconds * 1000 },
      {
        name: 'poll',
        data: { list: l.name },
        // The next poll comes anyway; a failed one is not worth a retry storm against lore.
        opts: { attempts: 1, removeOnComplete: 100, removeOnFail: 100 },
      },
    );
  }
  return [...wanted];
}

export function pollOptions(config: Config) {
  return { incompleteWaitMs: config.lore.incompleteWaitMinutes * 60_000, searchPages: config.lore.searchPages };
}

/**
 * The poll worker runs in the coordinator's process: it records into the
 * results database and submits to the coordinator. One poll at a time, so
 * two polls of a list never race on its state.
 */
export function startLoreWorker(deps: {
  config: Config;
  store: LoreStore;
  submit: PollDeps['submit'];
  connection: ConnectionOptions;
  log: Logger;
  client?: LoreClient;
}): Worker {
  const client = deps.client ?? loreClientFor(deps.config);
  // A failed poll is not retried: the next one is on schedule.
  return startQueueWorker({
    queue: QUEUES.lore,
    connection: deps.connection,
    what: 'lore poll',
    schema: PollJobSchema,
    log: deps.log,
    lockDurationMs: 120_000,
    async handle(data, job): Promise<PollResult> {
      const list: LoreListConfig | undefined = deps.config.lore.lists.find((l) => l.name === data.list);
      if (!list) throw new UnrecoverableError(`lore job ${job.id}: list "${data.list}" is no longer configured`);
      return pollList(list, pollOptions(deps.config), {
        client,
        store: deps.store,
        submit: deps.submit,
        limits: deps.config.limits,
        log: deps.log.child({ list: list.name }),
      });
    },
  });
}
