import type { Config } from './config/schema.js';
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';
import { StageWorker } from './pipeline/runtime.js';
import type { StageDefinition } from './pipeline/stage.js';
import { openRedis, type RedisHandle } from './queue/redis.js';
import { openDb, type Db } from './store/db.js';
import { migrate } from './store/migrations.js';
import { ResultsStore } from './store/results.js';

export interface Services {
  config: Config;
  log: Logger;
  redis: RedisHandle;
  store: ResultsStore | null;
  close(): Promise<void>;
}

/** Redis always; the results database only for the processes that read or write it. */
export async function openServices(config: Config, log: Logger, opts: { db: boolean }): Promise<Services> {
  const redis = await openRedis({ redisUrl: config.redisUrl, dataDir: config.dataDir, log });
  let db: Db | null = null;
  try {
    if (opts.db) {
      db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log });
      await migrate(db);
    }
  } catch (err) {
    await db?.close();
    await redis.stop();
    throw err;
  }
  return {
    config,
    log,
    redis,
    store: db ? new ResultsStore(db) : null,
    async close() {
      await db?.close();
      await redis.stop();
    },
  };
}

export async function startWorkers(stages: StageDefinition[], roles: string[], services: Services): Promise<StageWorker[]> {
  const workers: StageWorker[] = [];
  for (const def of stages.filter((s) => roles.includes(s.role))) {
    const w = new StageWorker(def, { redis: services.redis, config: services.config, log: services.log });
    await w.start();
    workers.push(w);
  }
  return workers;
}

/**
 * SIGINT/SIGTERM: the first asks for a graceful stop, the second forces it.
 * Returns a function that removes the handlers.
 */
export function onShutdown(log: Logger, graceful: (signal: string) => Promise<void>, force: () => void): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: stopping now');
      force();
      return;
    }
    stopping = true;
    log.info({ signal }, 'stopping (send the signal again to force)');
    graceful(signal).catch((err) => {
      log.error({ err: errorMessage(err) }, 'error while stopping');
      force();
    });
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
