import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { BareMetalRunner } from './baremetal.js';
import { withHostLock } from './hostlock.js';
import type { Config } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { loadKnownSplats } from '../splat/known.js';
import { vmSettings } from '../vm/settings.js';
import { loadSuite, suitesDir, type Suite } from '../suite/suite.js';
import { buildSuiteTools } from '../suite/tools.js';
import type { AbPlan } from './ab.js';
import type { PerfRunner, PerfScenario } from './runner.js';
import { type ClockName, type PerfClock, resolveClock } from './clock.js';
import type { SequentialThresholds } from './sequential.js';
import { VmPerfRunner } from './vm.js';
import { kvmDevice } from '../vm/qemu.js';

/** A perf suite (kind: perf) by name; a pass/fail suite here is a usage error. */
export function loadPerfSuite(config: Config, name: string): Suite {
  const suite = loadSuite(suitesDir(config.test.suitesDir), name);
  if (suite.kind !== 'perf')
    throw new UsageError(
      `suite ${name} is not a perf suite (its suite.yaml says kind: ${suite.kind})`,
      'perf suites: pktgen',
    );
  return suite;
}

/** The suite's scenarios with the parameters a run uses: suite defaults, then the scenario's, then `set` (config, then command line). */
export function perfScenarios(suite: Suite, set: Record<string, string>, only?: string[]): PerfScenario[] {
  const unknown = (only ?? []).filter((n) => !suite.tests.some((t) => t.name === n));
  if (unknown.length)
    throw new UsageError(
      `suite ${suite.name} has no scenario(s) ${unknown.join(', ')}`,
      `its scenarios: ${suite.tests.map((t) => t.name).join(', ')}`,
    );
  return suite.tests
    .filter((t) => !only || only.includes(t.name))
    .map((t) => ({
      name: t.name,
      description: t.description ?? t.name,
      run: t.run,
      env: { ...t.env, ...set },
      timeoutSeconds: t.timeoutSeconds,
    }));
}

export function perfPlan(
  config: Config,
  scenarios: PerfScenario[],
  override: Partial<Pick<AbPlan, 'rounds' | 'minRounds' | 'warmup' | 'repetitions'>> = {},
): AbPlan {
  const p = config.perf;
  const rounds = override.rounds ?? p.rounds;
  const minRounds = override.minRounds ?? Math.min(p.minRounds, rounds);
  if (minRounds < 2) throw new UsageError('the first look needs at least 2 rounds (a t interval needs two)');
  if (minRounds > rounds)
    throw new UsageError(`at least ${minRounds} rounds before the first look, but a budget of only ${rounds}`);
  return {
    scenarios,
    rounds,
    minRounds,
    warmup: override.warmup ?? p.warmup,
    repetitions: override.repetitions ?? p.repetitions,
  };
}

/**
 * The verdict's thresholds per clock (config perf.thresholds.<clock> over
 * these). icount: measured A/A rounds of Debian's 6.12 under icount differ
 * by ~0.03-0.04% (bench/perf-verdict.ts), so a 0.5% band is ten times the
 * noise, and the floor (0.05%) keeps three equal rounds from claiming more.
 * wall: today's policy, 2% to call a change, 3% to call none, with a 0.5%
 * floor since no wall-clock boot repeats closer than that.
 */
export const CLOCK_THRESHOLDS: Record<ClockName, Omit<SequentialThresholds, 'minRounds' | 'maxRounds'>> = {
  icount: { minChange: 0.005, equivalence: 0.005, alpha: 0.01, noiseFloor: 0.0005 },
  wall: { minChange: 0.02, equivalence: 0.03, alpha: 0.01, noiseFloor: 0.005 },
};

export function perfThresholds(
  config: Config,
  clock: ClockName,
  plan: Pick<AbPlan, 'rounds' | 'minRounds'>,
): SequentialThresholds {
  return {
    ...CLOCK_THRESHOLDS[clock],
    ...config.perf.thresholds[clock],
    minRounds: plan.minRounds,
    maxRounds: plan.rounds,
  };
}

export interface PreparedRunner {
  runner: PerfRunner;
  /**
   * Runs fn holding what the runner must have to itself: a bare-metal
   * host's lock (one perf job per host, across workers); nothing for a VM.
   */
  exclusive<T>(fn: (signal: AbortSignal | undefined) => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/** How long a host lock lives without renewal: a worker that dies frees its host after this. */
const HOST_LOCK_TTL_MS = 60_000;

/**
 * The runner config.perf.runner names. "vm": QEMU on this machine, with the
 * test stage's guest and limits and the perf section's VM shape. A host
 * name: that bare-metal host over SSH, under its lock in Redis.
 */
export async function perfRunner(
  config: Config,
  suite: Suite,
  o: {
    tree: string;
    log: Logger;
    redis?: () => Redis;
    modules?: string[];
    accel?: 'auto' | 'kvm' | 'tcg';
    clock?: 'auto' | ClockName;
  },
): Promise<PreparedRunner> {
  const want = o.clock ?? config.perf.clock;
  const tools = await buildSuiteTools(suite, join(config.dataDir, 'cache'));
  const known = loadKnownSplats(config);
  if (config.perf.runner !== 'vm') {
    const host = config.perf.hosts.find((h) => h.name === config.perf.runner);
    if (!host) throw new UsageError(`perf.runner "${config.perf.runner}" is neither "vm" nor one of perf.hosts`);
    if (want === 'icount')
      throw new UsageError(
        `the clock icount is QEMU's; the bare-metal host ${host.name} measures with the wall clock`,
        'use --clock wall (or perf.clock: auto)',
      );
    if (!o.redis)
      throw new UsageError(`the bare-metal host ${host.name} is locked through Redis, and this command has none`);
    const redis = o.redis;
    const runner = new BareMetalRunner(host, {
      scenarioDir: suite.dir,
      tools: tools.map((t) => ({ host: t.path, name: t.name })),
      known,
      tree: o.tree,
      log: o.log,
    });
    return {
      runner,
      async exclusive(fn, signal) {
        const client = redis();
        try {
          return await withHostLock(client, host.name, HOST_LOCK_TTL_MS, fn, {
            ...(signal ? { signal } : {}),
            onWait: () => o.log.info({ host: host.name }, 'waiting for the host: another perf job holds it'),
          });
        } finally {
          client.disconnect();
        }
      },
    };
  }
  const vm = vmSettings(config, suite);
  const accel = o.accel ?? vm.accel;
  if (want === 'icount' && accel === 'kvm')
    throw new UsageError(
      'the clock icount counts instructions under TCG, and the accelerator asked for is KVM',
      'use --accel tcg, or --clock wall',
    );
  const resolvedAccel = accel === 'auto' ? (want === 'icount' || !kvmDevice() ? 'tcg' : 'kvm') : accel;
  const clock: PerfClock =
    resolveClock(want, { runner: 'vm', accel: resolvedAccel }) === 'icount'
      ? { name: 'icount', icount: config.perf.icount }
      : { name: 'wall' };
  const runner = new VmPerfRunner({
    suite,
    tools,
    known,
    tree: o.tree,
    memoryMiB: suite.vm.memoryMiB ?? config.perf.memoryMiB,
    cpus: suite.vm.cpus ?? config.perf.cpus,
    accel: clock.name === 'icount' ? 'tcg' : accel,
    clock,
    limits: vm.limits,
    busybox: vm.busybox,
    modules: [...config.perf.modules, ...(o.modules ?? [])],
  });
  return { runner, exclusive: (fn, signal) => fn(signal) };
}
