import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { RESULT_KINDS, type ResultsKind } from '../bpf/expand.js';
import { RUNNERS, type Runner } from '../bpf/runners.js';

/** One line of the plan the init reads: names travel unquoted through `read`, so they are restricted. */
export const TEST_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

/** Environment for a test's command: names a shell can export, values plain. */
const EnvSchema = z
  .record(
    z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'environment names are [A-Z0-9_]'),
    z.union([z.string(), z.number()]).transform(String),
  )
  .default({});

/**
 * A test suite: a directory under selftests/ with a suite.yaml saying which
 * kernel config it boots, which host binaries the guest needs, and the
 * tests, each a shell command run by the guest init in the suite directory.
 */
const TestSchema = z.object({
  name: z.string().regex(TEST_NAME, 'test names are [A-Za-z0-9._+-], starting with a letter or digit'),
  description: z.string().optional(),
  run: z.string().min(1),
  env: EnvSchema,
  /** Seconds; the guest kills the test after this, the host gives up on the guest a little later. */
  timeout: z.number().int().positive().optional(),
  /** This test's results, when not read the suite's way. */
  results: z.enum(RESULT_KINDS).optional(),
});

const SuiteSchema = z.object({
  description: z.string().min(1),
  /**
   * tests: each test passes or fails (the test stage). perf: each test is a
   * pktgen scenario run repeatedly on base and series for throughput (the
   * perf stage).
   */
  kind: z.enum(['tests', 'perf']).default('tests'),
  /** Environment every test gets; a test's own env wins. */
  env: EnvSchema,
  /**
   * Programs of the suite's own, in C: the host builds each statically
   * (cc -static) and the guest finds it on PATH (/ksci/bin/<name>).
   */
  tools: z
    .array(
      z.object({
        name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
        source: z.string().regex(/^(?!.*(?:^|\/)\.\.(?:\/|$))[^/].*\.c$/, 'a .c file of the suite directory'),
      }),
    )
    .default([]),
  /** The build config (build.configs) whose kernel this suite boots. */
  config: z.string().min(1),
  /** Default per-test timeout, seconds. */
  timeout: z.number().int().positive().default(60),
  /** Host executables put in the guest at the same path, with their shared libraries. */
  binaries: z.array(z.string().startsWith('/')).default([]),
  /** Extra kernel command line for this suite's boots. */
  cmdline: z.array(z.string().regex(/^\S+$/, 'one kernel parameter per entry')).default([]),
  /** How its tests' results are read (RESULT_KINDS); a test may say otherwise. */
  results: z.enum(RESULT_KINDS).default('exit-code'),
  /** Build products the guest needs besides the kernel: bpf-selftests puts test_progs and its files in /ksci/suite/bpf-selftests. */
  needs: z.array(z.enum(['bpf-selftests'])).default([]),
  /**
   * With bpf-selftests: the runners the build stage builds for this suite
   * (make targets of tools/testing/selftests/bpf); they land side by side
   * in /ksci/suite/bpf-selftests, a flavour's objects in its subdirectory.
   */
  bpfRunners: z.array(z.enum(RUNNERS)).min(1).default(['test_progs']),
  vm: z
    .object({ memoryMiB: z.number().int().min(128).optional(), cpus: z.number().int().min(1).max(64).optional() })
    .default({}),
  tests: z.array(TestSchema).min(1),
});

export interface SuiteTest {
  name: string;
  run: string;
  description?: string;
  /** Exported before the command runs. */
  env?: Record<string, string>;
  timeoutSeconds: number;
  /** A retry of some of a runner's tests: the guest gets their ids in the file $KSCI_ONLY. */
  only?: string[];
  /** How its results are read (a loaded suite's: its `results`, unless the test says otherwise); exit-code when absent. */
  results?: ResultsKind;
}

export interface Suite {
  name: string;
  dir: string;
  description: string;
  kind: 'tests' | 'perf';
  config: string;
  binaries: string[];
  tools: { name: string; source: string }[];
  cmdline: string[];
  needs: 'bpf-selftests'[];
  bpfRunners: Runner[];
  vm: { memoryMiB?: number | undefined; cpus?: number | undefined };
  tests: SuiteTest[];
  /** Files of the suite directory, copied to the guest's /ksci/suite. */
  files: string[];
  /** Changes when anything the guest runs changes: part of the base results' cache key. */
  hash: string;
}

export const GUEST_INIT = join(packageRoot, 'selftests', 'guest', 'init');

export function suitesDir(configured: string | null): string {
  return configured ?? join(packageRoot, 'selftests');
}

export function loadSuite(dir: string, name: string): Suite {
  const suiteDir = join(dir, name);
  const file = join(suiteDir, 'suite.yaml');
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT')
      throw new UsageError(
        `no test suite "${name}" (${file} does not exist)`,
        `suites are the directories of ${dir} with a suite.yaml`,
      );
    throw new UsageError(`${file}: ${e.message}`);
  }
  const parsed = SuiteSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new UsageError(`${file}: ${first.path.join('.') || 'top level'}: ${first.message}`);
  }
  const s = parsed.data;
  const seen = new Set<string>();
  for (const t of s.tests) {
    if (seen.has(t.name)) throw new UsageError(`${file}: test "${t.name}" is listed twice`);
    seen.add(t.name);
  }
  for (const tool of s.tools) {
    if (!statSafe(join(suiteDir, tool.source)))
      throw new UsageError(`${file}: tool ${tool.name}: ${tool.source} is not a file of ${suiteDir}`);
  }
  const files = listFiles(suiteDir).filter((f) => f !== 'suite.yaml');
  const h = createHash('sha256').update(readFileSync(GUEST_INIT));
  for (const f of ['suite.yaml', ...files]) h.update(`\0${f}\0`).update(readFileSync(join(suiteDir, f)));
  return {
    name,
    dir: suiteDir,
    description: s.description,
    kind: s.kind,
    config: s.config,
    binaries: s.binaries,
    tools: s.tools,
    cmdline: s.cmdline,
    needs: s.needs,
    bpfRunners: s.bpfRunners,
    vm: s.vm,
    tests: s.tests.map((t) => ({
      name: t.name,
      ...(t.description ? { description: t.description } : {}),
      run: t.run,
      env: { ...s.env, ...t.env },
      timeoutSeconds: t.timeout ?? s.timeout,
      results: t.results ?? s.results,
    })),
    files,
    hash: h.digest('hex'),
  };
}

function statSafe(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(relative(root, p));
    }
  };
  walk(root);
  return out.sort();
}
