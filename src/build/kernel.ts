import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { CancelledError, InfraError } from '../errors.js';
import type { ArtifactStore } from '../artifacts/store.js';
import { describeMismatch, requestedSettings, verifyConfig, type ConfigMismatch } from '../kconfig/fragment.js';
import type { KernelConfig } from '../kconfig/load.js';
import type { Logger } from '../log.js';
import type { SandboxLimits, SandboxSpec } from '../sandbox/bwrap.js';
import { outputPath, readOutput } from '../sandbox/outputs.js';
import { runSandboxed, type SandboxRun } from '../sandbox/run.js';
import { gitAt } from '../tree/git.js';
import { withLock } from '../tree/lock.js';
import type { PreparedTree } from '../tree/trees.js';
import { analyzeBuildLog, isBuildStep, updateWarnings, type BuildLogAnalysis, type Diagnostic } from './log.js';
import type { Toolchain } from './toolchain.js';
import type { SourceTree } from './workspace.js';

const execFileP = promisify(execFile);

/** Fixed paths inside the sandbox: every build looks the same to ccache, wherever its directories are on the host. */
const SRC = '/ksci/src';
const OBJ = '/ksci/obj';
const CCACHE = '/ksci/ccache';
const KCONFIGS = '/ksci/kconfigs';

const ARTIFACT_FILES = ['arch/x86/boot/bzImage', 'vmlinux', '.config', 'System.map'];
const MAX_ERRORS = 20;
const LOG_TAIL_LINES = 40;
/**
 * What out-of-tree modules are built against (bpf_testmod for the BPF
 * selftests), packed by the kernel's own scripts/package/install-extmod-build
 * (what distributions ship as linux-headers), plus .config: kept with every
 * kernel built with modules, since a series' build directory is gone after its build.
 */
export const EXTMOD_KIT = 'extmod.tar.gz';

/** make targets for a config: modules too when its fragments turn them on (Module.symvers, and the kit above). Pure. */
export function kernelTargets(fragments: KernelConfig['fragments']): string[] {
  return requestedSettings(fragments).get('CONFIG_MODULES')?.value === 'y' ? ['bzImage', 'modules'] : ['bzImage'];
}

export interface BuildEnv {
  arch: string;
  toolchain: Toolchain;
  jobs: number;
  cacheDir: string;
  ccacheDir: string;
  ccacheMaxSize: string;
  limits: {
    timeoutMs: number;
    cpuSeconds: number;
    fileBytes: number;
    buildDirBytes: number;
    memoryBytes: number;
    pids: number;
    tmpBytes: number;
  };
  artifacts: ArtifactStore;
  log: Logger;
  signal?: AbortSignal | undefined;
  onProgress?: (p: { message: string; done?: number; total?: number }) => void;
}

const DiagnosticSchema: z.ZodType<Diagnostic> = z.object({
  severity: z.enum(['error', 'warning']),
  file: z.string().nullable(),
  line: z.number().nullable(),
  column: z.number().nullable(),
  message: z.string(),
  flag: z.string().nullable(),
  tool: z.enum(['compiler', 'linker', 'modpost', 'objtool', 'kconfig', 'make', 'other']),
  context: z.array(z.string()),
});

export const BuildOutcomeSchema = z.object({
  config: z.string(),
  commit: z.string(),
  treeId: z.string(),
  /** ok; failed: make failed; config: an option asked for did not survive olddefconfig. */
  status: z.enum(['ok', 'failed', 'config']),
  cacheHit: z.boolean(),
  durationMs: z.number(),
  artifactKey: z.string(),
  artifactDir: z.string(),
  configMismatches: z.array(
    z.object({ symbol: z.string(), requested: z.string(), actual: z.string().nullable(), from: z.string() }),
  ),
  firstError: DiagnosticSchema.nullable(),
  errors: z.array(DiagnosticSchema),
  failedTargets: z.array(z.string()),
  /** Every warning of the whole tree in this build (kept across incremental builds). */
  warnings: z.array(DiagnosticSchema),
  steps: z.number(),
  networkAttempt: z.boolean(),
  /** The end of the log when no diagnostic explains a failure. */
  logTail: z.array(z.string()),
});
export type BuildOutcome = z.infer<typeof BuildOutcomeSchema>;

/** What a persistent build directory remembers about its last build. */
const DirStateSchema = z.object({ commit: z.string(), steps: z.number(), warnings: z.array(DiagnosticSchema) });
type DirState = z.infer<typeof DirStateSchema>;

/**
 * Builds kernels for one tree and one config. The base is built in a
 * persistent directory per (tree, config, toolchain), which only ever sees
 * trusted commits of the tree itself; a series is built in a scratch copy
 * of it, so a hostile Makefile cannot leave anything behind for the next
 * series, and make still rebuilds only what the series touched.
 */
export class KernelBuilder {
  private readonly objDir: string;
  private readonly targets: string[];

  constructor(
    private readonly tree: PreparedTree,
    private readonly source: SourceTree,
    private readonly config: KernelConfig,
    private readonly env: BuildEnv,
  ) {
    this.objDir = join(
      env.cacheDir,
      'build',
      'obj',
      tree.name,
      `${config.name}-${config.hash.slice(0, 12)}-${env.toolchain.id}`,
    );
    this.targets = kernelTargets(config.fragments);
  }

  /** The artifact key: everything that decides the output. The tree's content id, not the commit id: a rebased-but-identical tree is the same build. */
  async keyOf(commit: string): Promise<{ key: string; treeId: string }> {
    const treeId = (await gitAt(this.tree.gitDir).raw(['rev-parse', `${commit}^{tree}`])).trim();
    const key = createHash('sha256')
      .update(
        JSON.stringify({
          treeId,
          config: this.config.hash,
          toolchain: this.env.toolchain.id,
          arch: this.env.arch,
          targets: this.targets,
        }),
      )
      .digest('hex');
    return { key, treeId };
  }

  cached(key: string): BuildOutcome | null {
    const set = this.env.artifacts.get(key);
    if (!set) return null;
    const parsed = BuildOutcomeSchema.safeParse(JSON.parse(readFileSync(set.path('outcome.json'), 'utf8')));
    return parsed.success ? { ...parsed.data, cacheHit: true, durationMs: 0 } : null;
  }

  /** Builds the base commit in the persistent directory (or finds it built). */
  async buildBase(commit: string): Promise<BuildOutcome> {
    const { key, treeId } = await this.keyOf(commit);
    const hit = this.cached(key);
    if (hit) return hit;
    return withLock(
      `${this.objDir}.lock`,
      async () => {
        const again = this.cached(key);
        if (again) return again;
        return this.source.use(async (checkout) => {
          mkdirSync(this.objDir, { recursive: true });
          await checkout(commit);
          const state = readState(this.objDir);
          const outcome = await this.make(this.objDir, {
            commit,
            treeId,
            key,
            label: 'base',
            trusted: true,
            before: state,
            changed: state ? await changedFiles(this.tree, state.commit, commit) : [],
          });
          if (outcome.status === 'ok')
            writeState(this.objDir, { commit, steps: outcome.steps, warnings: outcome.warnings });
          return outcome;
        }, this.env.signal);
      },
      { signal: this.env.signal, timeoutMs: 6 * 3600_000 },
    );
  }

  /**
   * Builds the series on top of its (already built) base, in a scratch copy
   * of the base's build directory. With `commits` (one per patch), builds
   * after each patch and stops at the first that fails.
   */
  async buildSeries(
    base: BuildOutcome,
    head: string,
    workDir: string,
    commits: { counter: number; commit: string }[] = [],
  ): Promise<{ head: BuildOutcome; perPatch: { counter: number; outcome: BuildOutcome }[] }> {
    const { key, treeId } = await this.keyOf(head);
    const hit = commits.length === 0 ? this.cached(key) : null;
    if (hit) return { head: hit, perPatch: [] };
    const scratch = join(workDir, `obj-${this.config.name}`);
    rmSync(scratch, { recursive: true, force: true });
    mkdirSync(workDir, { recursive: true });
    try {
      await withLock(
        `${this.objDir}.lock`,
        async () => {
          this.env.onProgress?.({ message: `copying the base build of ${this.config.name}` });
          // cp -a keeps mtimes: make then sees only what the series changed as newer.
          await execFileP('cp', ['-a', '--reflink=auto', this.objDir, scratch], { signal: this.env.signal });
        },
        { signal: this.env.signal, timeoutMs: 6 * 3600_000 },
      );
      return await this.source.use(async (checkout) => {
        const before: DirState = { commit: base.commit, steps: base.steps, warnings: base.warnings };
        const perPatch: { counter: number; outcome: BuildOutcome }[] = [];
        let prev = before;
        for (const c of commits) {
          await checkout(c.commit);
          const step = await this.keyOf(c.commit);
          const outcome = await this.make(scratch, {
            commit: c.commit,
            treeId: step.treeId,
            key: step.key,
            label: `patch ${c.counter}`,
            trusted: false,
            before: prev,
            changed: await changedFiles(this.tree, prev.commit, c.commit),
          });
          perPatch.push({ counter: c.counter, outcome });
          if (outcome.status !== 'ok') return { head: outcome, perPatch };
          prev = { commit: c.commit, steps: outcome.steps, warnings: outcome.warnings };
        }
        if (commits.length > 0 && prev.commit === head)
          return { head: perPatch[perPatch.length - 1]!.outcome, perPatch };
        await checkout(head);
        const outcome = await this.make(scratch, {
          commit: head,
          treeId,
          key,
          label: 'series',
          trusted: false,
          before: prev,
          changed: await changedFiles(this.tree, prev.commit, head),
        });
        return { head: outcome, perPatch };
      }, this.env.signal);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
      rmSync(logsDir(scratch), { recursive: true, force: true });
    }
  }

  /**
   * Configure and make in `dir` (the source is already at `commit`), analyse,
   * and store the artifacts. `trusted`: a commit of the tree itself (a base),
   * which may add to the shared ccache; a series' build only reads it.
   */
  private async make(
    dir: string,
    job: {
      commit: string;
      treeId: string;
      key: string;
      label: string;
      trusted: boolean;
      before: DirState | null;
      changed: string[];
    },
  ): Promise<BuildOutcome> {
    const { env } = this;
    const started = Date.now();
    // Beside the build directory, not in it: the build cannot swap its own log for a link to a host file.
    const logs = logsDir(dir);
    rmSync(logs, { recursive: true, force: true });
    mkdirSync(logs, { recursive: true });
    const configLog = join(logs, 'config.log');
    const buildLog = join(logs, 'build.log');
    // The .config of a directory built before with this same config stays
    // valid unless a Kconfig file changed: then configuring again (20 s
    // here) would only reproduce it. make still syncs it as usual.
    const reconfigure = !job.before || !existsSync(join(dir, '.config')) || job.changed.some(affectsKconfig);
    let base: SandboxRun = { exitCode: 0, killed: null, durationMs: 0, outOfMemory: false, processCapHit: false };
    if (reconfigure) {
      env.log.info({ config: this.config.name, commit: job.commit, label: job.label }, 'configuring');
      env.onProgress?.({ message: `${this.config.name} ${job.label}: configuring` });
      base = await this.sandboxed(dir, job.trusted, ['sh', '-ec', this.configureScript()], configLog);
    }
    let mismatches: ConfigMismatch[] = [];
    let run: SandboxRun = base;
    if (base.exitCode === 0 && base.killed === null) {
      mismatches = verifyConfig(requestedSettings(this.config.fragments), readOutput(dir, '.config'));
      if (mismatches.length === 0) {
        env.log.info({ config: this.config.name, label: job.label, jobs: env.jobs }, 'building');
        const total = job.before?.steps;
        let done = 0;
        let lastReport = 0;
        run = await this.sandboxed(dir, job.trusted, this.makeCommand(), buildLog, (line) => {
          if (!isBuildStep(line)) return;
          done++;
          const now = Date.now();
          if (now - lastReport < 2000) return;
          lastReport = now;
          // After an incremental build the previous count overstates the work: show it as a bound only.
          env.onProgress?.({
            message: `${this.config.name} ${job.label}: ${done} build steps${total ? ` (a full build has ${total})` : ''}: ${line.trim()}`,
            done,
            ...(total ? { total } : {}),
          });
        });
        if (run.exitCode === 0 && run.killed === null && this.targets.includes('modules')) {
          env.onProgress?.({ message: `${this.config.name} ${job.label}: packing the external module kit` });
          run = await this.sandboxed(dir, job.trusted, ['sh', '-ec', extmodKitScript()], buildLog);
        }
      }
    }
    if (run.killed === 'cancelled' || env.signal?.aborted)
      throw new CancelledError(`build of ${this.config.name} cancelled`);
    if (run.killed === 'timeout')
      throw new InfraError(
        `the ${this.config.name} build (${job.label}) took longer than ${Math.round(env.limits.timeoutMs / 60000)} min and was stopped`,
        'raise build.timeoutMinutes, or look for a series that makes the build hang',
      );
    if (run.killed === 'disk')
      throw new InfraError(
        `the ${this.config.name} build (${job.label}) grew past ${Math.round(env.limits.buildDirBytes / 2 ** 30)} GiB and was stopped`,
        'raise build.maxBuildDirGiB, or look for a series that fills the disk',
      );
    if (run.outOfMemory && run.exitCode !== 0)
      throw new InfraError(
        `the ${this.config.name} build (${job.label}) ran out of its memory cap (${(env.limits.memoryBytes / 2 ** 30).toFixed(1)} GiB)`,
        'raise build.memoryGiB or lower build.jobs, or look for a series that makes the build use far more memory',
      );

    const logText = [configLog, buildLog]
      .filter(existsSync)
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const analysis: BuildLogAnalysis = analyzeBuildLog(logText);
    const status: BuildOutcome['status'] = mismatches.length > 0 ? 'config' : run.exitCode === 0 ? 'ok' : 'failed';
    // Warnings of the whole tree: the previous build's, with those of the files rebuilt now replaced.
    const warnings = updateWarnings(job.before?.warnings ?? [], analysis, job.changed);
    const outcome: BuildOutcome = {
      config: this.config.name,
      commit: job.commit,
      treeId: job.treeId,
      status,
      cacheHit: false,
      durationMs: Date.now() - started,
      artifactKey: job.key,
      artifactDir: '',
      configMismatches: mismatches,
      firstError: analysis.firstError,
      errors: analysis.errors.slice(0, MAX_ERRORS),
      failedTargets: analysis.failedTargets,
      warnings,
      // The size of a full build, for progress: an incremental build's own count is smaller.
      steps: job.before ? Math.max(job.before.steps, analysis.steps) : analysis.steps,
      networkAttempt: analysis.networkAttempt,
      logTail: status === 'ok' ? [] : logText.trimEnd().split('\n').slice(-LOG_TAIL_LINES),
    };
    if (status === 'config')
      env.log.warn(
        { config: this.config.name, mismatches: mismatches.map(describeMismatch) },
        'config options did not survive olddefconfig',
      );
    env.log.info(
      {
        config: this.config.name,
        label: job.label,
        status,
        seconds: Math.round(outcome.durationMs / 1000),
        steps: analysis.steps,
        errors: analysis.errors.length,
        warnings: warnings.length,
      },
      'build finished',
    );

    const products =
      status === 'ok' ? [...ARTIFACT_FILES, ...(this.targets.includes('modules') ? [EXTMOD_KIT] : [])] : ['.config'];
    // Checked for links before they are read: the build chose what these names are.
    const files = [configLog, buildLog, ...products.map((f) => outputPath(dir, f))].filter(existsSync);
    const outcomeFile = join(logs, 'outcome.json');
    writeFileSync(outcomeFile, JSON.stringify(outcome));
    // Only deterministic results answer the next request for the same inputs:
    // a kernel, a compiler error, a config that drops options. A failure
    // nothing explains (a killed compiler, a full disk) is kept, but under a
    // key of its own, so the next request builds again.
    const deterministic =
      status !== 'failed' ||
      (analysis.firstError !== null &&
        !/Killed|Terminated|Segmentation/.test(analysis.failedTargets.join(' ') + logText.slice(-2000)));
    const storeKey = deterministic ? job.key : randomBytes(32).toString('hex');
    const set = env.artifacts.put(storeKey, [...files, outcomeFile], {
      tree: this.tree.name,
      commit: job.commit,
      treeId: job.treeId,
      config: this.config.name,
      configHash: this.config.hash,
      toolchain: env.toolchain.id,
      arch: env.arch,
    });
    const stored = { ...outcome, artifactKey: storeKey, artifactDir: set.dir };
    writeFileSync(set.path('outcome.json'), JSON.stringify(stored));
    return stored;
  }

  /** The persistent build directory of the base. */
  get baseDir(): string {
    return this.objDir;
  }

  /** make's command line for the targets, as run inside the sandbox. */
  makeCommand(): string[] {
    return ['make', ...this.makeArgs(), `-j${this.env.jobs}`, ...this.targets];
  }

  private makeArgs(): string[] {
    return [
      '-C',
      SRC,
      `O=${OBJ}`,
      `ARCH=${this.env.arch}`,
      ...this.env.toolchain.makeVars,
      'KCFLAGS=-fdiagnostics-color=never',
    ];
  }

  /**
   * The starting config, the fragments merged by the kernel's own
   * merge_config.sh, then olddefconfig to settle dependencies. Kconfig
   * files can run shell commands, so this runs in the sandbox too.
   */
  private configureScript(): string {
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const make = ['make', '-s', ...this.makeArgs()].map(q).join(' ');
    const frags = this.config.fragments.map((f) => q(`${KCONFIGS}/${f.name}.config`)).join(' ');
    return [
      `${make} ${this.config.base}`,
      // merge_config.sh makes its temporary files in the current directory: the build dir, not the read-only source.
      `cd ${OBJ} && ${SRC}/scripts/kconfig/merge_config.sh -m -O ${OBJ} ${OBJ}/.config ${frags}`,
      `${make} olddefconfig`,
    ].join('\n');
  }

  /** Runs a command in `dir` in the build sandbox (source, ccache and fragments mounted as for a build). */
  sandboxed(
    dir: string,
    trusted: boolean,
    argv: string[],
    logFile: string,
    onLine?: (l: string) => void,
  ): Promise<SandboxRun> {
    const { env } = this;
    mkdirSync(env.ccacheDir, { recursive: true });
    const kconfigDir = this.config.files[0] ? join(this.config.files[0], '..') : dir;
    const spec = kernelBuildSpec({
      sourceDir: this.source.dir,
      objDir: dir,
      ccacheDir: env.ccacheDir,
      ccacheMaxSize: env.ccacheMaxSize,
      kconfigDir,
      trusted,
      argv,
      limits: env.limits,
    });
    return runSandboxed(spec, {
      logFile,
      timeoutMs: env.limits.timeoutMs,
      signal: env.signal,
      ...(onLine ? { onLine } : {}),
      diskWatch: { dir, maxBytes: env.limits.buildDirBytes },
    });
  }
}

/**
 * The sandbox of a kernel build: the source read-only, the build directory
 * writable, the kconfig fragments read-only, and ccache. A trusted build (a
 * commit of the tree itself) reads and writes the shared ccache. A series'
 * build gets it read-only, mounted so and with ccache told so: whatever its
 * Makefile does (a fake gcc with the real one's size and mtime fools ccache's
 * default compiler check), nothing it compiled can be taken from the cache
 * by a later build. Its own objects stay in its scratch build directory.
 */
export function kernelBuildSpec(o: {
  sourceDir: string;
  objDir: string;
  ccacheDir: string;
  ccacheMaxSize: string;
  kconfigDir: string;
  trusted: boolean;
  argv: string[];
  limits: SandboxLimits;
}): SandboxSpec {
  const ccache: Record<string, string> = o.trusted
    ? { CCACHE_DIR: CCACHE, CCACHE_MAXSIZE: o.ccacheMaxSize }
    : { CCACHE_DIR: CCACHE, CCACHE_READONLY: '1', CCACHE_NOSTATS: '1', CCACHE_TEMPDIR: '/tmp/ccache' };
  return {
    binds: [
      { host: o.sourceDir, inside: SRC, writable: false },
      { host: o.objDir, inside: OBJ, writable: true },
      { host: o.ccacheDir, inside: CCACHE, writable: o.trusted },
      { host: o.kconfigDir, inside: KCONFIGS, writable: false },
    ],
    cwd: OBJ,
    env: {
      PATH: '/usr/bin:/bin:/usr/sbin:/sbin',
      HOME: '/tmp',
      LC_ALL: 'C',
      ...ccache,
      KBUILD_BUILD_USER: 'ksci',
      KBUILD_BUILD_HOST: 'ksci',
    },
    argv: o.argv,
    limits: pickLimits(o.limits),
  };
}

/** The sandbox's share of a build's limits (the rest, wall clock and build dir size, the worker watches). */
export function pickLimits(l: SandboxLimits): SandboxLimits {
  const { cpuSeconds, fileBytes, memoryBytes, pids, tmpBytes, shmBytes } = l;
  return {
    cpuSeconds,
    fileBytes,
    ...(memoryBytes ? { memoryBytes } : {}),
    ...(pids ? { pids } : {}),
    ...(tmpBytes ? { tmpBytes } : {}),
    ...(shmBytes ? { shmBytes } : {}),
  };
}

/**
 * Packs the external module kit in the build directory (run there, in the
 * sandbox). CC and HOSTCC are named equal: the script would otherwise
 * rebuild the host programs with CC, which only matters when cross-compiling.
 */
function extmodKitScript(): string {
  return [
    'rm -rf ksci-extmod',
    `srctree=${SRC} SRCARCH=x86 CC=cc HOSTCC=cc MAKE=make sh ${SRC}/scripts/package/install-extmod-build ksci-extmod`,
    'cp .config ksci-extmod/.config',
    `tar -czf ${EXTMOD_KIT} -C ksci-extmod .`,
    'rm -rf ksci-extmod',
  ].join('\n');
}

/** Kconfig sources and the kconfig tool itself decide what olddefconfig makes of the fragments. */
export function affectsKconfig(path: string): boolean {
  return (
    /(^|\/)Kconfig[^/]*$/.test(path) ||
    path.startsWith('scripts/kconfig/') ||
    /^arch\/[^/]+\/configs\//.test(path) ||
    path.startsWith('kernel/configs/')
  );
}

/** Files that differ between two commits (their warnings are recomputed). */
async function changedFiles(tree: PreparedTree, from: string, to: string): Promise<string[]> {
  if (from === to) return [];
  const out = await gitAt(tree.gitDir)
    .raw(['diff', '--name-only', '--no-renames', from, to])
    .catch(() => '');
  return out.split('\n').filter(Boolean);
}

/** Where a build directory's logs go: beside it, out of the sandbox's reach. */
function logsDir(dir: string): string {
  return `${dir}.logs`;
}

/** Beside the directory too; ksci before 0.2 kept it inside (read once, then moved). */
function stateFile(dir: string): string {
  return `${dir}.state.json`;
}

function readState(dir: string): DirState | null {
  const legacy = join(dir, 'ksci-state.json');
  if (!existsSync(stateFile(dir)) && existsSync(legacy)) renameSync(legacy, stateFile(dir));
  if (!existsSync(stateFile(dir)) || !existsSync(join(dir, '.config'))) return null;
  const parsed = DirStateSchema.safeParse(JSON.parse(readFileSync(stateFile(dir), 'utf8')));
  return parsed.success ? parsed.data : null;
}

function writeState(dir: string, state: DirState): void {
  writeFileSync(stateFile(dir), JSON.stringify(state));
}
