/**
 * What a VM run means: a verdict for the boot (it completed, the kernel
 * crashed, the guest hung, the kernel never reached the init, or the
 * infrastructure failed) and a status per test. Pure: it reads the channel
 * state, the console text and how the host stopped QEMU.
 */
import { classifySplats, consoleLines, findSplats, type KnownSplat, type Splat } from '../splat/splat.js';
import { expandRunner } from '../bpf/expand.js';
import type { SuiteTest } from '../suite/suite.js';
import type { ChannelState, ChannelTest } from './protocol.js';
import type { VmStop } from './qemu.js';

export type VmVerdict = 'completed' | 'kernel-crash' | 'hang' | 'boot-failure' | 'infra-error';
export type TestStatus = 'pass' | 'fail' | 'skip' | 'timeout' | 'crash' | 'hang' | 'not-run';

/** kselftest's convention (KSFT_SKIP): a test that cannot run here exits 4. */
export const SKIP_EXIT_CODE = 4;
const OUTPUT_TAIL = 40;
const CONSOLE_TAIL = 40;

export interface SplatSummary {
  kind: string;
  title: string;
  fingerprint: string;
  /** The test running when the kernel printed it (null: during boot or shutdown). */
  test: string | null;
  excerpt: string[];
}

export interface TestOutcome {
  name: string;
  status: TestStatus;
  exitCode: number | null;
  seconds: number | null;
  /** The end of what the test printed. */
  output: string[];
}

export interface VmOutcome {
  verdict: VmVerdict;
  /** One line: why the verdict. */
  reason: string;
  /** The console lines that show it (the splat, the last lines before a hang...). */
  excerpt: string[];
  /** Splats not on the known list: any of them fails the run, even if every test passed. */
  splats: SplatSummary[];
  ignoredSplats: (SplatSummary & { reason: string })[];
  tests: TestOutcome[];
  kernelRelease: string | null;
  bootSeconds: number | null;
  durationMs: number;
  accel: string;
}

export interface VmEvidence {
  channel: ChannelState;
  console: string;
  stoppedBy: VmStop | null;
  stoppedDuring: string | null;
  qemuExitCode: number | null;
  tests: SuiteTest[];
  durationMs: number;
  accel: string;
}

const CRASH_KINDS = new Set(['panic', 'oops', 'bug', 'boot-failure']);
const TEST_MARK = /ksci: test (\S+) start/;

export function judgeVm(e: VmEvidence, known: KnownSplat[], tree: string): VmOutcome {
  const lines = consoleLines(e.console);
  const testAt = testStarts(lines);
  const summarise = (s: Splat): SplatSummary => ({
    kind: s.kind,
    title: s.title,
    fingerprint: s.fingerprint,
    test: testAt(s.line),
    excerpt: s.excerpt,
  });
  const { fatal, ignored } = classifySplats(findSplats(e.console), known, tree);
  const splats = fatal.map(summarise);
  const ignoredSplats = ignored.map((i) => ({ ...summarise(i.splat), reason: i.reason }));
  const crash = fatal.find((s) => CRASH_KINDS.has(s.kind));
  const ch = e.channel;
  const base = {
    splats,
    ignoredSplats,
    kernelRelease: ch.kernelRelease,
    bootSeconds: ch.bootSeconds,
    durationMs: e.durationMs,
    accel: e.accel,
  };
  const tail = (n = CONSOLE_TAIL) => lines.slice(-n);

  let verdict: VmVerdict;
  let reason: string;
  let excerpt: string[];
  if (e.stoppedBy === 'cancelled') {
    [verdict, reason, excerpt] = ['infra-error', 'cancelled', []];
  } else if (e.stoppedBy === 'kvm-failed') {
    [verdict, reason, excerpt] = ['infra-error', 'QEMU could not run the guest with KVM', tail(5)];
  } else if (!ch.begun) {
    verdict = 'boot-failure';
    if (crash) [reason, excerpt] = [`the kernel crashed before the init started: ${crash.title}`, crash.excerpt];
    else if (e.stoppedBy === 'boot-timeout')
      [reason, excerpt] = ['the init did not start before the boot timeout', tail()];
    else if (e.stoppedBy) [reason, excerpt] = [`stopped (${e.stoppedBy}) before the init started`, tail()];
    else if (lines.every((l) => l.trim() === ''))
      [verdict, reason, excerpt] = [
        'infra-error',
        `QEMU exited (code ${e.qemuExitCode}) without any console output`,
        [],
      ];
    else [reason, excerpt] = [`the guest exited (QEMU code ${e.qemuExitCode}) before the init started`, tail()];
  } else if (ch.ended) {
    [verdict, reason, excerpt] = ['completed', 'all tests ran', []];
  } else if (crash) {
    [verdict, reason, excerpt] = [
      'kernel-crash',
      `${crash.title}${e.channel.current ? ` (during ${e.channel.current.name})` : ''}`,
      crash.excerpt,
    ];
  } else if (e.stoppedBy === 'test-timeout' || e.stoppedBy === 'run-timeout') {
    const during = e.stoppedDuring ?? ch.current?.name ?? null;
    const limit = e.tests.find((t) => t.name === during)?.timeoutSeconds;
    verdict = 'hang';
    reason = during
      ? `the guest stopped responding during ${during}: its ${limit} s timeout passed and the guest's own watchdog did not end it`
      : 'the guest stopped responding (run timeout)';
    excerpt = [...tail(20), ...(ch.current ? ['--- the test printed last:', ...ch.current.output.slice(-10)] : [])];
  } else if (e.stoppedBy === 'output-flood') {
    [verdict, reason, excerpt] = ['hang', 'the guest flooded the console and was stopped', tail(20)];
  } else if (e.stoppedBy === 'shutdown-timeout') {
    [verdict, reason, excerpt] = ['hang', 'the guest did not power off after its tests', tail(20)];
  } else {
    // QEMU exited mid-run with no panic on the console: a triple fault or a reset.
    [verdict, reason, excerpt] = [
      'kernel-crash',
      `the guest died${ch.current ? ` during ${ch.current.name}` : ''} without a panic message (QEMU code ${e.qemuExitCode})`,
      tail(),
    ];
  }

  return { verdict, reason, excerpt, ...base, tests: testOutcomes(e, verdict) };
}

/**
 * One outcome per planned test; a BPF selftests runner's results also
 * become one outcome per test it ran (`runner:test/subtest` for
 * test_progs), and the runner's own outcome is kept only when it says more
 * than they do (it crashed, hung, timed out, or printed no results).
 */
function testOutcomes(e: VmEvidence, verdict: VmVerdict): TestOutcome[] {
  const seen = new Map(e.channel.tests.map((t) => [t.name, t]));
  const kinds = new Map(e.tests.map((t) => [t.name, t.results ?? 'exit-code']));
  const own = runnerOutcomes(e.tests, seen, verdict);
  return own.flatMap((o) => {
    const t = seen.get(o.name);
    const kind = kinds.get(o.name) ?? 'exit-code';
    if (!t || kind === 'exit-code') return [o];
    const died = o.status === 'crash' || o.status === 'hang' ? o.status : null;
    const expanded = expandRunner(kind, t, died);
    if (!expanded) return [o];
    const results: TestOutcome[] = expanded.results.map((r) => ({
      name: r.name,
      status: r.status,
      exitCode: null,
      seconds: null,
      output: r.log,
    }));
    return o.status === 'pass' || o.status === 'fail' ? results : [o, ...results];
  });
}

function runnerOutcomes(plan: SuiteTest[], seen: Map<string, ChannelTest>, verdict: VmVerdict): TestOutcome[] {
  return plan.map((planned) => {
    const t = seen.get(planned.name);
    if (!t) return { name: planned.name, status: 'not-run', exitCode: null, seconds: null, output: [] };
    const output = t.output.slice(-OUTPUT_TAIL);
    const seconds = t.endedAt !== null ? round(t.endedAt - t.startedAt) : null;
    if (t.endedAt === null) {
      // It was running when the guest went away.
      const status: TestStatus = verdict === 'hang' ? 'hang' : verdict === 'infra-error' ? 'not-run' : 'crash';
      return { name: t.name, status, exitCode: null, seconds: null, output };
    }
    const status: TestStatus = t.timedOut
      ? 'timeout'
      : t.exitCode === 0
        ? 'pass'
        : t.exitCode === SKIP_EXIT_CODE
          ? 'skip'
          : 'fail';
    return { name: t.name, status, exitCode: t.exitCode, seconds, output };
  });
}

/** Which test was running at a console line, from the marks the init writes to /dev/kmsg. */
function testStarts(lines: string[]): (line: number) => string | null {
  const marks: { line: number; test: string }[] = [];
  lines.forEach((l, i) => {
    const m = TEST_MARK.exec(l);
    if (m) marks.push({ line: i, test: m[1]! });
  });
  return (line) => {
    let current: string | null = null;
    for (const m of marks) {
      if (m.line > line) break;
      current = m.test;
    }
    return current;
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/** A test that did not pass, for retries and reports. */
export function failed(t: TestOutcome): boolean {
  return t.status !== 'pass' && t.status !== 'skip';
}
