import { createHash } from 'node:crypto';
import { copyFileSync, constants, cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { z } from 'zod';
import type { BuildEnv, BuildOutcome } from './kernel.js';
import { BuildOutcomeSchema } from './kernel.js';
import { RUNNERS, type Runner } from '../selftests/runners.js';
import { buildSelftests, findLlvmBinDir } from './selftests.js';
import type { SourceTree } from './workspace.js';

/** Bumped when what goes into the shipped set changes. */
const FORMAT = 'bpf-selftests-v2';

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
  const key = createHash('sha256').update(JSON.stringify([FORMAT, kernel.artifactKey, llvm, runners])).digest('hex');
  const hit = o.env.artifacts.get(key);
  if (hit) {
    const meta = SelftestsOutcomeSchema.safeParse(hit.manifest.inputs['outcome'] ? JSON.parse(hit.manifest.inputs['outcome']) : null);
    if (meta.success) return { ...meta.data, cacheHit: true, durationMs: 0, artifactDir: hit.dir };
  }
  // vmlinux from the kernel's artifacts, generated headers from the base's
  // build directory (only autoconf.h's presence matters to the Makefile):
  // the series' own build directory is gone by now.
  const obj = join(o.workDir, `selftests-obj-${kernel.artifactKey.slice(0, 12)}`);
  const out = join(o.workDir, `selftests-${kernel.artifactKey.slice(0, 12)}`);
  rmSync(obj, { recursive: true, force: true });
  mkdirSync(join(obj, 'include'), { recursive: true });
  copyFileSync(join(kernel.artifactDir, 'vmlinux'), join(obj, 'vmlinux'), constants.COPYFILE_FICLONE);
  cpSync(join(o.baseObjDir, 'include', 'generated'), join(obj, 'include', 'generated'), { recursive: true });
  try {
    const built = await o.source.use(async (checkout) => {
      await checkout(kernel.commit);
      return buildSelftests({ sourceDir: o.source.dir, kernelObjDir: obj, outDir: out, runners, env: o.env });
    }, o.env.signal);
    const base = { cacheHit: false, runners, durationMs: built.durationMs, files: built.files.length, libraries: built.libraries, dropped: built.dropped, firstError: built.firstError, logTail: built.logTail };
    if (built.status !== 'ok') return { ...base, status: 'failed', artifactKey: '', artifactDir: '' };
    const outcome: SelftestsOutcome = { ...base, status: 'ok', artifactKey: key, artifactDir: '' };
    const set = o.env.artifacts.put(key, built.files.map((f) => ({ from: join(built.outDir, f), name: f })), { kernel: kernel.artifactKey, outcome: JSON.stringify(outcome) });
    return { ...outcome, artifactDir: set.dir };
  } finally {
    rmSync(obj, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
}

/** The shipped files of a stored set, for the guest: relative paths, a flavour's under its subdirectory. */
export function selftestsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .filter((f) => f !== 'manifest.json')
    .sort();
}
