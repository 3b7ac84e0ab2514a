import { EventEmitter } from 'node:events';
import { FlowProducer, Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { stageOn, type Config } from '../config/schema.js';
import { InfraError, UsageError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { CANCELLED_PREFIX, requestCancel } from '../queue/cancel.js';
import { buildFlow } from '../pipeline/flow.js';
import {
  PipelineStateSchema,
  RunBuildSchema,
  summarizeSeries,
  type RunBuild,
  type RunContext,
  type StageOutcome,
} from '../pipeline/payload.js';
import { jobId, runIdOfJob, stageQueues, type StageDefinition } from '../pipeline/stage.js';
import type { RedisHandle } from '../queue/redis.js';
import type { Report } from '../stages/report/render.js';
import { ReportSchema } from '../stages/report/schema.js';
import { gitTreeProbe } from '../routing/probe.js';
import { routeTree, type TreeProbe } from '../routing/tree.js';
import type { Series } from '../series/types.js';
import type { ResultsStore, RunRecord, RunStatus, StageStatus } from '../store/results.js';
import { loadSuite, suitesDir } from '../suite/suite.js';

export interface SubmitOptions {
  /** Run again even when the same series version was already run on this tree. */
  force?: boolean;
  /** Tree name; otherwise routed by subject tag. */
  tree?: string;
  requestedBy?: string;
  /** Kernel configs, toolchain, per-patch builds; config defaults fill the rest. */
  build?: BuildRequest;
  source: { kind: 'mbox' | 'lore' | 'github'; ref: string };
  /** Candidate trees in order for the base-commit and "applies to" rules (a lore list's trees). */
  routeOrder?: string[];
  /** What links this series' versions when the series cannot say (a GitHub PR); default: author and title. */
  lineage?: string;
}

export interface BuildRequest {
  configs?: string[] | undefined;
  toolchain?: 'gcc' | 'llvm' | undefined;
  perPatch?: boolean | undefined;
  suites?: string[] | undefined;
  /** Run the perf suites (config perf.suites) base vs series. */
  perf?: boolean | undefined;
  /** And bisect a regression over the series' patches (builds each patch). */
  perfBisect?: boolean | undefined;
  /** The clock the perf stage measures with, over perf.clock. */
  perfClock?: 'auto' | 'icount' | 'wall' | undefined;
}

/** What a run builds: the request, completed from the config and checked against it. */
export function resolveBuild(config: Config, req: BuildRequest = {}): RunBuild {
  const testing = stageOn(config, 'test');
  if (req.suites?.length && !testing)
    throw new UsageError(
      'test suites were asked for, but the test stage is off',
      'add "test" to stages in the config file',
    );
  const suites = testing ? [...new Set(req.suites ?? config.test.suites)] : [];
  if ((req.perf || req.perfBisect) && !stageOn(config, 'perf'))
    throw new UsageError(
      'a perf run was asked for, but the perf stage is off',
      'add "perf" to stages in the config file',
    );
  const perfSuites = req.perf || req.perfBisect ? config.perf.suites : [];
  // A suite boots the kernel of its config: the run builds it too.
  const dir = suitesDir(config.test.suitesDir);
  for (const name of suites) {
    if (loadSuite(dir, name).kind === 'perf')
      throw new UsageError(
        `suite ${name} is a perf suite: it measures throughput, it does not pass or fail`,
        'ask for it with --perf (perf.suites in the config)',
      );
  }
  const suiteConfigs = [...suites, ...perfSuites].map((name) => loadSuite(dir, name).config);
  const configs = [...new Set([...(req.configs ?? config.build.defaultConfigs), ...suiteConfigs])];
  const unknown = configs.filter((c) => !config.build.configs[c]);
  if (unknown.length > 0) {
    throw new UsageError(
      `unknown kernel config(s): ${unknown.join(', ')}`,
      `known: ${Object.keys(config.build.configs).join(', ')} (build.configs in the config file)`,
    );
  }
  return {
    configs,
    arch: config.build.arch,
    toolchain: req.toolchain ?? config.build.toolchain,
    perPatch: (req.perPatch ?? config.build.perPatch) || req.perfBisect === true,
    suites,
    perfSuites,
    perfBisect: req.perfBisect === true,
    perfClock: perfSuites.length ? (req.perfClock ?? config.perf.clock) : null,
  };
}

export interface Submitted {
  runId: string;
  /** False when an earlier run of the same series version was found (dedup), or a later version was already run. */
  created: boolean;
  tree: string;
  treeReason: string;
  /** Runs of earlier versions this one cancelled. */
  superseded: string[];
  /** Set when not queued because a later version of the series was already queued or run. */
  staleAgainst?: { runId: string; version: number };
}

const TERMINAL: RunStatus[] = ['passed', 'failed', 'error', 'cancelled', 'skipped'];
const VERDICT_STATUS: Record<string, RunStatus> = {
  pass: 'passed',
  fail: 'failed',
  error: 'error',
  cancelled: 'cancelled',
  skipped: 'skipped',
};

/**
 * The one process that writes results. It turns submitted series into
 * flows, and mirrors what BullMQ knows about a run's jobs into the database
 * whenever a job of that run changes. Because the mirror is recomputed from
 * the jobs themselves (not from the stream of events), missed events — the
 * coordinator was down, Redis restarted — are repaired by `reconcile()`.
 */
/** What a coordinator tells in-process listeners (the GitHub bot, email replies, a terminal's live view). */
interface CoordinatorEvents {
  /** After every sync of a run: its stages' states and progress as stored. */
  'run-updated': [RunRecord];
  'run-started': [RunRecord];
  'run-finished': [RunRecord];
}

export class Coordinator extends EventEmitter<CoordinatorEvents> {
  private readonly flows: FlowProducer;
  private readonly queues = new Map<string, Queue>();
  private readonly events: QueueEvents[] = [];
  private readonly client: Redis;
  /** Per-run promise chain: syncs of one run never overlap. */
  private readonly syncing = new Map<string, Promise<RunRecord | null>>();
  private reconcileTimer: NodeJS.Timeout | null = null;
  private readonly probe: TreeProbe;

  constructor(
    private readonly deps: {
      config: Config;
      redis: RedisHandle;
      store: ResultsStore;
      stages: StageDefinition[];
      log: Logger;
      /** How routing asks the trees; default: git on ksci's mirrors. */
      probe?: TreeProbe;
    },
  ) {
    super();
    this.probe = deps.probe ?? gitTreeProbe(deps.config, deps.log);
    this.flows = new FlowProducer({ connection: deps.redis.connection });
    for (const s of deps.stages) {
      for (const q of stageQueues(s, deps.config))
        this.queues.set(q, new Queue(q, { connection: deps.redis.connection }));
    }
    this.client = deps.redis.client();
  }

  /** Listen to job events and reconcile now and then. */
  async start(opts: { reconcileEveryMs?: number } = {}): Promise<void> {
    for (const name of this.queues.keys()) {
      const ev = new QueueEvents(name, { connection: this.deps.redis.connection });
      const touch = ({ jobId: id }: { jobId: string }) => void this.sync(runIdOfJob(id));
      ev.on('active', touch);
      ev.on('completed', touch);
      ev.on('failed', touch);
      ev.on('progress', touch);
      ev.on('retries-exhausted', touch);
      ev.on('error', (err) => this.deps.log.error({ err: errorMessage(err) }, 'queue events error'));
      await ev.waitUntilReady();
      this.events.push(ev);
    }
    await this.reconcile();
    const every = opts.reconcileEveryMs ?? 30_000;
    if (every > 0) {
      this.reconcileTimer = setInterval(
        () => void this.reconcile().catch((err) => this.deps.log.error({ err: errorMessage(err) }, 'reconcile failed')),
        every,
      );
      this.reconcileTimer.unref();
    }
  }

  async close(): Promise<void> {
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    await Promise.allSettled([...this.syncing.values()]);
    await Promise.all(this.events.map((e) => e.close()));
    await this.flows.close();
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.client.disconnect();
  }

  async submit(series: Series, opts: SubmitOptions): Promise<Submitted> {
    const { config, store, stages, log } = this.deps;
    const build = resolveBuild(config, opts.build);
    const seriesId = await store.saveSeries(series, opts.source, opts.lineage);
    const related = await store.relatedRuns(seriesId);
    // A mailbox given by hand is run as asked; automatic sources skip a version that a later one already replaced.
    if (related.newer && opts.source.kind !== 'mbox' && !opts.force) {
      const newer = await store.getRun(related.newer.runId);
      log.info(
        { title: series.title, version: series.version, newer: related.newer },
        'a later version of this series was already queued; not running this one',
      );
      return {
        runId: related.newer.runId,
        created: false,
        tree: newer?.tree ?? '',
        treeReason: 'not routed: a later version was run',
        superseded: [],
        staleAgainst: related.newer,
      };
    }
    const choice = await routeTree(series, config, {
      ...(opts.tree ? { explicit: opts.tree } : {}),
      ...(opts.routeOrder ? { order: opts.routeOrder } : {}),
      probe: this.probe,
    });
    // The same series version on the same tree, built the same way, is the same run.
    const dedupKey = opts.force
      ? null
      : `${series.fingerprint}:${choice.tree.name}:${build.arch}-${build.toolchain}:${build.configs.join('+')}${build.perPatch ? ':per-patch' : ''}${build.suites.length ? `:${build.suites.join('+')}` : ''}${build.perfSuites.length ? `:perf=${build.perfSuites.join('+')}` : ''}${build.perfBisect ? ':bisect' : ''}${build.perfClock && build.perfClock !== 'auto' ? `:${build.perfClock}` : ''}`;
    const { runId, created } = await store.createRun({
      seriesId,
      tree: choice.tree.name,
      treeReason: choice.reason,
      dedupKey,
      stages: stages.map((s) => s.name),
      options: build,
      ...(opts.requestedBy ? { requestedBy: opts.requestedBy } : {}),
    });
    const submitted: Submitted = { runId, created, tree: choice.tree.name, treeReason: choice.reason, superseded: [] };
    if (created) {
      await this.enqueue(runId, series, choice.tree.name, choice.reason, build);
      log.info(
        { runId, tree: choice.tree.name, treeReason: choice.reason, title: series.title, version: series.version },
        'run queued',
      );
    } else {
      log.info(
        { runId, fingerprint: series.fingerprint },
        'series version already run; not queued again (use --force to re-run)',
      );
    }
    // Testing a version nobody will merge wastes the queue: the older runs stop, also when this
    // version was run before (a PR pushed back to a tested head). A failed cancel is retried by the
    // next submission of this version, so it does not fail this one.
    for (const old of related.older) {
      try {
        await this.cancel(old.runId, `superseded by v${series.version} (run ${runId})`);
        submitted.superseded.push(old.runId);
      } catch (err) {
        log.error({ runId: old.runId, err: errorMessage(err) }, 'could not cancel a superseded run');
      }
    }
    return submitted;
  }

  private async enqueue(runId: string, series: Series, tree: string, reason: string, build: RunBuild): Promise<void> {
    const { config, store, stages } = this.deps;
    const run: RunContext = {
      runId,
      stages: stages.map((s) => s.name),
      tree: { name: tree, reason },
      build,
      series: summarizeSeries(series),
    };
    try {
      await this.flows.add(buildFlow(run, series, stages, config.queue));
    } catch (err) {
      // The run stays "queued" in the database; reconcile() enqueues it again once Redis is back.
      throw new InfraError(
        `could not queue run ${runId}: ${errorMessage(err)}`,
        'check that Redis is reachable; the run is queued again when it is',
        { cause: err },
      );
    }
    await store.setRunStatus(runId, 'queued');
  }

  /**
   * A stage's job of a run, in whichever of the stage's queues it went to.
   * The state is read before the job's data: a job that fails between two
   * reads the other way round looks failed but has no reason yet. This way
   * round, a finished state always comes with its finished data.
   */
  private async findJob(def: StageDefinition, runId: string): Promise<JobSnapshot | undefined> {
    const id = jobId(runId, def.name);
    for (const q of stageQueues(def, this.deps.config)) {
      const queue = this.queues.get(q)!;
      const state = await queue.getJobState(id);
      if (state === 'unknown') continue;
      const job = await queue.getJob(id);
      if (job) return { job, state };
    }
    return undefined;
  }

  /**
   * Run a run's series again, on the same tree and built as it was asked
   * (`/ksci retest`, the dashboard): a new run, even for a version already
   * run.
   */
  async retest(runIdOrPrefix: string, requestedBy: string): Promise<Submitted> {
    const { store } = this.deps;
    const run = await store.getRun(runIdOrPrefix);
    if (!run) throw new UsageError(`no run ${runIdOrPrefix}`, '"ksci status" lists runs');
    const [series, source] = await Promise.all([store.getSeries(run.seriesId), store.seriesSource(run.seriesId)]);
    if (!series || !source) throw new UsageError(`the series of run ${run.id} is not in the database`);
    const asked = RunBuildSchema.safeParse(run.options);
    const build: BuildRequest = asked.success
      ? {
          configs: asked.data.configs,
          toolchain: asked.data.toolchain,
          perPatch: asked.data.perPatch,
          suites: asked.data.suites,
          perf: asked.data.perfSuites.length > 0,
          perfBisect: asked.data.perfBisect,
          ...(asked.data.perfClock ? { perfClock: asked.data.perfClock } : {}),
        }
      : {};
    return this.submit(series, { source, force: true, tree: run.tree, requestedBy, build });
  }

  /** Cancel a run that has not finished: running jobs are aborted, waiting ones refuse to start. */
  async cancel(runIdOrPrefix: string, reason: string): Promise<RunRecord> {
    const run = await this.deps.store.getRun(runIdOrPrefix);
    if (!run) throw new UsageError(`no run ${runIdOrPrefix}`, '"ksci status" lists runs');
    if (TERMINAL.includes(run.status)) return run;
    await requestCancel(this.client, { run: run.id }, reason);
    this.deps.log.info({ runId: run.id, reason }, 'cancel requested');
    return (await this.sync(run.id)) ?? run;
  }

  /** Resolves when the run reaches a terminal status. */
  async waitForRun(runId: string, timeoutMs = 0): Promise<RunRecord> {
    return new Promise<RunRecord>((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      const onFinish = (rec: RunRecord) => {
        if (rec.id !== runId) return;
        this.off('run-finished', onFinish);
        if (timer) clearTimeout(timer);
        resolve(rec);
      };
      this.on('run-finished', onFinish);
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.off('run-finished', onFinish);
          reject(
            new InfraError(
              `run ${runId} did not finish within ${Math.round(timeoutMs / 1000)} s`,
              'are workers running? "ksci status" shows the queues',
            ),
          );
        }, timeoutMs);
      }
      void this.sync(runId).then((rec) => {
        if (rec && TERMINAL.includes(rec.status)) onFinish(rec);
      });
    });
  }

  /** Re-derive every unfinished run from its jobs; re-enqueue runs whose jobs were lost. */
  async reconcile(): Promise<void> {
    const runs = await this.deps.store.unfinishedRuns();
    for (const r of runs) await this.sync(r.id);
  }

  sync(runId: string): Promise<RunRecord | null> {
    const prev = this.syncing.get(runId) ?? Promise.resolve(null);
    const next = prev
      .catch(() => null)
      .then(() => this.syncNow(runId))
      .catch((err) => {
        this.deps.log.error({ runId, err: errorMessage(err) }, 'could not record run state');
        return null;
      });
    this.syncing.set(runId, next);
    void next.finally(() => {
      if (this.syncing.get(runId) === next) this.syncing.delete(runId);
    });
    return next;
  }

  private async syncNow(runId: string): Promise<RunRecord | null> {
    const { store, stages, log } = this.deps;
    const before = await store.getRun(runId);
    if (!before || TERMINAL.includes(before.status)) return before;

    const jobs = await Promise.all(stages.map((s) => this.findJob(s, runId)));
    if (jobs.every((j) => j === undefined)) {
      await this.requeueLost(before);
      return store.getRun(runId);
    }

    let anyStarted = false;
    for (const [i, def] of stages.entries()) {
      const snap = jobs[i];
      if (!snap) continue;
      const row = before.stages.find((s) => s.name === def.name);
      const update = stageUpdate(snap, def.name);
      if (update.status !== 'pending') anyStarted = true;
      if (
        row &&
        row.status === update.status &&
        row.attempt === update.attempt &&
        JSON.stringify(row.progress ?? null) === JSON.stringify(update.progress ?? null) &&
        (row.error ?? null) === (update.error ?? null)
      ) {
        continue;
      }
      await store.updateStage(runId, def.name, update);
      // The history tables (test stability, perf samples) get a stage's rows once, when its result first arrives.
      if (def.record && update.result && row?.status !== update.status)
        await def.record(runId, update.result.data, store);
    }

    const rootSnap = jobs[jobs.length - 1];
    const root = rootSnap?.job;
    const rootState = rootSnap?.state ?? 'unknown';
    // A job read just before it completed has no return value yet: the
    // completion event syncs again, so only a readable report ends the run.
    const report = rootState === 'completed' ? readReport(root?.returnvalue) : null;
    if (report) {
      await store.setRunStatus(runId, VERDICT_STATUS[report.verdict] ?? 'error', {
        verdict: report.verdict,
        summary: report.headline,
        reportMarkdown: report.markdown,
        reportText: report.text,
      });
    } else if (root && rootState === 'failed') {
      const reason = root.failedReason ?? 'unknown';
      const cancelled = reason.startsWith(CANCELLED_PREFIX);
      await store.setRunStatus(runId, cancelled ? 'cancelled' : 'error', {
        verdict: cancelled ? 'cancelled' : 'error',
        summary: cancelled ? reason : `report stage failed: ${reason}`,
      });
    } else if (anyStarted && before.status === 'queued') {
      await store.setRunStatus(runId, 'running');
    }

    const after = await store.getRun(runId);
    if (after) this.emit('run-updated', after);
    if (after && TERMINAL.includes(after.status)) {
      log.info({ runId, status: after.status, summary: after.summary }, 'run finished');
      this.emit('run-finished', after);
    } else if (after?.status === 'running' && before.status === 'queued') {
      this.emit('run-started', after);
    }
    return after;
  }

  /**
   * A run the database says is unfinished but of which Redis knows nothing:
   * Redis lost its data, or ksci died between recording and queueing. The
   * series is in the database, so the run is queued again from the start.
   */
  private async requeueLost(run: RunRecord): Promise<void> {
    const series = await this.deps.store.getSeries(run.seriesId);
    if (!series) {
      await this.deps.store.setRunStatus(run.id, 'error', {
        verdict: 'error',
        summary: 'jobs lost and the series is not in the database',
      });
      return;
    }
    this.deps.log.warn({ runId: run.id }, 'no jobs found for an unfinished run; queueing it again');
    const { tree } = await routeTree(series, this.deps.config, { explicit: run.tree });
    const stored = RunBuildSchema.safeParse(run.options);
    await this.enqueue(
      run.id,
      series,
      tree.name,
      run.treeReason ?? 'as routed when the run was submitted',
      stored.success ? stored.data : resolveBuild(this.deps.config),
    );
  }
}

function readReport(value: unknown): Report | null {
  const state = PipelineStateSchema.safeParse(value);
  if (!state.success) return null;
  const report = ReportSchema.safeParse(state.data.outcomes[state.data.outcomes.length - 1]?.data);
  return report.success ? report.data : null;
}

interface JobSnapshot {
  job: Job;
  state: string;
}

function stageUpdate(
  { job, state }: JobSnapshot,
  stage: string,
): {
  status: StageStatus;
  attempt: number;
  progress: unknown;
  result?: StageOutcome;
  error: string | null;
  startedAt?: Date;
  finishedAt?: Date;
} {
  const base = {
    attempt: job.attemptsStarted,
    progress: job.progress ?? null,
    ...(job.processedOn ? { startedAt: new Date(job.processedOn) } : {}),
  };
  switch (state) {
    case 'completed': {
      const parsed = PipelineStateSchema.safeParse(job.returnvalue);
      const outcome = parsed.success ? parsed.data.outcomes.findLast((o) => o.stage === stage) : undefined;
      if (!outcome)
        return {
          ...base,
          status: 'error',
          error: 'stage returned no outcome',
          ...(job.finishedOn ? { finishedAt: new Date(job.finishedOn) } : {}),
        };
      return {
        ...base,
        status: outcome.status,
        result: outcome,
        error: null,
        ...(job.finishedOn ? { finishedAt: new Date(job.finishedOn) } : {}),
      };
    }
    case 'failed': {
      const reason = job.failedReason ?? 'unknown';
      return {
        ...base,
        status: reason.startsWith(CANCELLED_PREFIX) ? 'cancelled' : 'error',
        error: reason,
        ...(job.finishedOn ? { finishedAt: new Date(job.finishedOn) } : {}),
      };
    }
    case 'active':
      return { ...base, status: 'active', error: null };
    default:
      // Waiting, delayed (backing off before a retry) or waiting for the stage before it.
      return { ...base, status: 'pending', error: job.attemptsMade > 0 ? `retrying after: ${job.failedReason}` : null };
  }
}
