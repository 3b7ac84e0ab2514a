import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { StoredPerfSample } from '../perf/history.js';
import { stageQueueName } from '../queue/names.js';
import type { TestHistorySource, TestResult } from '../vm/history.js';
import type { OutcomeStatus, PipelineState, RunContext, StageJobData, StageOutcome } from './payload.js';

export interface StageProgress {
  /** What is happening now, for a human: "applying 2/3", "CC net/core/dev.o". */
  message: string;
  done?: number;
  total?: number;
}

export interface StageContext {
  run: RunContext;
  job: StageJobData;
  /** Outcomes of the stages before this one. */
  upstream: PipelineState;
  config: Config;
  log: Logger;
  /** Aborted when the run is cancelled or superseded, or the worker shuts down. */
  signal: AbortSignal;
  progress(p: StageProgress): Promise<void>;
  /** Past results, where this worker can read the results database (embedded mode, or a PostgreSQL server). */
  history?: TestHistorySource;
  /** A new Redis client of the queue's server, for locks across workers (a bare-metal host's); the caller disconnects it. */
  redis?: () => Redis;
}

/** Where a stage's hook writes the rows the history tables keep: the results store, in the coordinator. */
export interface ResultSink {
  recordTestResults(runId: string, stage: string, results: TestResult[]): Promise<void>;
  recordPerfSamples(runId: string, samples: StoredPerfSample[]): Promise<void>;
}

export interface StageResult {
  /** 'passed' | 'failed' | 'skipped': errors are thrown, not returned. */
  status: Exclude<OutcomeStatus, 'error' | 'cancelled'>;
  summary: string;
  data: unknown;
}

/**
 * One step of the pipeline. Adding a stage means a folder in src/stages/
 * holding one of these (with its result schema, report lines and history
 * rows) and a line in the registry (src/stages/index.ts): the flow, the
 * queue, the worker runtime, the report and the bookkeeping come with it.
 */
export interface StageDefinition {
  name: string;
  /** Earlier stages that must have passed for this one to run; otherwise it is skipped. */
  needs: string[];
  /** Worker role that runs it (`ksci worker --role <role>`). */
  role: string;
  /** Jobs a worker of this role runs at once. */
  concurrency: number;
  /** Whether the job carries the whole series (patches and all) or only the run context. */
  wantsSeries: boolean;
  run(ctx: StageContext): Promise<StageResult>;
  /** This stage's part of the report, lines of plain text; the report stage gathers them. */
  details?(outcome: StageOutcome): string[];
  /**
   * Writes what the history tables keep of the stage's result (test results,
   * perf samples). The coordinator calls it once, when the result arrives.
   */
  record?(runId: string, data: unknown, sink: ResultSink): Promise<void>;
  /**
   * Stages whose jobs need particular workers (a build for x86_64 with
   * llvm) have one queue per variant; a worker consumes only the variants
   * it can run, so a job never lands on a worker that cannot do it.
   */
  variants?: {
    /** Every variant this configuration can ask for. */
    all(config: Config): string[];
    /** The variant one run needs. */
    of(run: RunContext): string;
    /** The variants this host can run (detects compilers, sandbox...). */
    served(config: Config, log: Logger): Promise<string[]>;
  };
}

/** The queue a run's job for this stage goes to. */
export function stageQueue(def: StageDefinition, run: RunContext): string {
  return stageQueueName(def.name, def.variants?.of(run));
}

/** Every queue of a stage. */
export function stageQueues(def: StageDefinition, config: Config): string[] {
  return def.variants ? def.variants.all(config).map((v) => stageQueueName(def.name, v)) : [stageQueueName(def.name)];
}

/** Job ids are deterministic so that a run's jobs can be found, and added only once. */
export function jobId(runId: string, stage: string): string {
  return `${runId}.${stage}`;
}

export function runIdOfJob(id: string): string {
  const dot = id.lastIndexOf('.');
  return dot < 0 ? id : id.slice(0, dot);
}
