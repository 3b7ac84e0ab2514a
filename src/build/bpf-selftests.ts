import { createHash } from 'node:crypto';
import { copyFileSync, constants, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { z } from 'zod';
import { CancelledError, InfraError } from '../errors.js';
import { runSandboxed } from '../sandbox/run.js';
import type { BuildEnv, BuildOutcome } from './kernel.js';
import { BuildOutcomeSchema, EXTMOD_KIT } from './kernel.js';
import { RUNNERS, type Runner } from '../bpf/runners.js';
import { buildSelftests, findLlvmBinDir } from './bpf-selftests-make.js';
import type { SourceTree } from './workspace.js';

/** Bumped when what goes into the shipped set changes. */
const FORMAT = 'bpf-selftests-v3';

export const SelftestsOutcomeSchema = z.object({
  status: z.enum(['ok', 'failed']),
  cacheHit: z.boolean(),
  durationMs: z.number(),
  artifactKey: z.string(),
  /** The files the guest needs (test_progs, *.bpf.o, helpers; a flavour's in its subdirectory); '' when the build failed. */
  artifactDir: z.string(),
  /** The runners built (test_progs, test_progs-no_alu32...); results stored before there was a choice built test_progs. */
  runners: z.array(z.enum(RUNNERS)).default(['test_progs']),
  files: z.number(),
  /** The test modules (bpf_testmod.ko...) were built against the kernel and shipped; not without a kernel built with modules. */
  modules: z.boolean().default(false),
  /** Host libraries the shipped executables load. */
  libraries: z.array(z.string()),
  dropped: z.array(z.object({ test: z.string(), missing: z.string() })),
  firstError: BuildOutcomeSchema.shape.firstError,
  logTail: z.array(z.string()),
});
export type SelftestsOutcome = z.infer<typeof SelftestsOutcomeSchema>;

/**
 * The BPF selftest runners for one kernel ksci built, cached by that
 * kernel's artifact key and the runners. The selftests compile against the
 * kernel's BTF (its vmlinux) and generated headers; they are built from the
 * tree at the kernel's commit, in the sandbox, and only what the guest needs
 * is stored.
 */
export async function bpfSelftestsFor(
  kernel: BuildOutcome,
  o: { source: SourceTree; baseObjDir: string; workDir: string; env: BuildEnv; runners: Runner[] },
): Promise<SelftestsOutcome> {
  const llvm = findLlvmBinDir();
  const runners = RUNNERS.filter((r) => o.runners.includes(r));
  const key = createHash('sha256')
    .update(JSON.stringify([FORMAT, kernel.artifactKey, llvm, runners]))
    .digest('hex');
  const hit = o.env.artifacts.get(key);
  if (hit) {
    const meta = SelftestsOutcomeSchema.safeParse(
      hit.manifest.inputs['outcome'] ? JSON.parse(hit.manifest.inputs['outcome']) : null,
    );
    if (meta.success) return { ...meta.data, cacheHit: true, durationMs: 0, artifactDir: hit.dir };
  }
  // The series' own build directory is gone by now. A kernel built with
  // modules left its external module kit: that, with its vmlinux, is a
  // build directory the test modules compile against. Otherwise vmlinux
  // and the base's generated headers (only autoconf.h's presence matters
  // to the Makefile) do for the rest.
  const obj = join(o.workDir, `selftests-obj-${kernel.artifactKey.slice(0, 12)}`);
  const out = join(o.workDir, `selftests-${kernel.artifactKey.slice(0, 12)}`);
  rmSync(obj, { recursive: true, force: true });
  mkdirSync(join(obj, 'include'), { recursive: true });
  const kit = join(kernel.artifactDir, EXTMOD_KIT);
  const modules = existsSync(kit);
  copyFileSync(join(kernel.artifactDir, 'vmlinux'), join(obj, 'vmlinux'), constants.COPYFILE_FICLONE);
  if (modules) await unpackKit(kit, obj, o.env);
  else cpSync(join(o.baseObjDir, 'include', 'generated'), join(obj, 'include', 'generated'), { recursive: true });
  try {
    const built = await o.source.use(async (checkout) => {
      await checkout(kernel.commit);
      return buildSelftests({ sourceDir: o.source.dir, kernelObjDir: obj, modules, outDir: out, runners, env: o.env });
    }, o.env.signal);
    const base = {
      cacheHit: false,
      runners,
      modules,
      durationMs: built.durationMs,
      files: built.files.length,
      libraries: built.libraries,
      dropped: built.dropped,
      firstError: built.firstError,
      logTail: built.logTail,
    };
    if (built.status !== 'ok') return { ...base, status: 'failed', artifactKey: '', artifactDir: '' };
    const outcome: SelftestsOutcome = { ...base, status: 'ok', artifactKey: key, artifactDir: '' };
    const set = o.env.artifacts.put(
      key,
      built.files.map((f) => ({ from: join(built.outDir, f), name: f })),
      { kernel: kernel.artifactKey, outcome: JSON.stringify(outcome) },
    );
    return { ...outcome, artifactDir: set.dir };
  } finally {
    rmSync(obj, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
}

/**
 * Unpacks a kernel's external module kit into `obj`. The kit is what the
 * series' build packed: tar runs in the sandbox, where a member named
 * ../../etc/x or a link pointing out can reach nothing of the host.
 */
async function unpackKit(kit: string, obj: string, env: BuildEnv): Promise<void> {
  const logFile = `${obj}.unpack.log`;
  const run = await runSandboxed(
    {
      binds: [
        { host: kit, inside: '/ksci/kit.tar.gz', writable: false },
        { host: obj, inside: '/ksci/obj', writable: true },
      ],
      cwd: '/ksci/obj',
      env: { PATH: '/usr/bin:/bin', HOME: '/tmp', LC_ALL: 'C' },
      argv: ['tar', '-xzf', '/ksci/kit.tar.gz', '--no-same-owner', '-C', '/ksci/obj'],
      limits: { cpuSeconds: 600, fileBytes: env.limits.fileBytes, memoryBytes: env.limits.memoryBytes, pids: 64 },
    },
    {
      logFile,
      timeoutMs: 10 * 60_000,
      signal: env.signal,
      diskWatch: { dir: obj, maxBytes: env.limits.buildDirBytes },
    },
  );
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim() : '';
  rmSync(logFile, { force: true });
  if (run.killed === 'cancelled' || env.signal?.aborted)
    throw new CancelledError('unpacking the external module kit was cancelled');
  if (run.exitCode !== 0 || run.killed)
    throw new InfraError(
      `cannot unpack the kernel's external module kit ${kit}: ${run.killed ?? `tar exited ${run.exitCode}`}${log ? `: ${log.split('\n').slice(-3).join(' / ')}` : ''}`,
    );
}

/** Where a suite that needs the BPF selftests finds them in the guest. */
const GUEST_SELFTESTS_DIR = '/ksci/suite/bpf-selftests';

/** A stored set (or any directory of runners and their files; `files`: only those, relative to it) as the guest gets it. */
export function selftestsGuestFiles(
  dir: string,
  files: string[] = selftestsFiles(dir),
): { host: string; guest: string }[] {
  return files.map((f) => ({ host: join(dir, f), guest: `${GUEST_SELFTESTS_DIR}/${f}` }));
}

/** The shipped files of a stored set, for the guest: relative paths, a flavour's under its subdirectory. */
export function selftestsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .filter((f) => f !== 'manifest.json')
    .sort();
}
