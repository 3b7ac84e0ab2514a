import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServices, startWorkers, type Services, type StageWorkers } from '../app/services.js';
import { ConfigSchema, type Config } from '../config/schema.js';
import { Coordinator } from '../coordinator/coordinator.js';
import { silentLogger } from '../log.js';
import type { StageWorker } from '../pipeline/runtime.js';
import type { StageDefinition } from '../pipeline/stage.js';
import type { Series } from '../series/types.js';

/**
 * A config for tests: a private data dir and quick retries. Locks and stall
 * checks keep production-like timings: short ones make a busy machine declare
 * live jobs stalled; the dead-worker test shortens them itself.
 */
export function testConfig(dataDir: string, overrides: Record<string, unknown> = {}): Config {
  return ConfigSchema.parse({
    dataDir,
    trees: [
      { name: 'test-tree', source: { kind: 'git', url: join(dataDir, 'upstream') }, tags: ['net-next', 'bpf-next'] },
    ],
    defaultTree: 'test-tree',
    queue: { attempts: 3, backoffMs: 200, lockDurationMs: 30000, stalledIntervalMs: 30000 },
    ...overrides,
  });
}

export interface Pipeline {
  dataDir: string;
  config: Config;
  services: Services;
  coordinator: Coordinator;
  workers: StageWorker[];
  startWorkers(roles?: string[]): Promise<StageWorker[]>;
  close(): Promise<void>;
}

/**
 * A whole pipeline on real parts: a private redis-server, PGlite, the real
 * coordinator and stage workers, in a temp dir removed on close. The data
 * dir is short on purpose: it holds redis' unix socket (108-byte limit).
 */
export async function startPipeline(
  stages: StageDefinition[],
  opts: { workers?: boolean; config?: Record<string, unknown>; dataDir?: string } = {},
): Promise<Pipeline> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'ksci-'));
  const config = testConfig(dataDir, opts.config);
  const services = await openServices(config, silentLogger, { db: true });
  const coordinator = new Coordinator({
    config,
    redis: services.redis,
    store: services.store!,
    stages,
    log: silentLogger,
  });
  await coordinator.start({ reconcileEveryMs: 0 });
  const handles: StageWorkers[] = [];
  const p: Pipeline = {
    dataDir,
    config,
    services,
    coordinator,
    workers: [],
    async startWorkers(roles) {
      const ws = await startWorkers(stages, roles ?? [...new Set(stages.map((s) => s.role))], services);
      handles.push(ws);
      p.workers.push(...ws.workers);
      return ws.workers;
    },
    async close() {
      // Workers a test started by hand (not through startWorkers) are closed too.
      const managed = new Set(handles.flatMap((h) => h.workers));
      await Promise.all([
        ...handles.map((h) => h.close(true)),
        ...p.workers.filter((w) => !managed.has(w)).map((w) => w.close(true)),
      ]);
      await coordinator.close();
      await services.close();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  if (opts.workers !== false) await p.startWorkers();
  return p;
}

/** A well-formed series for tests of the machinery, where the patch content does not matter. */
export function fakeSeries(title: string, extra: Partial<Series> = {}): Series {
  const subject = {
    raw: `[PATCH net-next] ${title}`,
    isReply: false,
    isPatch: true,
    isRfc: false,
    isResend: false,
    version: 1,
    counter: null,
    total: null,
    treeTags: ['net-next'],
    title,
  };
  const person = { name: 'Test Developer', address: 'dev@example.org' };
  return {
    title,
    version: 1,
    total: 1,
    isRfc: false,
    isResend: false,
    treeTags: ['net-next'],
    author: person,
    messageId: `${createHash('sha1').update(title).digest('hex').slice(0, 12)}@example.org`,
    cover: null,
    patches: [
      {
        counter: 1,
        messageId: `${createHash('sha1').update(title).digest('hex').slice(0, 12)}@example.org`,
        subject,
        author: person,
        date: null,
        trailers: [],
        files: [],
        rawBase64: Buffer.from(`Subject: ${subject.raw}\n\n`).toString('base64'),
      },
    ],
    baseCommit: null,
    changeId: null,
    fingerprint: createHash('sha256').update(title).digest('hex'),
    ...extra,
  };
}
