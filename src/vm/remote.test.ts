/**
 * Boots through the ksci-vm queue on real parts: a private redis-server,
 * VM hosts as separate node processes (src/testing/vm-worker.ts, started
 * as `ksci worker` starts them), and real QEMU with Debian's prebuilt 6.12
 * kernel, as in vm.test.ts. At most two VMs run at once (two cores, TCG).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import type { Config } from '../config/schema.js';
import { silentLogger } from '../log.js';
import { openRedis, type RedisHandle } from '../queue/redis.js';
import { testStage } from '../stages/test/stage.js';
import { loadSuite, type Suite } from '../suite/suite.js';
import { testConfig } from '../testing/harness.js';
import { fixturePath, repoRoot } from '../testing/paths.js';
import { testKernel, vmTestSkip } from '../testing/vm.js';
import type { GuestOptions, GuestRun } from './guest.js';
import { runKernel, type KernelRun, type KernelRunOptions } from './kernel-run.js';
import { remoteExecutor, toVmJob, VmJobSchema, VmWorker, type BootExecutor, type RemoteExecutor } from './remote.js';
import { QUEUES } from '../queue/names.js';

const skipVm = await vmTestSkip();

const LIMITS = { bootTimeoutMs: 120_000, runTimeoutMs: 10 * 60_000, testGraceMs: 5_000, maxOutputBytes: 64 << 20 };

function guest(kernel: string, suite: Suite, outDir: string, extra: Partial<GuestOptions> = {}): GuestOptions {
  return {
    kernel,
    suite,
    tests: suite.tests,
    memoryMiB: 512,
    cpus: 2,
    accel: 'auto',
    limits: LIMITS,
    outDir,
    busybox: '/bin/busybox',
    log: silentLogger,
    ...extra,
  };
}

/** QEMU processes in the tree under `root`, not counting the subtrees of `except` (bubblewrap's pid namespace is still visible from here). */
function qemuUnder(root: number, except: number[] = []): number[] {
  const children = new Map<number, number[]>();
  const comm = new Map<number, string>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue; // Exited while we looked.
    }
    const close = stat.lastIndexOf(')');
    const pid = Number(e);
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    comm.set(pid, stat.slice(stat.indexOf('(') + 1, close));
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const found: number[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length) {
    const p = queue.shift()!;
    if (except.includes(p)) continue;
    if (comm.get(p)?.startsWith('qemu-system')) found.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return found;
}

async function waitFor<T>(what: string, ms: number, probe: () => T | undefined | null | false): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** A VM host in its own process, started with these worker roles. */
async function startHost(config: Config, roles: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'dist/src/testing/vm-worker.js'), JSON.stringify(config), roles],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the VM host (${roles}) did not get ready in 60 s`)), 60_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('ready\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the VM host (${roles}) exited with ${code} before it was ready`));
    });
  });
  return child;
}

async function stopHost(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  if ((await Promise.race([exited.then(() => 'exited'), sleep(10_000)])) !== 'exited') child.kill('SIGKILL');
  await exited;
}

describe('boots through the ksci-vm queue', { timeout: 20 * 60_000 }, () => {
  let dir: string;
  let redis: RedisHandle;
  let config: Config;
  before(async () => {
    // Short: the private redis-server's unix socket lives in it.
    dir = mkdtempSync(join(tmpdir(), 'ksci-'));
    config = testConfig(dir, { test: { vmHosts: 'queue' } });
    redis = await openRedis({ redisUrl: null, dataDir: dir, log: silentLogger });
  });
  after(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the job payload is validated: relative paths, "/" or ".." as the output directory, no tests', () => {
    const suite = loadSuite(fixturePath('suites'), 'mixed');
    const good = toVmJob(guest('/k/bzImage', suite, '/data/runs/r/boot-1'), '/data', 'a'.repeat(32));
    assert.equal(VmJobSchema.safeParse(good).success, true);
    for (const [why, bad] of [
      ['relative kernel', { ...good, kernel: 'bzImage' }],
      ['outDir /', { ...good, outDir: '/' }],
      ['outDir with ..', { ...good, outDir: '/data/runs/../../etc' }],
      ['no tests', { ...good, tests: [] }],
      ['a test name the init cannot read', { ...good, tests: [{ ...good.tests[0]!, name: 'a b' }] }],
      ['a short token', { ...good, token: 'abc' }],
    ] as const) {
      assert.equal(VmJobSchema.safeParse(bad).success, false, why);
    }
  });

  describe('refusals on the VM host (no QEMU)', () => {
    let worker: VmWorker;
    let remote: RemoteExecutor;
    let queue: Queue;
    before(async () => {
      // In this process: these jobs fail before any boot, and the worker is closed before the QEMU tests.
      worker = new VmWorker({ redis, config, log: silentLogger });
      await worker.start();
      remote = await remoteExecutor({ redis: () => redis.client(), shared: dir, log: silentLogger });
      queue = new Queue(QUEUES.vm, { connection: redis.connection });
    });
    after(async () => {
      await worker.close();
      await remote.close();
      await queue.close();
    });
    const suite = () => loadSuite(fixturePath('suites'), 'mixed');
    const failedJob = async (id: string) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        // State first, then the job: a job read before it failed and checked after has no failedReason yet.
        const state = await queue.getJobState(id);
        if (state === 'failed') return (await queue.getJob(id))!;
        if (Date.now() > deadline) throw new Error(`job ${id} did not fail within 30 s (state ${state})`);
        await sleep(100);
      }
    };

    it('a kernel or extra file the VM host cannot see: the job fails for good, saying what to mount', async () => {
      const kernel = join(dir, 'artifacts', 'k1', 'bzImage');
      mkdirSync(join(kernel, '..'), { recursive: true });
      writeFileSync(kernel, 'not a kernel: the check comes first');
      const missing = join(dir, 'artifacts', 'sel', 'test_progs');
      await assert.rejects(
        remote.boot(
          guest(kernel, suite(), join(dir, 'runs', 'r1', 'boot-1'), {
            extraFiles: [{ host: missing, guest: '/ksci/suite/test_progs' }],
          }),
        ),
        (err: Error) => {
          assert.match(
            err.message,
            new RegExp(
              `${missing} is not visible on host ${hostname()}: hosts that take ksci-vm jobs must mount ${dir} at the same path`,
            ),
          );
          return true;
        },
      );
      const job = (await queue.getFailed()).find((j) => j.failedReason.includes(missing));
      assert.equal(job?.attemptsMade, 1, 'an UnrecoverableError: not tried again');

      await assert.rejects(
        remote.boot(guest(join(dir, 'artifacts', 'gone', 'bzImage'), suite(), join(dir, 'runs', 'r1', 'boot-2'))),
        /artifacts\/gone\/bzImage is not visible on host/,
      );
    });

    it('an output directory that is only a look-alike (not the shared one): refused', async () => {
      const kernel = join(dir, 'artifacts', 'k1', 'bzImage');
      const outDir = join(dir, 'runs', 'r2', 'boot-1');
      mkdirSync(outDir, { recursive: true });
      // What a host with its own local directory at that path would hold: not the coordinator's token.
      writeFileSync(join(outDir, '.ksci-vm-token'), 'f'.repeat(32));
      const job = await queue.add('boot', toVmJob(guest(kernel, suite(), outDir), dir, '0'.repeat(32)), {
        attempts: 2,
      });
      const failed = await failedJob(job.id!);
      assert.match(
        failed.failedReason,
        /is not the test stage's directory .*must mount .* itself at the same path, not a copy/,
      );
      assert.equal(failed.attemptsMade, 1);
    });

    it('a malformed payload fails at once, naming the bad fields', async () => {
      const job = await queue.add('boot', { kernel: 'bzImage', tests: [] }, { attempts: 2 });
      const failed = await failedJob(job.id!);
      assert.match(failed.failedReason, /^invalid ksci-vm job \S+ payload: /);
      assert.match(failed.failedReason, /kernel/);
      assert.match(failed.failedReason, /outDir/);
      assert.equal(failed.attemptsMade, 1);
    });
  });

  describe('on a real kernel in real QEMU, on two VM host processes', { skip: skipVm }, () => {
    let kernel: string;
    let hosts: ChildProcess[] = [];
    let remote: RemoteExecutor;
    before(async () => {
      kernel = testKernel();
      // One through the test role (test.vmHosts: queue makes it consume ksci-vm), one VM-only host; one boot at a time each.
      hosts = await Promise.all([startHost(config, 'test'), startHost(config, 'vm')]);
      remote = await remoteExecutor({ redis: () => redis.client(), shared: dir, log: silentLogger });
    });
    after(async () => {
      await remote?.close();
      await Promise.all(hosts.map(stopHost));
    });
    const hostIds = () => hosts.map((h) => `${hostname()}:${h.pid}`);

    const run = (name: string, o: Partial<KernelRunOptions> = {}): Promise<KernelRun & { ms: number }> => {
      const started = Date.now();
      return runKernel({
        kernel,
        suite: loadSuite(fixturePath('suites'), name),
        memoryMiB: 512,
        cpus: 2,
        accel: 'auto',
        limits: LIMITS,
        busybox: '/bin/busybox',
        retries: 0,
        maxBoots: 4,
        known: [],
        tree: 'test',
        outDir: join(dir, 'runs', `${name}-${started}`),
        log: silentLogger,
        executor: remote.boot,
        ...o,
      }).then((r) => ({ ...r, ms: Date.now() - started }));
    };
    const status = (r: KernelRun) => Object.fromEntries(r.tests.map((t) => [t.name, t.attempts.join(',')]));

    it('parallel 2: each shard boots on its own VM host, none here, and the results merge', async () => {
      const mixed = loadSuite(fixturePath('suites'), 'mixed');
      const suite = {
        ...mixed,
        tests: mixed.tests.filter((t) => ['passes', 'fails', 'skips', 'hands-back-a-file'].includes(t.name)),
      };
      const runs: GuestRun[] = [];
      const executor: BootExecutor = async (g) => {
        const r = await remote.boot(g);
        runs.push(r);
        return r;
      };
      // Who has a QEMU under it, sampled while the suite runs.
      const seen = new Map<number, number>();
      const workers = hosts.map((h) => h.pid!);
      const sampler = setInterval(() => {
        // The VM hosts are this process' children: their trees are theirs, not the coordinator's.
        for (const p of [process.pid, ...workers])
          if (qemuUnder(p, p === process.pid ? workers : []).length) seen.set(p, (seen.get(p) ?? 0) + 1);
      }, 250);
      let r: KernelRun & { ms: number };
      try {
        r = await run('mixed', { suite, parallel: 2, executor });
      } finally {
        clearInterval(sampler);
      }
      // Two TCG guests on two cores can oops in early boot; runKernel boots such a guest once more (see vm.test.ts).
      const firstPass = r.boots.filter((b) => b.purpose === 'run' && b.outcome.verdict === 'completed');
      assert.equal(
        firstPass.length,
        2,
        JSON.stringify(r.boots.map((b) => [b.outcome.verdict, b.outcome.reason, b.host])),
      );
      assert.deepEqual(status(r), { passes: 'pass', fails: 'fail', skips: 'skip', 'hands-back-a-file': 'pass' });
      assert.deepEqual(firstPass.flatMap((b) => b.tests).sort(), ['fails', 'hands-back-a-file', 'passes', 'skips']);
      assert.deepEqual(r.tests.find((t) => t.name === 'fails')!.last.output, ['expected 1, got 2']);

      const ran = firstPass.map((b) => b.host);
      assert.deepEqual([...new Set(ran)].sort(), hostIds().sort(), 'the two shards ran on the two VM host processes');
      assert.ok(
        r.boots.every((b) => b.host !== `${hostname()}:${process.pid}`),
        'no boot ran in the coordinator',
      );
      assert.equal(seen.get(process.pid) ?? 0, 0, 'no QEMU was ever a child of the coordinator');
      for (const h of hosts) assert.ok((seen.get(h.pid!) ?? 0) > 0, `pid ${h.pid} ran a QEMU`);

      // The file the guest handed back crossed over the shared directory, byte for byte.
      const handed = runs.flatMap((g) => g.channel.tests).find((t) => t.name === 'hands-back-a-file');
      assert.equal(handed?.files['summary.json']?.toString(), '{"tests":3}');
      // The console was read where the VM host wrote it.
      for (const g of runs) assert.match(g.console, /Linux version 6\.12\./);
      process.stderr.write(
        `# remote parallel 2: ${r.ms} ms, boots ${r.boots.map((b) => `${b.host} ${b.outcome.durationMs} ms`).join(', ')}\n`,
      );
    });

    it('the test stage with test.vmHosts: queue boots base and series on the VM hosts', async () => {
      // The build stage's outcome as the test stage reads it: two "built" kernels in the shared artifacts.
      const built = (side: string) => {
        const artifactDir = join(dir, 'artifacts', `stage-${side}`);
        mkdirSync(artifactDir, { recursive: true });
        if (!existsSync(join(artifactDir, 'bzImage'))) symlinkSync(kernel, join(artifactDir, 'bzImage'));
        return {
          config: 'vm',
          commit: side.repeat(40).slice(0, 40),
          treeId: 't',
          status: 'ok' as const,
          cacheHit: true,
          durationMs: 0,
          artifactKey: `key-${side}`,
          artifactDir,
          configMismatches: [],
          firstError: null,
          errors: [],
          failedTargets: [],
          warnings: [],
          steps: 1,
          networkAttempt: false,
          logTail: [],
        };
      };
      const data = {
        toolchain: 'gcc',
        toolchainVersions: {},
        builds: [
          {
            config: 'vm',
            configHash: 'h',
            base: built('a'),
            series: built('b'),
            perPatch: [],
            warnings: { before: 0, after: 0, added: [], removed: [] },
            selftests: null,
          },
        ],
      };
      const run = {
        runId: `remote-${Date.now()}`,
        stages: ['test', 'report'],
        tree: { name: 'test-tree', reason: 'test' },
        build: {
          configs: ['vm'],
          arch: 'x86_64',
          toolchain: 'gcc' as const,
          perPatch: false,
          suites: ['smoke'],
          perfSuites: [],
          perfBisect: false,
          perfClock: null,
        },
        series: {
          title: 't',
          version: 1,
          total: 1,
          isRfc: false,
          author: { name: 'A', address: 'a@example.org' },
          messageId: 'm@example.org',
          patches: [],
        },
      };
      const result = await testStage.run({
        run,
        job: { run, stage: 'test' },
        upstream: {
          outcomes: [
            { stage: 'build', status: 'passed', summary: '', data, attempts: 1, startedAt: null, finishedAt: null },
          ],
        },
        config,
        log: silentLogger,
        signal: new AbortController().signal,
        progress: async () => undefined,
        redis: () => redis.client(),
      });
      // The stage's own objects, before the report's schema (which does not carry the host) reads them.
      const suite = (result.data as { suites: { base: KernelRun; series: KernelRun }[] }).suites[0]!;
      assert.equal(result.status, 'passed', result.summary);
      assert.deepEqual(
        suite.series.tests.map((t) => [t.name, t.attempts.join()]),
        [
          ['kernel-alive', 'pass'],
          ['mounts', 'pass'],
          ['loopback', 'pass'],
        ],
      );
      const ran = [...suite.base.boots, ...suite.series.boots].map((b) => b.host);
      assert.equal(ran.length, 2);
      for (const h of ran)
        assert.ok(hostIds().includes(h!), `${h} is one of the VM host processes ${hostIds().join(', ')}`);
    });

    it('abort while a VM host runs the boot: runKernel returns promptly and that host has no QEMU left', async () => {
      const ctl = new AbortController();
      let abortedAt = 0;
      let qemuAtAbort: { host: number; qemu: number[] }[] = [];
      const r = await run('hang', {
        signal: ctl.signal,
        // The watchdog must not end the frozen guest first: only the abort may.
        limits: { ...LIMITS, testGraceMs: 120_000 },
        onProgress: (m) => {
          // Forwarded from the VM host: the guest is in the test that freezes it.
          if (abortedAt || !m.startsWith('test 1/1: freeze')) return;
          qemuAtAbort = hosts.map((h) => ({ host: h.pid!, qemu: qemuUnder(h.pid!) })).filter((x) => x.qemu.length > 0);
          abortedAt = Date.now();
          ctl.abort();
        },
      });
      assert.ok(abortedAt > 0, 'the boot reported its progress through the queue');
      assert.equal(qemuAtAbort.length, 1, `one VM host ran the QEMU when aborted: ${JSON.stringify(qemuAtAbort)}`);
      assert.equal(r.boots.length, 1, 'no retry after a cancel');
      assert.equal(r.boots[0]!.outcome.verdict, 'infra-error');
      assert.equal(r.boots[0]!.outcome.reason, 'cancelled');
      assert.equal(r.boots[0]!.host, `${hostname()}:${qemuAtAbort[0]!.host}`, 'the host that ran it answered');
      const left = qemuUnder(qemuAtAbort[0]!.host).length;
      await waitFor(
        'the QEMU of the cancelled boot to exit',
        5_000,
        () => qemuUnder(qemuAtAbort[0]!.host).length === 0,
      );
      process.stderr.write(
        `# remote cancel: returned ${Date.now() - abortedAt} ms after the abort; QEMU processes left on the host then: ${left}\n`,
      );
    });
  });

  describe('a VM host killed mid-boot', { skip: skipVm }, () => {
    let kernel: string;
    const hosts: ChildProcess[] = [];
    let remote: RemoteExecutor;
    let queue: Queue;
    // Short locks, so the dead host's boot is found stalled within seconds.
    const quick = () => ({ ...config, queue: { ...config.queue, lockDurationMs: 2000, stalledIntervalMs: 1000 } });
    before(async () => {
      kernel = testKernel();
      remote = await remoteExecutor({ redis: () => redis.client(), shared: dir, log: silentLogger });
      queue = new Queue(QUEUES.vm, { connection: redis.connection });
    });
    after(async () => {
      await remote?.close();
      await queue?.close();
      await Promise.all(hosts.map(stopHost));
    });

    it('another host boots it again, in an emptied directory, and the boot completes there', async () => {
      const dying = await startHost(quick(), 'vm');
      hosts.push(dying);
      const mixed = loadSuite(fixturePath('suites'), 'mixed');
      const suite = {
        ...mixed,
        tests: mixed.tests.filter((t) => t.name === 'passes' || t.name === 'hands-back-a-file'),
      };
      const outDir = join(dir, 'runs', 'killed', 'boot-1');
      const pending = remote.boot(guest(kernel, suite, outDir, { bootIndex: 1 }));
      const qemu = await waitFor('a QEMU on the first host', 60_000, () => {
        const q = qemuUnder(dying.pid!);
        return q.length ? q : null;
      });
      // What a dead attempt leaves behind must not pass for the next one's output.
      writeFileSync(join(outDir, 'left-by-attempt-1'), 'stale');
      const rescuer = await startHost(quick(), 'vm');
      hosts.push(rescuer);
      dying.kill('SIGKILL');
      await new Promise((r) => dying.once('exit', r));
      // bubblewrap's --die-with-parent: the dead host's QEMU does not boot on beside the new attempt.
      await waitFor("the dead host's QEMU to exit", 5_000, () => qemu.every((p) => !existsSync(`/proc/${p}`)));

      const g = await pending;
      assert.equal(g.host, `${hostname()}:${rescuer.pid}`);
      assert.equal(g.channel.ended, true, 'the second attempt ran every test');
      assert.deepEqual(
        g.channel.tests.map((t) => [t.name, t.exitCode]),
        [
          ['passes', 0],
          ['hands-back-a-file', 0],
        ],
      );
      assert.equal(
        existsSync(join(outDir, 'left-by-attempt-1')),
        false,
        'the directory was emptied before the second attempt',
      );
      const job = (await queue.getCompleted()).find((j) => (j.data as { outDir?: string }).outDir === outDir);
      assert.equal(job?.attemptsStarted, 2, 'started twice: once on each host');
    });
  });
});
