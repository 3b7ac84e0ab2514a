/**
 * Sharding: one suite on one VM against the same suite split over two VMs
 * booted at once, same kernel, in the same run. Reps alternate (1 VM, 2 VMs,
 * ...) so drift hits both; prints the median wall times and their ratio.
 * Each VM has `cpus` vCPUs (default 1, so two VMs use what one VM with two
 * would); under TCG every vCPU is a host thread, so on a 2-core host the
 * ceiling is 2x. The suite (bench/fixtures/suites/work) hashes zeros in the
 * guest: CPU-bound tests.
 *   node dist/bench/vm-shard.js [reps=3] [cpus=1]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { median } from './stats.js';
import { silentLogger } from '../src/log.js';
import { packageRoot } from '../src/paths.js';
import { loadSuite } from '../src/suite/suite.js';
import { runKernel } from '../src/vm/kernel-run.js';

const reps = Number(process.argv[2] ?? 3);
const cpus = Number(process.argv[3] ?? 1);
const kernel =
  process.env['KSCI_TEST_KERNEL'] ||
  execFileSync(join(packageRoot, 'scripts', 'test-kernel.sh'), { encoding: 'utf8' }).trim();
const suite = loadSuite(join(packageRoot, 'bench', 'fixtures', 'suites'), 'work');
const work = mkdtempSync(join(tmpdir(), 'ksci-bench-shard-'));

async function once(parallel: number, i: number): Promise<{ ms: number; durations: Map<string, number> }> {
  const t0 = performance.now();
  const r = await runKernel({
    kernel,
    suite,
    memoryMiB: 512,
    cpus,
    accel: 'auto',
    limits: { bootTimeoutMs: 120_000, runTimeoutMs: 30 * 60_000, testGraceMs: 30_000, maxOutputBytes: 64 << 20 },
    busybox: '/bin/busybox',
    retries: 0,
    maxBoots: parallel,
    parallel,
    durations: timed,
    known: [],
    tree: 'bench',
    outDir: join(work, `p${parallel}-${i}`),
    log: silentLogger,
  });
  const bad = r.tests.filter((t) => t.attempts[0] !== 'pass');
  if (bad.length)
    throw new Error(`tests did not pass: ${bad.map((t) => `${t.name} ${t.attempts.join(',')}`).join('; ')}`);
  return { ms: performance.now() - t0, durations: new Map(r.tests.map((t) => [t.name, t.last.seconds ?? 0])) };
}

// Durations from an unmeasured run balance the shards, as the base's do in the test stage.
let timed = new Map<string, number>();
const one: number[] = [];
const two: number[] = [];
try {
  timed = (await once(1, -1)).durations;
  for (let i = 0; i < reps; i++) {
    one.push((await once(1, i)).ms);
    two.push((await once(2, i)).ms);
    console.log(`rep ${i + 1}/${reps}: 1 VM ${(one[i]! / 1000).toFixed(1)} s, 2 VMs ${(two[i]! / 1000).toFixed(1)} s`);
  }
  const a = median(one);
  const b = median(two);
  console.log(
    `suite "work" (${suite.tests.length} tests, ${cpus} vCPU per VM, medians of ${reps}): 1 VM ${(a / 1000).toFixed(1)} s, 2 VMs ${(b / 1000).toFixed(1)} s, wall time ratio 2/1 = ${(b / a).toFixed(2)}`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
