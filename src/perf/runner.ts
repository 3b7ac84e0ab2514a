/**
 * The contract between the perf stage and whatever boots a kernel and runs
 * pktgen scenarios on it: a QEMU guest (src/perf/vm.ts) or a bare-metal
 * host over SSH (src/perf/baremetal.ts). A runner only runs what it is told
 * and hands back what the scenarios left; ordering the sessions (A B A B),
 * parsing pktgen's files and the statistics live above it.
 */
import type { Logger } from '../log.js';
import type { PerfClock } from './clock.js';
import type { SplatSummary } from '../vm/outcome.js';

/** One pktgen scenario, as selftests/pktgen/suite.yaml describes it. */
export interface PerfScenario {
  name: string;
  description: string;
  /** Shell command run in the scenario directory (a copy of selftests/pktgen). */
  run: string;
  /** PKTGEN_* parameters for the command. */
  env: Record<string, string>;
  timeoutSeconds: number;
}

/** One repetition of a scenario in a session. */
export interface PerfRunSpec {
  scenario: PerfScenario;
  /** 1-based within the session; warm-up runs are numbered apart. */
  rep: number;
  /** Warm-up runs are run and discarded: they fill caches and settle frequency. */
  warmup: boolean;
}

export interface PerfSessionRequest {
  /** bzImage on this machine. */
  kernel: string;
  label: 'base' | 'series';
  /** Which A/B round this session is (1-based). */
  round: number;
  /** Run in this order, all in one boot. */
  runs: PerfRunSpec[];
  /** Kernel arguments for this side's boots (a planted cost: `init_on_free=1`). */
  append: string[];
  /** Console/dmesg and per-run files are kept here. */
  outDir: string;
  log: Logger;
  signal?: AbortSignal | undefined;
}

/** What one repetition left behind. */
export interface PerfRunOutput {
  scenario: string;
  rep: number;
  warmup: boolean;
  exitCode: number | null;
  timedOut: boolean;
  /** The end of what the scenario printed. */
  output: string[];
  /** Files the scenario wrote to $KSCI_RESULTS: pktgen.<dev>@<thread>, env, ... */
  files: Record<string, Buffer>;
}

export type PerfSessionFailure =
  | 'boot-failure'
  | 'kernel-crash'
  | 'hang'
  | 'wrong-kernel'
  | 'infra-error'
  | 'cancelled';

export interface PerfSessionResult {
  /** Null when the kernel booted and every run got its turn (a run may still have failed: see its exit code). */
  failure: { kind: PerfSessionFailure; reason: string; excerpt: string[] } | null;
  runs: PerfRunOutput[];
  /** `uname -r` as the booted kernel said it. */
  kernelRelease: string | null;
  /** Splats the kernel printed during the session (not on the known list). */
  splats: SplatSummary[];
  /** The console (VM) or dmesg (host) of the session, on this machine. */
  logFile: string;
  /** Where it ran, for the samples' environment: "qemu tcg 2 vCPUs", "host perf-1". */
  where: string;
}

export interface PerfRunner {
  /** For logs and reports: "vm" or "host <name>". */
  readonly name: string;
  /** What times its sessions; every sample records it. */
  readonly clock: PerfClock;
  session(req: PerfSessionRequest): Promise<PerfSessionResult>;
}
