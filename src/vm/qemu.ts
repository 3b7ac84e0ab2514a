import { accessSync, closeSync, constants, fstatSync, mkdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { openRegular } from '../sandbox/outputs.js';
import { runSandboxed, type SandboxRun } from '../sandbox/run.js';
import { ChannelReader, type ChannelState } from './protocol.js';

export type Accel = 'kvm' | 'tcg';

export interface VmMachine {
  kernel: string;
  initramfs: string;
  memoryMiB: number;
  cpus: number;
  accel: Accel;
  /** Extra kernel command line. */
  append: string[];
  /** Count instructions instead of running guest time off the host's clock (TCG only); null or absent: off. */
  icount?: IcountSettings | null;
}

/**
 * QEMU's instruction counting (`-icount`): guest time advances by 2^shift ns
 * per executed instruction, so a guest's own timing (pktgen's pps) becomes a
 * count of instructions and no longer moves with host load. sleep=off: an
 * idle guest skips ahead to its next timer instead of waiting in real time;
 * align=off: guest time is not slowed to host time.
 */
export interface IcountSettings {
  shift: number;
  sleep: boolean;
  align: boolean;
}

export function icountArg(i: IcountSettings): string {
  return `shift=${i.shift},sleep=${i.sleep ? 'on' : 'off'},align=${i.align ? 'on' : 'off'}`;
}

export interface VmLimits {
  /** From QEMU's start to the init's BEGIN marker. */
  bootTimeoutMs: number;
  /** The whole boot, all tests, and shutdown. */
  runTimeoutMs: number;
  /** Added to a test's own timeout before the host gives up on the guest (the guest's watchdog acts first). */
  testGraceMs: number;
  /** Console and channel together; a kernel printing in a loop is stopped here. */
  maxOutputBytes: number;
}

/** Why the host stopped the VM; null when the guest powered off (or crashed, panic=-1 and -no-reboot make QEMU exit). */
export type VmStop =
  | 'boot-timeout'
  | 'test-timeout'
  | 'run-timeout'
  | 'shutdown-timeout'
  | 'output-flood'
  | 'cancelled'
  | 'kvm-failed';

export interface VmRun {
  consoleFile: string;
  channelFile: string;
  channel: ChannelState;
  stoppedBy: VmStop | null;
  /** The test the host was waiting for when it stopped the VM. */
  stoppedDuring: string | null;
  qemuExitCode: number | null;
  durationMs: number;
  /** Host time from QEMU's start to the init's first marker. */
  bootMs: number | null;
  accel: Accel;
}

/**
 * The kernel command line: panic=-1 with -no-reboot turns a panic into
 * QEMU exiting, and oops=panic makes an oops end the run there, with the
 * oops on the console, instead of leaving a half-dead kernel to time out.
 */
export function kernelCmdline(extra: string[]): string {
  return [
    'console=ttyS0,115200',
    'panic=-1',
    'oops=panic',
    'softlockup_panic=1',
    'printk.devkmsg=on',
    'rdinit=/init',
    ...extra,
  ].join(' ');
}

/**
 * Kernel arguments as a user gives them ("init_on_free=1 slub_debug=F"):
 * words of the characters kernel parameters use. A quote, a newline or a
 * shell character would reach the kernel's command line (or a kexec
 * invocation) unparsed, so it is refused, not passed.
 */
export function parseKernelArgs(v: string | undefined): string[] {
  const args = (v ?? '').split(/\s+/).filter(Boolean);
  const bad = args.find((a) => !/^[A-Za-z0-9_.,:=/+-]+$/.test(a));
  if (bad) throw new UsageError(`kernel argument "${bad}" has characters ksci does not pass to a kernel command line`);
  return args;
}

/**
 * TCG runs all vCPUs on one host thread (thread=single). With one thread per
 * vCPU, a guest that patches its own code while another vCPU runs it (static
 * keys: text_poke_bp's int3 protocol) can execute the int3 after the patch is
 * done and oops. Seen here on loaded hosts as "Oops: int3 in sched_clock_cpu",
 * when the clocksource watchdog marks the TSC unstable and the sched_clock
 * key flips; BPF tests flip static keys all the time. One thread also boots
 * no slower here (measured: 4.0 s vs 5.0 s for one guest, 4.8 s vs 6.0 s for
 * two at once on 2 cores).
 */
export function accelArg(accel: Accel): string {
  return accel === 'kvm' ? 'kvm' : 'tcg,thread=single';
}

export function qemuArgs(m: VmMachine, paths: { channel: string }): string[] {
  if (m.icount && m.accel !== 'tcg') throw new Error('qemuArgs: -icount needs TCG');
  return [
    '-accel',
    accelArg(m.accel),
    ...(m.icount ? ['-icount', icountArg(m.icount)] : []),
    '-cpu',
    m.accel === 'kvm' ? 'host' : 'max',
    '-m',
    String(m.memoryMiB),
    '-smp',
    String(m.cpus),
    '-nodefaults',
    '-display',
    'none',
    '-monitor',
    'none',
    '-no-reboot',
    // ttyS0: the kernel console, on QEMU's stdout; ttyS1: the init's channel.
    '-serial',
    'stdio',
    '-serial',
    `file:${paths.channel}`,
    '-nic',
    'none',
    '-kernel',
    m.kernel,
    '-initrd',
    m.initramfs,
    '-append',
    kernelCmdline(m.append),
  ];
}

/** Whether this host can give QEMU KVM at all; whether KVM really works shows only when a guest runs. */
export function kvmDevice(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export interface RunVmOptions {
  machine: VmMachine;
  /** The boot's nonce, as written into the guest's /ksci/env. */
  nonce: string;
  /** Timeouts (seconds) of the planned tests, by name: the host's watchdog follows the guest's. */
  testTimeouts: Map<string, number>;
  limits: VmLimits;
  /** Console and channel files go here. */
  outDir: string;
  log: Logger;
  signal?: AbortSignal | undefined;
  onProgress?: (message: string) => void;
}

const QEMU_INSIDE = { kernel: '/ksci/vm/kernel', initramfs: '/ksci/vm/initramfs', out: '/ksci/out' };
const QEMU_OVERHEAD_MIB = 1536;

/**
 * Where a boot's files go in its output directory. QEMU writes only the
 * channel, in a directory of its own: the console is written by the worker
 * from QEMU's stdout, out of reach of a QEMU the guest may have subverted.
 */
export function vmOutputFiles(outDir: string): { consoleFile: string; channelFile: string; qemuDir: string } {
  const qemuDir = join(outDir, 'qemu');
  return { consoleFile: join(outDir, 'console.log'), channelFile: join(qemuDir, 'channel.log'), qemuDir };
}
const POLL_MS = 200;
const SHUTDOWN_MS = 30_000;

/**
 * Boots one VM and watches it until it powers off, crashes, hangs or is
 * cancelled. QEMU itself runs in the sandbox: the guest kernel is built from
 * untrusted patches, and an emulator bug must not hand it the worker.
 */
export async function runVm(opts: RunVmOptions): Promise<VmRun> {
  const m = opts.machine;
  const { consoleFile, channelFile, qemuDir } = vmOutputFiles(opts.outDir);
  mkdirSync(qemuDir, { recursive: true });
  const reader = new ChannelReader(opts.nonce);
  const stopper = new AbortController();
  let stoppedBy: VmStop | null = null;
  let stoppedDuring: string | null = null;
  const stop = (why: VmStop) => {
    if (stoppedBy) return;
    stoppedBy = why;
    stoppedDuring = reader.state.current?.name ?? null;
    stopper.abort();
  };
  const onCancel = () => stop('cancelled');
  opts.signal?.addEventListener('abort', onCancel, { once: true });
  if (opts.signal?.aborted) onCancel();

  const started = Date.now();
  let bootMs: number | null = null;
  let endedAt: number | null = null;
  let offset = 0;
  let partial = '';
  let lastTest: string | null = null;
  let testDeadline = Infinity;
  const poll = () => {
    offset = drain(channelFile, offset, (text) => (partial = reader.feed(partial + text)));
    const s = reader.state;
    const now = Date.now();
    if (s.begun && bootMs === null) {
      bootMs = now - started;
      opts.onProgress?.(`booted ${s.kernelRelease ?? ''} in ${(bootMs / 1000).toFixed(1)} s`);
    }
    const current = s.current?.name ?? null;
    if (current !== lastTest) {
      lastTest = current;
      testDeadline = current ? now + (opts.testTimeouts.get(current) ?? 0) * 1000 + opts.limits.testGraceMs : Infinity;
      if (current) opts.onProgress?.(`test ${s.tests.length}/${opts.testTimeouts.size}: ${current}`);
    }
    if (s.ended && endedAt === null) endedAt = now;
    if (!s.begun && now - started > opts.limits.bootTimeoutMs) stop('boot-timeout');
    else if (now > testDeadline) stop('test-timeout');
    else if (endedAt !== null && now - endedAt > SHUTDOWN_MS) stop('shutdown-timeout');
    else if (now - started > opts.limits.runTimeoutMs) stop('run-timeout');
  };
  const timer = setInterval(poll, POLL_MS);

  const machine = { ...m, kernel: QEMU_INSIDE.kernel, initramfs: QEMU_INSIDE.initramfs };
  const argv = ['qemu-system-x86_64', ...qemuArgs(machine, { channel: `${QEMU_INSIDE.out}/channel.log` })];
  opts.log.debug({ argv }, 'starting qemu');
  let kvmFailed = false;
  let result: SandboxRun;
  try {
    result = await runSandboxed(
      {
        binds: [
          { host: m.kernel, inside: QEMU_INSIDE.kernel, writable: false },
          { host: m.initramfs, inside: QEMU_INSIDE.initramfs, writable: false },
          { host: qemuDir, inside: QEMU_INSIDE.out, writable: true },
        ],
        devices: m.accel === 'kvm' ? ['/dev/kvm'] : [],
        cwd: QEMU_INSIDE.out,
        env: { PATH: '/usr/bin:/bin', HOME: QEMU_INSIDE.out },
        argv,
        limits: {
          cpuSeconds: Math.ceil((opts.limits.runTimeoutMs / 1000) * (m.cpus + 1)),
          fileBytes: opts.limits.maxOutputBytes,
          // Guest RAM, TCG's translation cache (up to 1 GiB) and QEMU itself.
          memoryBytes: (m.memoryMiB + QEMU_OVERHEAD_MIB) * 2 ** 20,
          pids: 512,
          tmpBytes: 64 * 2 ** 20,
        },
      },
      {
        logFile: consoleFile,
        timeoutMs: opts.limits.runTimeoutMs + 60_000,
        signal: stopper.signal,
        diskWatch: { dir: opts.outDir, maxBytes: opts.limits.maxOutputBytes, everyMs: 2_000 },
        onLine: (line) => {
          // Nested virtualisation can offer /dev/kvm and still fail the guest's first instructions.
          if (line.includes('KVM internal error') || line.includes('failed to initialize kvm')) {
            kvmFailed = true;
            stop('kvm-failed');
          }
        },
      },
    );
  } finally {
    clearInterval(timer);
    opts.signal?.removeEventListener('abort', onCancel);
  }
  poll();
  if (partial) reader.line(partial);
  if (result.killed === 'disk') stoppedBy ??= 'output-flood';
  if (result.killed === 'timeout') stoppedBy ??= 'run-timeout';
  return {
    consoleFile,
    channelFile,
    channel: reader.state,
    stoppedBy: kvmFailed ? 'kvm-failed' : stoppedBy,
    stoppedDuring,
    qemuExitCode: result.exitCode,
    durationMs: Date.now() - started,
    bootMs,
    accel: m.accel,
  };
}

/** Reads what was appended to a file since `offset`; never through a link (QEMU's directory is the sandbox's). */
function drain(file: string, offset: number, onText: (text: string) => void): number {
  let fd: number;
  try {
    fd = openRegular(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return offset; // QEMU has not created it yet.
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    if (size <= offset) return offset;
    const buf = Buffer.alloc(size - offset);
    const n = readSync(fd, buf, 0, buf.length, offset);
    onText(buf.subarray(0, n).toString('utf8'));
    return offset + n;
  } finally {
    closeSync(fd);
  }
}
