/**
 * The BPF selftests path in CI, on what a new machine builds in minutes:
 * test_progs from Debian's 6.12 source (the linux-source tarball), built by
 * ksci's selftests builder in the sandbox against the BTF of Debian's
 * prebuilt 6.12 kernel (its vmlinux, unpacked from the bzImage by the
 * kernel's own scripts/extract-vmlinux), then the bpf suite's test_progs
 * runner booted on that kernel with a few XDP tests that need no module
 * (Debian builds veth and friends as modules). The whole pipeline on
 * kernels ksci builds, with the no_alu32 flavour, test_verifier and the test
 * modules, is the opt-in bpf.test.ts: two cold bpf kernels do not fit CI.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { selftestsGuestFiles } from '../build/bpf-selftests.js';
import { buildSelftests, findLlvmBinDir } from '../build/bpf-selftests-make.js';
import { silentLogger } from '../log.js';
import { loadSuite } from '../suite/suite.js';
import { repoRoot } from '../testing/paths.js';
import { testKernel, vmTestSkip } from '../testing/vm.js';
import { runKernel } from '../vm/kernel-run.js';

const TARBALL = '/usr/src/linux-source-6.12.tar.xz';
/** XDP tests of test_progs that run on BPF_PROG_TEST_RUN or the loopback device: nothing a module brings. */
const SUBSET = [
  'xdp_context_test_run',
  'xdp_adjust_tail',
  'xdp_attach',
  'xdp_info',
  'xdp_link',
  'xdp_noinline',
  'xdp_perf',
];

const required = process.env['KSCI_REQUIRE_E2E'] === '1';
const skip =
  (await vmTestSkip(['/usr/bin/rsync'])) ||
  (!required &&
    (!findLlvmBinDir()
      ? 'needs clang-19 lld-19 llvm-19'
      : !existsSync(TARBALL)
        ? `needs ${TARBALL} (linux-source-6.12)`
        : false));

describe("BPF selftests subset on Debian's prebuilt kernel", { skip, timeout: 60 * 60_000 }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ksci-bpf-subset-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("test_progs builds against that kernel's BTF and its XDP tests pass in the guest, one result per test and subtest", async () => {
    const kernel = testKernel();
    const src = join(dir, 'src');
    mkdirSync(src);
    execFileSync('tar', ['-xJf', TARBALL, '-C', src, '--strip-components=1']);
    const obj = join(dir, 'obj');
    mkdirSync(join(obj, 'include', 'generated'), { recursive: true });
    // The Makefile wants only vmlinux's BTF (vmlinux.h) from a kernel build directory; no autoconf.h means no HAVE_GENHDR.
    execFileSync('sh', [
      '-c',
      `sh ${join(src, 'scripts', 'extract-vmlinux')} "$1" > "$2"`,
      'sh',
      kernel,
      join(obj, 'vmlinux'),
    ]);

    const started = Date.now();
    const built = await buildSelftests({
      sourceDir: src,
      kernelObjDir: obj,
      outDir: join(dir, 'out'),
      runners: ['test_progs'],
      env: {
        jobs: availableParallelism(),
        limits: {
          timeoutMs: 45 * 60_000,
          cpuSeconds: 3600,
          fileBytes: 2 ** 31,
          buildDirBytes: 20 * 2 ** 30,
          memoryBytes: 8 * 2 ** 30,
          pids: 4096,
          tmpBytes: 2 * 2 ** 30,
        },
        log: silentLogger,
      },
    });
    const buildSeconds = Math.round((Date.now() - started) / 1000);
    assert.equal(built.status, 'ok', `${built.firstError?.message ?? ''}\n${built.logTail.join('\n')}`);
    assert.ok(built.files.includes('test_progs') && built.files.some((f) => f.endsWith('.bpf.o')));

    const full = loadSuite(join(repoRoot, 'selftests'), 'bpf');
    const runner = full.tests.find((t) => t.name === 'test_progs')!;
    const suite = { ...full, tests: [{ ...runner, only: SUBSET }] };
    const r = await runKernel({
      kernel,
      suite,
      memoryMiB: 2048,
      cpus: 2,
      accel: 'auto',
      limits: { bootTimeoutMs: 180_000, runTimeoutMs: 20 * 60_000, testGraceMs: 30_000, maxOutputBytes: 64 << 20 },
      busybox: '/bin/busybox',
      extraFiles: selftestsGuestFiles(built.outDir, built.files),
      retries: 0,
      maxBoots: 2,
      known: [],
      tree: 'debian-prebuilt',
      outDir: join(dir, 'vm'),
      log: silentLogger,
    });
    const boot = r.boots[0]!;
    process.stdout.write(
      `# bpf subset: build ${buildSeconds} s, ${built.files.length} files; boot ${boot.outcome.verdict} in ${Math.round(boot.outcome.durationMs / 1000)} s, ${r.tests.length} results\n`,
    );
    assert.equal(boot.outcome.verdict, 'completed', `${boot.outcome.reason}\n${boot.outcome.excerpt.join('\n')}`);
    assert.deepEqual(r.splats, []);
    const status = new Map(r.tests.map((t) => [t.name, t.attempts.join(',')]));
    for (const t of SUBSET)
      assert.equal(
        status.get(`test_progs:${t}`),
        'pass',
        `${t}: ${JSON.stringify(r.tests.find((x) => x.name === `test_progs:${t}`)?.last.output ?? 'no result')}`,
      );
    assert.ok(
      [...status.keys()].some((n) => n.startsWith('test_progs:xdp_adjust_tail/')),
      'subtests are results of their own',
    );
    assert.deepEqual(
      [...status.keys()].filter((n) => !SUBSET.includes(n.slice('test_progs:'.length).split('/')[0]!)),
      [],
      'only the tests asked for ran',
    );
  });
});
