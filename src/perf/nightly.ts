/**
 * Nightly tracking: build the head of a tree with each perf suite's config,
 * measure it (sessions of the same kernel, no A/B: the history is the
 * reference), record one point per scenario, and alert once per change point
 * the history shows. measureTreeHead does the work (builds, VMs);
 * trackNightly is the bookkeeping that needs the results database.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { KernelBuilder } from '../build/kernel.js';
import { detectToolchain } from '../build/toolchain.js';
import { SourceTree } from '../build/workspace.js';
import type { Config } from '../config/schema.js';
import { CancelledError, InfraError, UsageError } from '../errors.js';
import { loadKernelConfig } from '../kconfig/load.js';
import type { Logger } from '../log.js';
import { buildEnv } from '../build/env.js';
import type { NightlyPoint, PerfAlert, PerfHistory } from './history.js';
import { gitAt } from '../tree/git.js';
import { ensureTree, resolveBase } from '../tree/trees.js';
import { samplesOf, sessionRuns, unitValues, type PerfSample } from './ab.js';
import {
  detectChangePoints,
  pendingAlerts,
  type ChangePoint,
  type ChangePointOptions,
  type HistoryPoint,
} from './changepoint.js';
import { bisectSeries, type BisectResult } from './bisect.js';
import { clockLabel } from './clock.js';
import { loadPerfSuite, perfPlan, perfRunner, perfScenarios, perfThresholds } from './plan.js';
import { formatPct, formatPps, median } from './stats.js';

export const NightlyJobSchema = z.object({ tree: z.string().min(1) });

export interface NightlyResult {
  tree: string;
  commit: string;
  points: NightlyPoint[];
  /** Scenarios that gave no number tonight, and why. */
  missing: string[];
}

/** A tree of the config, prepared, and a kernel builder for it (the build stage's builder, outside a run). */
async function treeBuilders(
  config: Config,
  treeName: string,
  o: { log: Logger; signal?: AbortSignal; onProgress?: (m: string) => void },
) {
  const treeConfig = config.trees.find((t) => t.name === treeName);
  if (!treeConfig) throw new UsageError(`no tree "${treeName}" in the config`);
  const cacheDir = join(config.dataDir, 'cache');
  const tree = await ensureTree(treeConfig, { cacheDir, log: o.log, ...(o.signal ? { signal: o.signal } : {}) });
  const toolchain = await detectToolchain(config.build.toolchain);
  if (!toolchain) throw new InfraError(`no ${config.build.toolchain} toolchain on this host for ${treeName}'s kernels`);
  const env = buildEnv(config, toolchain, config.build.arch, {
    log: o.log,
    ...(o.signal ? { signal: o.signal } : {}),
    onProgress: (p) => o.onProgress?.(p.message),
  });
  const source = new SourceTree(tree, cacheDir, o.log);
  return {
    tree,
    builderFor: (kconfig: string) => new KernelBuilder(tree, source, loadKernelConfig(config.build, kconfig), env),
  };
}

/** perf.nightly's change-point settings for a series of this clock: the smallest step alerted is 3% on the wall clock, 0.5% on icount. */
export function changePointOptions(config: Config, clock: string): ChangePointOptions {
  const { alpha, minChange, minSegment } = config.perf.nightly;
  return { alpha, minSegment, minChange: minChange ?? (clock.startsWith('icount') ? 0.005 : 0.03) };
}

/** The clock a nightly point was measured with; points stored before clocks were recorded are wall-clock. */
export function pointClock(p: Pick<NightlyPoint, 'env'>): string {
  return p.env['clock'] ?? 'wall';
}

/**
 * A scenario's series is one clock: the points measured with the clock of
 * its newest one. Changing perf.clock thus starts a new series; the jump
 * between the clocks' numbers is not a change point.
 */
export function currentSeries(history: NightlyPoint[]): { clock: string; points: NightlyPoint[] } {
  const last = history[history.length - 1];
  const clock = last ? pointClock(last) : 'wall';
  return { clock, points: history.filter((p) => pointClock(p) === clock) };
}

export async function measureTreeHead(
  config: Config,
  treeName: string,
  o: {
    jobId: string;
    log: Logger;
    signal?: AbortSignal;
    redis?: () => import('ioredis').Redis;
    onProgress?: (m: string) => void;
  },
): Promise<NightlyResult> {
  const { tree, builderFor } = await treeBuilders(config, treeName, o);
  const { commit } = await resolveBase(tree, null);
  const points: NightlyPoint[] = [];
  const missing: string[] = [];
  const measuredAt = new Date().toISOString();
  for (const name of config.perf.suites) {
    const suite = loadPerfSuite(config, name);
    const builder = builderFor(suite.config);
    o.onProgress?.(`${name}: building ${treeName} at ${commit.slice(0, 12)} (config ${suite.config})`);
    const built = await builder.buildBase(commit);
    if (built.status !== 'ok')
      throw new InfraError(
        `the head of ${treeName} (${commit.slice(0, 12)}) does not build with config ${suite.config} (log: ${built.artifactDir})`,
      );
    const scenarios = perfScenarios(suite, config.perf.set);
    const plan = perfPlan(config, scenarios);
    const { runner, exclusive } = await perfRunner(config, suite, {
      tree: treeName,
      log: o.log,
      ...(o.redis ? { redis: o.redis } : {}),
    });
    const samples: PerfSample[] = [];
    const clock = clockLabel(runner.clock);
    // Instruction counts repeat to ~0.05% from boot to boot: the first look's rounds are plenty for one night's point.
    const sessions = runner.clock.name === 'icount' ? plan.minRounds : plan.rounds;
    await exclusive(async (signal) => {
      for (let round = 1; round <= sessions; round++) {
        if (signal?.aborted || o.signal?.aborted) throw new CancelledError(`nightly ${treeName} cancelled`);
        o.onProgress?.(`${name}: session ${round}/${sessions}`);
        const s = await runner.session({
          kernel: join(built.artifactDir, 'bzImage'),
          label: 'base',
          round,
          runs: sessionRuns(plan),
          append: [],
          outDir: join(config.dataDir, 'nightly', o.jobId, name),
          log: o.log,
          signal: signal ?? o.signal,
        });
        if (s.failure)
          throw new InfraError(
            `the head of ${treeName} (${commit.slice(0, 12)}) failed under pktgen: ${s.failure.kind}: ${s.failure.reason} (console: ${s.logFile})`,
          );
        const got = samplesOf('base', round, s, scenarios, clock);
        samples.push(...got.samples);
        for (const x of got.invalid)
          o.log.warn({ tree: treeName, scenario: x.scenario, round, reason: x.reason }, 'nightly run dropped');
      }
    }, o.signal);
    for (const sc of scenarios) {
      const mine = samples.filter((x) => x.scenario === sc.name);
      const values = unitValues(mine, config.perf.sampleUnit);
      if (values.length === 0) {
        missing.push(`${name}/${sc.name}`);
        continue;
      }
      points.push({
        jobId: o.jobId,
        tree: treeName,
        commit,
        scenario: `${name}/${sc.name}`,
        value: median(values),
        samples: values,
        env: mine[0]!.env,
        measuredAt,
      });
    }
  }
  return { tree: treeName, commit, points, missing };
}

/** What `ksci nightly show` prints: every night with its clock, the current clock's change points, the alerts. */
export async function nightlyHistoryLines(store: PerfHistory, config: Config, tree: string): Promise<string[]> {
  const out: string[] = [];
  for (const scenario of await store.nightlyScenarios(tree)) {
    const all = await store.nightlyHistory(tree, scenario);
    const { clock, points: history } = currentSeries(all);
    const points = detectChangePoints(
      history.map((p) => ({ commit: p.commit, time: p.measuredAt, value: p.value })),
      changePointOptions(config, clock),
    );
    const older = all.length - history.length;
    out.push(
      `${scenario}: ${history.length} nights, clock ${clock}${older ? ` (and ${older} of another clock before, a series of their own)` : ''}`,
    );
    for (const p of all)
      out.push(
        `  ${p.measuredAt.slice(0, 16)}  ${p.commit.slice(0, 12)}  ${formatPps(p.value)} pps  ${pointClock(p)}${points.some((c) => history[c.index] === p) ? '  <- change' : ''}`,
      );
    for (const c of points)
      out.push(
        `  change point: ${c.direction} ${(c.change * 100).toFixed(1)}% between ${c.lastGood.slice(0, 12)} and ${c.firstChanged.slice(0, 12)} (p=${c.p.toPrecision(2)})`,
      );
    for (const a of await store.alerts(tree, scenario))
      out.push(
        `  alerted ${a.createdAt.slice(0, 16)}: ${a.direction} ${(a.change * 100).toFixed(1)}% at ${a.firstChanged.slice(0, 12)}`,
      );
  }
  return out;
}

/** The text of an alert: where throughput moved, by how much, and the nights around it. */
export function nightlyAlertText(tree: string, scenario: string, cp: ChangePoint, history: HistoryPoint[]): string {
  const around = history.slice(Math.max(0, cp.index - 3), cp.index + 3);
  return [
    `ksci nightly: ${scenario} on ${tree}: throughput ${cp.direction} of ${formatPct(cp.change)}`,
    '',
    `between ${cp.lastGood.slice(0, 12)} (last before) and ${cp.firstChanged.slice(0, 12)} (first after):`,
    `  mean ${formatPps(cp.meanBefore)} -> ${formatPps(cp.meanAfter)} pps, Welch t-test p=${cp.p.toPrecision(2)}`,
    `  commit range: git log ${cp.lastGood.slice(0, 12)}..${cp.firstChanged.slice(0, 12)}`,
    `  find the commit: ksci nightly bisect ${tree} ${scenario} ${cp.lastGood.slice(0, 12)} ${cp.firstChanged.slice(0, 12)}`,
    '',
    'nights around it:',
    ...around.map((p) => `  ${p.time.slice(0, 10)}  ${p.commit.slice(0, 12)}  ${formatPps(p.value)} pps`),
    '',
  ].join('\n');
}

/**
 * Records tonight's points, finds change points in each scenario's history,
 * and alerts the ones not alerted before (a change point that moves by a
 * night as history grows is the same change). Alerts are stored and written
 * under <dataDir>/reports; mail and GitHub issues plug in here.
 */
export async function trackNightly(
  store: PerfHistory,
  result: NightlyResult,
  o: { config: Config; log: Logger },
): Promise<PerfAlert[]> {
  await store.recordNightly(result.points);
  const sent: PerfAlert[] = [];
  for (const scenario of await store.nightlyScenarios(result.tree)) {
    const series = currentSeries(await store.nightlyHistory(result.tree, scenario));
    const cpo = changePointOptions(o.config, series.clock);
    const history: HistoryPoint[] = series.points.map((p) => ({
      commit: p.commit,
      time: p.measuredAt,
      value: p.value,
    }));
    const points = detectChangePoints(history, cpo);
    const alerted = (await store.alerts(result.tree, scenario)).map((a) => ({
      scenario,
      firstChanged: a.firstChanged,
      lastGood: a.lastGood,
      direction: a.direction,
    }));
    for (const cp of pendingAlerts(scenario, history, points, alerted)) {
      const report = nightlyAlertText(result.tree, scenario, cp, history);
      const alert: PerfAlert = {
        tree: result.tree,
        scenario,
        lastGood: cp.lastGood,
        firstChanged: cp.firstChanged,
        direction: cp.direction,
        change: cp.change,
        p: cp.p,
        report,
      };
      await store.recordAlert(alert);
      const dir = join(o.config.dataDir, 'reports');
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, `nightly-${result.tree}-${scenario.replace(/\//g, '_')}-${cp.firstChanged.slice(0, 12)}.txt`),
        report,
      );
      o.log.warn(
        { tree: result.tree, scenario, change: cp.change, lastGood: cp.lastGood, firstChanged: cp.firstChanged },
        `nightly: throughput ${cp.direction}`,
      );
      sent.push(alert);
    }
  }
  return sent;
}

/**
 * Bisects a nightly change point's commit range (lastGood..firstChanged,
 * first-parent: the tree's own history of merges, as a maintainer reads it)
 * for the commit that moved one scenario: each probe builds that commit and
 * compares it with lastGood, A/B on one runner.
 */
export async function bisectRange(
  config: Config,
  treeName: string,
  range: { good: string; bad: string; scenario: string },
  o: { log: Logger; signal?: AbortSignal; redis?: () => import('ioredis').Redis; onProgress?: (m: string) => void },
): Promise<BisectResult & { commits: number }> {
  const [suiteName, scenarioName] = range.scenario.split('/');
  if (!suiteName || !scenarioName)
    throw new UsageError(`scenario "${range.scenario}" is not <suite>/<scenario> (as ksci nightly show names them)`);
  const suite = loadPerfSuite(config, suiteName);
  const { tree, builderFor } = await treeBuilders(config, treeName, o);
  const git = gitAt(tree.gitDir, o.signal);
  const lines = (await git.raw(['log', '--first-parent', '--reverse', '--format=%H %s', `${range.good}..${range.bad}`]))
    .trim()
    .split('\n')
    .filter(Boolean);
  if (lines.length === 0)
    throw new UsageError(`${range.good.slice(0, 12)}..${range.bad.slice(0, 12)} has no commits on ${treeName}`);
  const builder = builderFor(suite.config);
  const kernelAt = async (commit: string) => {
    const b = await builder.buildBase(commit);
    if (b.status !== 'ok')
      throw new InfraError(
        `${commit.slice(0, 12)} of ${treeName} does not build with config ${suite.config} (log: ${b.artifactDir}); bisect by hand from here`,
      );
    return join(b.artifactDir, 'bzImage');
  };
  const good = await kernelAt(range.good);
  const plan = perfPlan(config, perfScenarios(suite, config.perf.set, [scenarioName]));
  const { runner, exclusive } = await perfRunner(config, suite, {
    tree: treeName,
    log: o.log,
    ...(o.redis ? { redis: o.redis } : {}),
  });
  const prefixes = lines.map((l, i) => {
    const commit = l.slice(0, 40);
    return { counter: i + 1, title: `${commit.slice(0, 12)} ${l.slice(41)}`, kernel: () => kernelAt(commit) };
  });
  const result = await exclusive(
    (signal) =>
      bisectSeries(runner, plan, good, prefixes, scenarioName, {
        thresholds: perfThresholds(config, runner.clock.name, plan),
        unit: config.perf.sampleUnit,
        outDir: join(config.dataDir, 'nightly', `bisect-${range.good.slice(0, 12)}-${range.bad.slice(0, 12)}`),
        log: o.log,
        signal: signal ?? o.signal,
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      }),
    o.signal,
  );
  return { ...result, commits: lines.length };
}
