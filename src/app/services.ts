import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { StageWorker } from '../pipeline/runtime.js';
import type { StageDefinition } from '../pipeline/stage.js';
import { stageQueueName } from '../queue/names.js';
import { advertiseWorker } from '../queue/presence.js';
import { kernelArch } from '../build/toolchain.js';
import { availableParallelism, totalmem } from 'node:os';
import { openRedis, type RedisHandle } from '../queue/redis.js';
import { openDb, type Db } from '../store/db.js';
import { migrate } from '../store/migrations.js';
import { EmailStore } from '../notify/email/replies.js';
import { GitHubStore } from '../store/github.js';
import { LoreStore } from '../store/lore.js';
import { ResultsStore } from '../store/results.js';
import { vmHostProblem } from '../vm/settings.js';
import { VmWorker } from '../vm/remote.js';
import { QUEUES } from '../queue/names.js';

/** A role of no stage: a host that only boots VMs from ksci-vm (`ksci worker --role vm`). */
export const VM_ROLE = 'vm';

export interface Services {
  config: Config;
  log: Logger;
  redis: RedisHandle;
  /** The results database itself, for the dashboard's read queries. */
  db: Db | null;
  store: ResultsStore | null;
  /** The lore poller's memory; with the results database. */
  lore: LoreStore | null;
  /** The replies sent on lists; with the results database. */
  email: EmailStore | null;
  /** Runs of pull requests and their check runs; with the results database. */
  github: GitHubStore | null;
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
    db,
    store: db ? new ResultsStore(db) : null,
    lore: db ? new LoreStore(db) : null,
    email: db ? new EmailStore(db) : null,
    github: db ? new GitHubStore(db) : null,
    async close() {
      await db?.close();
      await redis.stop();
    },
  };
}

/**
 * Starts a worker per queue of each stage of these roles. A stage with
 * variants (builds per arch and compiler) gets workers only for the
 * variants this host can run. What was started is advertised in Redis.
 */
export async function startWorkers(
  stages: StageDefinition[],
  roles: string[],
  services: Services,
): Promise<StageWorkers> {
  const { config, log, redis } = services;
  const workers: StageWorker[] = [];
  const capabilities: Record<string, unknown> = {};
  for (const def of stages.filter((s) => roles.includes(s.role))) {
    let queues = [stageQueueName(def.name)];
    if (def.variants) {
      const served = await def.variants.served(config, log);
      if (served.length === 0)
        log.error(
          { stage: def.name, wanted: def.variants.all(config) },
          `this host can run no variant of the ${def.name} stage; not consuming its queues`,
        );
      queues = served.map((v) => stageQueueName(def.name, v));
      capabilities[def.name] = served;
    }
    for (const q of queues) {
      const w = new StageWorker(def, { redis, config, log, history: services.store ?? undefined }, q);
      await w.start();
      workers.push(w);
    }
  }
  const vm = await startVmHost(roles, services);
  if (vm) capabilities['vmSlots'] = vm.slots;
  const client = redis.client();
  // Redis restarts are normal; the key is rewritten once it is back.
  client.on('error', (err) => log.debug({ err: errorMessage(err) }, 'worker advertisement: redis unavailable'));
  const stopAdvertising = advertiseWorker(client, {
    roles,
    queues: [...workers.map((w) => w.queue), ...(vm ? [QUEUES.vm] : [])],
    capabilities: { ...capabilities, ...hostFacts() },
  });
  return {
    workers,
    vm,
    async close(force = false) {
      await Promise.all([...workers.map((w) => w.close(force)), vm?.close(force)]);
      await stopAdvertising();
      client.disconnect();
    },
  };
}

/**
 * The VM host half of test.vmHosts: queue: a process of the test role (the
 * test stage's boots go to ksci-vm, so its hosts boot them), or of the vm
 * role (a host that only boots VMs), takes test.vmSlots boots at a time.
 */
async function startVmHost(roles: string[], services: Services): Promise<VmWorker | null> {
  const { config, log, redis } = services;
  const wanted = roles.includes(VM_ROLE) || (roles.includes('test') && config.test.vmHosts === 'queue');
  if (!wanted) return null;
  if (config.test.vmHosts !== 'queue')
    log.warn(
      { queue: QUEUES.vm },
      'test.vmHosts is "local" in this config: this host boots VMs from the queue, but a test worker with this config would not queue any',
    );
  const problem = await vmHostProblem(config);
  if (problem) {
    log.error({ why: problem, queue: QUEUES.vm }, 'this host cannot boot VMs; not consuming the VM queue');
    return null;
  }
  const vm = new VmWorker({ redis, config, log });
  await vm.start();
  return vm;
}

export interface StageWorkers {
  workers: StageWorker[];
  /** The ksci-vm consumer, when this process boots VMs for the queue. */
  vm: VmWorker | null;
  close(force?: boolean): Promise<void>;
}

function hostFacts(): Record<string, unknown> {
  return { arch: kernelArch(), cores: availableParallelism(), memoryGiB: Math.round(totalmem() / 2 ** 30) };
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
