import { createHash } from 'node:crypto';
import { copyFileSync, constants, cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { BuildEnv, BuildOutcome } from './kernel.js';
import { BuildOutcomeSchema } from './kernel.js';
import { buildSelftests, findLlvmBinDir } from './selftests.js';
import type { SourceTree } from './workspace.js';

/** Bumped when what goes into the shipped set changes. */
const FORMAT = 'bpf-selftests-v1';

export const SelftestsOutcomeSchema = z.object({
  status: z.enum(['ok', 'failed']),
  cacheHit: z.boolean(),
  durationMs: z.number(),
  artifactKey: z.string(),
  /** The files the guest needs, flat (test_progs, *.bpf.o, helpers); '' when the build failed. */
  artifactDir: z.string(),
  files: z.number(),
  /** Host libraries the shipped executables load. */
  libraries: z.array(z.string()),
  dropped: z.array(z.object({ test: z.string(), missing: z.string() })),
  firstError: BuildOutcomeSchema.shape.firstError,
  logTail: z.array(z.string()),
});
export type SelftestsOutcome = z.infer<typeof SelftestsOutcomeSchema>;

/**
 * test_progs for one kernel ksci built, cached by that kernel's artifact
 * key. The selftests compile against the kernel's BTF (its vmlinux) and
 * generated headers; they are built from the tree at the kernel's commit,
 * in the sandbox, and only what the guest needs is stored.
 */
export async function bpfSelftestsFor(
  kernel: BuildOutcome,
  o: { source: SourceTree; baseObjDir: string; workDir: string; env: BuildEnv },
): Promise<SelftestsOutcome> {
  const llvm = findLlvmBinDir();
  const key = createHash('sha256').update(JSON.stringify([FORMAT, kernel.artifactKey, llvm])).digest('hex');
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
      return buildSelftests({ sourceDir: o.source.dir, kernelObjDir: obj, outDir: out, env: o.env });
    }, o.env.signal);
    const base = { cacheHit: false, durationMs: built.durationMs, files: built.files.length, libraries: built.libraries, dropped: built.dropped, firstError: built.firstError, logTail: built.logTail };
    if (built.status !== 'ok') return { ...base, status: 'failed', artifactKey: '', artifactDir: '' };
    const outcome: SelftestsOutcome = { ...base, status: 'ok', artifactKey: key, artifactDir: '' };
    const set = o.env.artifacts.put(key, built.files.map((f) => join(built.outDir, f)), { kernel: kernel.artifactKey, outcome: JSON.stringify(outcome) });
    return { ...outcome, artifactDir: set.dir };
  } finally {
    rmSync(obj, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
}

/** The shipped files of a stored set, for the guest. */
export function selftestsFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f !== 'manifest.json').sort();
}
