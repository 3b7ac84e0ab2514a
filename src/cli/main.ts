import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import YAML from 'yaml';
import { onShutdown, openServices, startWorkers, VM_ROLE } from '../app/services.js';
import { openRedis } from '../queue/redis.js';
import { QUEUES } from '../queue/names.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { Coordinator, type BuildRequest } from '../coordinator/coordinator.js';
import { startIngestWorker, submitToService } from '../coordinator/ingest.js';
import { CancelledError, EXIT, KsciError, UsageError, errorMessage, type ExitCode } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { requestCancel } from '../queue/cancel.js';
import { pipelineStages, rolesOf } from '../stages/index.js';
import type { RunRecord, RunStatus } from '../store/results.js';
import { settle } from '../vm/compare.js';
import { loadKnownSplats } from '../splat/known.js';
import { vmSettings } from '../vm/settings.js';
import { selftestsGuestFiles } from '../build/bpf-selftests.js';
import { loadSuite, suitesDir } from '../suite/suite.js';
import { runKernel } from '../vm/kernel-run.js';
import { configureSandboxUser } from '../sandbox/identity.js';
import { sandboxAvailable } from '../sandbox/run.js';
import { checkEnvironment } from './doctor.js';
import { loadInput } from './input.js';
import { formatKernelRun } from './vm.js';
import { printStatus } from './status.js';
import { analyzeAb, runAb } from '../perf/ab.js';
import { loadPerfSuite, perfPlan, perfRunner, perfScenarios, perfThresholds } from '../perf/plan.js';
import { formatPerf } from '../stages/perf/result.js';
import { detectChangePoints } from '../perf/changepoint.js';
import { bisectRange, changePointOptions, measureTreeHead, trackNightly } from '../perf/nightly.js';
import { formatPps } from '../perf/stats.js';
import { scheduleNightly, startNightlyWorker } from '../perf/schedule.js';
import { Queue } from 'bullmq';
import { EmailReporter, formatMail, previewReply } from '../notify/email/reply.js';
import { smtpSender } from '../notify/email/send.js';
import { nightlyIssuePublisher, startGitHubBot } from '../app/github.js';
import { scheduleLorePolls, startLoreWorker } from '../lore/schedule.js';
import { formatPoll, loreSubmitter, pollThroughService } from '../app/lore.js';

const STATUS_EXIT: Record<RunStatus, ExitCode> = {
  queued: EXIT.infra,
  running: EXIT.infra,
  passed: EXIT.ok,
  skipped: EXIT.ok,
  failed: EXIT.verdictFail,
  error: EXIT.infra,
  cancelled: EXIT.cancelled,
};

interface GlobalOpts {
  config?: string;
  dataDir?: string;
}

function setup(cmd: Command): { config: Config; file: string | null; log: Logger } {
  const g = cmd.optsWithGlobals<GlobalOpts>();
  const env = { ...process.env, ...(g.dataDir ? { KSCI_DATA_DIR: resolve(g.dataDir) } : {}) };
  const { config, file } = loadConfig({ file: g.config, env });
  configureSandboxUser(config.sandbox.user);
  mkdirSync(config.dataDir, { recursive: true });
  return { config, file, log: createLogger('ksci') };
}

function parseIntOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`expected a positive whole number, got "${v}"`);
  return n;
}

function parseList(v: string): string[] {
  return v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

interface BuildOpts {
  kconfig?: string[];
  toolchain?: 'gcc' | 'llvm';
  perPatch?: boolean;
  suite?: string[];
  perf?: boolean;
  perfBisect?: boolean;
}

function buildRequest(opts: BuildOpts): BuildRequest {
  return {
    ...(opts.kconfig ? { configs: opts.kconfig } : {}),
    ...(opts.toolchain ? { toolchain: opts.toolchain } : {}),
    ...(opts.perPatch ? { perPatch: true } : {}),
    ...(opts.suite ? { suites: opts.suite } : {}),
    ...(opts.perf ? { perf: true } : {}),
    ...(opts.perfBisect ? { perfBisect: true } : {}),
  };
}

const program = new Command();
program
  .name('ksci')
  .description('Kernel patch-series test orchestrator: apply, build, boot and test a series against its base tree.')
  .option(
    '-c, --config <file>',
    'configuration file (YAML); default: $KSCI_CONFIG, ./ksci.yaml, ~/.config/ksci/config.yaml',
  )
  .option('--data-dir <dir>', 'data directory (default: $KSCI_DATA_DIR or ~/.local/share/ksci)')
  .showHelpAfterError()
  .exitOverride();

program
  .command('run')
  .description(
    'run the whole pipeline on a series (mbox file, single patch, directory of .patch files, or a message on lore) with in-process workers, and print the report',
  )
  .argument(
    '<series>',
    'mbox, .patch/.eml file, directory of format-patch output, GitHub PR URL, lore URL or Message-ID',
  )
  .option('-f, --force', 'run even if this series version was already run on this tree')
  .option('-t, --tree <name>', 'test on this tree instead of routing by subject tag')
  .option('--series-version <n>', 'pick this version from an mbox that holds several', parseIntOption)
  .option('-o, --output <file>', 'also write the Markdown report here')
  .option('--timeout <seconds>', 'give up waiting after this long', parseIntOption)
  .option(
    '-k, --kconfig <names>',
    'kernel configs to build, comma-separated (build.configs: vm, bpf, perf, debug)',
    parseList,
  )
  .addOption(new Option('--toolchain <name>', 'compiler to build with').choices(['gcc', 'llvm']))
  .option('--per-patch', 'also build after each patch and name the first that breaks the build')
  .option(
    '-s, --suite <names>',
    'test suites to boot the kernels with, comma-separated (selftests/: smoke, ...)',
    parseList,
  )
  .option('--perf', 'also measure pktgen throughput, base vs series (perf.suites; builds the perf config)')
  .option(
    '--perf-bisect',
    'like --perf, and when a scenario regresses, bisect the patches for the one that costs it (builds after each patch)',
  )
  .action(
    async (
      path: string,
      opts: { force?: boolean; tree?: string; seriesVersion?: number; output?: string; timeout?: number } & BuildOpts,
      cmd: Command,
    ) => {
      const { config, log } = setup(cmd);
      // Parse before starting anything: bad input is reported in milliseconds and touches nothing.
      const input = await loadInput(path, config, opts.seriesVersion);
      const series = input.series;
      log.info(
        { title: series.title, version: series.version, patches: series.patches.length, source: input.source },
        'series loaded',
      );

      const services = await openServices(config, log, { db: true });
      const stages = pipelineStages(config);
      const coordinator = new Coordinator({ config, redis: services.redis, store: services.store!, stages, log });
      const workers = await startWorkers(stages, rolesOf(stages), services);
      let runId: string | null = null;
      const stop = async () => {
        await workers.close();
        await coordinator.close();
        await services.close();
      };
      const removeHandlers = onShutdown(
        log,
        async () => {
          if (runId) await coordinator.cancel(runId, 'interrupted by the user');
        },
        () => process.exit(EXIT.interrupted),
      );
      try {
        await coordinator.start({ reconcileEveryMs: 5000 });
        const sub = await coordinator.submit(series, {
          force: opts.force ?? false,
          ...(opts.tree ? { tree: opts.tree } : {}),
          build: buildRequest(opts),
          requestedBy: 'cli',
          source: input.source,
          ...(input.routeOrder ? { routeOrder: input.routeOrder } : {}),
          ...(input.lineage ? { lineage: input.lineage } : {}),
          ...(!opts.tree && input.tree ? { tree: input.tree } : {}),
        });
        runId = sub.runId;
        if (!sub.created)
          process.stderr.write(
            `ksci: this series version was already run on ${sub.tree} as run ${sub.runId}; showing that run (--force runs it again)\n`,
          );
        else process.stderr.write(`ksci: run ${sub.runId} queued on tree ${sub.tree} (${sub.treeReason})\n`);
        for (const old of sub.superseded)
          process.stderr.write(`ksci: cancelled run ${old} of an earlier version of this series\n`);
        const rec = await coordinator.waitForRun(sub.runId, (opts.timeout ?? 0) * 1000);
        const file = writeReport(config, rec, opts.output);
        process.stdout.write(rec.reportText ?? `${rec.status}: ${rec.summary ?? ''}\n`);
        process.stdout.write(`\nReport: ${file}\n`);
        process.exitCode = STATUS_EXIT[rec.status];
      } finally {
        removeHandlers();
        await stop();
      }
    },
  );

program
  .command('submit')
  .description('hand a series to a running "ksci serve" and print the run id')
  .argument('<series>', 'mbox or .patch file')
  .option('-f, --force', 'run even if this series version was already run')
  .option('-t, --tree <name>', 'test on this tree instead of routing by subject tag')
  .option('--timeout <seconds>', 'how long to wait for the coordinator to accept it', parseIntOption, 60)
  .option('-k, --kconfig <names>', 'kernel configs to build, comma-separated', parseList)
  .addOption(new Option('--toolchain <name>', 'compiler to build with').choices(['gcc', 'llvm']))
  .option('--per-patch', 'also build after each patch')
  .option('-s, --suite <names>', 'test suites to boot the kernels with, comma-separated', parseList)
  .option('--perf', 'also measure pktgen throughput, base vs series')
  .option('--perf-bisect', 'like --perf, and bisect a regression over the patches')
  .action(async (path: string, opts: { force?: boolean; tree?: string; timeout: number } & BuildOpts, cmd: Command) => {
    const { config, log } = setup(cmd);
    const abs = resolve(path);
    const size = statSafe(abs);
    if (size > config.limits.maxMboxBytes)
      throw new UsageError(`${abs} is ${size} bytes, over the ${config.limits.maxMboxBytes}-byte limit`);
    const services = await openServices(config, log, { db: false });
    try {
      const sub = await submitToService(
        services.redis,
        {
          mboxBase64: readFileSync(abs).toString('base64'),
          ref: abs,
          force: opts.force ?? false,
          ...(opts.tree ? { tree: opts.tree } : {}),
          build: buildRequest(opts),
          requestedBy: 'cli',
        },
        opts.timeout * 1000,
      );
      process.stdout.write(`${sub.runId}\n`);
      process.stderr.write(
        sub.created
          ? `ksci: queued on ${sub.tree} (${sub.treeReason})\n`
          : `ksci: already run as ${sub.runId} (--force runs it again)\n`,
      );
    } finally {
      await services.close();
    }
  });

program
  .command('serve')
  .description('run the coordinator: accepts submissions, records results; optionally with workers in-process')
  .option('--with-workers', 'also run every worker role in this process')
  .action(async (opts: { withWorkers?: boolean }, cmd: Command) => {
    const { config, log } = setup(cmd);
    const services = await openServices(config, log, { db: true });
    const stages = pipelineStages(config);
    const coordinator = new Coordinator({ config, redis: services.redis, store: services.store!, stages, log });
    await coordinator.start();
    const ingest = startIngestWorker(coordinator, { redis: services.redis, config, log });
    const workers = opts.withWorkers ? await startWorkers(stages, rolesOf(stages), services) : null;
    const github = config.github.app ? await startGitHubBot({ config, coordinator, services, log }) : null;
    // Nightly tracking lives with the coordinator: it records into the results database.
    const nightly = config.perf.nightly.trees.length
      ? new Queue(QUEUES.nightly, { connection: services.redis.connection })
      : null;
    const onAlerts =
      github && config.github.nightlyIssues ? nightlyIssuePublisher(config, github.client, log) : undefined;
    const nightlyWorker = nightly
      ? startNightlyWorker({
          config,
          store: services.store!,
          connection: services.redis.connection,
          redis: () => services.redis.client(),
          log,
          ...(onAlerts ? { onAlerts } : {}),
        })
      : null;
    if (nightly)
      log.info(
        { schedulers: await scheduleNightly(nightly, config), cron: config.perf.nightly.cron },
        'nightly tracking scheduled',
      );
    // Lore polling lives with the coordinator too: it submits to it and remembers what it saw in the results database.
    const lore = new Queue(QUEUES.lore, { connection: services.redis.connection });
    const loreWorker = startLoreWorker({
      config,
      store: services.lore!,
      submit: loreSubmitter(coordinator),
      connection: services.redis.connection,
      log,
    });
    log.info(
      { schedulers: await scheduleLorePolls(lore, config), everySeconds: config.lore.pollSeconds },
      'lore polling scheduled',
    );
    // Always on: without SMTP every reply is recorded as not sent, so turning SMTP on later mails no backlog.
    const replies = new EmailReporter({
      config,
      results: services.store!,
      email: services.email!,
      sender: config.email.smtp ? smtpSender(config.email.smtp) : null,
      connection: services.redis.connection,
      log,
    });
    replies.start();
    coordinator.on(
      'run-finished',
      (rec) =>
        void replies
          .enqueue(rec.id)
          .catch((err) =>
            log.error(
              { runId: rec.id, err: errorMessage(err) },
              'could not queue the reply; it is queued on the next start',
            ),
          ),
    );
    log.info(
      {
        missed: await replies.reconcile(),
        smtp: config.email.smtp ? `${config.email.smtp.host}:${config.email.smtp.port}` : null,
      },
      'email replies on',
    );
    if (!config.email.smtp && config.lore.lists.some((l) => l.reply.mode !== 'off'))
      log.warn('lore.lists ask for replies but email.smtp is not set: no mail is sent');
    log.info(
      { redis: services.redis.where, queues: workers?.workers.map((w) => w.queue) ?? [] },
      'coordinator running',
    );
    await untilStopped(log, async (force) => {
      await nightlyWorker?.close(force);
      await nightly?.close();
      await loreWorker.close(force);
      await lore.close();
      await replies.close(force);
      await github?.close(force);
      await workers?.close(force);
      await ingest.close(force);
      await coordinator.close();
      await services.close();
    });
  });

program
  .command('worker')
  .description(
    'run stage workers of the given roles (vm: only boot VMs from the ksci-vm queue, for test.vmHosts: queue)',
  )
  .addOption(
    new Option('-r, --role <role...>', 'roles to run')
      .choices([...rolesOf(pipelineStages()), VM_ROLE])
      .makeOptionMandatory(),
  )
  .action(async (opts: { role: string[] }, cmd: Command) => {
    const { config, log } = setup(cmd);
    // A database server can be shared (test history for reports); the embedded PGlite belongs to the coordinator.
    const services = await openServices(config, log, { db: config.databaseUrl !== null });
    const workers = await startWorkers(pipelineStages(config), opts.role, services);
    await untilStopped(log, async (force) => {
      await workers.close(force);
      await services.close();
    });
  });

program
  .command('test')
  .description(
    'boot a kernel image in QEMU and run a test suite in it (what the test stage does for one kernel; the reproducer in reports)',
  )
  .requiredOption('--kernel <bzImage>', 'kernel image to boot')
  .option('-s, --suite <name>', 'suite (a directory of selftests/ with a suite.yaml)', 'smoke')
  .option('--only <tests>', 'run only these tests of the suite, comma-separated', parseList)
  .addOption(new Option('--accel <accel>', 'QEMU accelerator').choices(['auto', 'kvm', 'tcg']))
  .option('--retries <n>', 'run a failing test again this many times', (v) => Number(v))
  .option('-j, --parallel <n>', 'VMs at once, each with a share of the tests', parseIntOption)
  .option('-o, --out <dir>', 'console and channel logs go here (default: a new directory under the data dir)')
  .option(
    '--selftests <dir>',
    "the BPF selftests build a suite that needs them runs (its artifact directory, as a report's reproducer names it)",
  )
  .action(
    async (
      opts: {
        kernel: string;
        suite: string;
        only?: string[];
        accel?: 'auto' | 'kvm' | 'tcg';
        retries?: number;
        parallel?: number;
        out?: string;
        selftests?: string;
      },
      cmd: Command,
    ) => {
      const { config, log } = setup(cmd);
      const kernel = resolve(opts.kernel);
      if (statSafe(kernel) <= 0) throw new UsageError(`no kernel image at ${kernel}`);
      const full = loadSuite(suitesDir(config.test.suitesDir), opts.suite);
      if (full.kind === 'perf')
        throw new UsageError(
          `suite ${full.name} is a perf suite`,
          `measure it with: ksci perf --base ${opts.kernel} --series ${opts.kernel} --suite ${full.name}`,
        );
      const unknown = (opts.only ?? []).filter((n) => !full.tests.some((t) => t.name === n));
      if (unknown.length)
        throw new UsageError(
          `suite ${full.name} has no test(s) ${unknown.join(', ')}`,
          `its tests: ${full.tests.map((t) => t.name).join(', ')}`,
        );
      const suite = opts.only ? { ...full, tests: full.tests.filter((t) => opts.only!.includes(t.name)) } : full;
      const selftests = opts.selftests ? resolve(opts.selftests) : null;
      if (full.needs.includes('bpf-selftests') && !selftests)
        throw new UsageError(
          `suite ${full.name} runs the BPF selftests: --selftests names the build to run`,
          "a report's reproducer names it; the build stage stores one per kernel under the data directory's artifacts/",
        );
      if (selftests && !full.bpfRunners.some((r) => existsSync(join(selftests, r))))
        throw new UsageError(`${selftests} holds none of suite ${full.name}'s runners (${full.bpfRunners.join(', ')})`);
      const outDir = resolve(
        opts.out ?? join(config.dataDir, 'vm', `${new Date().toISOString().replace(/[:.]/g, '-')}-${suite.name}`),
      );
      const ctl = new AbortController();
      const removeHandlers = onShutdown(
        log,
        async () => ctl.abort(),
        () => process.exit(EXIT.interrupted),
      );
      try {
        const vm = vmSettings(config, suite);
        const run = await runKernel({
          kernel,
          suite,
          ...vm,
          accel: opts.accel ?? vm.accel,
          retries: opts.retries ?? vm.retries,
          maxBoots: Math.max(vm.maxBoots, opts.parallel ?? 1),
          parallel: opts.parallel ?? vm.parallel,
          ...(selftests ? { extraFiles: selftestsGuestFiles(selftests) } : {}),
          known: loadKnownSplats(config),
          tree: 'local',
          outDir,
          log,
          signal: ctl.signal,
          onProgress: (m) => process.stderr.write(`ksci: ${m}\n`),
        });
        process.stdout.write(formatKernelRun(run, outDir));
        const bad =
          run.bootFailure !== null ||
          run.splats.length > 0 ||
          run.tests.some((t) => settle(t.attempts) === 'fail' || settle(t.attempts) === 'not-run');
        process.exitCode = bad ? EXIT.verdictFail : EXIT.ok;
      } finally {
        removeHandlers();
      }
    },
  );

function parseSet(v: string, prev: Record<string, string> = {}): Record<string, string> {
  const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(v);
  if (!m) throw new UsageError(`--set takes NAME=VALUE (e.g. PKTGEN_COUNT=200000), got "${v}"`);
  return { ...prev, [m[1]!]: m[2]! };
}

program
  .command('perf')
  .description(
    'pktgen A/B: boot two kernel images in turn (base, series, series, base, ...) and compare throughput per scenario',
  )
  .requiredOption('--base <bzImage>', 'the reference kernel')
  .requiredOption('--series <bzImage>', 'the kernel under test (the same image for an A/A check)')
  .option('-s, --suite <name>', 'perf suite (selftests/<name>, kind: perf)', 'pktgen')
  .option('--only <scenarios>', 'only these scenarios, comma-separated', parseList)
  .option('--rounds <n>', 'sessions per kernel', parseIntOption)
  .option('--warmup <n>', 'dropped runs per scenario and session', (v) => Number(v))
  .option('--repetitions <n>', 'kept runs per scenario and session', parseIntOption)
  .option('--set <NAME=VALUE>', 'scenario parameter for every run (repeatable)', parseSet)
  .option('--modules <files>', 'kernel modules (.ko) the guest loads first, comma-separated, in order', parseList)
  .addOption(new Option('--accel <accel>', 'QEMU accelerator').choices(['auto', 'kvm', 'tcg']))
  .option('--json', 'print the samples and verdicts as JSON')
  .option('-o, --out <dir>', 'consoles and per-run files go here (default: a new directory under the data dir)')
  .action(
    async (
      opts: {
        base: string;
        series: string;
        suite: string;
        only?: string[];
        rounds?: number;
        warmup?: number;
        repetitions?: number;
        set?: Record<string, string>;
        modules?: string[];
        accel?: 'auto' | 'kvm' | 'tcg';
        json?: boolean;
        out?: string;
      },
      cmd: Command,
    ) => {
      const { config, log } = setup(cmd);
      const kernels = { base: resolve(opts.base), series: resolve(opts.series) };
      for (const k of Object.values(kernels)) if (statSafe(k) <= 0) throw new UsageError(`no kernel image at ${k}`);
      if (opts.warmup !== undefined && !(Number.isInteger(opts.warmup) && opts.warmup >= 0))
        throw new UsageError('--warmup takes a whole number >= 0');
      const suite = loadPerfSuite(config, opts.suite);
      const scenarios = perfScenarios(suite, { ...config.perf.set, ...opts.set }, opts.only);
      const plan = perfPlan(config, scenarios, {
        ...(opts.rounds ? { rounds: opts.rounds } : {}),
        ...(opts.warmup !== undefined ? { warmup: opts.warmup } : {}),
        ...(opts.repetitions ? { repetitions: opts.repetitions } : {}),
      });
      const outDir = resolve(
        opts.out ?? join(config.dataDir, 'perf', `${new Date().toISOString().replace(/[:.]/g, '-')}-${suite.name}`),
      );
      const ctl = new AbortController();
      const removeHandlers = onShutdown(
        log,
        async () => ctl.abort(),
        () => process.exit(EXIT.interrupted),
      );
      try {
        // A bare-metal host is locked through Redis; a VM needs none.
        const redis =
          config.perf.runner === 'vm'
            ? null
            : await openRedis({ redisUrl: config.redisUrl, dataDir: config.dataDir, log });
        try {
          const { runner, exclusive } = await perfRunner(config, suite, {
            tree: 'local',
            log,
            ...(redis ? { redis: () => redis.client() } : {}),
            ...(opts.modules ? { modules: opts.modules.map((m) => resolve(m)) } : {}),
            ...(opts.accel ? { accel: opts.accel } : {}),
          });
          const run = await exclusive(
            (signal) =>
              runAb(runner, plan, kernels, {
                outDir,
                log,
                signal,
                onProgress: (m) => process.stderr.write(`ksci: ${m}\n`),
              }),
            ctl.signal,
          );
          if (ctl.signal.aborted) throw new CancelledError('cancelled');
          const verdicts = analyzeAb(run, scenarios, perfThresholds(config), config.perf.sampleUnit);
          process.stdout.write(
            opts.json
              ? `${JSON.stringify({ plan: { ...plan, scenarios: scenarios.map((s) => s.name) }, run, verdicts }, null, 2)}\n`
              : formatPerf(run, verdicts, config.perf.sampleUnit),
          );
          const bad =
            run.stoppedBy !== null ||
            verdicts.some((v) => v.comparison?.verdict === 'regression' || v.comparison === null);
          process.exitCode = bad ? EXIT.verdictFail : EXIT.ok;
        } finally {
          await redis?.stop();
        }
      } finally {
        removeHandlers();
      }
    },
  );

const nightlyCmd = program
  .command('nightly')
  .description('nightly throughput tracking of tree heads (perf.nightly; `ksci serve` runs it on schedule)');

nightlyCmd
  .command('run')
  .description(
    'build and measure the head of a tree now, record it, and alert on change points (what the nightly job does)',
  )
  .argument('<tree>', 'tree name (trees: in the config)')
  .action(async (tree: string, _opts: unknown, cmd: Command) => {
    const { config, log } = setup(cmd);
    const services = await openServices(config, log, { db: true });
    try {
      const jobId = `manual-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      const result = await measureTreeHead(config, tree, {
        jobId,
        log,
        redis: () => services.redis.client(),
        onProgress: (m) => process.stderr.write(`ksci: ${m}\n`),
      });
      const alerts = await trackNightly(services.store!, result, { config, log });
      process.stdout.write(
        `${tree} at ${result.commit.slice(0, 12)}:\n${result.points.map((p) => `  ${p.scenario}: ${formatPps(p.value)} pps (${p.samples.length} sessions)`).join('\n')}\n`,
      );
      for (const m of result.missing) process.stdout.write(`  ${m}: no valid runs\n`);
      for (const a of alerts) process.stdout.write(`\n${a.report}`);
    } finally {
      await services.close();
    }
  });

nightlyCmd
  .command('bisect')
  .description(
    'find the commit of a change point: build commits of good..bad (first-parent) and compare each with good, binary search',
  )
  .argument('<tree>', 'tree name')
  .argument('<scenario>', 'suite/scenario, e.g. pktgen/dummy-xmit')
  .argument('<good>', 'last commit before the change')
  .argument('<bad>', 'first commit after it')
  .action(async (tree: string, scenario: string, good: string, bad: string, _opts: unknown, cmd: Command) => {
    const { config, log } = setup(cmd);
    const redis =
      config.perf.runner === 'vm' ? null : await openRedis({ redisUrl: config.redisUrl, dataDir: config.dataDir, log });
    try {
      const r = await bisectRange(
        config,
        tree,
        { good, bad, scenario },
        {
          log,
          ...(redis ? { redis: () => redis.client() } : {}),
          onProgress: (m) => process.stderr.write(`ksci: ${m}\n`),
        },
      );
      const probes = r.probes.map(
        (p) =>
          `  ${p.counter}/${r.commits}: ${p.verdict}${p.change !== null ? ` (${(p.change * 100).toFixed(1)}%)` : ''}`,
      );
      process.stdout.write(
        `${r.culprit ? `first commit that moves ${scenario}: ${r.culprit.title}` : 'no culprit'}\n${probes.join('\n')}\n${r.note ? `note: ${r.note}\n` : ''}`,
      );
    } finally {
      await redis?.stop();
    }
  });

nightlyCmd
  .command('show')
  .description("a tree's nightly history per scenario, its change points and the alerts sent")
  .argument('<tree>', 'tree name')
  .action(async (tree: string, _opts: unknown, cmd: Command) => {
    const { config, log } = setup(cmd);
    const services = await openServices(config, log, { db: true });
    try {
      const store = services.store!;
      const cpo = changePointOptions(config);
      const out: string[] = [];
      for (const scenario of await store.nightlyScenarios(tree)) {
        const history = await store.nightlyHistory(tree, scenario);
        const points = detectChangePoints(
          history.map((p) => ({ commit: p.commit, time: p.measuredAt, value: p.value })),
          cpo,
        );
        out.push(`${scenario}: ${history.length} nights`);
        for (const p of history)
          out.push(
            `  ${p.measuredAt.slice(0, 16)}  ${p.commit.slice(0, 12)}  ${formatPps(p.value)} pps${points.some((c) => history[c.index] === p) ? '  <- change' : ''}`,
          );
        for (const c of points)
          out.push(
            `  change point: ${c.direction} ${(c.change * 100).toFixed(1)}% between ${c.lastGood.slice(0, 12)} and ${c.firstChanged.slice(0, 12)} (p=${c.p.toPrecision(2)})`,
          );
        for (const a of await store.alerts(tree, scenario))
          out.push(
            `  alerted ${a.createdAt.slice(0, 16)}: ${a.direction} ${(a.change * 100).toFixed(1)}% at ${a.firstChanged.slice(0, 12)}`,
          );
      }
      process.stdout.write(out.length ? `${out.join('\n')}\n` : `no nightly history for ${tree}\n`);
    } finally {
      await services.close();
    }
  });

const loreCmd = program
  .command('lore')
  .description(
    'lore (public-inbox) lists: polling state and polls on demand (lore.lists; `ksci serve` polls on schedule)',
  );

loreCmd
  .command('poll')
  .description('poll lists now through the running "ksci serve", and print what was found')
  .argument('[lists...]', 'list names (default: every configured list)')
  .option('--timeout <seconds>', 'how long to wait for the poll', parseIntOption, 300)
  .action(async (names: string[], opts: { timeout: number }, cmd: Command) => {
    const { config, log } = setup(cmd);
    const lists = names.length ? names : config.lore.lists.map((l) => l.name);
    const unknown = lists.filter((n) => !config.lore.lists.some((l) => l.name === n));
    if (lists.length === 0) throw new UsageError('no lore lists are configured', 'add lore.lists to the config file');
    if (unknown.length)
      throw new UsageError(
        `no list(s) ${unknown.join(', ')}`,
        `configured: ${config.lore.lists.map((l) => l.name).join(', ') || 'none'}`,
      );
    const services = await openServices(config, log, { db: false });
    try {
      for (const list of lists) {
        const r = await pollThroughService(services.redis, list, opts.timeout * 1000);
        process.stdout.write(formatPoll(r));
      }
    } finally {
      await services.close();
    }
  });

loreCmd
  .command('status')
  .description('per list: last poll, and what became of the patches seen')
  .option('-n, --limit <n>', 'messages to list per list', parseIntOption, 20)
  .action(async (opts: { limit: number }, cmd: Command) => {
    const { config, log } = setup(cmd);
    const services = await openServices(config, log, { db: true });
    try {
      const out: string[] = [];
      for (const l of config.lore.lists) {
        const st = await services.lore!.state(l.name);
        out.push(
          `${l.name} (${l.url}${l.poll ? '' : ', not polled'}): last poll ${st.lastPollAt?.toISOString() ?? 'never'}${st.lastError ? `, last error: ${st.lastError}` : ''}`,
        );
        for (const m of await services.lore!.messages(l.name, {
          limit: opts.limit,
          status: ['pending', 'submitted', 'incomplete', 'invalid'],
        })) {
          out.push(`  ${m.status.padEnd(10)} ${m.title.slice(0, 60)}${m.detail ? `\n             ${m.detail}` : ''}`);
        }
      }
      process.stdout.write(out.length ? `${out.join('\n')}\n` : 'no lore lists are configured (lore.lists)\n');
    } finally {
      await services.close();
    }
  });

program
  .command('status')
  .description('queues, workers and recent runs')
  .option('--json', 'machine-readable output')
  .option('-n, --limit <n>', 'how many runs to list', parseIntOption, 10)
  .action(async (opts: { json?: boolean; limit: number }, cmd: Command) => {
    const { config, log } = setup(cmd);
    await printStatus(config, log, opts);
  });

program
  .command('show')
  .alias('report')
  .description(
    "print a run's report; with --email, the reply ksci sends (or would send) on the list, without sending it",
  )
  .argument('<run>', 'run id (or its first 8+ characters)')
  .option('--markdown', 'Markdown instead of plain text')
  .option('--email', 'the plain-text reply with its headers, and whether policy sends it')
  .action(async (id: string, opts: { markdown?: boolean; email?: boolean }, cmd: Command) => {
    const { config, log } = setup(cmd);
    const services = await openServices(config, log, { db: true });
    try {
      if (opts.email) {
        const plan = await previewReply(config, services.store!, id);
        process.stdout.write(formatMail(plan.mail));
        process.stderr.write(
          plan.skip
            ? `ksci: this reply is not sent: ${plan.skip}\n`
            : 'ksci: policy sends this reply when the run finishes (ksci serve)\n',
        );
        return;
      }
      const rec = await services.store!.getRun(id);
      if (!rec) throw new UsageError(`no run ${id}`, '"ksci status" lists runs');
      const body = opts.markdown ? rec.reportMarkdown : rec.reportText;
      process.stdout.write(
        body ??
          `run ${rec.id}: ${rec.status}${rec.summary ? ` — ${rec.summary}` : ''}\n${rec.stages.map((s) => `  ${s.name}: ${s.status}${s.error ? ` (${s.error})` : ''}`).join('\n')}\n`,
      );
      process.exitCode = STATUS_EXIT[rec.status];
    } finally {
      await services.close();
    }
  });

program
  .command('cancel')
  .description('cancel a queued or running run')
  .argument('<run>', 'full run id')
  .action(async (id: string, _opts: unknown, cmd: Command) => {
    const { config, log } = setup(cmd);
    const services = await openServices(config, log, { db: false });
    try {
      const client = services.redis.client();
      await requestCancel(client, { run: id }, 'cancelled by the user');
      client.disconnect();
      process.stderr.write(`ksci: cancel requested for ${id}; running stages stop, waiting ones will not start\n`);
    } finally {
      await services.close();
    }
  });

const configCmd = program.command('config').description('configuration');
configCmd
  .command('check')
  .description('validate the configuration and the machine it needs, and print the result')
  .action(async (_opts: unknown, cmd: Command) => {
    const { config, file } = setup(cmd);
    process.stdout.write(`# ${file ? `from ${file}` : 'embedded defaults'} (+ environment)\n${YAML.stringify(config)}`);
    const problems = await checkEnvironment(config);
    const sandbox = await sandboxAvailable();
    if (sandbox.ok) process.stderr.write(`sandbox: ${sandbox.identity}\nsandbox: ${sandbox.resources}\n`);
    for (const p of problems) process.stderr.write(`problem: ${p}\n`);
    if (problems.length > 0) process.exitCode = EXIT.usage;
    else process.stderr.write('configuration OK\n');
  });

function statSafe(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    throw new UsageError(`cannot read ${path}`);
  }
}

function writeReport(config: Config, rec: RunRecord, output: string | undefined): string {
  const dir = join(config.dataDir, 'reports');
  mkdirSync(dir, { recursive: true });
  const md = rec.reportMarkdown ?? `## ksci: ${rec.status}\n\n${rec.summary ?? ''}\n`;
  const file = join(dir, `${rec.id}.md`);
  writeFileSync(file, md);
  if (output) writeFileSync(resolve(output), md);
  return output ? resolve(output) : file;
}

function untilStopped(log: Logger, stop: (force: boolean) => Promise<void>): Promise<void> {
  return new Promise<void>((done) => {
    const remove = onShutdown(
      log,
      async () => {
        await stop(false);
        remove();
        done();
      },
      () => {
        void stop(true).finally(() => process.exit(EXIT.interrupted));
      },
    );
  });
}

export async function main(argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (
      err &&
      typeof err === 'object' &&
      'code' in err &&
      typeof (err as { code: unknown }).code === 'string' &&
      (err as { code: string }).code.startsWith('commander.')
    ) {
      const code = (err as { code: string; exitCode?: number }).code;
      process.exitCode = code === 'commander.helpDisplayed' || code === 'commander.version' ? EXIT.ok : EXIT.usage;
      return;
    }
    if (err instanceof KsciError) {
      process.stderr.write(`ksci: error: ${err.message}\n`);
      if (err.hint) process.stderr.write(`ksci: hint: ${err.hint}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(
      `ksci: internal error: ${errorMessage(err)}\n${err instanceof Error && err.stack ? err.stack + '\n' : ''}`,
    );
    process.stderr.write(
      'ksci: hint: this is a bug or an unexpected environment problem; the run was not recorded as a verdict\n',
    );
    process.exitCode = EXIT.infra;
  }
}
