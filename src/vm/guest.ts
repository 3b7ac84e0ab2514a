import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { GUEST_INIT, type Suite, type SuiteTest } from '../suite/suite.js';
import { shQuote } from '../shell.js';
import { buildInitramfs } from './initramfs.js';
import { type IcountSettings, kvmDevice, runVm, type Accel, type VmLimits, type VmRun } from './qemu.js';

export interface GuestOptions {
  /** bzImage to boot. */
  kernel: string;
  suite: Suite;
  /** The tests to run, in order (a subset of the suite's, for a retry or a shard). */
  tests: SuiteTest[];
  memoryMiB: number;
  cpus: number;
  accel: Accel | 'auto';
  /** Instruction counting (TCG only: `auto` then means TCG, `kvm` is refused). */
  icount?: IcountSettings | null;
  /** Kernel arguments after the suite's own (a perf side's `init_on_free=1`). */
  append?: string[];
  limits: VmLimits;
  /** Console and channel logs go here. */
  outDir: string;
  busybox: string;
  /** Build products for the guest besides the suite's own files (the BPF selftests). */
  extraFiles?: { host: string; guest: string }[];
  /** Kernel modules (.ko, uncompressed) the init loads before the tests: for kernels that build what a suite needs as modules. */
  modules?: string[];
  /** The tree the kernel is from: tests see it as $KSCI_TREE (per-tree deny lists). */
  tree?: string;
  /** Which boot of this kernel this is (1 = first): tests see it as $KSCI_BOOT. */
  bootIndex?: number;
  log: Logger;
  signal?: AbortSignal | undefined;
  onProgress?: (message: string) => void;
  /** Keep the initramfs (next to outDir) after the boot; it is deleted otherwise. */
  keepInitramfs?: boolean;
}

export interface GuestRun extends VmRun {
  console: string;
  tests: SuiteTest[];
  /** Where the initramfs was (still there only with keepInitramfs). */
  initramfs: string;
}

/** Once KVM failed on this host, later boots go straight to TCG. */
let kvmBroken = false;

/**
 * Boots the kernel with an initramfs made for these tests and returns what
 * the guest said. Nothing is judged here (outcome.ts does that).
 */
export async function runGuest(o: GuestOptions): Promise<GuestRun> {
  if (o.icount && o.accel === 'kvm') throw new UsageError('instruction counting (icount) runs under TCG, not KVM');
  mkdirSync(o.outDir, { recursive: true });
  const nonce = randomBytes(8).toString('hex');
  // Beside the output directory, not in it: the output's size cap is for what the guest prints.
  const initramfs = `${o.outDir}.initramfs.cpio.gz`;
  const { bytes } = await buildInitramfs(
    {
      init: GUEST_INIT,
      busybox: o.busybox,
      files: [
        ...o.suite.files.map((f) => ({ host: join(o.suite.dir, f), guest: join('/ksci/suite', f) })),
        ...(o.extraFiles ?? []),
        // Numbered: the init loads them in this order (a module before those that need it).
        ...(o.modules ?? []).map((m, i) => ({
          host: m,
          guest: `/ksci/modules/${String(i).padStart(3, '0')}-${basename(m)}`,
        })),
      ],
      binaries: o.suite.binaries,
      generated: [
        {
          guest: '/ksci/env',
          content: `KSCI_NONCE=${nonce}\nKSCI_SUITE=${o.suite.name}\nKSCI_WORKDIR=/ksci/suite\nKSCI_BOOT=${o.bootIndex ?? 1}\nKSCI_TREE=${o.tree ?? ''}\n`,
        },
        { guest: '/ksci/plan', content: o.tests.map((t, i) => `${i} ${t.timeoutSeconds} ${t.name}\n`).join('') },
        ...o.tests.map((t, i) => ({ guest: `/ksci/tests/${i}`, content: testScript(t, i), mode: 0o755 })),
        ...o.tests.flatMap((t, i) => (t.only ? [{ guest: `/ksci/only/${i}`, content: `${t.only.join('\n')}\n` }] : [])),
      ],
    },
    initramfs,
  );
  o.log.debug({ initramfs, bytes }, 'initramfs built');

  const accel: Accel = o.icount ? 'tcg' : o.accel === 'auto' ? (kvmDevice() && !kvmBroken ? 'kvm' : 'tcg') : o.accel;
  const boot = (a: Accel) =>
    runVm({
      machine: {
        kernel: o.kernel,
        initramfs,
        memoryMiB: o.memoryMiB,
        cpus: o.cpus,
        accel: a,
        append: [...o.suite.cmdline, ...(o.append ?? [])],
        icount: o.icount ?? null,
      },
      nonce,
      testTimeouts: new Map(o.tests.map((t) => [t.name, t.timeoutSeconds])),
      limits: o.limits,
      outDir: o.outDir,
      log: o.log,
      signal: o.signal,
      onProgress: o.onProgress,
    });
  try {
    let run = await boot(accel);
    // Nested virtualisation can offer /dev/kvm and still fail the guest (a QEMU
    // assertion on an MSR, "KVM internal error"): a guest that never reached
    // the init under KVM gets one boot under TCG before anything is concluded.
    if (accel === 'kvm' && o.accel === 'auto' && !run.channel.begun && run.stoppedBy !== 'cancelled') {
      const why =
        readQuiet(run.consoleFile)
          .split('\n')
          .find((l) => l.startsWith('qemu-system')) ??
        run.stoppedBy ??
        'no init marker';
      for (const f of [run.consoleFile, run.channelFile]) rmSync(f, { force: true });
      run = await boot('tcg');
      if (run.channel.begun) {
        kvmBroken = true;
        o.log.warn(
          { why },
          'KVM is offered but does not run guests here; using TCG from now on (test.accel: tcg skips the attempt)',
        );
      }
    }
    return { ...run, console: readQuiet(run.consoleFile), tests: o.tests, initramfs };
  } finally {
    if (!o.keepInitramfs) rmSync(initramfs, { force: true });
  }
}

/** A test's command as the init runs it: its environment exported first, quoted so no value is expanded. */
export function testScript(t: SuiteTest, index: number): string {
  const env = Object.entries(t.env ?? {}).map(([k, v]) => `export ${k}=${shQuote(v)}\n`);
  if (t.only) env.push(`export KSCI_ONLY=/ksci/only/${index}\n`);
  return `${env.join('')}${t.run}\n`;
}

function readQuiet(f: string): string {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
}
