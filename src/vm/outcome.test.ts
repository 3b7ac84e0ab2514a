import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { SuiteTest } from '../suite/suite.js';
import { fixturePath } from '../testing/paths.js';
import { judgeVm, type VmEvidence } from './outcome.js';
import { readChannel } from './protocol.js';

const read = (...p: string[]) => readFileSync(fixturePath(...p), 'utf8');
const plan = (...names: string[]): SuiteTest[] => names.map((name) => ({ name, run: 'true', timeoutSeconds: 20 }));

function evidence(name: string, tests: SuiteTest[], over: Partial<VmEvidence> = {}): VmEvidence {
  const channel = read('vm', `${name}.channel.txt`);
  const nonce = /^KSCI-([0-9a-f]+) /.exec(channel)![1]!;
  return {
    channel: readChannel(channel, nonce),
    console: read('vm', `${name}.console.txt`),
    stoppedBy: null,
    stoppedDuring: null,
    qemuExitCode: 0,
    tests,
    durationMs: 1,
    accel: 'tcg',
    ...over,
  };
}

describe('judgeVm on real runs', () => {
  it('a completed run: statuses from exit codes, the watchdog flag, kselftest skip', () => {
    const o = judgeVm(
      evidence('mixed', plan('passes', 'fails', 'skips', 'too-slow', 'flaky', 'hands-back-a-file')),
      [],
      't',
    );
    assert.equal(o.verdict, 'completed');
    assert.deepEqual(
      o.tests.map((t) => t.status),
      ['pass', 'fail', 'skip', 'timeout', 'fail', 'pass'],
    );
    assert.deepEqual(o.splats, []);
    assert.equal(o.kernelRelease, '6.12.117+deb12-amd64');
  });

  it('a crash mid-run: kernel-crash with the panic, the running test crashed, the rest not run, the splat attributed', () => {
    const o = judgeVm(evidence('crash', plan('before', 'sysrq-crash', 'after')), [], 't');
    assert.equal(o.verdict, 'kernel-crash');
    assert.match(o.reason, /sysrq triggered crash.*\(during sysrq-crash\)/);
    assert.deepEqual(
      o.tests.map((t) => t.status),
      ['pass', 'crash', 'not-run'],
    );
    assert.equal(o.splats[0]?.test, 'sysrq-crash');
    assert.ok(o.excerpt.some((l) => l.includes('Kernel panic')));
  });

  it('a known splat is listed with its reason and does not make the crash go away unless it is the crash', () => {
    const e = evidence('crash', plan('before', 'sysrq-crash', 'after'));
    const o = judgeVm(e, [{ pattern: '*sysrq*', reason: 'deliberate' }], 't');
    assert.deepEqual(o.splats, []);
    assert.equal(o.ignoredSplats[0]?.reason, 'deliberate');
    // With the panic ignored there is no crash to name: QEMU went away mid-test, which is still a crash.
    assert.equal(o.verdict, 'kernel-crash');
    assert.match(o.reason, /without a panic message/);
  });

  it('the host stopped a silent guest: hang, with the test it was waiting for', () => {
    const e = evidence('crash', plan('before', 'sysrq-crash', 'after'), {
      console: read('vm', 'mixed.console.txt'),
      stoppedBy: 'test-timeout',
      stoppedDuring: 'sysrq-crash',
      qemuExitCode: null,
    });
    const o = judgeVm(e, [], 't');
    assert.equal(o.verdict, 'hang');
    assert.match(o.reason, /stopped responding during sysrq-crash: its 20 s timeout passed/);
    assert.deepEqual(
      o.tests.map((t) => t.status),
      ['pass', 'hang', 'not-run'],
    );
  });

  it('no init marker: boot failure, or an infrastructure error when QEMU printed nothing', () => {
    const noInit = {
      channel: readChannel('', 'x'),
      stoppedBy: null,
      stoppedDuring: null,
      qemuExitCode: 0,
      tests: plan('a'),
      durationMs: 1,
      accel: 'tcg',
    };
    const broken = judgeVm({ ...noInit, console: read('console', 'broken-init.log') }, [], 't');
    assert.equal(broken.verdict, 'boot-failure');
    assert.match(broken.reason, /crashed before the init started/);
    assert.equal(
      judgeVm(
        { ...noInit, console: read('vm', 'mixed.console.txt').split('Run /init')[0]!, stoppedBy: 'boot-timeout' },
        [],
        't',
      ).reason,
      'the init did not start before the boot timeout',
    );
    assert.equal(judgeVm({ ...noInit, console: '', qemuExitCode: 1 }, [], 't').verdict, 'infra-error');
  });
});
