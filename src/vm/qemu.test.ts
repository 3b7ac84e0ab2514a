import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseKernelArgs, qemuArgs } from './qemu.js';

describe('qemuArgs', () => {
  const m = { kernel: '/k', initramfs: '/i', memoryMiB: 512, cpus: 2, append: ['x=1'] };
  const accel = (a: string[]) => a[a.indexOf('-accel') + 1];

  it('TCG runs every vCPU on one host thread; KVM is KVM with the host CPU', () => {
    const tcg = qemuArgs({ ...m, accel: 'tcg' }, { channel: '/c' });
    assert.equal(accel(tcg), 'tcg,thread=single');
    assert.equal(tcg[tcg.indexOf('-cpu') + 1], 'max');
    const kvm = qemuArgs({ ...m, accel: 'kvm' }, { channel: '/c' });
    assert.equal(accel(kvm), 'kvm');
    assert.equal(kvm[kvm.indexOf('-cpu') + 1], 'host');
  });

  it('no network, the console and the channel on two serial ports, a panic ends QEMU', () => {
    const a = qemuArgs({ ...m, accel: 'tcg' }, { channel: '/c' });
    assert.deepEqual(a.slice(a.indexOf('-nic'), a.indexOf('-nic') + 2), ['-nic', 'none']);
    assert.deepEqual(
      a.filter((_, i) => a[i - 1] === '-serial'),
      ['stdio', 'file:/c'],
    );
    assert.ok(a.includes('-no-reboot'));
    assert.match(a[a.indexOf('-append') + 1]!, /panic=-1 .*oops=panic.* x=1$/);
  });

  it('icount: instructions count guest time, on TCG only; off unless asked', () => {
    const on = qemuArgs({ ...m, accel: 'tcg', icount: { shift: 0, sleep: false, align: false } }, { channel: '/c' });
    assert.equal(on[on.indexOf('-icount') + 1], 'shift=0,sleep=off,align=off');
    assert.equal(qemuArgs({ ...m, accel: 'tcg' }, { channel: '/c' }).indexOf('-icount'), -1);
    assert.throws(
      () => qemuArgs({ ...m, accel: 'kvm', icount: { shift: 0, sleep: false, align: false } }, { channel: '/c' }),
      /needs TCG/,
    );
  });
});

describe('parseKernelArgs', () => {
  it('splits on whitespace; refuses what a command line would take unparsed', () => {
    assert.deepEqual(parseKernelArgs(' init_on_free=1  slub_debug=F,kmalloc-64 '), [
      'init_on_free=1',
      'slub_debug=F,kmalloc-64',
    ]);
    assert.deepEqual(parseKernelArgs(undefined), []);
    assert.throws(() => parseKernelArgs('init=/bin/sh;reboot'), /"init=\/bin\/sh;reboot" has characters/);
    assert.throws(() => parseKernelArgs('a="b c"'), /characters/);
  });
});
