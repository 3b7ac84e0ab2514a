import { Queue, QueueEvents } from 'bullmq';
import type { Coordinator } from '../coordinator/coordinator.js';
import { EXIT, type ExitCode, UsageError, errorMessage, InfraError } from '../errors.js';
import type { RedisHandle } from '../queue/redis.js';
import { QUEUES } from '../queue/names.js';
import type { PollDeps, PollResult } from '../lore/poll.js';
import type { Context } from './context.js';
import { openServices } from './services.js';

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

export interface LorePollOptions {
  /** How long to wait for each list's poll. */
  timeoutSeconds: number;
}

/** `ksci lore poll`: these lists (default: every configured one) polled now by the running coordinator, and what was found. */
export async function lorePoll(ctx: Context, names: string[], opts: LorePollOptions): Promise<ExitCode> {
  const { config, log } = ctx;
  const lists = names.length ? names : config.lore.lists.map((l) => l.name);
  const unknown = lists.filter((n) => !config.lore.lists.some((l) => l.name === n));
  if (lists.length === 0) throw new UsageError('no lore lists are configured', 'add lore.lists to the config file');
  if (unknown.length)
    throw new UsageError(
      `no list(s) ${unknown.join(', ')}`,
      `configured: ${config.lore.lists.map((l) => l.name).join(', ') || 'none'}`,
    );
  const services = await openServices(config, log, { db: false });
  try {
    for (const list of lists) {
      const r = await pollThroughService(services.redis, list, opts.timeoutSeconds * 1000);
      process.stdout.write(formatPoll(r));
    }
    return EXIT.ok;
  } finally {
    await services.close();
  }
}

export interface LoreStatusOptions {
  /** Messages to list per list. */
  limit: number;
}

/** `ksci lore status`: per list, its last poll and what became of the patches seen (replies and discussion left out). */
export async function loreStatus(ctx: Context, opts: LoreStatusOptions): Promise<ExitCode> {
  const { config, log } = ctx;
  const services = await openServices(config, log, { db: true });
  try {
    const out: string[] = [];
    for (const l of config.lore.lists) {
      const st = await services.lore!.state(l.name);
      out.push(
        `${l.name} (${l.url}${l.poll ? '' : ', not polled'}): last poll ${st.lastPollAt?.toISOString() ?? 'never'}${st.lastError ? `, last error: ${st.lastError}` : ''}`,
      );
      for (const m of await services.lore!.messages(l.name, {
        limit: opts.limit,
        status: ['pending', 'submitted', 'incomplete', 'invalid'],
      })) {
        out.push(`  ${m.status.padEnd(10)} ${m.title.slice(0, 60)}${m.detail ? `\n             ${m.detail}` : ''}`);
      }
    }
    process.stdout.write(out.length ? `${out.join('\n')}\n` : 'no lore lists are configured (lore.lists)\n');
    return EXIT.ok;
  } finally {
    await services.close();
  }
}
