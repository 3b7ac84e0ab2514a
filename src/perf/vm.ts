import { join } from 'node:path';
import type { KnownSplat } from '../splat/splat.js';
import type { Suite, SuiteTest } from '../suite/suite.js';
import { runGuest, type GuestOptions } from '../vm/guest.js';
import { judgeVm } from '../vm/outcome.js';
import type { PerfClock } from './clock.js';
import type { PerfRunner, PerfSessionFailure, PerfSessionRequest, PerfSessionResult } from './runner.js';

export interface VmPerfRunnerOptions
  extends Pick<GuestOptions, 'memoryMiB' | 'cpus' | 'accel' | 'limits' | 'busybox' | 'modules'> {
  suite: Suite;
  /** Built tools and other files the guest needs (on PATH as /ksci/bin/<name>). */
  tools: { name: string; path: string }[];
  known: KnownSplat[];
  tree: string;
  clock: PerfClock;
}

/** The name a repetition has in the guest's plan: `dummy-xmit.r2`, `dummy-xmit.w1` for a warm-up. */
export function runName(scenario: string, rep: number, warmup: boolean): string {
  return `${scenario}.${warmup ? 'w' : 'r'}${rep}`;
}

/**
 * Runs a session's repetitions in one QEMU boot through the test stage's
 * guest: the same init, channel, watchdogs and crash/hang verdicts, so a
 * series that panics under pktgen says so instead of "0 pps".
 */
export class VmPerfRunner implements PerfRunner {
  readonly name = 'vm';
  readonly clock: PerfClock;

  constructor(private readonly o: VmPerfRunnerOptions) {
    this.clock = o.clock;
  }

  async session(req: PerfSessionRequest): Promise<PerfSessionResult> {
    const tests: SuiteTest[] = req.runs.map((r) => ({
      name: runName(r.scenario.name, r.rep, r.warmup),
      run: r.scenario.run,
      env: r.scenario.env,
      timeoutSeconds: r.scenario.timeoutSeconds,
    }));
    const g = await runGuest({
      kernel: req.kernel,
      suite: this.o.suite,
      tests,
      memoryMiB: this.o.memoryMiB,
      cpus: this.o.cpus,
      accel: this.o.accel,
      icount: this.clock.name === 'icount' ? this.clock.icount : null,
      append: req.append,
      limits: this.o.limits,
      busybox: this.o.busybox,
      ...(this.o.modules ? { modules: this.o.modules } : {}),
      extraFiles: this.o.tools.map((t) => ({ host: t.path, guest: `/ksci/bin/${t.name}` })),
      tree: this.o.tree,
      bootIndex: req.round,
      outDir: join(req.outDir, `${req.label}-${req.round}`),
      log: req.log,
      signal: req.signal,
    });
    const outcome = judgeVm(g, this.o.known, this.o.tree);
    const byName = new Map(g.channel.tests.map((t) => [t.name, t]));
    const runs = req.runs.flatMap((r) => {
      const t = byName.get(runName(r.scenario.name, r.rep, r.warmup));
      if (!t || t.endedAt === null) return [];
      return [
        {
          scenario: r.scenario.name,
          rep: r.rep,
          warmup: r.warmup,
          exitCode: t.exitCode,
          timedOut: t.timedOut,
          output: t.output.slice(-40),
          files: t.files,
        },
      ];
    });
    const kind: PerfSessionFailure | null =
      outcome.verdict === 'completed'
        ? null
        : outcome.verdict === 'infra-error' && outcome.reason === 'cancelled'
          ? 'cancelled'
          : outcome.verdict;
    return {
      failure: kind ? { kind, reason: outcome.reason, excerpt: outcome.excerpt } : null,
      runs,
      kernelRelease: outcome.kernelRelease,
      splats: outcome.splats,
      logFile: g.consoleFile,
      where: `qemu ${g.accel}${this.clock.name === 'icount' ? ' icount' : ''} ${this.o.cpus} vCPU${this.o.cpus === 1 ? '' : 's'}`,
    };
  }
}
