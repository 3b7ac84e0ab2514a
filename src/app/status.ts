import { Queue } from 'bullmq';
import { EXIT, type ExitCode, KsciError } from '../errors.js';
import { stageQueues } from '../pipeline/stage.js';
import { listWorkers, type WorkerInfo } from '../queue/presence.js';
import { openRedis } from '../queue/redis.js';
import { pipelineStages } from '../stages/index.js';
import { openDb } from '../store/db.js';
import { migrate } from '../store/migrations.js';
import { ResultsStore, type RunSummary } from '../store/results.js';
import { QUEUES } from '../queue/names.js';
import type { Context } from './context.js';

const STATES = ['waiting', 'active', 'delayed', 'waiting-children', 'failed', 'completed'] as const;

interface QueueStatus {
  queue: string;
  counts: Record<string, number>;
  workers: number;
}

export interface StatusOptions {
  /** Machine-readable output. */
  json?: boolean;
  /** How many runs to list. */
  limit: number;
}

/** `ksci status`: queues, workers and recent runs; the runs are left out, with a note, when the database cannot be read. */
export async function printStatus(ctx: Context, opts: StatusOptions): Promise<ExitCode> {
  const { config, log } = ctx;
  const redis = await openRedis({ redisUrl: config.redisUrl, dataDir: config.dataDir, log });
  const queues: QueueStatus[] = [];
  let workers: WorkerInfo[] = [];
  try {
    const client = redis.client();
    try {
      workers = await listWorkers(client);
    } finally {
      client.disconnect();
    }
    const vm = config.test.vmHosts === 'queue' ? [QUEUES.vm] : [];
    for (const name of [...pipelineStages(config).flatMap((s) => stageQueues(s, config)), ...vm]) {
      const q = new Queue(name, { connection: redis.connection });
      try {
        queues.push({ queue: name, counts: await q.getJobCounts(...STATES), workers: (await q.getWorkers()).length });
      } finally {
        await q.close();
      }
    }
  } finally {
    await redis.stop();
  }

  let runs: RunSummary[] = [];
  let runsNote: string | null = null;
  try {
    const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log });
    try {
      await migrate(db);
      runs = await new ResultsStore(db).listRuns({ limit: opts.limit });
    } finally {
      await db.close();
    }
  } catch (err) {
    if (!(err instanceof KsciError)) throw err;
    runsNote = `runs not shown: ${err.message}`;
  }

  if (opts.json) {
    process.stdout.write(JSON.stringify({ redis: redis.where, queues, workers, runs, runsNote }, null, 2) + '\n');
    return EXIT.ok;
  }
  const w = Math.max(14, ...queues.map((q) => q.queue.length + 2));
  const out: string[] = [
    `redis: ${redis.where}`,
    '',
    'queue'.padEnd(w) + STATES.map((s) => s.padStart(17)).join('') + 'workers'.padStart(9),
  ];
  for (const q of queues)
    out.push(
      q.queue.padEnd(w) +
        STATES.map((s) => String(q.counts[s] ?? 0).padStart(17)).join('') +
        String(q.workers).padStart(9),
    );
  out.push('', workers.length === 0 ? 'no workers advertised' : 'workers:');
  for (const wk of workers)
    out.push(
      `  ${wk.id}  roles ${wk.roles.join(',')}  queues ${wk.queues.join(',') || '-'}  ${JSON.stringify(wk.capabilities)}`,
    );
  out.push('', runsNote ?? (runs.length === 0 ? 'no runs yet' : 'recent runs:'));
  for (const r of runs) {
    out.push(
      `  ${r.id.slice(0, 8)}  ${r.status.padEnd(9)} ${r.createdAt.toISOString().slice(0, 19)}  ${r.tree.padEnd(12)} v${r.seriesVersion} ${r.seriesTitle}${r.summary ? `\n            ${r.summary}` : ''}`,
    );
  }
  process.stdout.write(out.join('\n') + '\n');
  return EXIT.ok;
}
