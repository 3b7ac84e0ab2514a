/**
 * A worker process for the "worker killed mid-job" test. Its stage, the
 * first time it runs, leaves a marker and then hangs until killed; run
 * again (by another worker) it passes. The parent test SIGKILLs this
 * process while the job is active and checks that the run still completes.
 * Usage: node stall-worker.js <config-json>
 */
import { silentLogger } from '../log.js';
import { StageWorker } from '../pipeline/runtime.js';
import { openRedis } from '../queue/redis.js';
import { ConfigSchema } from '../config/schema.js';
import { markerStage } from './stages.js';

const config = ConfigSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
const redis = await openRedis({ redisUrl: config.redisUrl, dataDir: config.dataDir, log: silentLogger });
const worker = new StageWorker(markerStage(config.dataDir), { redis, config, log: silentLogger });
await worker.start();
process.stdout.write('ready\n');
