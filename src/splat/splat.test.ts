import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fixturePath, repoRoot } from '../testing/paths.js';
import {
  classifySplats,
  consoleLines,
  findSplats,
  frameName,
  MAX_EXCERPT,
  parseKnownSplats,
  type KnownSplat,
  type Splat,
} from './splat.js';

// Real serial consoles of real QEMU boots of Debian's 6.12 kernel;
// test/fixtures/console/README.md says how each was made.
const raw = (name: string) => readFileSync(fixturePath('console', name.includes('.') ? name : `${name}.log`), 'utf8');
const splats = (name: string) => findSplats(raw(name));
const only = (name: string): Splat => {
  const s = splats(name);
  assert.equal(s.length, 1, `${name}: ${s.map((x) => x.title).join(' / ')}`);
  return s[0]!;
};
/** The test module's frames, under the kernel's module loader. */
const INSMOD = [
  'splat_test_init',
  'do_one_initcall',
  'do_init_module',
  'init_module_from_file',
  'idempotent_init_module',
  '__x64_sys_finit_module',
  'do_syscall_64',
  'entry_SYSCALL_64_after_hwframe',
];

describe('consoleLines', () => {
  const lines = consoleLines(raw('clean-debian'));

  it('one line per raw line, without \\r, escapes or timestamps', () => {
    assert.equal(lines.length, raw('clean-debian').split('\n').length, 'indexes are raw line numbers');
    assert.ok(!lines.some((l) => /[\r\x1b]/.test(l)));
    assert.ok(!lines.some((l) => /^\[\s*\d+\.\d+\]/.test(l)));
  });

  it("drops what SeaBIOS and the kernel's terminal resets cleared from the screen", () => {
    assert.deepEqual(lines.slice(0, 9), [
      'SeaBIOS (version 1.16.2-debian-1.16.2-1)',
      '',
      '',
      'iPXE (http://ipxe.org) 00:03.0 CA00 PCI2.10 PnP PMM+3EFCF000+3EF0F000 CA00',
      'Press Ctrl-B to configure iPXE (PCI 00:03.0)...',
      '',
      '',
      'Booting from ROM...',
      'Probing EDD (edd=off to disable)... ok',
    ]);
    assert.match(lines[9]!, /^Linux version 6\.12\.117\+deb12-amd64 /);
    assert.equal(lines[10], 'Command line: console=ttyS0 panic=-1');
  });

  it('keeps the indent that marks call trace frames', () => {
    const c = consoleLines(raw('warn-1'));
    assert.match(c[c.indexOf('Call Trace:') + 2]!, /^ splat_test_init\+0x[0-9a-f]+\/0xff0 \[splat_test\]$/);
  });

  it("a serial logger's own stamps go too", () => {
    const c = consoleLines(raw('qemu-serial-pktgen-boot'));
    assert.deepEqual(c.slice(0, 3), [
      'SeaBIOS (version 1.16.2-debian-1.16.2-1)',
      'Booting from ROM...',
      'FEAS-INIT: uptime=1.93 kernel=6.12.117+',
    ]);
    assert.ok(c.includes('reboot: Power down'));
  });
});

describe('findSplats: clean boots', () => {
  it("Debian's kernel under TCG boots without a splat", () => assert.deepEqual(splats('clean-debian'), []));
  it('the pktgen boot (quiet, no printk timestamps) has none', () =>
    assert.deepEqual(splats('qemu-serial-pktgen-boot'), []));
});

describe('findSplats: WARNING', () => {
  const [a, b] = [only('warn-1'), only('warn-2')];

  it('titles it by the function and place of the WARN, frames innermost first', () => {
    assert.equal(a.kind, 'warning');
    assert.equal(a.title, 'WARNING in splat_warn (/tmp/splat-work/mod/splat_test.c:39)');
    // The WARN's own function is the RIP, not a trace line; "? " frames are dropped.
    assert.deepEqual(a.frames, ['splat_warn', ...INSMOD]);
    assert.equal(a.fingerprint, 'warning | splat_warn < splat_test_init < do_one_initcall');
  });

  it('runs from "cut here" to the end marker', () => {
    const lines = consoleLines(raw('warn-1'));
    assert.equal(lines[a.line], '------------[ cut here ]------------');
    assert.deepEqual(a.excerpt, lines.slice(a.line, a.line + a.excerpt.length));
    assert.match(a.excerpt[1]!, /^WARNING: CPU: 0 PID: 138 at /);
    assert.equal(a.excerpt.at(-1), '---[ end trace 0000000000000000 ]---');
  });

  it('the same WARN in two boots (other CPU, PID, addresses, timing) has one fingerprint', () => {
    assert.notEqual(a.excerpt[1], b.excerpt[1], 'the headlines differ: CPU 0 PID 138 vs CPU 1 PID 139');
    assert.equal(b.fingerprint, a.fingerprint);
    assert.equal(b.title, a.title);
    assert.deepEqual(b.frames, a.frames);
  });

  it('refcount_t underflow: the message is kept, the saturate helper skipped', () => {
    const r = only('refcount');
    assert.equal(
      r.title,
      'WARNING in refcount_warn_saturate (lib/refcount.c:28): refcount_t: underflow; use-after-free.',
    );
    assert.equal(r.frames[0], 'refcount_warn_saturate');
    assert.equal(
      r.fingerprint,
      'warning: refcount_t: underflow; use-after-free. | splat_refcount < splat_test_init < do_one_initcall',
    );
  });

  it("program output that looks like a headline is not the kernel's", () => {
    const lines = consoleLines(raw('userspace-lookalikes'));
    for (const echoed of [
      'BUG: selftest foo: expected 1, got 2',
      'WARNING: printed by /init, not the kernel',
      'Kernel panic - not syncing: echoed by /init',
    ]) {
      assert.ok(lines.includes(echoed), echoed);
    }
    assert.equal(only('userspace-lookalikes').fingerprint, a.fingerprint);
  });
});

describe('findSplats: BUG, Oops, panic', () => {
  it('kernel BUG: "cut here", BUG line and Oops are one splat', () => {
    const s = only('bug');
    assert.equal(s.kind, 'bug');
    assert.equal(s.title, 'kernel BUG in splat_bug (/tmp/splat-work/mod/splat_test.c:44)');
    assert.deepEqual(s.frames, ['splat_bug', ...INSMOD]);
    assert.equal(s.fingerprint, 'bug: kernel BUG | splat_bug < splat_test_init < do_one_initcall');
    assert.equal(s.excerpt[2], 'Oops: invalid opcode: 0000 [#1] PREEMPT SMP NOPTI');
  });

  it('NULL dereference with oops=panic: the oops, then the panic it caused', () => {
    const [oops, panic] = splats('null-panic') as [Splat, Splat];
    assert.equal(splats('null-panic').length, 2);
    assert.equal(oops.kind, 'oops');
    assert.equal(oops.title, 'BUG: kernel NULL pointer dereference in splat_null');
    assert.deepEqual(oops.frames, ['splat_null', ...INSMOD], 'splat_null.constprop.0 in the log');
    assert.equal(oops.excerpt[4], 'Oops: Oops: 0000 [#1] PREEMPT SMP NOPTI');
    assert.equal(oops.excerpt.at(-1), '---[ end trace 0000000000000000 ]---');
    assert.equal(oops.cause, null);

    assert.equal(panic.kind, 'panic');
    assert.equal(panic.title, 'Kernel panic - not syncing: Fatal exception');
    assert.equal(panic.cause, 0);
    assert.equal(
      panic.fingerprint,
      `panic: Fatal exception <- ${oops.fingerprint}`,
      '"Fatal exception" alone would merge every oops',
    );
    assert.match(panic.excerpt.at(-1)!, /^Kernel Offset: /);
  });

  it('panic_on_warn: the WARNING is cut short by the panic it causes', () => {
    const [warn, panic] = splats('warn-panic') as [Splat, Splat];
    assert.equal(warn.fingerprint, only('warn-1').fingerprint);
    assert.equal(warn.excerpt.at(-1), ' </TASK>', 'no end marker: the panic came first');
    assert.equal(panic.title, 'Kernel panic - not syncing: kernel: panic_on_warn set ...');
    assert.equal(panic.cause, 0);
  });

  it('sysrq-c panics directly in 6.12; the frames skip panic itself', () => {
    const s = only('sysrq-crash');
    assert.equal(s.kind, 'panic');
    assert.equal(s.title, 'Kernel panic - not syncing: sysrq triggered crash');
    assert.deepEqual(s.frames.slice(0, 4), ['panic', 'sysrq_handle_crash', '__handle_sysrq', 'write_sysrq_trigger']);
    assert.equal(
      s.fingerprint,
      'panic: sysrq triggered crash | sysrq_handle_crash < __handle_sysrq < write_sysrq_trigger',
    );
    assert.equal(s.cause, null);
  });

  it('scheduling while atomic has no end marker: it ends with its trace, and the imbalance WARNING after it is its own', () => {
    const [bug, warn] = splats('sched-atomic') as [Splat, Splat];
    assert.equal(splats('sched-atomic').length, 2);
    assert.equal(bug.kind, 'bug');
    assert.equal(bug.title, 'BUG: scheduling while atomic in splat_sched_atomic');
    assert.equal(
      bug.fingerprint,
      'bug: scheduling while atomic | splat_sched_atomic < splat_test_init < do_one_initcall',
      'dump_stack and the scheduler are skipped',
    );
    assert.equal(bug.excerpt.at(-1), ' </TASK>');
    assert.equal(warn.kind, 'warning');
    assert.match(
      warn.title,
      /^WARNING in do_one_initcall \(init\/main\.c:1253\): initcall splat_test_init\+0x0\/0xff0 \[splat_test\] returned with preemption imbalance$/,
    );
  });
});

describe('findSplats: list corruption', () => {
  it('list_del on a poisoned entry: message, BUG in lib/list_debug.c and Oops are one splat', () => {
    const s = only('list-del');
    assert.equal(s.kind, 'list-corruption');
    assert.match(
      s.title,
      /^list_del corruption, [0-9a-f]{16}->next is LIST_POISON1 \(dead000000000100\) in splat_list_del$/,
    );
    assert.equal(
      s.fingerprint,
      'list-corruption: list_del corruption, X->next is LIST_POISON1 (X) | splat_list_del < splat_test_init < do_one_initcall',
    );
    assert.ok(s.excerpt.includes('kernel BUG at lib/list_debug.c:56!'));
    assert.equal(s.excerpt.at(-1), '---[ end trace 0000000000000000 ]---');
  });

  it('a double list_add is a different corruption', () => {
    const s = only('list-add');
    assert.equal(s.kind, 'list-corruption');
    assert.equal(
      s.fingerprint,
      'list-corruption: list_add double add: new=X, prev=X, next=X. | splat_list_add < splat_test_init < do_one_initcall',
    );
    assert.ok(s.excerpt.includes('kernel BUG at lib/list_debug.c:35!'));
  });
});

describe('findSplats: lockups, stalls, hung tasks', () => {
  it('soft lockup: named by the spinning function (the RIP)', () => {
    const s = only('soft-lockup');
    assert.equal(s.kind, 'soft-lockup');
    assert.equal(s.title, 'BUG: soft lockup in splat_soft_lockup (stuck for 13s)');
    assert.deepEqual(s.frames, ['splat_soft_lockup', ...INSMOD]);
    assert.equal(s.fingerprint, 'soft-lockup: soft lockup | splat_soft_lockup < splat_test_init < do_one_initcall');
    assert.equal(s.excerpt.at(-1), ' </TASK>');
  });

  it('RCU stall', () => {
    const s = only('rcu-stall');
    assert.equal(s.kind, 'rcu-stall');
    assert.equal(s.title, 'RCU stall in splat_rcu_stall (rcu_preempt self-detected stall on CPU)');
    assert.equal(s.fingerprint, 'rcu-stall: stall | splat_rcu_stall < splat_test_init < do_one_initcall');
  });

  it('hung task: each report of the same hang has the same fingerprint, without the scheduler frames', () => {
    const s = splats('hung-task');
    assert.deepEqual(
      s.map((x) => x.title),
      [2, 4, 6].map((n) => `INFO: task splat_hung hung in hung_fn (blocked for more than ${n} seconds)`),
    );
    assert.deepEqual(s[0]!.frames, [
      '__schedule',
      'schedule',
      'hung_fn',
      'kthread',
      'ret_from_fork',
      'ret_from_fork_asm',
    ]);
    assert.deepEqual(new Set(s.map((x) => x.fingerprint)), new Set(['hung-task: task hung | hung_fn']));
    assert.deepEqual(
      s.map((x) => x.excerpt.length),
      [17, 17, 17],
    );
  });
});

describe('findSplats: memory', () => {
  it('KFENCE use-after-free: the access stack only, not the allocation and free stacks', () => {
    const s = only('kfence-uaf');
    assert.equal(s.kind, 'kfence');
    assert.equal(s.title, 'KFENCE: use-after-free read in splat_kfence_uaf');
    assert.deepEqual(s.frames, ['splat_kfence_uaf', ...INSMOD]);
    assert.equal(s.fingerprint, 'kfence: use-after-free read | splat_kfence_uaf < splat_test_init < do_one_initcall');
    assert.match(s.excerpt[0]!, /^BUG: KFENCE: use-after-free read in splat_kfence_uaf\+0x1b\/0x30 \[splat_test\]$/);
    assert.ok(s.excerpt.some((l) => l.startsWith('freed by task')));
    assert.equal(s.excerpt.at(-1), '==================================================================');
  });

  it('KFENCE out-of-bounds', () => {
    const s = only('kfence-oob');
    assert.equal(s.kind, 'kfence');
    assert.equal(s.title, 'KFENCE: out-of-bounds read in splat_kfence_oob');
    assert.equal(s.fingerprint, 'kfence: out-of-bounds read | splat_kfence_oob < splat_test_init < do_one_initcall');
  });

  it('OOM kill: one splat from "invoked oom-killer" to "Killed process", not named by where the allocation failed', () => {
    const s = only('oom');
    assert.equal(s.kind, 'oom');
    assert.equal(s.title, 'Out of memory: killed sh (CONSTRAINT_NONE)');
    assert.match(s.excerpt[0]!, /^head invoked oom-killer: gfp_mask=/);
    assert.equal(s.excerpt.length, MAX_EXCERPT, 'the Mem-Info and task table run past the cap');
    assert.ok(
      s.frames.includes('pipe_write'),
      'this run failed in pipe_write; a page fault or a slab allocation next time',
    );
    assert.equal(s.fingerprint, 'oom: out of memory CONSTRAINT_NONE');
  });

  // Not a capture: the example report in the kernel's Documentation/dev-tools/kasan.rst (see the README).
  it('KASAN, on the report from the kernel documentation', () => {
    const s = only('kasan-docs.txt');
    assert.equal(s.kind, 'kasan');
    assert.equal(s.title, 'KASAN: slab-out-of-bounds Write in kmalloc_oob_right');
    assert.deepEqual(s.frames.slice(0, 6), [
      'dump_stack',
      'print_address_description',
      'kasan_report',
      '__asan_report_store1_noabort',
      'kmalloc_oob_right',
      'kmalloc_tests_init',
    ]);
    assert.ok(!s.frames.includes('kfree'), 'the free stack is not the access stack');
    assert.equal(
      s.fingerprint,
      'kasan: slab-out-of-bounds Write | kmalloc_oob_right < kmalloc_tests_init < do_one_initcall',
    );
  });
});

describe('findSplats: boot failures', () => {
  it('no root: VFS cannot mount it', () => {
    const s = only('no-initramfs');
    assert.equal(s.kind, 'boot-failure');
    assert.equal(s.title, 'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)');
    assert.equal(
      s.fingerprint,
      'boot-failure: VFS: Unable to mount root fs on unknown-block(N,N) | mount_root_generic < prepare_namespace < kernel_init_freeable',
    );
  });

  it('an /init that cannot be executed: no working init', () => {
    const s = only('broken-init');
    assert.equal(s.kind, 'boot-failure');
    assert.match(s.title, /^Kernel panic - not syncing: No working init found\. /);
  });

  it('an /init that ran and exited is a panic, not a boot failure', () => {
    const s = only('init-exits');
    assert.equal(s.kind, 'panic');
    assert.equal(s.title, 'Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100');
    assert.equal(
      s.fingerprint,
      'panic: Attempted to kill init! exitcode=X | do_exit < do_group_exit < __x64_sys_exit_group',
    );
  });
});

describe('findSplats: fingerprints', () => {
  const all = [
    'warn-1',
    'bug',
    'null-panic',
    'sysrq-crash',
    'soft-lockup',
    'rcu-stall',
    'hung-task',
    'list-del',
    'list-add',
    'refcount',
    'sched-atomic',
    'kfence-uaf',
    'kfence-oob',
    'oom',
    'no-initramfs',
    'broken-init',
    'init-exits',
    'kasan-docs.txt',
  ].flatMap((n) => splats(n));

  it('differ between different splats', () => {
    const hung = all.filter((s) => s.kind === 'hung-task').length;
    assert.equal(
      new Set(all.map((s) => s.fingerprint)).size,
      all.length - (hung - 1),
      'only the three reports of one hung task share one',
    );
  });

  it('hold no CPU numbers, PIDs, addresses or timestamps', () => {
    for (const s of all) {
      assert.doesNotMatch(s.fingerprint, /\b(?:CPU|PID)\b|\b[0-9a-f]{8,}\b|\d+\.\d{6}|\+0x/, s.fingerprint);
    }
  });

  it('frame names lose gcc clone suffixes', () => {
    assert.deepEqual(
      ['splat_null.constprop.0', 'foo.isra.0.cold', 'bar.part.3', 'baz.llvm.123456', 'plain'].map(frameName),
      ['splat_null', 'foo', 'bar', 'baz', 'plain'],
    );
  });
});

describe('findSplats: consoles cut or joined', () => {
  it('a console cut inside a WARNING still gives it, up to the cut', () => {
    const lines = raw('warn-1').split('\n');
    const at = lines.findIndex((l) => l.includes('Call Trace:'));
    const s = findSplats(lines.slice(0, at + 4).join('\n'));
    assert.equal(s.length, 1);
    assert.equal(s[0]!.title, only('warn-1').title);
    assert.deepEqual(s[0]!.frames, ['splat_warn', 'splat_test_init']);
  });

  it('two boots in one log: splats in order, line numbers and causes in the joined log', () => {
    const first = raw('warn-1');
    const s = findSplats(`${first}\n${raw('null-panic')}`);
    assert.deepEqual(
      s.map((x) => x.kind),
      ['warning', 'oops', 'panic'],
    );
    assert.equal(
      s[1]!.line,
      first.split('\n').length + only('bug').line + 2,
      'the NULL dereference is 2 lines later in its boot than the BUG in its',
    );
    assert.equal(s[2]!.cause, 1);
  });
});

describe('parseKnownSplats', () => {
  it("the repository's list parses", () => {
    const file = join(repoRoot, 'selftests', 'known-splats.yaml');
    const known = parseKnownSplats(readFileSync(file, 'utf8'), file);
    for (const k of known) assert.ok(k.reason.length > 0);
  });

  it('reads entries, trees optional; an empty file is an empty list', () => {
    const yaml = [
      '- pattern: "warning | splat_warn < *"',
      '  reason: test module',
      '- pattern: "/^KFENCE: /"',
      '  reason: kfence is sampled',
      '  trees: [net-next, "bpf*"]',
    ].join('\n');
    assert.deepEqual(parseKnownSplats(yaml, 'k.yaml'), [
      { pattern: 'warning | splat_warn < *', reason: 'test module' },
      { pattern: '/^KFENCE: /', reason: 'kfence is sampled', trees: ['net-next', 'bpf*'] },
    ]);
    assert.deepEqual(parseKnownSplats('# nothing yet\n', 'k.yaml'), []);
  });

  it('errors name the file and the entry', () => {
    const bad: [string, RegExp][] = [
      ['- pattern: x\n  reason: ok\n- pattern: y\n', /^k\.yaml: entry 1: reason: /],
      ['- pattern: x\n  reason: ok\n  tree: [net]\n', /^k\.yaml: entry 0: .*tree/],
      ['- pattern: "/(unclosed/"\n  reason: ok\n', /^k\.yaml: entry 0: bad pattern /],
      ['- pattern: ""\n  reason: ok\n', /^k\.yaml: entry 0: pattern: /],
      ['pattern: x\nreason: y\n', /^k\.yaml: must be a YAML list/],
      ['- [unclosed\n', /^k\.yaml: not valid YAML/],
    ];
    for (const [text, message] of bad) assert.throws(() => parseKnownSplats(text, 'k.yaml'), { message }, text);
  });
});

describe('classifySplats', () => {
  const warn = only('warn-1');
  const known = (...k: KnownSplat[]) => k;

  it('nothing known: every splat is fatal', () => {
    assert.deepEqual(classifySplats(splats('null-panic'), [], 'net-next'), {
      fatal: splats('null-panic'),
      ignored: [],
    });
  });

  it('a glob over the fingerprint, or a regex over the title, ignores a splat with its reason', () => {
    for (const pattern of ['warning | splat_warn < *', '/^WARNING in splat_warn /']) {
      const r = classifySplats([warn], known({ pattern, reason: 'the test module warns on purpose' }), 'net-next');
      assert.deepEqual(
        r,
        { fatal: [], ignored: [{ splat: warn, reason: 'the test module warns on purpose' }] },
        pattern,
      );
    }
    assert.equal(
      classifySplats([warn], known({ pattern: 'warning | splat_warn', reason: 'x' }), 't').fatal.length,
      1,
      'a glob matches the whole string',
    );
  });

  it('an entry for other trees does not apply', () => {
    const k = known({ pattern: 'warning*', reason: 'net-next only', trees: ['net-next', 'bpf-*'] });
    assert.equal(classifySplats([warn], k, 'bpf-next').ignored.length, 1);
    assert.equal(classifySplats([warn], k, 'mainline').fatal.length, 1);
  });

  it('a panic caused by an ignored splat is ignored with it; caused by a fatal one, it is fatal', () => {
    const s = splats('warn-panic');
    const r = classifySplats(s, known({ pattern: 'warning | splat_warn < *', reason: 'on purpose' }), 'net-next');
    assert.deepEqual(r.fatal, []);
    assert.deepEqual(
      r.ignored.map((x) => x.reason),
      ['on purpose', 'caused by an ignored splat: on purpose'],
    );
    assert.equal(classifySplats(s, [], 'net-next').fatal.length, 2);
  });
});
