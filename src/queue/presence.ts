import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { scanKeys } from './redis.js';

const PREFIX = 'ksci:worker:';
const TTL_SECONDS = 60;

export const WorkerInfoSchema = z.object({
  id: z.string(),
  host: z.string(),
  pid: z.number(),
  roles: z.array(z.string()),
  queues: z.array(z.string()),
  /** Whatever the roles detected about this host: arch, compilers, cores, sandbox. */
  capabilities: z.record(z.string(), z.unknown()),
  startedAt: z.string(),
  /** When the worker last refreshed its key (absent from workers older than the dashboard). */
  heartbeatAt: z.string().optional(),
});
export type WorkerInfo = z.infer<typeof WorkerInfoSchema>;

/**
 * A worker process advertises what it can do under a key that expires
 * unless refreshed, so a dead worker disappears from `ksci status` within
 * a minute. Returns a function that stops advertising.
 */
export function advertiseWorker(
  client: Redis,
  info: Omit<WorkerInfo, 'id' | 'host' | 'pid' | 'startedAt' | 'heartbeatAt'>,
): () => Promise<void> {
  const full: WorkerInfo = {
    ...info,
    id: `${hostname()}:${process.pid}`,
    host: hostname(),
    pid: process.pid,
    startedAt: new Date().toISOString(),
  };
  const key = PREFIX + full.id;
  const write = () =>
    client
      .set(key, JSON.stringify({ ...full, heartbeatAt: new Date().toISOString() }), 'EX', TTL_SECONDS)
      .catch(() => undefined);
  void write();
  const timer = setInterval(write, (TTL_SECONDS / 3) * 1000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await client.del(key).catch(() => undefined);
  };
}

export async function listWorkers(client: Redis): Promise<WorkerInfo[]> {
  const keys = await scanKeys(client, `${PREFIX}*`);
  if (keys.length === 0) return [];
  const values = await client.mget(keys);
  return values.flatMap((v) => {
    if (!v) return [];
    const parsed = WorkerInfoSchema.safeParse(JSON.parse(v));
    return parsed.success ? [parsed.data] : [];
  });
}
