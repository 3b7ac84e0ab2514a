/**
 * Queue overhead: time from enqueue to a worker starting the job, p50/p99
 * over N jobs on loopback Redis (the embedded server on a unix socket).
 * Reference in the same run: a bare Redis hand-off of the same payload
 * (LPUSH by one client, BLPOP by another), so the ratio says what BullMQ
 * adds on top of Redis itself on this machine.
 *   node dist/bench/queue-overhead.js [jobs=1000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Queue, Worker } from 'bullmq';
import { silentLogger } from '../src/log.js';
import { openRedis } from '../src/queue/redis.js';
import { fmt, summarize } from './stats.js';

const N = Number(process.argv[2] ?? 1000);
const dir = mkdtempSync(join(tmpdir(), 'ksci-bench-'));
const redis = await openRedis({ redisUrl: process.env['REDIS_URL'] ?? null, dataDir: dir, log: silentLogger });
const payload = { run: { runId: 'bench' }, pad: 'x'.repeat(512) };

async function bullmq(): Promise<number[]> {
  const name = `bench-${process.pid}`;
  const queue = new Queue(name, { connection: redis.connection });
  const latencies: number[] = [];
  let resolveNext: (() => void) | null = null;
  const worker = new Worker(
    name,
    async (job) => {
      latencies.push(performance.now() - (job.data as { t: number }).t);
      resolveNext?.();
    },
    { connection: redis.connection, concurrency: 1 },
  );
  await worker.waitUntilReady();
  // Warm-up: connections, script loading.
  for (let i = 0; i < 50; i++) {
    const done = new Promise<void>((r) => (resolveNext = r));
    await queue.add('w', { ...payload, t: performance.now() }, { removeOnComplete: true });
    await done;
  }
  latencies.length = 0;
  for (let i = 0; i < N; i++) {
    const done = new Promise<void>((r) => (resolveNext = r));
    await queue.add('j', { ...payload, t: performance.now() }, { removeOnComplete: true });
    await done;
  }
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return latencies;
}

async function bareRedis(): Promise<number[]> {
  const producer = redis.client();
  const consumer = redis.client();
  const key = `bench-bare-${process.pid}`;
  const latencies: number[] = [];
  for (let i = 0; i < N + 50; i++) {
    const popped = consumer.blpop(key, 5);
    const t = performance.now();
    await producer.lpush(key, JSON.stringify({ ...payload, t }));
    await popped;
    if (i >= 50) latencies.push(performance.now() - t);
  }
  producer.disconnect();
  consumer.disconnect();
  return latencies;
}

try {
  const ref = summarize(await bareRedis());
  const bull = summarize(await bullmq());
  console.log(`queue overhead, ${N} jobs one at a time, redis at ${redis.where}`);
  console.log(`  reference  redis LPUSH->BLPOP      p50 ${fmt(ref.p50)}  p99 ${fmt(ref.p99)}  max ${fmt(ref.max)}`);
  console.log(`  bullmq     enqueue->job started    p50 ${fmt(bull.p50)}  p99 ${fmt(bull.p99)}  max ${fmt(bull.max)}`);
  console.log(
    `  ratio bullmq/redis                 p50 ${(bull.p50 / ref.p50).toFixed(1)}x  p99 ${(bull.p99 / ref.p99).toFixed(1)}x`,
  );
} finally {
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
