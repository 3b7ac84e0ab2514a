import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { CancelledError, InfraError } from '../errors.js';
import type { SandboxSpec } from '../sandbox/bwrap.js';
import { outputPath } from '../sandbox/outputs.js';
import { runSandboxed } from '../sandbox/run.js';
import { parseLdd } from '../ldd.js';
import { pickLimits, type BuildEnv } from './kernel.js';
import { analyzeBuildLog, isBuildStep, type Diagnostic } from './log.js';
import type { Runner } from '../bpf/runners.js';

const execFileP = promisify(execFile);

/**
 * Builds the kernel's BPF selftests (tools/testing/selftests/bpf) against a
 * kernel ksci built, in the same sandbox as kernel builds: the source
 * read-only at /ksci/src, the kernel's build directory read-only at
 * /ksci/obj, everything written under /ksci/out.
 *
 * What the selftests Makefile (6.12) needs for that, found by building it
 * read-only (test/fixtures/selftests-build/README.md):
 * - It writes prog_tests/tests.h (and map_tests/, verifier/ tests.h) into
 *   the source directory itself: a writable copy of
 *   tools/testing/selftests/bpf is mounted over the read-only one. Its
 *   relative symlinks (disasm.c -> ../../../../kernel/bpf/disasm.c) still
 *   resolve, since it sits at the same path.
 * - Every other output follows OUTPUT=, which must exist beforehand.
 * - Not O=: tools/scripts/Makefile.include would send libbpf's and
 *   bpftool's output into the (read-only) kernel build directory. GENDIR
 *   points at its include/generated instead (autoconf.h: -DHAVE_GENHDR).
 * - VMLINUX_BTF is the kernel's vmlinux: vmlinux.h and every .bpf.o follow
 *   that kernel's types.
 * - bpf_testmod.ko and friends are out-of-tree modules, built by
 *   `make -C $(KDIR) M=...`: with a kernel built with modules, the kernel's
 *   external module kit (kernel.ts EXTMOD_KIT) is unpacked as /ksci/obj and
 *   named KDIR, and the modules are built and shipped (test_verifier exits
 *   at once without bpf_testmod.ko). Without one they are left out of
 *   TRUNNER_EXTRA_FILES, and test_progs prints "Selftests relying on
 *   bpf_testmod.ko will be skipped" and skips those.
 * - feature-llvm=0: with LLVM's static libraries installed, test_progs
 *   links LLVM's disassembler (jit_disasm_helpers.c) and with it -lzstd,
 *   libz3 and libxml2, which the guest would then need too; only a few
 *   verifier tests that check JITed code skip without it.
 * - A test whose skeleton has no BPF source in the tree cannot compile, and
 *   takes all of test_progs with it: Debian's 6.12.117 has
 *   prog_tests/bpf_attr_size.c (a stable backport) including
 *   cgroup_skb_direct_packet_access.skel.h without
 *   progs/cgroup_skb_direct_packet_access.c. Such tests are removed from the
 *   copy before make runs, and reported in `dropped`.
 * - clang, llc, llvm-strip, bpftool's LLVM=... come from PATH: the newest
 *   /usr/lib/llvm-N/bin first (Debian installs clang-19 there, with
 *   unsuffixed names and ld.lld). Userspace is built with gcc.
 */

const SRC = '/ksci/src';
const OBJ = '/ksci/obj';
const OUT = '/ksci/out';
const SELFTESTS = 'tools/testing/selftests/bpf';

/** The test modules test_progs loads from its directory (6.12), and test_verifier loads bpf_testmod.ko. */
export const TEST_MODULES = [
  'bpf_testmod.ko',
  'bpf_test_no_cfi.ko',
  'bpf_test_modorder_x.ko',
  'bpf_test_modorder_y.ko',
];

/**
 * The test_progs runtime files the Makefile copies next to it (and into a
 * flavour's subdirectory), the kernel modules only when they can be built
 * (see above). A make variable: $(OUTPUT) and $(wildcard) expand inside
 * make, in the selftests directory.
 */
export function extraFiles(modules: boolean): string {
  return [
    '$(OUTPUT)/urandom_read',
    '$(OUTPUT)/liburandom_read.so',
    '$(OUTPUT)/xdp_synproxy',
    '$(OUTPUT)/sign-file',
    '$(OUTPUT)/uprobe_multi',
    ...(modules ? TEST_MODULES.map((m) => `$(OUTPUT)/${m}`) : []),
    'ima_setup.sh',
    'verify_sig_setup.sh',
    '$(wildcard progs/btf_dump_test_case_*.c)',
  ].join(' ');
}

export interface SelftestsBuildOptions {
  /** The kernel source checkout on the host (mounted read-only). */
  sourceDir: string;
  /** The kernel's build directory on the host, after a successful build: vmlinux with BTF, include/generated (mounted read-only). */
  kernelObjDir: string;
  /** kernelObjDir is a whole external module kit (with vmlinux): build and ship the test modules. */
  modules?: boolean;
  /** Emptied, then holds bpf/ (make's OUTPUT), src-bpf/ (the writable copy of the selftests directory) and build.log. */
  outDir: string;
  runners?: Runner[];
  /**
   * Strip DWARF from the shipped files (llvm-strip -g; BTF and .BTF.ext
   * stay): measured for test_progs, 160 MB -> 45 MB, the initramfs
   * 61 MB -> 14 MB gzipped, TCG boot 5.5 s -> 2.9 s, same results. Default true.
   */
  strip?: boolean;
  /** Directory with clang, llc, ld.lld; default: the newest /usr/lib/llvm-N/bin that has them. */
  llvmBinDir?: string;
  env: Pick<BuildEnv, 'jobs' | 'limits' | 'log' | 'signal' | 'onProgress'>;
}

export interface SelftestsBuild {
  status: 'ok' | 'failed';
  durationMs: number;
  /** make's OUTPUT on the host: the runners and their files. */
  outDir: string;
  /** Paths relative to `outDir` that the guest needs to run the runners (put them in one directory, keeping these relative paths). */
  files: string[];
  /** prog_tests/*.c removed before building because a skeleton they include has no source here (test name, the missing header). */
  dropped: { test: string; missing: string }[];
  /**
   * Host shared libraries the shipped executables load (libelf, libz, libc
   * and the loader): the guest has none of its own, so they go in at the
   * same paths (a suite's `binaries` list copies each with its own).
   */
  libraries: string[];
  logFile: string;
  firstError: Diagnostic | null;
  failedTargets: string[];
  /** The end of the log when the build failed. */
  logTail: string[];
}

/**
 * make's command line, as run inside the sandbox. With modules, the test
 * modules are targets of their own too: test_verifier needs bpf_testmod.ko
 * but, unlike test_progs, does not depend on it. Pure.
 */
export function selftestsMakeArgv(o: { jobs: number; runners: readonly Runner[]; modules: boolean }): string[] {
  return [
    'make',
    '-C',
    `${SRC}/${SELFTESTS}`,
    `OUTPUT=${OUT}/bpf`,
    `VMLINUX_BTF=${OBJ}/vmlinux`,
    `GENDIR=${OBJ}/include/generated`,
    ...(o.modules ? [`KDIR=${OBJ}`] : []),
    'feature-llvm=0',
    `TRUNNER_EXTRA_FILES=${extraFiles(o.modules)}`,
    `-j${o.jobs}`,
    ...o.runners,
    ...(o.modules ? TEST_MODULES.map((m) => `${OUT}/bpf/${m}`) : []),
  ];
}

/**
 * What of make's OUTPUT the guest needs for these runners, from a listing
 * of it (relative paths, files only). Pure.
 * test_progs loads some programs from ./X.bpf.o at run time (the rest are
 * embedded as skeletons) and starts urandom_read, uprobe_multi, xdp_synproxy
 * and the two scripts; a flavour (test_progs-no_alu32) runs in its
 * subdirectory with that flavour's .bpf.o. test_maps opens a few ./X.bpf.o
 * too; test_verifier needs nothing but itself and bpf_testmod.ko (when
 * modules were built: see the top of this file).
 */
export function shipList(listing: string[], runners: readonly Runner[]): string[] {
  const want = new Set<string>();
  const topBpf = listing.filter((f) => !f.includes('/') && f.endsWith('.bpf.o'));
  for (const r of runners) {
    if (listing.includes(r)) want.add(r);
    if (r === 'test_maps') for (const f of topBpf) want.add(f);
    if (r === 'test_verifier' && listing.includes('bpf_testmod.ko')) want.add('bpf_testmod.ko');
    if (!r.startsWith('test_progs')) continue;
    const flavour = r.slice('test_progs'.length + 1);
    const extras = listing.filter(
      (f) =>
        !f.includes('/') &&
        (TEST_MODULES.includes(f) ||
          /^(urandom_read|liburandom_read\.so|uprobe_multi|xdp_synproxy|sign-file|ima_setup\.sh|verify_sig_setup\.sh|btf_dump_test_case_.*\.c)$/.test(
            f,
          )),
    );
    if (flavour === '') for (const f of topBpf.concat(extras)) want.add(f);
    else {
      for (const f of listing.filter((f) => f.startsWith(`${flavour}/`) && f.endsWith('.bpf.o'))) want.add(f);
      // The flavour runs in its subdirectory (cd_flavor_subdir) and starts ./urandom_read
      // and friends from there: the Makefile copies them in, and so must the guest.
      for (const f of extras) want.add(listing.includes(`${flavour}/${f}`) ? `${flavour}/${f}` : f);
    }
  }
  return [...want].sort();
}

/**
 * Tests that cannot compile because a skeleton they include
 * ("X.skel.h", "X.lskel.h", "X.subskel.h") has no progs/X.c and is not
 * one of the Makefile's linked skeletons ("X.skel.h-deps :="). Pure.
 */
export function orphanTests(
  tests: { file: string; text: string }[],
  progs: Set<string>,
  makefile: string,
): { test: string; missing: string }[] {
  const out: { test: string; missing: string }[] = [];
  for (const t of tests) {
    for (const m of t.text.matchAll(/^\s*#\s*include\s+"([A-Za-z0-9_]+)\.(?:skel|lskel|subskel)\.h"/gm)) {
      const name = m[1]!;
      if (progs.has(name) || makefile.includes(`${name}.skel.h-deps`)) continue;
      out.push({ test: t.file.replace(/\.c$/, ''), missing: `${m[0].replace(/^.*"(.*)".*$/, '$1')}` });
      break;
    }
  }
  return out;
}

/** The newest /usr/lib/llvm-N/bin with clang, llc and ld.lld, or null. */
export function findLlvmBinDir(root = '/usr/lib'): string | null {
  let best: { v: number; dir: string } | null = null;
  for (const e of existsSync(root) ? readdirSync(root) : []) {
    const m = /^llvm-(\d+)$/.exec(e);
    if (!m) continue;
    const dir = join(root, e, 'bin');
    if (!['clang', 'llc', 'ld.lld'].every((t) => existsSync(join(dir, t)))) continue;
    const v = Number(m[1]);
    if (!best || v > best.v) best = { v, dir };
  }
  return best?.dir ?? null;
}

/** Builds the runners; see the comment at the top for how and why. */
export async function buildSelftests(o: SelftestsBuildOptions): Promise<SelftestsBuild> {
  const { env } = o;
  const runners = o.runners ?? ['test_progs'];
  const started = Date.now();
  const llvm = o.llvmBinDir ?? findLlvmBinDir();
  if (!llvm)
    throw new InfraError(
      'the BPF selftests need clang, llc and ld.lld (LLVM 17 or newer) and none was found under /usr/lib/llvm-*/bin',
      'apt-get install clang-19 lld-19 llvm-19 rsync',
    );
  const vmlinux = join(o.kernelObjDir, 'vmlinux');
  if (!existsSync(vmlinux))
    throw new InfraError(
      `no vmlinux in ${o.kernelObjDir}: the selftests are built against a built kernel (with CONFIG_DEBUG_INFO_BTF)`,
    );

  rmSync(o.outDir, { recursive: true, force: true });
  const output = join(o.outDir, 'bpf');
  const srcCopy = join(o.outDir, 'src-bpf');
  mkdirSync(output, { recursive: true });
  // cp -a keeps the relative symlinks into the rest of the tree.
  await execFileP('cp', ['-a', join(o.sourceDir, SELFTESTS), srcCopy], { signal: env.signal });
  // Beside the output directory: the build can write everything in it.
  const logFile = `${o.outDir}.log`;
  rmSync(logFile, { force: true });
  const progs = new Set(
    readdirSync(join(srcCopy, 'progs'))
      .filter((f) => f.endsWith('.c'))
      .map((f) => f.slice(0, -2)),
  );
  const tests = readdirSync(join(srcCopy, 'prog_tests'))
    .filter((f) => f.endsWith('.c'))
    .map((f) => ({ file: f, text: readFileSync(join(srcCopy, 'prog_tests', f), 'utf8') }));
  const dropped = orphanTests(tests, progs, readFileSync(join(srcCopy, 'Makefile'), 'utf8'));
  for (const d of dropped) unlinkSync(join(srcCopy, 'prog_tests', `${d.test}.c`));
  if (dropped.length) env.log.warn({ dropped }, 'BPF selftests whose skeleton has no source in this tree are left out');

  const spec: SandboxSpec = {
    binds: [
      { host: o.sourceDir, inside: SRC, writable: false },
      { host: srcCopy, inside: `${SRC}/${SELFTESTS}`, writable: true },
      { host: o.kernelObjDir, inside: OBJ, writable: false },
      { host: o.outDir, inside: OUT, writable: true },
    ],
    cwd: OUT,
    env: { PATH: `${llvm}:/usr/bin:/bin:/usr/sbin:/sbin`, HOME: '/tmp', LC_ALL: 'C' },
    argv: selftestsMakeArgv({ jobs: env.jobs, runners, modules: o.modules ?? false }),
    limits: pickLimits(env.limits),
  };
  env.log.info({ runners, llvm, kernel: o.kernelObjDir, modules: o.modules ?? false }, 'building BPF selftests');
  let done = 0;
  let lastReport = 0;
  const run = await runSandboxed(spec, {
    logFile,
    timeoutMs: env.limits.timeoutMs,
    signal: env.signal,
    diskWatch: { dir: o.outDir, maxBytes: env.limits.buildDirBytes },
    onLine: (line) => {
      if (!isBuildStep(line)) return;
      done++;
      const now = Date.now();
      if (now - lastReport < 2000) return;
      lastReport = now;
      env.onProgress?.({ message: `BPF selftests: ${done} build steps: ${line.trim()}`, done });
    },
  });
  if (run.killed === 'cancelled' || env.signal?.aborted) throw new CancelledError('BPF selftests build cancelled');
  if (run.killed === 'timeout')
    throw new InfraError(
      `the BPF selftests build took longer than ${Math.round(env.limits.timeoutMs / 60000)} min and was stopped`,
    );
  if (run.killed === 'disk')
    throw new InfraError(
      `the BPF selftests build grew past ${Math.round(env.limits.buildDirBytes / 2 ** 30)} GiB and was stopped`,
    );
  if (run.outOfMemory && run.exitCode !== 0)
    throw new InfraError(
      `the BPF selftests build ran out of its memory cap (${(env.limits.memoryBytes / 2 ** 30).toFixed(1)} GiB)`,
      'raise build.memoryGiB or lower build.jobs',
    );

  const logText = readFileSync(logFile, 'utf8');
  const analysis = analyzeBuildLog(logText);
  const built = [...runners, ...(o.modules ? TEST_MODULES : [])];
  // Walked without following links, from a root that is checked not to be one: the build wrote all of it.
  const status =
    run.exitCode === 0 && built.every((r) => existsSync(outputPath(o.outDir, `bpf/${r}`))) ? 'ok' : 'failed';
  const files = status === 'ok' ? shipList(listFiles(outputPath(o.outDir, 'bpf')), runners) : [];
  const strippable = files.filter((f) => !/\.(c|sh)$/.test(f));
  if (status === 'ok' && (o.strip ?? true) && strippable.length > 0) {
    // In the sandbox too: these are the series' outputs, and llvm-strip parses them.
    const strip = await runSandboxed(
      { ...spec, cwd: `${OUT}/bpf`, argv: ['llvm-strip', '-g', ...strippable] },
      { logFile, timeoutMs: 10 * 60_000, signal: env.signal },
    );
    if (strip.exitCode !== 0)
      env.log.warn(
        { exitCode: strip.exitCode, log: logFile },
        'stripping the BPF selftests failed; shipping them unstripped',
      );
  }
  const libraries =
    status === 'ok'
      ? await sharedLibraries(
          spec,
          files.filter((f) => !/\.(o|ko|c|sh)$/.test(f)),
          `${o.outDir}.ldd.log`,
          env.signal,
        )
      : [];
  const outcome: SelftestsBuild = {
    status,
    durationMs: Date.now() - started,
    outDir: output,
    files,
    dropped,
    libraries,
    logFile,
    firstError: analysis.firstError ? inSelftests(analysis.firstError) : null,
    failedTargets: analysis.failedTargets,
    logTail: status === 'ok' ? [] : logText.trimEnd().split('\n').slice(-40),
  };
  env.log.info(
    { status, seconds: Math.round(outcome.durationMs / 1000), files: files.length, errors: analysis.errors.length },
    'BPF selftests build finished',
  );
  return outcome;
}

/** Compiler paths in this log are relative to the selftests directory: make them relative to the kernel source like the kernel build's. */
function inSelftests(d: Diagnostic): Diagnostic {
  if (!d.file || d.file.startsWith('/') || /^(tools|include|kernel|arch|net|lib)\//.test(d.file)) return d;
  return { ...d, file: `${SELFTESTS}/${d.file}` };
}

/**
 * The host libraries the built executables load, as ldd says. ldd runs the
 * dynamic loader on each file, which parses what the series' build made:
 * so it runs in the sandbox too, and only libraries under /usr (all the
 * sandbox sees of the host) can be named.
 */
async function sharedLibraries(
  spec: SandboxSpec,
  files: string[],
  logFile: string,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  if (files.length === 0) return [];
  rmSync(logFile, { force: true });
  // Only ELF files answer; "not a dynamic executable" and scripts give nothing.
  const script = 'for f; do echo "== $f"; ldd "$f" || true; done';
  await runSandboxed(
    { ...spec, cwd: `${OUT}/bpf`, argv: ['sh', '-c', script, 'sh', ...files] },
    { logFile, timeoutMs: 5 * 60_000, signal },
  );
  const libs = new Set(parseLdd(readFileSync(logFile, 'utf8')));
  rmSync(logFile, { force: true });
  return [...libs].filter((l) => l.startsWith('/usr/') || l.startsWith('/lib')).sort();
}

/** Regular files under `root` (symlinks and directories not listed), relative. */
function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        // libbpf, bpftool and resolve_btfids objects: the build's, not the guest's.
        if (relative(root, p) === 'tools') continue;
        walk(p);
      } else if (e.isFile()) out.push(relative(root, p));
    }
  };
  walk(root);
  return out.sort();
}
