import { EXIT, type ExitCode } from '../errors.js';
import { bisectRange, measureTreeHead, nightlyHistoryLines, trackNightly } from '../perf/nightly.js';
import { formatPps } from '../perf/stats.js';
import { openRedis } from '../queue/redis.js';
import type { Context } from './context.js';
import { openServices } from './services.js';

const progress = (m: string) => process.stderr.write(`ksci: ${m}\n`);

/** `ksci nightly run`: what the nightly job does, now: measure a tree's head, record it, alert on change points. */
export async function nightlyRun(ctx: Context, tree: string): Promise<ExitCode> {
  const { config, log } = ctx;
  const services = await openServices(config, log, { db: true });
  try {
    const jobId = `manual-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    const result = await measureTreeHead(config, tree, {
      jobId,
      log,
      redis: () => services.redis.client(),
      onProgress: progress,
    });
    const alerts = await trackNightly(services.store!, result, { config, log });
    process.stdout.write(
      `${tree} at ${result.commit.slice(0, 12)}:\n${result.points.map((p) => `  ${p.scenario}: ${formatPps(p.value)} pps (${p.samples.length} sessions)`).join('\n')}\n`,
    );
    for (const m of result.missing) process.stdout.write(`  ${m}: no valid runs\n`);
    for (const a of alerts) process.stdout.write(`\n${a.report}`);
    return EXIT.ok;
  } finally {
    await services.close();
  }
}

export interface BisectRange {
  tree: string;
  /** suite/scenario, e.g. pktgen/dummy-xmit. */
  scenario: string;
  /** The last commit before the change. */
  good: string;
  /** The first commit after it. */
  bad: string;
}

/** `ksci nightly bisect`: the commit of a change point, by a binary search of good..bad (first-parent). */
export async function nightlyBisect(ctx: Context, { tree, scenario, good, bad }: BisectRange): Promise<ExitCode> {
  const { config, log } = ctx;
  // A bare-metal host is locked through Redis; a VM needs none.
  const redis =
    config.perf.runner === 'vm' ? null : await openRedis({ redisUrl: config.redisUrl, dataDir: config.dataDir, log });
  try {
    const r = await bisectRange(
      config,
      tree,
      { good, bad, scenario },
      {
        log,
        ...(redis ? { redis: () => redis.client() } : {}),
        onProgress: progress,
      },
    );
    const probes = r.probes.map(
      (p) =>
        `  ${p.counter}/${r.commits}: ${p.verdict}${p.change !== null ? ` (${(p.change * 100).toFixed(1)}%)` : ''}`,
    );
    process.stdout.write(
      `${r.culprit ? `first commit that moves ${scenario}: ${r.culprit.title}` : 'no culprit'}\n${probes.join('\n')}\n${r.note ? `note: ${r.note}\n` : ''}`,
    );
    return EXIT.ok;
  } finally {
    await redis?.stop();
  }
}

/** `ksci nightly show`: a tree's nightly history per scenario, its change points and the alerts sent. */
export async function nightlyShow(ctx: Context, tree: string): Promise<ExitCode> {
  const { config, log } = ctx;
  const services = await openServices(config, log, { db: true });
  try {
    const out = await nightlyHistoryLines(services.store!, config, tree);
    process.stdout.write(out.length ? `${out.join('\n')}\n` : `no nightly history for ${tree}\n`);
    return EXIT.ok;
  } finally {
    await services.close();
  }
}
