/**
 * test_progs over one VM against two VMs booted at once: the bpf suite's
 * XDP tests split into four groups (suite tests), run with parallel=1 and
 * parallel=2 on the same kernel and selftests, reps alternating. The groups
 * go two and two: a test_progs runner's own duration is not kept once its
 * results are expanded, so there is nothing to balance by. One vCPU per
 * VM. Prints medians and the ratio.
 *
 * Needs a kernel of the bpf config and the BPF selftests built against it,
 * e.g. from a `ksci run --suite bpf` (its report prints both paths):
 *   KSCI_BENCH_BPF_KERNEL=<artifacts>/bzImage KSCI_BENCH_BPF_SELFTESTS=<selftests artifacts dir> \
 *   node dist/bench/test-progs-shard.js [reps=2]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { median } from './stats.js';
import { selftestsFiles } from '../src/build/bpf-selftests.js';
import { silentLogger } from '../src/log.js';
import { packageRoot } from '../src/paths.js';
import { loadSuite } from '../src/suite/suite.js';
import { runKernel } from '../src/vm/kernel-run.js';

const reps = Number(process.argv[2] ?? 2);
const kernel = process.env['KSCI_BENCH_BPF_KERNEL'];
const selftests = process.env['KSCI_BENCH_BPF_SELFTESTS'];
if (!kernel || !selftests) {
  console.error(
    'set KSCI_BENCH_BPF_KERNEL (a bpf-config bzImage) and KSCI_BENCH_BPF_SELFTESTS (its BPF selftests artifact dir)',
  );
  process.exit(2);
}
const GROUPS = [
  'verif_scale_xdp_loop,verifier_xdp,verifier_xdp_direct_packet_access,xdp,xdp_adjust_frags,xdp_adjust_tail',
  'xdp_attach,xdp_bonding,xdp_bpf2bpf,xdp_context_test_run,xdp_cpumap_attach,xdp_dev_bound_only_offdev',
  'xdp_devmap_attach,xdp_do_redirect,xdp_flowtable,xdp_info,xdp_link,xdp_metadata',
  'xdp_noinline,xdp_perf,xdp_synproxy,xdp_veth_redirect,xdpwall',
];
const bpf = loadSuite(join(packageRoot, 'selftests'), 'bpf');
const suite = {
  ...bpf,
  tests: GROUPS.map((g, i) => ({ name: `xdp-${i + 1}`, run: `./run-test-progs.sh -a ${g}`, timeoutSeconds: 1200 })),
};
const extraFiles = selftestsFiles(selftests).map((f) => ({
  host: join(selftests, f),
  guest: `/ksci/suite/bpf-selftests/${f}`,
}));
const work = mkdtempSync(join(tmpdir(), 'ksci-bench-tp-'));

async function once(parallel: number, tag: string): Promise<number> {
  const t0 = performance.now();
  const r = await runKernel({
    kernel: kernel!,
    suite,
    extraFiles,
    memoryMiB: 2048,
    cpus: 1,
    accel: 'auto',
    limits: { bootTimeoutMs: 180_000, runTimeoutMs: 60 * 60_000, testGraceMs: 60_000, maxOutputBytes: 256 << 20 },
    busybox: '/bin/busybox',
    retries: 0,
    maxBoots: parallel,
    parallel,
    known: [],
    tree: 'bench',
    outDir: join(work, tag),
    log: silentLogger,
  });
  const ms = performance.now() - t0;
  const broken = r.boots.filter((b) => b.outcome.verdict !== 'completed');
  if (broken.length) throw new Error(`a VM did not complete: ${broken.map((b) => b.outcome.reason).join('; ')}`);
  const results = r.tests.filter((t) => t.name.includes(':'));
  console.log(
    `  ${tag}: ${(ms / 1000).toFixed(1)} s, ${results.length} test_progs results, ${results.filter((t) => t.attempts[0] === 'pass').length} passed`,
  );
  return ms;
}

try {
  const one: number[] = [];
  const two: number[] = [];
  for (let i = 0; i < reps; i++) {
    one.push(await once(1, `1vm-${i}`));
    two.push(await once(2, `2vm-${i}`));
  }
  const a = median(one);
  const b = median(two);
  console.log(
    `test_progs XDP tests in 4 groups (1 vCPU per VM, medians of ${reps}): 1 VM ${(a / 1000).toFixed(1)} s, 2 VMs ${(b / 1000).toFixed(1)} s, wall time ratio 2/1 = ${(b / a).toFixed(2)}`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
