import { Argument, Command, Option } from 'commander';
import type { Context } from '../app/context.js';
import { LOG_FORMATS, type LogFormat } from '../app/log-format.js';
import type { BuildRequest } from '../coordinator/coordinator.js';
import { EXIT, KsciError, UsageError, errorMessage } from '../errors.js';

/*
 * The command line only: commands, their options, and a dispatch to
 * src/app/, which does the work and returns the exit code. Each command
 * imports its module when it runs, so a quick one (ksci series, ksci show)
 * does not start up with the queue, database and GitHub clients.
 */

interface GlobalOpts {
  config?: string;
  dataDir?: string;
  logFormat?: LogFormat;
}

/** `live`: the command can show a live view (see createContext). */
async function context(cmd: Command, opts: { live?: boolean } = {}): Promise<Context> {
  const g = cmd.optsWithGlobals<GlobalOpts>();
  const { createContext } = await import('../app/context.js');
  return createContext({ configFile: g.config, dataDir: g.dataDir, logFormat: g.logFormat }, opts);
}

function parseIntOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`expected a positive whole number, got "${v}"`);
  return n;
}

/** -m <id> or -m '<id>': Message-IDs are kept without their angle brackets. */
function bareMessageId(v: string | undefined): string | undefined {
  return v?.replace(/^<(.*)>$/, '$1');
}

function parseList(v: string): string[] {
  return v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

function parseSet(v: string, prev: Record<string, string> = {}): Record<string, string> {
  const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(v);
  if (!m) throw new UsageError(`--set takes NAME=VALUE (e.g. PKTGEN_COUNT=200000), got "${v}"`);
  return { ...prev, [m[1]!]: m[2]! };
}

interface BuildOpts {
  kconfig?: string[];
  toolchain?: 'gcc' | 'llvm';
  perPatch?: boolean;
  suite?: string[];
  perf?: boolean;
  perfBisect?: boolean;
  clock?: 'auto' | 'icount' | 'wall';
}

function clockOption(): Option {
  return new Option(
    '--clock <clock>',
    'what times the perf guest: icount (QEMU counts instructions: immune to host load, TCG only), wall, or auto (perf.clock: icount under TCG)',
  ).choices(['auto', 'icount', 'wall']);
}

function buildRequest(opts: BuildOpts): BuildRequest {
  return {
    ...(opts.kconfig ? { configs: opts.kconfig } : {}),
    ...(opts.toolchain ? { toolchain: opts.toolchain } : {}),
    ...(opts.perPatch ? { perPatch: true } : {}),
    ...(opts.suite ? { suites: opts.suite } : {}),
    ...(opts.perf ? { perf: true } : {}),
    ...(opts.perfBisect ? { perfBisect: true } : {}),
    ...(opts.clock ? { perfClock: opts.clock } : {}),
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
  .addOption(
    new Option(
      '--log-format <format>',
      'ksci run: "pretty" shows a live view of the stages and writes the JSON log to <data-dir>/logs/; "json" keeps JSON lines on stderr; "auto" is pretty on a terminal',
    )
      .choices(LOG_FORMATS)
      .default('auto'),
  )
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
  .option('-m, --message-id <id>', 'from an mbox that holds several series: the one this message is in')
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
  .addOption(clockOption())
  .action(
    async (
      path: string,
      opts: {
        force?: boolean;
        tree?: string;
        seriesVersion?: number;
        messageId?: string;
        output?: string;
        timeout?: number;
      } & BuildOpts,
      cmd: Command,
    ) => {
      const { force, tree, seriesVersion, output, timeout } = opts;
      const messageId = bareMessageId(opts.messageId);
      const run = { force, tree, seriesVersion, messageId, output, timeoutSeconds: timeout, build: buildRequest(opts) };
      const { runSeries } = await import('../app/run.js');
      process.exitCode = await runSeries(await context(cmd, { live: true }), path, run);
    },
  );

program
  .command('series')
  .description(
    'assemble a series as `ksci run` would and print it: patches in order, the trailers replies gave and where each came from, those refused (like `b4 am`); runs nothing',
  )
  .argument(
    '<series>',
    'mbox, .patch/.eml file, directory of format-patch output, GitHub PR URL, lore URL or Message-ID',
  )
  .option('--series-version <n>', 'pick this version from an mbox that holds several', parseIntOption)
  .option('-m, --message-id <id>', 'from an mbox that holds several series: the one this message is in')
  .option('-o, --output <mbox>', 'also write the mbox the apply stage gives `git am`')
  .option('--json', 'print the series as JSON (without the raw mail)')
  .action(
    async (
      arg: string,
      opts: { seriesVersion?: number; messageId?: string; output?: string; json?: boolean },
      cmd: Command,
    ) => {
      const { showSeries } = await import('../app/series.js');
      const messageId = bareMessageId(opts.messageId);
      process.exitCode = await showSeries(await context(cmd), arg, {
        version: opts.seriesVersion,
        messageId,
        output: opts.output,
        json: opts.json,
      });
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
  .addOption(clockOption())
  .action(async (path: string, opts: { force?: boolean; tree?: string; timeout: number } & BuildOpts, cmd: Command) => {
    const { force, tree, timeout } = opts;
    const submit = { force, tree, timeoutSeconds: timeout, build: buildRequest(opts) };
    const { submitSeries } = await import('../app/run.js');
    process.exitCode = await submitSeries(await context(cmd), path, submit);
  });

program
  .command('serve')
  .description('run the coordinator: accepts submissions, records results; optionally with workers in-process')
  .option('--with-workers', 'also run every worker role in this process')
  .action(async (opts: { withWorkers?: boolean }, cmd: Command) => {
    const { serve } = await import('../app/serve.js');
    process.exitCode = await serve(await context(cmd), opts);
  });

program
  .command('worker')
  .description(
    'run stage workers of the given roles (vm: only boot VMs from the ksci-vm queue, for test.vmHosts: queue)',
  )
  .requiredOption('-r, --role <role...>', 'roles to run (an unknown one is refused with the list of roles)')
  .action(async (opts: { role: string[] }, cmd: Command) => {
    const { runWorkers, workerRoles } = await import('../app/serve.js');
    const unknown = opts.role.filter((r) => !workerRoles().includes(r));
    if (unknown.length > 0)
      throw new UsageError(`no worker role ${unknown.join(', ')}`, `the roles are: ${workerRoles().join(', ')}`);
    process.exitCode = await runWorkers(await context(cmd), opts.role);
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
      const { testKernel } = await import('../app/local.js');
      process.exitCode = await testKernel(await context(cmd), opts);
    },
  );

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
  .addOption(clockOption())
  .option('--min-rounds <n>', 'rounds before the verdict is first looked at (perf.minRounds)', parseIntOption)
  .option('--base-append <args>', "kernel arguments for the base kernel's boots (e.g. init_on_free=1)")
  .option(
    '--series-append <args>',
    "kernel arguments for the series kernel's boots: the same image with init_on_free=1 is a real slowdown",
  )
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
        clock?: 'auto' | 'icount' | 'wall';
        minRounds?: number;
        baseAppend?: string;
        seriesAppend?: string;
        json?: boolean;
        out?: string;
      },
      cmd: Command,
    ) => {
      const { perfKernels } = await import('../app/local.js');
      process.exitCode = await perfKernels(await context(cmd), opts);
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
    const { nightlyRun } = await import('../app/nightly.js');
    process.exitCode = await nightlyRun(await context(cmd), tree);
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
    const { nightlyBisect } = await import('../app/nightly.js');
    process.exitCode = await nightlyBisect(await context(cmd), { tree, scenario, good, bad });
  });

nightlyCmd
  .command('show')
  .description("a tree's nightly history per scenario, its change points and the alerts sent")
  .argument('<tree>', 'tree name')
  .action(async (tree: string, _opts: unknown, cmd: Command) => {
    const { nightlyShow } = await import('../app/nightly.js');
    process.exitCode = await nightlyShow(await context(cmd), tree);
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
    const { lorePoll } = await import('../app/lore.js');
    process.exitCode = await lorePoll(await context(cmd), names, { timeoutSeconds: opts.timeout });
  });

loreCmd
  .command('status')
  .description('per list: last poll, and what became of the patches seen')
  .option('-n, --limit <n>', 'messages to list per list', parseIntOption, 20)
  .action(async (opts: { limit: number }, cmd: Command) => {
    const { loreStatus } = await import('../app/lore.js');
    process.exitCode = await loreStatus(await context(cmd), opts);
  });

program
  .command('status')
  .description('queues, workers and recent runs')
  .option('--json', 'machine-readable output')
  .option('-n, --limit <n>', 'how many runs to list', parseIntOption, 10)
  .action(async (opts: { json?: boolean; limit: number }, cmd: Command) => {
    const { printStatus } = await import('../app/status.js');
    process.exitCode = await printStatus(await context(cmd), opts);
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
    const { showRun } = await import('../app/runs.js');
    process.exitCode = await showRun(await context(cmd), id, opts);
  });

program
  .command('cancel')
  .description('cancel a queued or running run')
  .argument('<run>', 'full run id')
  .action(async (id: string, _opts: unknown, cmd: Command) => {
    const { cancelRun } = await import('../app/runs.js');
    process.exitCode = await cancelRun(await context(cmd), id);
  });

const webCmd = program.command('web').description('the dashboard that `ksci serve` serves (web: in the config)');
webCmd
  .command('token')
  .description('admin logins of the dashboard: add NAME prints a new token once; list; revoke NAME')
  .addArgument(new Argument('<action>').choices(['add', 'list', 'revoke']))
  .argument('[name]', 'who the token is for')
  .action(async (action: 'add' | 'list' | 'revoke', name: string | undefined, _opts: unknown, cmd: Command) => {
    const { webToken } = await import('../app/web.js');
    process.exitCode = webToken(await context(cmd), action, name);
  });

const configCmd = program.command('config').description('configuration');
configCmd
  .command('check')
  .description('validate the configuration and the machine it needs, and print the result')
  .action(async (_opts: unknown, cmd: Command) => {
    const { checkConfig } = await import('../app/check.js');
    process.exitCode = await checkConfig(await context(cmd));
  });

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
