/**
 * Boot to the first test: ksci's runner against bare QEMU with the same
 * kernel and the same initramfs, in the same run.
 *  - reference: `qemu-system-x86_64` started directly (no sandbox, no
 *    initramfs to build), timed from spawn to the first TEST-START marker
 *    on the channel (polled every 5 ms), then killed;
 *  - ksci: runGuest (initramfs built for the suite, QEMU in bubblewrap,
 *    the watchdog's polling), timed from the call to the same marker.
 * Reps alternate (ref, ksci, ...) so drift hits both; prints medians and the
 * ratio. The kernel: $KSCI_TEST_KERNEL or Debian's prebuilt 6.12
 * (scripts/test-kernel.sh).
 *   node dist/bench/vm-boot.js [reps=5] [accel=tcg]
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { median } from './stats.js';
import { silentLogger } from '../src/log.js';
import { packageRoot } from '../src/paths.js';
import { loadSuite } from '../src/suite/suite.js';
import { runGuest } from '../src/vm/guest.js';
import { qemuArgs, type Accel } from '../src/vm/qemu.js';

const reps = Number(process.argv[2] ?? 5);
const accel = (process.argv[3] ?? 'tcg') as Accel;
const kernel =
  process.env['KSCI_TEST_KERNEL'] ||
  execFileSync(join(packageRoot, 'scripts', 'test-kernel.sh'), { encoding: 'utf8' }).trim();
const suite = loadSuite(join(packageRoot, 'selftests'), 'smoke');
const work = mkdtempSync(join(tmpdir(), 'ksci-bench-vm-'));
const limits = { bootTimeoutMs: 120_000, runTimeoutMs: 300_000, testGraceMs: 10_000, maxOutputBytes: 64 << 20 };

/** Spawn to first TEST-START, bare QEMU, given an initramfs ksci built. */
async function reference(initramfs: string, dir: string): Promise<number> {
  const channel = join(dir, 'ref-channel.txt');
  rmSync(channel, { force: true });
  const args = qemuArgs({ kernel, initramfs, memoryMiB: 1024, cpus: 2, accel, append: [] }, { channel });
  const t0 = performance.now();
  const q = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    for (;;) {
      if (existsSync(channel) && readFileSync(channel, 'utf8').includes('TEST-START')) return performance.now() - t0;
      if (q.exitCode !== null) throw new Error('reference QEMU exited before the first test');
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    q.kill('SIGKILL');
  }
}

async function ours(dir: string): Promise<{ ms: number; initramfs: string }> {
  const t0 = performance.now();
  let first: number | null = null;
  // Watched as the reference is (every 5 ms), not through the runner's own 200 ms poll.
  const channel = join(dir, 'channel.log');
  const watch = setInterval(() => {
    if (first === null && existsSync(channel) && readFileSync(channel, 'utf8').includes('TEST-START'))
      first = performance.now() - t0;
  }, 5);
  try {
    const run = await runGuest({
      kernel,
      suite,
      tests: suite.tests,
      memoryMiB: 1024,
      cpus: 2,
      accel,
      limits,
      outDir: dir,
      busybox: '/bin/busybox',
      log: silentLogger,
      keepInitramfs: true,
    });
    if (first === null || !run.channel.begun) throw new Error(`ksci's guest did not reach a test: ${run.stoppedBy}`);
    return { ms: first, initramfs: run.initramfs };
  } finally {
    clearInterval(watch);
  }
}

const refs: number[] = [];
const ksci: number[] = [];
try {
  // One unmeasured boot: page cache, QEMU's first start.
  const warm = await ours(join(work, 'warm'));
  for (let i = 0; i < reps; i++) {
    refs.push(await reference(warm.initramfs, work));
    ksci.push((await ours(join(work, `rep-${i}`))).ms);
    console.log(
      `rep ${i + 1}/${reps}: reference ${(refs[i]! / 1000).toFixed(2)} s, ksci ${(ksci[i]! / 1000).toFixed(2)} s`,
    );
  }
  const r = median(refs);
  const k = median(ksci);
  console.log(
    `boot to first test (${accel.toUpperCase()}, ${reps} reps, medians): bare qemu ${(r / 1000).toFixed(2)} s, ksci ${(k / 1000).toFixed(2)} s, ratio ${(k / r).toFixed(2)}`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
