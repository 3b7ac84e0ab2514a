import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { CancelledError } from '../errors.js';
import { silentLogger } from '../log.js';
import { openRedis, type RedisHandle } from '../queue/redis.js';
import {
  BareMetalRunner,
  bzImageVersion,
  parseHeaderVersion,
  parseProcVersion,
  readKernelVersion,
  runCommand,
  versionMatches,
} from './baremetal.js';
import { BareMetalHostSchema, type BareMetalHost } from '../config/integrations.js';
import { hostLockKey, withHostLock } from './hostlock.js';
import type { PerfRunSpec, PerfScenario } from './runner.js';
import { shJoin, shQuote } from '../shell.js';
import { runSsh, type SshTarget } from './ssh.js';

const FIXTURES = resolve(import.meta.dirname, '../../../test/fixtures/baremetal');
const CONSOLE_FIXTURES = resolve(import.meta.dirname, '../../../test/fixtures/console');

const HOSTILE = [
  `'; rm -rf / #`,
  '$(x)',
  '`x`',
  'a\nb\n',
  "it's",
  `"$HOME"`,
  '\\',
  '',
  ' lead and trail ',
  '*',
  '-n',
  'a=b',
  "''",
  '!$&|;<>(){}[]~#',
];

/**
 * A synthetic x86 setup header: the boot sector signature, "HdrS", protocol
 * 2.15 and a kernel_version pointer to `version`. Only what bzImageVersion
 * reads; it is NOT a bootable kernel (no setup code, no payload). The tests
 * cannot kexec anything, so these stand in for the kernels a session boots.
 */
function syntheticBzImage(version: string): Buffer {
  const b = Buffer.alloc(0x1000);
  b[0x1f1] = 1; // setup_sects
  b.writeUInt16LE(0xaa55, 0x1fe);
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt16LE(0x020f, 0x206);
  b.writeUInt16LE(0x0200, 0x20e); // string at 0x200 + 0x200
  b.write(`${version}\0`, 0x400, 'latin1');
  return b;
}

/** A real /proc/version (Debian 12's 6.12 kernel, from test/fixtures/console/warn-1.log) and that kernel's header string. */
const DEBIAN_PROC =
  'Linux version 6.12.117+deb12-amd64 (debian-kernel@lists.debian.org) (x86_64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1~deb12u1 (2026-11-14)';
const DEBIAN_HEADER =
  '6.12.117+deb12-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1~deb12u1 (2026-11-14)';

describe('shQuote', () => {
  it('gives the shell back exactly the string, whatever it holds', () => {
    for (const s of HOSTILE) {
      const r = spawnSync('sh', ['-c', `printf %s ${shQuote(s)}`], { encoding: 'utf8' });
      assert.equal(r.stdout, s, `round trip of ${JSON.stringify(s)}`);
    }
    assert.equal(shQuote(`'; rm -rf / #`), `''\\''; rm -rf / #'`);
    assert.equal(shQuote('$(x)'), `'$(x)'`);
    assert.equal(shQuote('plain/path-1.2'), 'plain/path-1.2');
    assert.equal(shQuote('a=b'), `'a=b'`, 'a first word a=b would be an assignment');
    assert.throws(() => shQuote('a\0b'), /NUL/);
  });

  it('keeps words apart in a command line', () => {
    const r = spawnSync('sh', ['-c', `for w in ${shJoin(HOSTILE)}; do printf '<%s>' "$w"; done`], { encoding: 'utf8' });
    assert.equal(r.stdout, HOSTILE.map((s) => `<${s}>`).join(''));
  });
});

describe('kernel version strings', () => {
  it('reads the version from a synthetic setup header and refuses what is not one', () => {
    assert.equal(bzImageVersion(syntheticBzImage('6.1.0 (me@box) #2 SMP')), '6.1.0 (me@box) #2 SMP');
    assert.equal(bzImageVersion(Buffer.alloc(0x1000)), null, 'no signature');
    const noHdr = syntheticBzImage('x');
    noHdr.write('XXXX', 0x202, 'latin1');
    assert.equal(bzImageVersion(noHdr), null, 'no HdrS');
    const noPtr = syntheticBzImage('x');
    noPtr.writeUInt16LE(0, 0x20e);
    assert.equal(bzImageVersion(noPtr), null, 'no kernel_version');
    assert.equal(bzImageVersion(syntheticBzImage('x').subarray(0, 0x400)), null, 'truncated');
  });

  const real = (() => {
    const dir = join(homedir(), '.cache/ksci/kernels');
    if (!existsSync(dir)) return null;
    const f = readdirSync(dir).find((n) => n.startsWith('vmlinuz-'));
    return f ? { path: join(dir, f), release: f.slice('vmlinuz-'.length) } : null;
  })();
  it('reads the version of a real bzImage', {
    skip: real ? false : 'no kernel in ~/.cache/ksci/kernels/vmlinuz-*',
  }, async () => {
    const v = await readKernelVersion(real!.path);
    assert.ok(v, 'a version string');
    assert.equal(parseHeaderVersion(v)?.release, real!.release);
  });

  it('matches /proc/version against the header modulo the compiler part, and tells builds of one release apart', () => {
    assert.deepEqual(
      parseProcVersion(DEBIAN_PROC)?.build,
      '#1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1~deb12u1 (2026-11-14)',
    );
    assert.ok(versionMatches(DEBIAN_HEADER, DEBIAN_PROC));
    assert.ok(!versionMatches(DEBIAN_HEADER.replace('#1', '#2'), DEBIAN_PROC), 'another build of the same release');
    assert.ok(!versionMatches(DEBIAN_HEADER.replace('6.12.117', '6.12.118'), DEBIAN_PROC));
    assert.ok(!versionMatches(DEBIAN_HEADER.replace('debian-kernel', 'someone'), DEBIAN_PROC));
  });
});

describe('runCommand', () => {
  it('quotes everything it did not write and refuses bad variable names', () => {
    const cmd = runCommand({
      runDir: '/w/run-1',
      resultsDir: '/w/run-1/results/x.1',
      env: { PKTGEN_X: `'; rm -rf / #` },
      run: '$(x) && echo hi',
      timeoutSeconds: 5,
      pidFile: '/w/p',
    });
    assert.match(cmd, /'PKTGEN_X='\\''; rm -rf \/ #'/);
    assert.match(cmd, /timeout -k 10 5 sh -c '\$\(x\) && echo hi'/);
    assert.throws(
      () =>
        runCommand({
          runDir: '/w',
          resultsDir: '/w/r',
          env: { 'A;B': '1' },
          run: 'true',
          timeoutSeconds: 1,
          pidFile: '/w/p',
        }),
      /not a valid name/,
    );
  });

  it('validates host configs', () => {
    const h = BareMetalHostSchema.parse({
      name: 'perf-1',
      ssh: { host: 'perf-1.lab', identityFile: '/k', knownHostsFile: '/kh' },
      boot: { method: 'kexec' },
      capabilities: { cpus: 8, nics: ['eth1'] },
    });
    assert.equal(h.ssh.port, 22);
    assert.equal(h.ssh.user, 'root');
    assert.equal(h.workDir, '/var/tmp/ksci');
    assert.equal(h.bootTimeoutSeconds, 600);
    assert.deepEqual(h.restore, { method: 'reboot' });
    assert.equal(h.bootIdCommand, 'cat /proc/sys/kernel/random/boot_id');
    assert.throws(() => BareMetalHostSchema.parse({ ...h, ssh: { ...h.ssh, host: '-oProxyCommand=x' } }));
    assert.throws(() => BareMetalHostSchema.parse({ ...h, workDir: '/var/../' }));
  });
});

// ---------------------------------------------------------------------------
// A real sshd on loopback; this machine plays the bare-metal host.

const SSHD = '/usr/sbin/sshd';
const requireSshd = process.env['KSCI_REQUIRE_SSHD'] !== undefined && process.env['KSCI_REQUIRE_SSHD'] !== '';
const canSshd = existsSync(SSHD) && process.getuid?.() === 0;
const sshSkip =
  !canSshd && !requireSshd
    ? `${SSHD} is missing or this is not root (install openssh-server, or set KSCI_REQUIRE_SSHD=1 to fail instead)`
    : false;

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

function keygen(path: string): void {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ksci-test', '-f', path], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
}

describe('BareMetalRunner over a real sshd', { skip: sshSkip }, () => {
  let root: string;
  let sshd: ChildProcess;
  let target: SshTarget;
  let expectedVersion: string;
  let goodKernel: string;
  let wrongKernel: string;
  let n = 0;

  before(async () => {
    if (!existsSync(SSHD))
      throw new Error(`KSCI_REQUIRE_SSHD is set but ${SSHD} is missing: apt-get install openssh-server`);
    root = mkdtempSync(join(tmpdir(), 'ksci-bm-'));
    keygen(join(root, 'host_key'));
    keygen(join(root, 'client_key'));
    writeFileSync(join(root, 'authorized_keys'), readFileSync(join(root, 'client_key.pub')));
    const port = await freePort();
    writeFileSync(
      join(root, 'sshd_config'),
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${join(root, 'host_key')}`,
        `PidFile ${join(root, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(root, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'MaxStartups 50:30:100',
        'LogLevel ERROR',
        '',
      ].join('\n'),
    );
    const hostPub = readFileSync(join(root, 'host_key.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
    writeFileSync(join(root, 'known_hosts'), `[127.0.0.1]:${port} ${hostPub}\n`);
    // Debian's sshd refuses to start without its privilege separation directory.
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    sshd = spawn(SSHD, ['-D', '-e', '-f', join(root, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let sshdErr = '';
    sshd.stderr!.on('data', (c: Buffer) => (sshdErr += c.toString()));
    target = {
      host: '127.0.0.1',
      port,
      user: 'root',
      identityFile: join(root, 'client_key'),
      knownHostsFile: join(root, 'known_hosts'),
      connectTimeoutSeconds: 5,
    };
    for (let i = 0; ; i++) {
      if (sshd.exitCode !== null) throw new Error(`sshd exited: ${sshdErr}`);
      const r = await runSsh(target, 'true', { timeoutMs: 5000 });
      if (r.code === 0) break;
      if (i > 50) throw new Error(`sshd does not answer: ${r.stderr} ${sshdErr}`);
      await sleep(100);
    }

    // The "host" is this machine: a kernel whose header names the running kernel passes verification.
    const pv = parseProcVersion(readFileSync('/proc/version', 'utf8'));
    assert.ok(pv, 'this machine has a parseable /proc/version');
    expectedVersion = `${pv.release} (${pv.builder}) ${pv.build}`;
    goodKernel = join(root, 'good-bzImage');
    writeFileSync(goodKernel, syntheticBzImage(expectedVersion));
    wrongKernel = join(root, 'wrong-bzImage');
    writeFileSync(wrongKernel, syntheticBzImage(`0.0.1-not-this-one (${pv.builder}) ${pv.build}`));
  });

  after(() => {
    sshd?.kill('SIGTERM');
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /**
   * A host whose "boots" are simulated: the boot id the runner reads is a
   * file (bootIdCommand) that the boot and restore commands rewrite, and
   * they log what they were run with.
   */
  function simulatedHost(over: { boot?: string[]; bootTimeoutSeconds?: number; dmesgCommand?: string } = {}) {
    const dir = join(root, `host-${++n}`);
    mkdirSync(dir);
    const bootIdFile = join(dir, 'boot_id');
    writeFileSync(bootIdFile, 'first-boot\n');
    const host: BareMetalHost = BareMetalHostSchema.parse({
      name: `sim-${n}`,
      ssh: { ...target },
      workDir: join(dir, 'work'),
      boot: {
        method: 'command',
        command: over.boot ?? [
          'sh',
          '-c',
          'cat /proc/sys/kernel/random/uuid > "$0" && echo "$1" >> "$0.booted"',
          bootIdFile,
          '{kernel}',
        ],
      },
      restore: {
        method: 'command',
        command: ['sh', '-c', 'cat /proc/sys/kernel/random/uuid > "$0" && echo restored >> "$0.restored"', bootIdFile],
      },
      bootTimeoutSeconds: over.bootTimeoutSeconds ?? 20,
      bootIdCommand: `cat ${shQuote(bootIdFile)}`,
      ...(over.dmesgCommand ? { dmesgCommand: over.dmesgCommand } : {}),
      capabilities: { cpus: 2, nics: ['lo'] },
    });
    const restores = () =>
      existsSync(`${bootIdFile}.restored`)
        ? readFileSync(`${bootIdFile}.restored`, 'utf8').trim().split('\n').length
        : 0;
    const booted = () =>
      existsSync(`${bootIdFile}.booted`) ? readFileSync(`${bootIdFile}.booted`, 'utf8').trim().split('\n') : [];
    const runner = new BareMetalRunner(host, {
      scenarioDir: join(FIXTURES, 'scenario'),
      tools: [{ host: join(FIXTURES, 'ksci-fixture-tool'), name: 'ksci-fixture-tool' }],
      pollIntervalMs: 200,
      known: [],
      tree: 'test-tree',
    });
    return { dir, host, runner, restores, booted, outDir: join(dir, 'out') };
  }

  const scenario = (name: string, over: Partial<PerfScenario> = {}): PerfScenario => ({
    name,
    description: name,
    run: './run.sh',
    env: {},
    timeoutSeconds: 30,
    ...over,
  });
  const spec = (s: PerfScenario, rep: number, warmup = false): PerfRunSpec => ({ scenario: s, rep, warmup });

  it('boots, runs the scenarios in order and brings back their files, exit codes and output, then restores', async () => {
    const h = simulatedHost();
    const ok = scenario('xmit', { env: { PKTGEN_PARAM: `it's $(not) run`, EXIT_CODE: '0' } });
    const bad = scenario('xmit', { env: { PKTGEN_PARAM: 'two', EXIT_CODE: '3' } });
    const r = await h.runner.session({
      kernel: goodKernel,
      label: 'base',
      append: [],
      round: 1,
      runs: [spec(ok, 1), spec(bad, 2)],
      outDir: h.outDir,
      log: silentLogger,
    });
    assert.equal(r.failure, null, JSON.stringify(r.failure));
    assert.equal(r.where, 'host sim-1'.replace('1', String(n)));
    assert.equal(r.kernelRelease, spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim());
    assert.equal(r.runs.length, 2);
    const [a, b] = r.runs;
    assert.deepEqual([a!.rep, a!.exitCode, a!.timedOut, b!.rep, b!.exitCode, b!.timedOut], [1, 0, false, 2, 3, false]);
    assert.equal(a!.files['pktgen.lo@0']?.toString(), `param=it's $(not) run\n`, 'env reaches the scenario, unmangled');
    assert.equal(b!.files['pktgen.lo@0']?.toString(), 'param=two\n');
    assert.equal(a!.files['sub/file']?.toString(), 'nested\n');
    assert.ok(a!.output.includes('tool says: tool-ran'), `tools are on PATH: ${a!.output.join('|')}`);
    assert.ok(
      a!.output.some((l) => /^scenario starting in .*\/run-[^/]+$/.test(l)),
      'runs in the run directory',
    );
    // The kernel went to <workDir>/kernels/<sha256 prefix>/bzImage and the boot command got that path.
    const sha = createHash('sha256').update(readFileSync(goodKernel)).digest('hex');
    const remoteKernel = join(h.host.workDir, 'kernels', sha.slice(0, 16), 'bzImage');
    assert.deepEqual(h.booted(), [remoteKernel]);
    assert.deepEqual(readFileSync(remoteKernel), readFileSync(goodKernel));
    assert.equal(h.restores(), 1);
    assert.deepEqual(readdirSync(h.host.workDir), ['kernels'], 'the run directory is deleted');
    // The real dmesg of this machine (the default dmesgCommand), or the note when a container hides it.
    assert.equal(r.logFile, join(h.outDir, 'dmesg.txt'));
    const dmesg = readFileSync(r.logFile, 'utf8');
    assert.ok(dmesg.startsWith('ksci: could not read the kernel log') || dmesg.length > 0, 'dmesg or a note');
    assert.ok(
      existsSync(join(h.outDir, 'runs', 'xmit.1', 'results', 'pktgen.lo@0')),
      'per-run files are kept in outDir',
    );
  });

  // Each ssh connection costs ~0.5 s on a busy CI machine, so one session checks two things here.
  it('kills a scenario that exceeds its timeout; notes an unreadable dmesg (container, dmesg_restrict) instead of failing', async () => {
    const h = simulatedHost({
      dmesgCommand: 'echo "dmesg: read kernel buffer failed: Operation not permitted" >&2; exit 1',
    });
    const r = await h.runner.session({
      kernel: goodKernel,
      label: 'series',
      append: [],
      round: 1,
      runs: [spec(scenario('slow', { run: 'echo before; sleep 30; echo after', timeoutSeconds: 1 }), 1)],
      outDir: h.outDir,
      log: silentLogger,
    });
    assert.equal(r.failure, null);
    assert.equal(r.runs[0]?.timedOut, true);
    assert.equal(r.runs[0]?.exitCode, 124);
    assert.deepEqual(r.runs[0]?.output, ['before']);
    assert.equal(spawnSync('pgrep', ['-f', 'sleep 30; echo after']).status, 1, 'nothing left running');
    assert.deepEqual(r.splats, []);
    assert.match(
      readFileSync(r.logFile, 'utf8'),
      /^ksci: could not read the kernel log on host sim-\d+ \(.*\): dmesg: read kernel buffer failed: Operation not permitted\n$/,
    );
  });

  it("reports a host that boots another kernel as 'wrong-kernel', and still restores it", async () => {
    const h = simulatedHost();
    const r = await h.runner.session({
      kernel: wrongKernel,
      label: 'series',
      append: [],
      round: 2,
      runs: [spec(scenario('xmit'), 1)],
      outDir: h.outDir,
      log: silentLogger,
    });
    assert.equal(r.failure?.kind, 'wrong-kernel');
    assert.match(
      r.failure.reason,
      new RegExp(`^host ${h.host.name} came back running "Linux version .*", expected "0\\.0\\.1-not-this-one `),
    );
    assert.deepEqual(r.runs, []);
    assert.equal(h.restores(), 1);
  });

  it('gives up on a host that never comes back with a new boot, within bootTimeoutSeconds', async () => {
    const h = simulatedHost({ boot: ['true'], bootTimeoutSeconds: 3 });
    const r = await h.runner.session({
      kernel: goodKernel,
      label: 'base',
      append: [],
      round: 1,
      runs: [spec(scenario('xmit'), 1)],
      outDir: h.outDir,
      log: silentLogger,
    });
    assert.equal(r.failure?.kind, 'boot-failure');
    assert.match(
      r.failure.reason,
      new RegExp(`host ${h.host.name} still answers with its previous boot id after \\d+ s \\(timeout 3 s\\)`),
    );
    assert.equal(h.restores(), 1, 'restored anyway');
  });

  it('collects dmesg and reports the splats in it that are not known', async () => {
    const h = simulatedHost({ dmesgCommand: `cat ${shQuote(join(CONSOLE_FIXTURES, 'warn-1.log'))}` });
    const r = await h.runner.session({
      kernel: goodKernel,
      label: 'base',
      append: [],
      round: 1,
      runs: [spec(scenario('xmit'), 1)],
      outDir: h.outDir,
      log: silentLogger,
    });
    assert.equal(r.failure, null);
    assert.deepEqual(readFileSync(r.logFile), readFileSync(join(CONSOLE_FIXTURES, 'warn-1.log')));
    assert.ok(r.splats.length >= 1);
    assert.equal(r.splats[0]?.kind, 'warning');
    assert.equal(r.splats[0]?.test, null);
  });

  it("stops on cancellation with 'cancelled', kills the run and still restores", async () => {
    const h = simulatedHost();
    const ac = new AbortController();
    const marker = `ksci-cancel-${n}-${process.pid}`;
    const run = scenario('long', { run: `sleep 40 # ${marker}`, timeoutSeconds: 60 });
    const p = h.runner.session({
      kernel: goodKernel,
      label: 'base',
      append: [],
      round: 1,
      runs: [spec(run, 1), spec(run, 2)],
      outDir: h.outDir,
      log: silentLogger,
      signal: ac.signal,
    });
    for (let i = 0; i < 100 && spawnSync('pgrep', ['-f', marker]).status !== 0; i++) await sleep(100);
    ac.abort();
    const r = await p;
    assert.equal(r.failure?.kind, 'cancelled');
    assert.equal(r.runs.length, 0);
    assert.equal(h.restores(), 1);
    await sleep(300);
    assert.equal(spawnSync('pgrep', ['-f', marker]).status, 1, 'the remote run was killed');
  });

  it('passes hostile strings through the remote shell unchanged', async () => {
    // One connection (each costs ~0.5 s here): words separated by NUL bytes, which no word holds.
    const r = await runSsh(target, `printf '%s\\0' ${shJoin(HOSTILE)}`, { timeoutMs: 10_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.toString().split('\0').slice(0, -1), HOSTILE);
  });

  it('refuses a host whose key is not the one in known_hosts', async () => {
    const other = join(root, 'other_known_hosts');
    keygen(join(root, 'other_key'));
    writeFileSync(
      other,
      `[127.0.0.1]:${target.port} ${readFileSync(join(root, 'other_key.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ')}\n`,
    );
    const r = await runSsh({ ...target, knownHostsFile: other }, 'true', { timeoutMs: 10_000 });
    assert.equal(r.code, 255);
    assert.match(r.stderr, /HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });
});

// ---------------------------------------------------------------------------
// withHostLock against a real redis-server

describe('withHostLock (real redis)', () => {
  let dir: string;
  let handle: RedisHandle;
  let redis: Redis;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ksci-hl-'));
    handle = await openRedis({ redisUrl: null, dataDir: dir, log: silentLogger });
    redis = handle.client();
  });
  after(async () => {
    redis?.disconnect();
    await handle?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serializes two contenders, renewing the lock past its ttl while held', async () => {
    const events: string[] = [];
    const job = (name: string) =>
      withHostLock(
        redis,
        'h1',
        300,
        async () => {
          events.push(`${name} in`);
          await sleep(900); // three ttls: only renewal keeps the other out
          events.push(`${name} out`);
          return name;
        },
        { pollMs: 20, maxPollMs: 50 },
      );
    const [a, b] = await Promise.all([job('a'), job('b')]);
    assert.deepEqual([a, b], ['a', 'b']);
    assert.ok(
      JSON.stringify(events) === JSON.stringify(['a in', 'a out', 'b in', 'b out']) ||
        JSON.stringify(events) === JSON.stringify(['b in', 'b out', 'a in', 'a out']),
      events.join(', '),
    );
    assert.equal(await redis.exists(hostLockKey('h1')), 0);
  });

  it('releases the lock when fn throws', async () => {
    await assert.rejects(
      withHostLock(redis, 'h2', 10_000, async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await redis.exists(hostLockKey('h2')), 0);
    assert.equal(await withHostLock(redis, 'h2', 10_000, async () => 'next'), 'next');
  });

  it('takes over a lock whose holder died (no renewal) once it expires', async () => {
    await redis.set(hostLockKey('h3'), 'dead-holder', 'PX', 600);
    let waited = false;
    const started = Date.now();
    await withHostLock(redis, 'h3', 10_000, async () => undefined, {
      pollMs: 50,
      maxPollMs: 100,
      onWait: (holder) => (waited = holder === 'dead-holder'),
    });
    const ms = Date.now() - started;
    assert.ok(waited);
    // A lower bound only: the clock cannot run fast, a loaded host can run slow.
    assert.ok(ms >= 450, `took the lock after ${ms} ms, before the dead holder's 600 ms lease ran out`);
  });

  it('stops waiting when its signal aborts, and never deletes a lock it does not hold', async () => {
    await redis.set(hostLockKey('h4'), 'someone-else', 'PX', 10_000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    await assert.rejects(
      withHostLock(redis, 'h4', 10_000, async () => undefined, { signal: ac.signal, pollMs: 20 }),
      CancelledError,
    );
    assert.equal(await redis.get(hostLockKey('h4')), 'someone-else');
  });
});
