import { z } from 'zod';
import { BareMetalHostSchema, GitHubConfigSchema, SmtpConfigSchema } from './integrations.js';

/** Where a tree's history comes from. */
const TreeSource = z.discriminatedUnion('kind', [
  z.object({
    /** Any git URL or local path; ksci keeps its own bare mirror and never touches the original. */
    kind: z.literal('git'),
    url: z.string().min(1),
  }),
  z.object({
    /**
     * Debian's linux-source-X package: the tarball is unpacked and committed
     * once into a git repository in the cache, so a new user needs no checkout.
     */
    kind: z.literal('debian-linux-source'),
    tarball: z.string().min(1).default('/usr/src/linux-source-6.12.tar.xz'),
  }),
]);

const Tree = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'tree names are [A-Za-z0-9._-]'),
  source: TreeSource,
  branch: z.string().min(1).default('master'),
  /** Subject tags that route a series here, e.g. [bpf-next]. */
  tags: z
    .array(
      z
        .string()
        .min(1)
        .transform((s) => s.toLowerCase()),
    )
    .default([]),
});

/** A kernel configuration a run can ask for: a starting target plus fragments from kconfigs/. */
const KernelConfig = z.object({
  base: z.enum(['tinyconfig', 'allnoconfig', 'defconfig']).default('tinyconfig'),
  /** File names in the kconfig directory without ".config", applied in order (later lines win). */
  fragments: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/)).min(1),
});

const BUILD_DEFAULTS = {
  kconfigDir: null,
  configs: {
    vm: { base: 'tinyconfig' as const, fragments: ['vm'] },
    bpf: { base: 'tinyconfig' as const, fragments: ['vm', 'bpf'] },
    // Lean on purpose: the bpf fragment's subsystems (netfilter, kprobes, BTF) would be measured too.
    perf: { base: 'tinyconfig' as const, fragments: ['vm', 'pktgen', 'perf'] },
    debug: { base: 'tinyconfig' as const, fragments: ['vm', 'bpf', 'debug'] },
  },
  defaultConfigs: ['vm'],
  arch: 'x86_64' as const,
  toolchain: 'gcc' as const,
  jobs: 0,
  perPatch: false,
  timeoutMinutes: 180,
  cpuSecondsPerProcess: 3600,
  maxFileGiB: 4,
  maxBuildDirGiB: 30,
  memoryGiB: null,
  maxProcesses: 4096,
  tmpGiB: 2,
  ccacheDir: null,
  ccacheMaxSize: '20G',
  newWarnings: 'fail' as const,
};

const Build = z.object({
  /** Where fragments live; null: the kconfigs/ directory shipped with ksci. */
  kconfigDir: z.string().min(1).nullable().default(null),
  configs: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/), KernelConfig).default(BUILD_DEFAULTS.configs),
  /** Configs built for a run that names none. */
  defaultConfigs: z.array(z.string().min(1)).min(1).default(BUILD_DEFAULTS.defaultConfigs),
  arch: z.enum(['x86_64']).default('x86_64'),
  toolchain: z.enum(['gcc', 'llvm']).default('gcc'),
  /** make -j; 0: one per core this worker has. */
  jobs: z.number().int().min(0).default(0),
  /** Also build after each patch to name the first one that breaks the build. */
  perPatch: z.boolean().default(false),
  /** Limits on the (untrusted) build: wall clock for one make, CPU seconds and file size per process, build directory size. */
  timeoutMinutes: z.number().positive().default(BUILD_DEFAULTS.timeoutMinutes),
  cpuSecondsPerProcess: z.number().int().positive().default(BUILD_DEFAULTS.cpuSecondsPerProcess),
  maxFileGiB: z.number().positive().default(BUILD_DEFAULTS.maxFileGiB),
  maxBuildDirGiB: z.number().positive().default(BUILD_DEFAULTS.maxBuildDirGiB),
  /** Memory of one build's processes together (cgroup, where the host offers one); null: three quarters of this host's RAM. */
  memoryGiB: z.number().positive().nullable().default(BUILD_DEFAULTS.memoryGiB),
  /** Processes and threads of one build at once (cgroup pids.max, else RLIMIT_NPROC): a fork bomb stops here. */
  maxProcesses: z.number().int().min(64).default(BUILD_DEFAULTS.maxProcesses),
  /** The build's private /tmp (tmpfs, host RAM): its size cap. */
  tmpGiB: z.number().positive().default(BUILD_DEFAULTS.tmpGiB),
  /** null: ~/.cache/ksci/ccache ($XDG_CACHE_HOME), shared by every data directory of the user. */
  ccacheDir: z.string().min(1).nullable().default(null),
  ccacheMaxSize: z
    .string()
    .regex(/^\d+(\.\d+)?[KMGT]?$/)
    .default('20G'),
  /** A series that adds compiler warnings: fails the build stage (as netdev's checks do), or is only reported. */
  newWarnings: z.enum(['fail', 'report']).default('fail'),
});

const TEST_DEFAULTS = {
  suitesDir: null,
  suites: ['smoke'],
  knownSplats: null,
  accel: 'auto' as const,
  memoryMiB: 1024,
  cpus: 2,
  bootTimeoutSeconds: 180,
  runTimeoutMinutes: 60,
  testGraceSeconds: 30,
  maxOutputMiB: 64,
  retries: 1,
  maxBoots: 4,
  parallel: 1,
  vmHosts: 'local' as const,
  vmSlots: 1,
  busybox: '/bin/busybox',
};

const Test = z.object({
  /** Where suites live (a directory per suite with a suite.yaml); null: the selftests/ shipped with ksci. */
  suitesDir: z.string().min(1).nullable().default(null),
  /** Suites run for a run that names none. */
  suites: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/)).default(TEST_DEFAULTS.suites),
  /** Splats to ignore, each with a reason (YAML); null: selftests/known-splats.yaml. */
  knownSplats: z.string().min(1).nullable().default(null),
  /** auto: KVM when /dev/kvm works, else TCG emulation. */
  accel: z.enum(['auto', 'kvm', 'tcg']).default('auto'),
  memoryMiB: z.number().int().min(128).default(TEST_DEFAULTS.memoryMiB),
  cpus: z.number().int().min(1).max(64).default(TEST_DEFAULTS.cpus),
  /** From QEMU's start to the guest init's first word. TCG is slow: minutes, not seconds. */
  bootTimeoutSeconds: z.number().int().positive().default(TEST_DEFAULTS.bootTimeoutSeconds),
  /** One boot: all its tests and the shutdown. */
  runTimeoutMinutes: z.number().positive().default(TEST_DEFAULTS.runTimeoutMinutes),
  /** The host waits this long past a test's timeout before it calls the guest hung (the guest's own watchdog acts first). */
  testGraceSeconds: z.number().int().min(0).default(TEST_DEFAULTS.testGraceSeconds),
  maxOutputMiB: z.number().positive().default(TEST_DEFAULTS.maxOutputMiB),
  /** A failing test runs again in a fresh boot this many times; failing then passing is flaky, not failed. */
  retries: z.number().int().min(0).max(3).default(TEST_DEFAULTS.retries),
  /** Boots per kernel and suite at most (first run, continuing after crashes, retries). */
  maxBoots: z.number().int().min(1).max(50).default(TEST_DEFAULTS.maxBoots),
  /** VMs per kernel booted at once, each with a share of the tests (longest first, by the base's durations). */
  parallel: z.number().int().min(1).max(16).default(TEST_DEFAULTS.parallel),
  /**
   * Where the test stage boots its VMs. local: on the host running the test
   * stage. queue: each boot is a job of the ksci-vm queue, taken by any
   * process of the test (or vm) worker role, so `parallel` VMs can run on
   * several hosts; they must mount the data directory at the same path.
   */
  vmHosts: z.enum(['local', 'queue']).default(TEST_DEFAULTS.vmHosts),
  /** Boots a VM host runs at once from ksci-vm (with vmHosts: queue). */
  vmSlots: z.number().int().min(1).max(64).default(TEST_DEFAULTS.vmSlots),
  /** A static busybox: the guest's userspace. */
  busybox: z.string().startsWith('/').default(TEST_DEFAULTS.busybox),
});
export type TestConfig = z.infer<typeof Test>;

const PERF_DEFAULTS = {
  suites: ['pktgen'],
  clock: 'auto' as const,
  icount: { shift: 0, sleep: false, align: false },
  minRounds: 3,
  rounds: 8,
  warmup: 1,
  repetitions: 3,
  sampleUnit: 'session' as const,
  thresholds: {},
  runner: 'vm',
  memoryMiB: 1024,
  // One vCPU: one TCG thread on the host, where two competed with each other
  // and the host's own work (runs within a session spread 2-3x wider at 2).
  cpus: 1,
  set: {},
  modules: [],
  hosts: [],
  nightly: { trees: [], cron: '0 2 * * *', tz: 'UTC', alpha: 0.001, minSegment: 3 },
};

const Thresholds = z
  .object({
    /** Smallest relative change called a change (0.02 = 2%). */
    minChange: z.number().min(0).max(1),
    /** "No change" needs the interval within this band. */
    equivalence: z.number().min(0).max(1),
    /** Bound on false alarms per comparison, over all its looks. */
    alpha: z.number().gt(0).lt(1),
    /** The least noise (sd of a round's log ratio) a verdict assumes. */
    noiseFloor: z.number().min(0).max(1),
  })
  .partial()
  .strict();

const Perf = z.object({
  /** Perf suites (kind: perf) run by the perf stage and `ksci perf`. */
  suites: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/)).default(PERF_DEFAULTS.suites),
  /**
   * What times the guest: `icount` (QEMU counts instructions: rates become
   * guest instructions per packet, immune to host load; TCG only), `wall`
   * (the host's time), or `auto`: icount for QEMU under TCG, wall under KVM
   * and on bare-metal hosts (src/perf/clock.ts).
   */
  clock: z.enum(['auto', 'icount', 'wall']).default(PERF_DEFAULTS.clock),
  /** QEMU's -icount settings: 2^shift ns of guest time per instruction; sleep and align off keep it a pure count. */
  icount: z
    .object({
      shift: z.number().int().min(0).max(10).default(0),
      sleep: z.boolean().default(false),
      align: z.boolean().default(false),
    })
    .default(PERF_DEFAULTS.icount),
  /** Paired rounds (a base and a series session each) before the verdict is first looked at. */
  minRounds: z.number().int().min(2).max(100).default(PERF_DEFAULTS.minRounds),
  /** The most rounds a comparison takes: it stops earlier once decided (src/perf/sequential.ts). */
  rounds: z.number().int().min(2).max(100).default(PERF_DEFAULTS.rounds),
  /** Runs of each scenario per session that are dropped (they warm caches). */
  warmup: z.number().int().min(0).max(20).default(PERF_DEFAULTS.warmup),
  /** Kept runs of each scenario per session. */
  repetitions: z.number().int().min(1).max(100).default(PERF_DEFAULTS.repetitions),
  /** One number per session (the median of its runs), or every run (see src/perf/ab.ts). */
  sampleUnit: z.enum(['session', 'run']).default(PERF_DEFAULTS.sampleUnit),
  /** Overrides of the decision thresholds per clock (src/perf/plan.ts CLOCK_THRESHOLDS). */
  thresholds: z.object({ wall: Thresholds, icount: Thresholds }).partial().strict().default(PERF_DEFAULTS.thresholds),
  /** Where the scenarios run: "vm" (QEMU on the perf worker) or the name of one of `hosts`. */
  runner: z.string().min(1).default(PERF_DEFAULTS.runner),
  /** Bare-metal test hosts reached over SSH (src/perf/baremetal.ts); one perf job per host at a time. */
  hosts: z.array(BareMetalHostSchema).default([]),
  memoryMiB: z.number().int().min(128).default(PERF_DEFAULTS.memoryMiB),
  cpus: z.number().int().min(1).max(64).default(PERF_DEFAULTS.cpus),
  /** Kernel modules (.ko) perf VMs load first, in order: for kernels that build pktgen, dummy or veth as modules. */
  modules: z.array(z.string().startsWith('/')).default([]),
  /**
   * Nightly tracking: the heads of these trees are built and measured on
   * the cron schedule (by `ksci serve`), and a change point in a scenario's
   * history is alerted once.
   */
  nightly: z
    .object({
      trees: z.array(z.string().min(1)).default([]),
      cron: z.string().min(1).default('0 2 * * *'),
      /** The cron pattern's time zone. */
      tz: z.string().min(1).default('UTC'),
      /** Change-point detection (src/perf/changepoint.ts DEFAULT_CHANGEPOINT_OPTIONS). */
      alpha: z.number().gt(0).lt(1).default(0.001),
      /** Smallest step alerted; unset: 3% on the wall clock, 0.5% on icount. */
      minChange: z.number().min(0).max(1).optional(),
      minSegment: z.number().int().min(2).default(3),
    })
    .default(PERF_DEFAULTS.nightly),
  /** Scenario parameters for every run (PKTGEN_COUNT: 300000 ...), over the suite's own. */
  set: z
    .record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/), z.union([z.string(), z.number()]).transform(String))
    .default(PERF_DEFAULTS.set),
});
export type PerfConfig = z.infer<typeof Perf>;

/** Who gets ksci's reply to a series from a list. */
const ReplyPolicy = z.object({
  /** off: no mail; author: to the author only; list: to the list, the author in Cc (as the reference bots do). */
  mode: z.enum(['off', 'author', 'list']).default('off'),
  /** Opt-in: when not empty, only authors matching one of these (an address, or "*@domain") get a reply. */
  allow: z.array(z.string().min(3)).default([]),
  /** Also copied on every reply (a maintainer, a CI archive list). */
  cc: z.array(z.string().email()).default([]),
});

const LoreList = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'list names are [A-Za-z0-9._-]'),
  /** The inbox on a public-inbox server, e.g. https://lore.kernel.org/bpf/ */
  url: z
    .string()
    .url()
    .transform((u) => (u.endsWith('/') ? u : `${u}/`)),
  /** The list's posting address: To: of replies in "list" mode. */
  address: z.string().email(),
  /** Poll it on schedule (`ksci serve`); off: only `ksci run <message-id>` and `ksci lore poll` use it. */
  poll: z.boolean().default(true),
  /** Trees a series from this list may go to, in order, when no subject tag names one (base-commit, then "applies to"). */
  trees: z.array(z.string().min(1)).default([]),
  reply: ReplyPolicy.default({ mode: 'off', allow: [], cc: [] }),
});

const LORE_DEFAULTS = {
  lists: [],
  pollSeconds: 300,
  incompleteWaitMinutes: 120,
  maxThreadBytes: 32 * 1024 * 1024,
  timeoutSeconds: 60,
  lookupUrl: 'https://lore.kernel.org/all/',
  searchPages: 10,
};

const Lore = z.object({
  lists: z.array(LoreList).default(LORE_DEFAULTS.lists),
  /** How often `ksci serve` polls each list. */
  pollSeconds: z.number().int().min(10).default(LORE_DEFAULTS.pollSeconds),
  /** How long a series with parts missing is waited for before it is recorded as incomplete. */
  incompleteWaitMinutes: z.number().min(0).default(LORE_DEFAULTS.incompleteWaitMinutes),
  /** A thread larger than this (decompressed) is refused. */
  maxThreadBytes: z.number().int().positive().default(LORE_DEFAULTS.maxThreadBytes),
  timeoutSeconds: z.number().int().positive().default(LORE_DEFAULTS.timeoutSeconds),
  /** Where `ksci run <message-id>` looks when no configured list has the message; null: nowhere else. */
  lookupUrl: z
    .string()
    .url()
    .transform((u) => (u.endsWith('/') ? u : `${u}/`))
    .nullable()
    .default(LORE_DEFAULTS.lookupUrl),
  /** When more mail arrived between two polls than the feed holds, this many search pages fill the gap. */
  searchPages: z.number().int().min(0).max(100).default(LORE_DEFAULTS.searchPages),
});
export type LoreConfig = z.infer<typeof Lore>;
export type LoreListConfig = LoreConfig['lists'][number];

const Email = z.object({
  /** The replies' From:; its domain names their Message-IDs. */
  from: z.string().min(3).default('ksci <ksci@localhost>'),
  /** null: no mail is sent (`ksci report --email` still previews it). */
  smtp: SmtpConfigSchema.nullable().default(null),
  /** Verdicts that get a reply (an infrastructure error is ksci's problem, not the author's). */
  on: z.array(z.enum(['pass', 'fail', 'error'])).default(['pass', 'fail']),
});
export type EmailConfig = z.infer<typeof Email>;

const GitHubRepo = z.object({
  /** "owner/name" of the kernel fork whose pull requests are tested. */
  repo: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'repo is "owner/name"'),
  /** The tree its PRs are tested on; null: routed like mail (the PR's base commit finds the tree). */
  tree: z.string().min(1).nullable().default(null),
  /** Test draft PRs too. */
  drafts: z.boolean().default(false),
  /** A PR with this label is not tested. */
  skipLabel: z.string().min(1).default('ksci:skip'),
  /** A PR with this label also gets the pktgen runs (perf.suites). */
  perfLabel: z.string().min(1).default('ksci:perf'),
});

const GITHUB_DEFAULTS = {
  app: null,
  tokenEnv: 'GITHUB_TOKEN',
  webhook: { host: '127.0.0.1', port: 8090 },
  pollSeconds: 0,
  maxCommits: 100,
  repos: [],
  nightlyIssues: null,
};

const GitHub = z.object({
  /** The GitHub App ksci acts as (check runs, comments, labels); null: no PR bot. */
  app: GitHubConfigSchema.nullable().default(null),
  /** For `ksci run <PR URL>` without an App: the environment variable holding a token (read access is enough). */
  tokenEnv: z.string().min(1).default(GITHUB_DEFAULTS.tokenEnv),
  /** Where `ksci serve` listens for the App's webhook deliveries (put a TLS proxy in front). */
  webhook: z
    .object({ host: z.string().min(1).default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(8090) })
    .default(GITHUB_DEFAULTS.webhook),
  /** Poll open PRs this often when webhooks cannot reach ksci; 0: webhooks only. */
  pollSeconds: z.number().int().min(0).default(GITHUB_DEFAULTS.pollSeconds),
  /** A PR with more commits is refused. */
  maxCommits: z.number().int().min(1).max(250).default(GITHUB_DEFAULTS.maxCommits),
  repos: z.array(GitHubRepo).default(GITHUB_DEFAULTS.repos),
  /** Nightly change points (perf.nightly) as issues in this repository, one per change, updated when seen again; null: none. */
  nightlyIssues: z
    .object({
      repo: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/),
      label: z.string().min(1).default('ksci:perf-change'),
    })
    .nullable()
    .default(null),
});
export type GitHubBotConfig = z.infer<typeof GitHub>;
export type GitHubRepoConfig = GitHubBotConfig['repos'][number];

const WEB_DEFAULTS = { enabled: true, host: '127.0.0.1', port: 8080, publicRead: true, baseUrl: null };
/** The dashboard and its JSON API, served by `ksci serve` (src/web). */
const Web = z.object({
  enabled: z.boolean().default(WEB_DEFAULTS.enabled),
  /** Loopback by default: put a TLS proxy in front to publish it. */
  host: z.string().min(1).default(WEB_DEFAULTS.host),
  /** 0: any free port (printed at start). */
  port: z.number().int().min(0).max(65535).default(WEB_DEFAULTS.port),
  /** Whether reading pages needs no login; admin actions always need one. */
  publicRead: z.boolean().default(WEB_DEFAULTS.publicRead),
  /** The dashboard's public address (https://ksci.example.org), for links in replies and check runs. */
  baseUrl: z
    .string()
    .url()
    .transform((u) => u.replace(/\/+$/, ''))
    .nullable()
    .default(WEB_DEFAULTS.baseUrl),
});
export type WebConfig = z.infer<typeof Web>;

export const ConfigSchema = z
  .object({
    dataDir: z.string().min(1),
    /** null: ksci starts a private redis-server on a unix socket in dataDir. */
    redisUrl: z.string().url().nullable().default(null),
    /** null: PGlite (in-process PostgreSQL) in dataDir. */
    databaseUrl: z.string().min(1).nullable().default(null),
    trees: z.array(Tree).min(1),
    /** Tree used when no subject tag matches. */
    defaultTree: z.string().min(1),
    routing: z
      .object({
        /** Candidate trees, in order, for the base-commit and "applies to" rules; empty: every tree, as listed. */
        order: z.array(z.string().min(1)).default([]),
      })
      .default({ order: [] }),
    lore: Lore.default(LORE_DEFAULTS),
    email: Email.default({ from: 'ksci <ksci@localhost>', smtp: null, on: ['pass', 'fail'] }),
    github: GitHub.default(GITHUB_DEFAULTS),
    /**
     * A page with a run's full results, linked from replies and check runs: "{run}" is replaced by the run id;
     * null: the dashboard's run page when web.baseUrl is set, else no link.
     */
    resultsUrl: z.string().min(1).nullable().default(null),
    web: Web.default(WEB_DEFAULTS),
    sandbox: z
      .object({
        /**
         * The unprivileged system user a root worker runs builds and boots as
         * (src/sandbox/identity.ts); a worker that is not root runs them as itself.
         */
        user: z
          .string()
          .regex(/^[a-z_][a-z0-9_-]*\$?$/, 'a user name')
          .default('ksci-sandbox'),
      })
      .default({ user: 'ksci-sandbox' }),
    queue: z
      .object({
        /** Attempts for infrastructure failures; bad input is never retried. */
        attempts: z.number().int().min(1).max(20).default(3),
        backoffMs: z.number().int().min(0).default(5000),
        /** A job whose worker stops renewing its lock for this long is handed to another worker. */
        lockDurationMs: z.number().int().min(1000).default(30000),
        stalledIntervalMs: z.number().int().min(500).default(30000),
      })
      .default({ attempts: 3, backoffMs: 5000, lockDurationMs: 30000, stalledIntervalMs: 30000 }),
    apply: z
      .object({
        /** How many base commits to compare subjects against when looking for an already-merged series. */
        mergedCheckDepth: z.number().int().min(0).default(200),
      })
      .default({ mergedCheckDepth: 200 }),
    /**
     * The stages a run goes through; null: every stage ksci has. They run in
     * the pipeline's order and the report always comes last. Which names
     * exist and what each needs is the stage registry's (src/stages/index.ts)
     * to say: it checks this list when the pipeline is put together.
     */
    stages: z
      .array(z.string().regex(/^[a-z][a-z-]*$/, 'a stage name'))
      .min(1)
      .nullable()
      .default(null),
    build: Build.default(BUILD_DEFAULTS),
    test: Test.default(TEST_DEFAULTS),
    perf: Perf.default(PERF_DEFAULTS),
    limits: z
      .object({
        /** Refuse an mbox larger than this before parsing it. */
        maxMboxBytes: z
          .number()
          .int()
          .positive()
          .default(64 * 1024 * 1024),
        /** Refuse a single message larger than this (the 50 MB "patch" is an attack, not a patch). */
        maxMessageBytes: z
          .number()
          .int()
          .positive()
          .default(10 * 1024 * 1024),
        maxPatches: z.number().int().positive().default(500),
      })
      .default({ maxMboxBytes: 64 * 1024 * 1024, maxMessageBytes: 10 * 1024 * 1024, maxPatches: 500 }),
  })
  .superRefine((cfg, ctx) => {
    const names = new Set<string>();
    for (const t of cfg.trees) {
      if (names.has(t.name))
        ctx.addIssue({ code: 'custom', path: ['trees'], message: `tree "${t.name}" is defined twice` });
      names.add(t.name);
    }
    if (!names.has(cfg.defaultTree)) {
      ctx.addIssue({
        code: 'custom',
        path: ['defaultTree'],
        message: `defaultTree "${cfg.defaultTree}" is not one of the trees`,
      });
    }
    for (const name of cfg.build.defaultConfigs) {
      if (!cfg.build.configs[name])
        ctx.addIssue({
          code: 'custom',
          path: ['build', 'defaultConfigs'],
          message: `"${name}" is not one of build.configs (${Object.keys(cfg.build.configs).join(', ')})`,
        });
    }
    for (const [i, t] of cfg.routing.order.entries()) {
      if (!names.has(t))
        ctx.addIssue({
          code: 'custom',
          path: ['routing', 'order', i],
          message: `routing tree "${t}" is not one of the trees`,
        });
    }
    const lists = new Set<string>();
    for (const [i, l] of cfg.lore.lists.entries()) {
      if (lists.has(l.name))
        ctx.addIssue({
          code: 'custom',
          path: ['lore', 'lists', i, 'name'],
          message: `list "${l.name}" is defined twice`,
        });
      lists.add(l.name);
      for (const t of l.trees) {
        if (!names.has(t))
          ctx.addIssue({
            code: 'custom',
            path: ['lore', 'lists', i, 'trees'],
            message: `list ${l.name}: tree "${t}" is not one of the trees`,
          });
      }
    }
    for (const [i, r] of cfg.github.repos.entries()) {
      if (r.tree !== null && !names.has(r.tree))
        ctx.addIssue({
          code: 'custom',
          path: ['github', 'repos', i, 'tree'],
          message: `repo ${r.repo}: tree "${r.tree}" is not one of the trees`,
        });
    }
    for (const t of cfg.perf.nightly.trees) {
      if (!names.has(t))
        ctx.addIssue({
          code: 'custom',
          path: ['perf', 'nightly', 'trees'],
          message: `nightly tree "${t}" is not one of the trees`,
        });
    }
    if (cfg.perf.runner !== 'vm' && !cfg.perf.hosts.some((h) => h.name === cfg.perf.runner)) {
      ctx.addIssue({
        code: 'custom',
        path: ['perf', 'runner'],
        message: `perf.runner "${cfg.perf.runner}" is neither "vm" nor one of perf.hosts (${cfg.perf.hosts.map((h) => h.name).join(', ') || 'none'})`,
      });
    }
    const tagOwner = new Map<string, string>();
    for (const t of cfg.trees) {
      for (const tag of t.tags) {
        const other = tagOwner.get(tag);
        if (other)
          ctx.addIssue({
            code: 'custom',
            path: ['trees'],
            message: `subject tag "${tag}" routes to both "${other}" and "${t.name}"`,
          });
        tagOwner.set(tag, t.name);
      }
    }
  });

export type Config = z.infer<typeof ConfigSchema>;

/** Whether the config turns a stage on (null turns every stage on). */
export function stageOn(config: Pick<Config, 'stages'>, name: string): boolean {
  return config.stages === null || config.stages.includes(name);
}
export type TreeConfig = Config['trees'][number];
export type BuildConfig = Config['build'];
export type KernelConfigSpec = z.infer<typeof KernelConfig>;

/** The link to a run's full results: resultsUrl, else the dashboard's run page, else null. */
export function resultsUrl(config: Pick<Config, 'resultsUrl' | 'web'>, runId: string): string | null {
  if (config.resultsUrl) return config.resultsUrl.replaceAll('{run}', runId);
  return config.web.baseUrl ? `${config.web.baseUrl}/runs/${runId}` : null;
}
