import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { type BuildRequest, Coordinator } from '../coordinator/coordinator.js';
import { submitToService } from '../coordinator/ingest.js';
import { EXIT, type ExitCode, UsageError } from '../errors.js';
import { pipelineStages, rolesOf } from '../stages/index.js';
import type { RunRecord } from '../store/results.js';
import type { Context } from './context.js';
import { fileSize, loadInput } from './input.js';
import { STATUS_EXIT } from './runs.js';
import { onShutdown, openServices, startWorkers } from './services.js';

export interface RunOptions {
  /** Run even if this series version was already run on this tree. */
  force?: boolean;
  /** Test on this tree instead of routing by subject tag. */
  tree?: string;
  /** Pick this version from an mbox that holds several. */
  seriesVersion?: number;
  /** Of an mbox: the series this message is in. */
  messageId?: string;
  /** Also write the Markdown report here. */
  output?: string;
  /** Give up waiting after this long (0 or none: wait for the run). */
  timeoutSeconds?: number;
  build: BuildRequest;
}

/**
 * `ksci run`: the whole pipeline on one series in this process (the
 * coordinator and a worker of every role), then the report on stdout and
 * in the data directory. The exit code is the run's verdict.
 */
export async function runSeries(ctx: Context, path: string, opts: RunOptions): Promise<ExitCode> {
  const { config, log, live } = ctx;
  // While the view is drawn, a bare write to stderr would land inside its block.
  const say = (line: string): void => {
    if (live) live.view.note(line);
    else process.stderr.write(`${line}\n`);
  };
  if (live) say(`ksci: full log in ${live.logFile}`);
  // Parse before starting anything: bad input is reported in milliseconds and touches nothing.
  const input = await loadInput(path, config, { version: opts.seriesVersion, messageId: opts.messageId });
  const series = input.series;
  log.info(
    { title: series.title, version: series.version, patches: series.patches.length, source: input.source },
    'series loaded',
  );

  const services = await openServices(config, log, { db: true });
  const stages = pipelineStages(config);
  const coordinator = new Coordinator({ config, redis: services.redis, store: services.store!, stages, log });
  const workers = await startWorkers(stages, rolesOf(stages), services);
  let runId: string | null = null;
  // The coordinator also reconciles runs left over from earlier invocations: show only this one.
  if (live)
    coordinator.on('run-updated', (rec) => {
      if (rec.id === runId) live.view.update(rec);
    });
  const stop = async () => {
    await workers.close();
    await coordinator.close();
    await services.close();
  };
  const removeHandlers = onShutdown(
    log,
    async () => {
      live?.view.stop();
      if (runId) await coordinator.cancel(runId, 'interrupted by the user');
    },
    () => process.exit(EXIT.interrupted),
  );
  try {
    await coordinator.start({ reconcileEveryMs: 5000 });
    const sub = await coordinator.submit(series, {
      force: opts.force ?? false,
      ...(opts.tree ? { tree: opts.tree } : {}),
      build: opts.build,
      requestedBy: 'cli',
      source: input.source,
      ...(input.routeOrder ? { routeOrder: input.routeOrder } : {}),
      ...(input.lineage ? { lineage: input.lineage } : {}),
      ...(!opts.tree && input.tree ? { tree: input.tree } : {}),
    });
    runId = sub.runId;
    if (!sub.created)
      say(
        `ksci: this series version was already run on ${sub.tree} as run ${sub.runId}; showing that run (--force runs it again)`,
      );
    else say(`ksci: run ${sub.runId} queued on tree ${sub.tree} (${sub.treeReason})`);
    for (const old of sub.superseded) say(`ksci: cancelled run ${old} of an earlier version of this series`);
    // Syncs during submit came before runId was known; draw the run now rather than at the next event.
    if (live) {
      const first = await services.store!.getRun(sub.runId);
      if (first) live.view.update(first);
    }
    const rec = await coordinator.waitForRun(sub.runId, (opts.timeoutSeconds ?? 0) * 1000);
    if (live) {
      // The final state stays on the terminal, above the report.
      live.view.update(rec);
      live.view.stop();
      say(`ksci: full log in ${live.logFile}`);
    }
    const file = writeReport(config, rec, opts.output);
    process.stdout.write(rec.reportText ?? `${rec.status}: ${rec.summary ?? ''}\n`);
    process.stdout.write(`\nReport: ${file}\n`);
    return STATUS_EXIT[rec.status];
  } finally {
    // Idempotent; on an error it leaves the block where it was, so the error prints below it.
    live?.view.stop();
    removeHandlers();
    await stop();
  }
}

/** The Markdown report under the data directory (and at `output`); returns where the user should look. */
function writeReport(config: Config, rec: RunRecord, output: string | undefined): string {
  const dir = join(config.dataDir, 'reports');
  mkdirSync(dir, { recursive: true });
  const md = rec.reportMarkdown ?? `## ksci: ${rec.status}\n\n${rec.summary ?? ''}\n`;
  const file = join(dir, `${rec.id}.md`);
  writeFileSync(file, md);
  if (output) writeFileSync(resolve(output), md);
  return output ? resolve(output) : file;
}

export interface SubmitOptions {
  /** Run even if this series version was already run. */
  force?: boolean;
  /** Test on this tree instead of routing by subject tag. */
  tree?: string;
  /** How long to wait for the coordinator to accept it. */
  timeoutSeconds: number;
  build: BuildRequest;
}

/** `ksci submit`: hands an mbox to a running `ksci serve` and prints the run id. */
export async function submitSeries(ctx: Context, path: string, opts: SubmitOptions): Promise<ExitCode> {
  const { config, log } = ctx;
  const abs = resolve(path);
  const size = fileSize(abs);
  if (size > config.limits.maxMboxBytes)
    throw new UsageError(`${abs} is ${size} bytes, over the ${config.limits.maxMboxBytes}-byte limit`);
  const services = await openServices(config, log, { db: false });
  try {
    const sub = await submitToService(
      services.redis,
      {
        mboxBase64: readFileSync(abs).toString('base64'),
        ref: abs,
        force: opts.force ?? false,
        ...(opts.tree ? { tree: opts.tree } : {}),
        build: opts.build,
        requestedBy: 'cli',
      },
      opts.timeoutSeconds * 1000,
    );
    process.stdout.write(`${sub.runId}\n`);
    process.stderr.write(
      sub.created
        ? `ksci: queued on ${sub.tree} (${sub.treeReason})\n`
        : `ksci: already run as ${sub.runId} (--force runs it again)\n`,
    );
    return EXIT.ok;
  } finally {
    await services.close();
  }
}
