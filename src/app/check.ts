import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { detectToolchain } from '../build/toolchain.js';
import { stageOn, type Config } from '../config/schema.js';
import { EXIT, type ExitCode, errorMessage } from '../errors.js';
import { loadKernelConfig } from '../kconfig/load.js';
import { resolveClock } from '../perf/clock.js';
import { sandboxAvailable } from '../sandbox/run.js';
import { pipelineStages } from '../stages/index.js';
import { loadKnownSplats } from '../splat/known.js';
import { kvmDevice } from '../vm/qemu.js';
import { loadSuite, suitesDir } from '../suite/suite.js';
import type { Context } from './context.js';

const run = promisify(execFile);

async function onPath(cmd: string, args: string[]): Promise<boolean> {
  try {
    await run(cmd, args, { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** What this machine lacks for the configuration; each problem says how to fix it. */
export async function checkEnvironment(config: Config): Promise<string[]> {
  const problems: string[] = [];
  if (!(await onPath('git', ['--version']))) problems.push('git is not installed: apt-get install git');
  if (config.redisUrl === null && !(await onPath('redis-server', ['--version']))) {
    problems.push(
      'redis-server is not installed (needed for the embedded queue): apt-get install redis-server, or set REDIS_URL',
    );
  }
  for (const t of config.trees) {
    if (t.source.kind === 'debian-linux-source' && !existsSync(t.source.tarball)) {
      problems.push(`tree ${t.name}: ${t.source.tarball} is missing: apt-get install linux-source-6.12`);
    }
    if (t.source.kind === 'git' && t.source.url.startsWith('/') && !existsSync(t.source.url)) {
      problems.push(`tree ${t.name}: ${t.source.url} does not exist`);
    }
  }
  try {
    pipelineStages(config);
  } catch (err) {
    problems.push(`stages: ${errorMessage(err)}`);
  }
  const sandbox = await sandboxAvailable();
  if (!sandbox.ok)
    problems.push(
      `untrusted builds and boots cannot run: ${sandbox.why} (bubblewrap: apt-get install bubblewrap; in a container, allow namespaces)`,
    );
  if (!(await detectToolchain(config.build.toolchain)))
    problems.push(
      `the ${config.build.toolchain} toolchain is missing: apt-get install build-essential flex bison bc libelf-dev libssl-dev${config.build.toolchain === 'llvm' ? ' clang lld llvm' : ''}`,
    );
  if (!(await onPath('ccache', ['--version']))) problems.push('ccache is not installed: apt-get install ccache');
  for (const [name, spec] of Object.entries(config.build.configs)) {
    try {
      loadKernelConfig(config.build, name);
    } catch (err) {
      problems.push(`kernel config ${name} (${spec.fragments.join(', ')}): ${errorMessage(err)}`);
    }
  }
  if (stageOn(config, 'test')) {
    if (!(await onPath('qemu-system-x86_64', ['--version'])))
      problems.push('test VMs cannot run: apt-get install qemu-system-x86');
    if (!existsSync(config.test.busybox))
      problems.push(`the guest's userspace (${config.test.busybox}) is missing: apt-get install busybox-static`);
    if (!(await onPath('cpio', ['--version'])))
      problems.push('initramfs images cannot be packed: apt-get install cpio');
    const dir = suitesDir(config.test.suitesDir);
    for (const name of config.test.suites) {
      try {
        const suite = loadSuite(dir, name);
        if (!config.build.configs[suite.config])
          problems.push(`suite ${name} boots config "${suite.config}", which is not one of build.configs`);
        for (const b of suite.binaries)
          if (!existsSync(b)) problems.push(`suite ${name} needs ${b} in the guest, which this host lacks`);
      } catch (err) {
        problems.push(`suite ${name}: ${errorMessage(err)}`);
      }
    }
    try {
      loadKnownSplats(config);
    } catch (err) {
      problems.push(`known splats: ${errorMessage(err)}`);
    }
  }
  if (stageOn(config, 'perf')) {
    const dir = suitesDir(config.test.suitesDir);
    for (const name of config.perf.suites) {
      try {
        const suite = loadSuite(dir, name);
        if (suite.kind !== 'perf') problems.push(`perf suite ${name} is not kind: perf`);
        if (!config.build.configs[suite.config])
          problems.push(`perf suite ${name} boots config "${suite.config}", which is not one of build.configs`);
        if (suite.tools.length && !(await onPath(process.env['CC'] || 'cc', ['--version'])))
          problems.push(`perf suite ${name} builds tools with cc: apt-get install build-essential`);
      } catch (err) {
        problems.push(`perf suite ${name}: ${errorMessage(err)}`);
      }
    }
    if (config.perf.clock === 'icount' && config.perf.runner !== 'vm')
      problems.push(
        `perf.clock icount is QEMU's, and perf.runner is the bare-metal host ${config.perf.runner}: use wall or auto`,
      );
    if (config.perf.clock === 'icount' && config.test.accel === 'kvm')
      problems.push(
        'perf.clock icount counts instructions under TCG, and test.accel is kvm: use test.accel auto or tcg',
      );
    if (config.perf.runner !== 'vm' && !(await onPath('ssh', ['-V'])))
      problems.push(`perf.runner is the host ${config.perf.runner}, reached over SSH: apt-get install openssh-client`);
    for (const h of config.perf.hosts) {
      for (const f of [h.ssh.identityFile, h.ssh.knownHostsFile])
        if (!existsSync(f)) problems.push(`perf host ${h.name}: ${f} does not exist`);
    }
  }
  return problems;
}

/** Which clock perf runs measure with here, and why (perf.clock auto decides by the runner and KVM). */
function perfClockInForce(config: Config): string {
  const runner = config.perf.runner === 'vm' ? 'vm' : 'host';
  const accel = config.test.accel === 'auto' ? (kvmDevice() ? 'kvm' : 'tcg') : config.test.accel;
  const clock = resolveClock(config.perf.clock, { runner, accel });
  const why =
    config.perf.clock !== 'auto'
      ? 'perf.clock'
      : runner === 'host'
        ? 'auto: a bare-metal host'
        : `auto: QEMU under ${accel.toUpperCase()}`;
  return `${clock} (${why})`;
}

/**
 * `ksci config check`: the configuration as loaded (stdout), then what the
 * machine lacks for it (stderr); a problem is a usage error.
 */
export async function checkConfig(ctx: Context): Promise<ExitCode> {
  const { config, file } = ctx;
  process.stdout.write(`# ${file ? `from ${file}` : 'embedded defaults'} (+ environment)\n${YAML.stringify(config)}`);
  const problems = await checkEnvironment(config);
  const sandbox = await sandboxAvailable();
  if (sandbox.ok) process.stderr.write(`sandbox: ${sandbox.identity}\nsandbox: ${sandbox.resources}\n`);
  if (stageOn(config, 'perf')) process.stderr.write(`perf clock: ${perfClockInForce(config)}\n`);
  for (const p of problems) process.stderr.write(`problem: ${p}\n`);
  if (problems.length > 0) return EXIT.usage;
  process.stderr.write('configuration OK\n');
  return EXIT.ok;
}
