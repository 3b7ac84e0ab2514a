/**
 * The VM runner on a real kernel in real QEMU (in bubblewrap): Debian's
 * prebuilt 6.12 image (scripts/test-kernel.sh fetches it) or $KSCI_TEST_KERNEL.
 * Each way a guest can go wrong must give its own verdict in bounded time.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { settle } from './compare.js';
import { silentLogger } from '../log.js';
import { loadSuite } from '../suite/suite.js';
import { fixturePath, repoRoot } from '../testing/paths.js';
import { testKernel, vmTestSkip } from '../testing/vm.js';
import { runKernel, type KernelRun, type KernelRunOptions } from './kernel-run.js';

const skip = await vmTestSkip();

describe('VM runner on a real kernel', { skip, timeout: 15 * 60_000 }, () => {
  let kernel: string;
  let dir: string;
  before(() => {
    kernel = testKernel();
    dir = mkdtempSync(join(tmpdir(), 'ksci-vm-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const run = (
    suiteDir: string,
    name: string,
    o: Partial<KernelRunOptions> = {},
  ): Promise<KernelRun & { ms: number }> => {
    const suite = loadSuite(suiteDir, name);
    const started = Date.now();
    return runKernel({
      kernel,
      suite,
      memoryMiB: 512,
      cpus: 2,
      accel: 'auto',
      limits: { bootTimeoutMs: 120_000, runTimeoutMs: 10 * 60_000, testGraceMs: 5_000, maxOutputBytes: 64 << 20 },
      busybox: '/bin/busybox',
      retries: 1,
      maxBoots: 4,
      known: [],
      tree: 'test',
      outDir: join(dir, name),
      log: silentLogger,
      ...o,
    }).then((r) => ({ ...r, ms: Date.now() - started }));
  };
  const status = (r: KernelRun) => Object.fromEntries(r.tests.map((t) => [t.name, t.attempts.join(',')]));

  it('the smoke suite passes in one boot', async () => {
    const r = await run(join(repoRoot, 'selftests'), 'smoke');
    assert.deepEqual(status(r), { 'kernel-alive': 'pass', mounts: 'pass', loopback: 'pass' });
    assert.equal(r.boots.length, 1);
    const b = r.boots[0]!.outcome;
    assert.equal(b.verdict, 'completed');
    assert.match(b.kernelRelease ?? '', /^6\.12\./);
    assert.ok(b.bootSeconds !== null && b.bootSeconds > 0);
    assert.deepEqual(r.splats, []);
  });

  /** The mixed suite's attempts per test, whether it runs on one VM or is sharded. */
  const MIXED = {
    passes: 'pass',
    fails: 'fail,fail',
    skips: 'skip',
    'too-slow': 'timeout,timeout',
    flaky: 'fail,pass',
    'hands-back-a-file': 'pass',
  };

  it('pass, fail, skip, in-guest timeout, flaky, and a file handed back: each its own status', async () => {
    const r = await run(fixturePath('suites'), 'mixed');
    assert.deepEqual(status(r), MIXED);
    assert.deepEqual(
      r.boots.map((b) => [b.purpose, b.outcome.verdict, b.tests.length]),
      [
        ['run', 'completed', 6],
        ['retry', 'completed', 3],
      ],
    );
    assert.equal(settle(r.tests.find((t) => t.name === 'flaky')!.attempts), 'flaky');
    const fails = r.tests.find((t) => t.name === 'fails')!.last;
    assert.equal(fails.exitCode, 1);
    assert.deepEqual(fails.output, ['expected 1, got 2']);
    assert.ok(
      r.tests.find((t) => t.name === 'too-slow')!.last.seconds! < 15,
      'killed by the guest near its 3 s timeout',
    );
  });

  it('sharded over two VMs at once: the same results, merged', async () => {
    const r = await run(fixturePath('suites'), 'mixed', { parallel: 2 });
    assert.deepEqual(
      r.boots.map((b) => [b.purpose, b.outcome.verdict, b.outcome.reason]).filter((b) => b[1] !== 'completed'),
      [],
      'every boot completed',
    );
    assert.deepEqual(status(r), MIXED);
    const firstPass = r.boots.filter((b) => b.purpose === 'run');
    assert.equal(firstPass.length, 2);
    assert.deepEqual(firstPass.flatMap((b) => b.tests).sort(), [
      'fails',
      'flaky',
      'hands-back-a-file',
      'passes',
      'skips',
      'too-slow',
    ]);
  });

  it('a kernel crash: the oops is the verdict, the test is "crash", and the next test runs in the next boot', async () => {
    const r = await run(fixturePath('suites'), 'crash');
    const first = r.boots[0]!.outcome;
    assert.equal(first.verdict, 'kernel-crash');
    assert.match(first.reason, /sysrq|NULL pointer|Oops|panic/i);
    assert.ok(first.excerpt.length > 3, 'the console excerpt shows the crash');
    assert.deepEqual(status(r), { before: 'pass', 'sysrq-crash': 'crash,crash', after: 'pass' });
    assert.deepEqual(
      r.boots.map((b) => b.purpose),
      ['run', 'continue', 'retry'],
    );
    assert.ok(
      r.splats.some((s) => s.test === 'sysrq-crash'),
      'the splat is attributed to the test that ran',
    );
  });

  it('a hung guest: the host watchdog ends it shortly after the test timeout', async () => {
    const r = await run(fixturePath('suites'), 'hang', { retries: 0 });
    const b = r.boots[0]!.outcome;
    assert.equal(b.verdict, 'hang');
    assert.match(b.reason, /stopped responding during freeze/);
    assert.deepEqual(status(r), { freeze: 'hang' });
  });

  it('cancelling stops the VM at once and runs nothing more', async () => {
    const ctl = new AbortController();
    // The frozen guest would be called hung only after 3 s + 5 s of grace past its test's start.
    setTimeout(() => ctl.abort(), 6_000);
    const r = await run(fixturePath('suites'), 'hang', { signal: ctl.signal });
    assert.equal(r.boots.length, 1, 'no retry after a cancel');
    assert.equal(r.boots[0]!.outcome.verdict, 'infra-error');
    assert.equal(r.boots[0]!.outcome.reason, 'cancelled');
  });

  it('a kernel that cannot start the init: boot failure, with the panic', async () => {
    const r = await run(fixturePath('suites'), 'no-init');
    assert.deepEqual(
      r.boots.map((b) => b.outcome.verdict),
      ['boot-failure', 'boot-failure'],
      'booted once more, then concluded; no test retries',
    );
    assert.match(r.bootFailure ?? '', /^boot-failure: /);
    for (const b of r.boots)
      assert.match(b.outcome.excerpt.join('\n'), /Unable to mount root fs|No working init|Kernel panic/);
    assert.deepEqual(status(r), { 'never-runs': '' });
  });
});
