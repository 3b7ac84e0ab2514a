import { type Queue, UnrecoverableError, Worker, type ConnectionOptions } from 'bullmq';
import { z } from 'zod';
import type { Config, LoreListConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { LoreStore } from '../store/lore.js';
import { httpLoreClient, type LoreClient } from './client.js';
import { pollList, type PollDeps, type PollResult } from './poll.js';

export const LORE_QUEUE = 'ksci-lore';
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

export function loreClientFor(config: Config): LoreClient {
  return httpLoreClient({ maxThreadBytes: config.lore.maxThreadBytes, timeoutMs: config.lore.timeoutSeconds * 1000 });
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
  const worker = new Worker(
    LORE_QUEUE,
    async (job): Promise<PollResult> => {
      const data = PollJobSchema.safeParse(job.data);
      if (!data.success)
        throw new UnrecoverableError(`lore job ${job.id}: bad payload: ${data.error.issues[0]?.message}`);
      const list: LoreListConfig | undefined = deps.config.lore.lists.find((l) => l.name === data.data.list);
      if (!list) throw new UnrecoverableError(`lore job ${job.id}: list "${data.data.list}" is no longer configured`);
      return pollList(list, pollOptions(deps.config), {
        client,
        store: deps.store,
        submit: deps.submit,
        limits: deps.config.limits,
        log: deps.log.child({ list: list.name }),
      });
    },
    { connection: deps.connection, concurrency: 1, lockDuration: 120_000 },
  );
  worker.on('failed', (job, err) =>
    deps.log.error({ job: job?.id, err: errorMessage(err) }, 'lore poll failed; the next one is on schedule'),
  );
  return worker;
}
