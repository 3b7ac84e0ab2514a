import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fixturePath } from '../testing/paths.js';
import {
  analyzeBuildLog,
  isBuildStep,
  MAX_CONTEXT,
  normalisePath,
  updateWarnings,
  warningDelta,
  warningKey,
  type BuildLogAnalysis,
  type Diagnostic,
} from './log.js';

// Real logs of real builds; test/fixtures/build/README.md says how each was made.
const log = (name: string) => readFileSync(fixturePath('build', `${name}.log`), 'utf8');
const analyse = (name: string) => analyzeBuildLog(log(name));
const place = (d: Diagnostic) => [d.tool, d.severity, d.file, d.line, d.column, d.message, d.flag];

describe('analyzeBuildLog: clean builds', () => {
  it('a cold build in the sandbox: no diagnostics, every step and compiled object counted', () => {
    const a = analyse('clean');
    assert.deepEqual(
      [a.errors, a.warnings, a.failedTargets, a.firstError, a.networkAttempt],
      [[], [], [], null, false],
    );
    assert.equal(a.steps, 1202, 'all lines but the 6 make/whoami/Kernel lines are steps');
    assert.equal(a.compiledUnits.length, 1026);
    for (const unit of [
      'net/core/skbuff.o',
      'arch/x86/entry/entry_64.o',
      'scripts/kconfig/conf.o',
      'tools/objtool/libsubcmd/exec-cmd.o',
    ]) {
      assert.ok(a.compiledUnits.includes(unit), unit);
    }
    assert.ok(!a.compiledUnits.some((u) => u.startsWith('/') || !u.endsWith('.o')), 'objects only, source-relative');
  });

  it("ksci's own build stage log of the base", () => {
    const a = analyse('clean-base');
    assert.deepEqual([a.errors.length, a.warnings.length, a.failedTargets, a.networkAttempt], [0, 0, [], false]);
    assert.deepEqual([a.steps, a.compiledUnits.length], [1654, 1017]);
  });
});

describe('analyzeBuildLog: compile errors', () => {
  it('too few arguments: location, message, and the function, excerpt, include chain and note that explain it', () => {
    const a = analyse('build-error');
    assert.equal(a.errors.length, 1);
    assert.equal(a.firstError, a.errors[0]);
    assert.deepEqual(place(a.firstError!), [
      'compiler',
      'error',
      'net/core/skbuff.c',
      6218,
      24,
      "too few arguments to function 'skb_metadata_start'",
      null,
    ]);
    assert.deepEqual(a.firstError!.context, [
      "net/core/skbuff.c: In function 'skb_reorder_vlan_header':",
      "net/core/skbuff.c:6218:24: error: too few arguments to function 'skb_metadata_start'",
      ' 6218 |                 meta = skb_metadata_start(skb);',
      '      |                        ^~~~~~~~~~~~~~~~~~',
      'In file included from include/net/net_namespace.h:43,',
      '                 from net/core/skbuff.c:43:',
      'include/linux/skbuff.h:4462:21: note: declared here',
      ' 4462 | static inline void *skb_metadata_start(const struct sk_buff *skb, u8 meta_len)',
      '      |                     ^~~~~~~~~~~~~~~~~~',
    ]);
    assert.equal(a.warnings.length, 0, 'the note is context, not a diagnostic');
    assert.deepEqual(
      a.failedTargets,
      ['net/core/skbuff.o'],
      'the recursive "Error 2" lines (net/core, net, ., __sub-make) only relay it',
    );
    assert.deepEqual([a.steps, a.compiledUnits.length], [80, 54]);
    // The other -j2 job went on after the failing unit.
    assert.deepEqual(a.compiledUnits.slice(-4), [
      'net/core/skbuff.o',
      'net/sched/sch_generic.o',
      'net/sched/sch_mq.o',
      'net/sched/sch_frag.o',
    ]);
  });

  it("ksci's own sandbox reports the same error for the same series", () => {
    const ours = analyse('error-too-few-args');
    assert.deepEqual(place(ours.firstError!), place(analyse('build-error').firstError!));
    assert.deepEqual(ours.failedTargets, ['net/core/skbuff.o']);
  });

  it('a step line from the other -j2 job inside a diagnostic does not cut it short', () => {
    const lines = log('build-error').split('\n');
    const at = lines.findIndex((l) => l.includes('error: too few arguments'));
    lines.splice(at + 1, 0, '  CC      net/core/datagram.o');
    lines.splice(at + 5, 0, '  AR      lib/built-in.a');
    const a = analyzeBuildLog(lines.join('\n'));
    assert.deepEqual(a.firstError!.context, analyse('build-error').firstError!.context);
    assert.equal(a.steps, 82);
  });
});

describe('analyzeBuildLog: warnings', () => {
  const a = analyse('warnings');

  it('finds each new warning once, with its flag', () => {
    assert.equal(log('warnings').match(/warning:/g)!.length, 14, 'the log prints 14');
    assert.deepEqual(a.warnings.map(place), [
      ['compiler', 'warning', 'net/core/dev.h', 154, 23, "unused variable 'owner'", '-Wunused-variable'],
      ['compiler', 'warning', 'net/core/skbuff.c', 6203, 13, "unused variable 'vlan_depth'", '-Wunused-variable'],
      [
        'compiler',
        'warning',
        'net/core/dev.c',
        5433,
        9,
        "format '%s' expects argument of type 'char *', but argument 2 has type 'unsigned int'",
        '-Wformat=',
      ],
    ]);
    assert.deepEqual([a.errors, a.failedTargets, a.networkAttempt], [[], [], false]);
  });

  it('counts a header warning once although 12 units print it', () => {
    assert.equal(log('warnings').match(/dev\.h:154:23: warning/g)!.length, 12);
    const header = a.warnings[0]!;
    assert.deepEqual(header.context, [
      'In file included from net/core/sock.c:151:',
      "net/core/dev.h: In function 'napi_assert_will_not_race':",
      "net/core/dev.h:154:23: warning: unused variable 'owner' [-Wunused-variable]",
      '  154 |         unsigned long owner;',
      '      |                       ^~~~~',
    ]);
    assert.equal(a.compiledUnits.filter((u) => u.startsWith('net/core/')).length, 12);
  });

  it('places a warning inside a macro where the macro was used, and keeps the expansion as context', () => {
    const format = a.warnings[2]!;
    assert.ok(format.context.length <= MAX_CONTEXT);
    assert.deepEqual(format.context.slice(0, 4), [
      'In file included from include/asm-generic/bug.h:22,',
      '                 from net/core/dev.c:71:',
      "net/core/dev.c: In function 'netif_rx':",
      "include/linux/kern_levels.h:5:25: warning: format '%s' expects argument of type 'char *', but argument 2 has type 'unsigned int' [-Wformat=]",
    ]);
    assert.deepEqual(format.context.slice(-3), [
      "net/core/dev.c:5433:9: note: in expansion of macro 'pr_debug'",
      ' 5433 |         pr_debug("netif_rx: len %s\\n", skb->len);',
      '      |         ^~~~~~~~',
    ]);
  });

  it("ksci's own log of an unused function: the scope line is context", () => {
    const b = analyse('new-warnings');
    assert.deepEqual(
      b.warnings.map((w) => [w.file, w.line, w.message, w.flag, w.context[0]]),
      [
        [
          'net/core/skbuff.c',
          494,
          "unused variable 'meta_budget'",
          '-Wunused-variable',
          "net/core/skbuff.c: In function 'build_skb':",
        ],
        [
          'net/core/skbuff.c',
          1298,
          "'skb_meta_budget' defined but not used",
          '-Wunused-function',
          'net/core/skbuff.c: At top level:',
        ],
      ],
    );
  });

  it('objtool names the object and the offset', () => {
    const o = analyse('objtool');
    assert.deepEqual(o.warnings.map(place), [
      [
        'objtool',
        'warning',
        'net/core/skbuff.o',
        null,
        null,
        'skb_vlan_user_peek+0x33: call to _printk() with UACCESS enabled',
        null,
      ],
    ]);
    assert.deepEqual([o.errors, o.failedTargets], [[], []]);
  });

  it('Kconfig warnings have no space after the line number', () => {
    const k = analyse('kconfig');
    assert.deepEqual(k.warnings.map(place), [
      ['kconfig', 'warning', 'net/Kconfig', 49, null, 'config symbol defined without type', null],
    ]);
    assert.equal(k.errors.length, 0);
  });
});

describe('analyzeBuildLog: link and modpost errors', () => {
  it('an undefined reference: the source is found from the object ld names', () => {
    const a = analyse('link-error');
    assert.deepEqual(a.errors.map(place), [
      ['linker', 'error', 'net/core/skbuff.c', null, null, "undefined reference to `skb_vlan_reorder_account'", null],
    ]);
    assert.deepEqual(a.firstError!.context, [
      "ld: net/core/skbuff.o: in function `skb_vlan_untag':",
      "skbuff.c:(.text+0x662a): undefined reference to `skb_vlan_reorder_account'",
    ]);
    assert.deepEqual(a.failedTargets, ['vmlinux']);
  });

  it('a multiple definition', () => {
    const a = analyse('link-multidef');
    assert.deepEqual(a.errors.map(place), [
      [
        'linker',
        'error',
        'net/core/dev.c',
        null,
        null,
        "multiple definition of `dev_get_iflink'; net/core/skbuff.o:skbuff.c:(.text+0x88f0): first defined here",
        null,
      ],
    ]);
    assert.deepEqual(a.failedTargets, ['vmlinux.o']);
  });

  it('a section mismatch: the warning, and the error that stops the build with its explanation', () => {
    const a = analyse('modpost');
    assert.deepEqual(a.warnings.map(place), [
      [
        'modpost',
        'warning',
        null,
        null,
        null,
        'vmlinux: section mismatch in reference: skb_vlan_setup_hook+0x0 (section: .data) -> skb_vlan_early_setup (section: .init.text)',
        null,
      ],
    ]);
    assert.deepEqual(place(a.firstError!), [
      'modpost',
      'error',
      null,
      null,
      null,
      'Section mismatches detected.',
      null,
    ]);
    assert.deepEqual(a.firstError!.context, [
      'ERROR: modpost: Section mismatches detected.',
      'Set CONFIG_SECTION_MISMATCH_WARN_ONLY=y to allow them.',
    ]);
    assert.deepEqual(a.failedTargets, ['vmlinux.symvers'], '"*** Deleting file" is not a failure');
  });
});

describe('analyzeBuildLog: the network', () => {
  it("a Makefile that reaches out: flagged, and make's error carries what the recipe printed", () => {
    const a = analyse('network');
    assert.equal(a.networkAttempt, true);
    assert.deepEqual(place(a.firstError!), [
      'make',
      'error',
      'net/core/Makefile',
      54,
      null,
      'recipe for net/core/vlan-probe.stamp failed (Error 1)',
      null,
    ]);
    assert.deepEqual(a.firstError!.context.slice(1), [
      'curl: (6) Could not resolve host: example.com',
      "bash -c 'exec 3<>/dev/tcp/93.184.216.34/80' && touch net/core/vlan-probe.stamp",
      'bash: connect: Network is unreachable',
      'bash: line 1: /dev/tcp/93.184.216.34/80: Network is unreachable',
      'make[5]: *** [net/core/Makefile:54: net/core/vlan-probe.stamp] Error 1',
    ]);
    assert.deepEqual(a.failedTargets, ['net/core/vlan-probe.stamp']);
  });

  it("ksci's own log of a hostile Makefile: ignored errors are not failures, and -j2 steps do not cut the recipe's output", () => {
    const a = analyse('hostile-network');
    assert.equal(a.networkAttempt, true);
    assert.deepEqual(a.failedTargets, ['net/core/meta-layout.h']);
    const e = a.firstError!;
    assert.deepEqual(
      [e.file, e.line, e.message],
      ['net/core/Makefile', 55, 'recipe for net/core/meta-layout.h failed (Error 1)'],
    );
    // A "  CC drivers/base/core.o" from the other job sits between these in the log.
    assert.equal(e.context[0], 'echo was-here > /root/ksci-hostile-was-here');
    assert.ok(e.context.includes('/bin/sh: 1: cannot create ksci-hostile-was-here: Read-only file system'));
  });

  it('no other log tried', () => {
    for (const name of [
      'clean',
      'clean-base',
      'build-error',
      'warnings',
      'link-error',
      'link-multidef',
      'modpost',
      'objtool',
      'kconfig',
      'incremental-header',
    ]) {
      assert.equal(analyse(name).networkAttempt, false, name);
    }
  });
});

describe('analyzeBuildLog: formats the captured logs do not show', () => {
  // Written after the tools' documented output, for cases a tinyconfig x86 build with gcc did not produce.
  it('make errors of its own, gcc colour codes, -Werror, clang excerpts', () => {
    const a = analyzeBuildLog(
      [
        "make[4]: *** No rule to make target 'net/core/gone.o', needed by 'net/core/built-in.a'.  Stop.",
        '/ksci/src/net/core/Makefile:50: *** missing separator.  Stop.',
        "\x1b[01m\x1b[K/ksci/src/net/core/dev.c:10:5:\x1b[m\x1b[K \x1b[01;31m\x1b[Kerror: \x1b[m\x1b[Kunused variable 'x' [\x1b[01;31m\x1b[K-Werror=unused-variable\x1b[m\x1b[K]",
        'cc1: all warnings being treated as errors',
        "net/core/sock.c:7:9: warning: unused variable 'y' [-Wunused-variable]",
        '        int y;',
        '            ^',
        '1 warning generated.',
      ].join('\n'),
    );
    assert.deepEqual(
      a.errors.map((e) => [e.tool, e.file, e.line, e.message, e.flag]),
      [
        ['make', null, null, "No rule to make target 'net/core/gone.o', needed by 'net/core/built-in.a'", null],
        ['make', 'net/core/Makefile', 50, 'missing separator', null],
        ['compiler', 'net/core/dev.c', 10, "unused variable 'x'", '-Werror=unused-variable'],
      ],
    );
    assert.deepEqual(a.errors[2]!.context.slice(1), ['cc1: all warnings being treated as errors']);
    assert.deepEqual(a.warnings[0]!.context.slice(1), ['        int y;', '            ^', '1 warning generated.']);
    assert.deepEqual(a.failedTargets, ['net/core/gone.o']);
  });
});

describe('isBuildStep', () => {
  it('agrees with the analysis on a real log', () => {
    const lines = log('clean').split('\n');
    assert.equal(lines.filter(isBuildStep).length, analyse('clean').steps);
  });

  it('takes kbuild quiet lines only', () => {
    for (const l of [
      '  CC      net/core/skbuff.o',
      '  LD      vmlinux',
      '  AR      net/core/built-in.a',
      '  CC [M]  drivers/net/dummy.o',
      '  DESCEND objtool',
      '  CALL    /ksci/src/scripts/checksyscalls.sh',
      '  HOSTCC  scripts/kconfig/conf.o\r',
    ]) {
      assert.ok(isBuildStep(l), l);
    }
    for (const l of [
      'make[1]: Entering directory',
      ' 6218 |                 meta = skb_metadata_start(skb);',
      '      |                        ^~~~~~~~~~~~~~~~~~',
      'Kernel: arch/x86/boot/bzImage is ready  (#1)',
      '  Depends on [n]: NET [=n]',
      '',
    ]) {
      assert.ok(!isBuildStep(l), l);
    }
  });
});

describe('warningKey and warningDelta', () => {
  const [header, unused, format] = analyse('warnings').warnings as [Diagnostic, Diagnostic, Diagnostic];

  it('a warning that moved lines or offsets is the same warning; another file or flag is not', () => {
    assert.equal(warningKey({ ...unused, line: 6250, column: 2 }), warningKey(unused));
    assert.equal(
      warningKey({ ...format, message: format.message.replace('argument 2', 'argument 3') }),
      warningKey(format),
    );
    const objtool = analyse('objtool').warnings[0]!;
    assert.equal(warningKey({ ...objtool, message: objtool.message.replace('0x33', '0x4f') }), warningKey(objtool));
    assert.notEqual(warningKey({ ...unused, file: 'net/core/dev.c' }), warningKey(unused));
    assert.notEqual(warningKey({ ...unused, flag: '-Wunused-but-set-variable' }), warningKey(unused));
    assert.notEqual(warningKey({ ...unused, message: "unused variable 'other'" }), warningKey(unused));
  });

  it('the same header warning from two builds has the same key', () => {
    assert.equal(warningKey(analyse('warnings-partial-fix').warnings[0]!), warningKey(header));
  });

  it('a clean base against the warnings build: three added', () => {
    const d = warningDelta(analyse('clean').warnings, analyse('warnings').warnings);
    assert.deepEqual(
      [d.before, d.after, d.added.map((w) => w.file), d.removed],
      [0, 3, ['net/core/dev.h', 'net/core/skbuff.c', 'net/core/dev.c'], []],
    );
  });

  it('counts as a multiset and reports removed ones', () => {
    const base = [unused, { ...unused, line: 7000 }, header];
    const series = [
      { ...unused, line: 6300 },
      { ...unused, line: 6400 },
      { ...unused, line: 6500 },
    ];
    const d = warningDelta(base, series);
    assert.deepEqual([d.before, d.after, d.added.length, d.removed], [3, 3, 1, [header]]);
  });
});

describe('updateWarnings across real incremental builds', () => {
  const tree = updateWarnings(analyse('clean').warnings, analyse('warnings'), [
    'net/core/skbuff.c',
    'net/core/dev.c',
    'net/core/dev.h',
  ]);

  it('starts from the warnings build', () => {
    assert.deepEqual(
      tree.map((w) => w.file),
      ['net/core/dev.h', 'net/core/skbuff.c', 'net/core/dev.c'],
    );
  });

  it("fixing skbuff.c drops its warning, keeps dev.c's (not rebuilt), and the reprinted dev.h one once", () => {
    const partial = analyse('warnings-partial-fix');
    assert.deepEqual(
      partial.compiledUnits.filter((u) => u.startsWith('net/')),
      ['net/core/skbuff.o'],
    );
    const next = updateWarnings(tree, partial, ['net/core/skbuff.c']);
    assert.deepEqual(
      next.map((w) => [w.file, w.line]),
      [
        ['net/core/dev.c', 5433],
        ['net/core/dev.h', 154],
      ],
    );
    assert.equal(warningDelta(tree, next).removed[0]!.message, "unused variable 'vlan_depth'");
  });

  it('fixing dev.c and dev.h leaves none; the header needs changedFiles, as no unit is named after it', () => {
    const partial = updateWarnings(tree, analyse('warnings-partial-fix'), ['net/core/skbuff.c']);
    const fixed = analyse('warnings-fixed');
    assert.deepEqual([fixed.warnings, fixed.compiledUnits.filter((u) => u.startsWith('net/core/')).length], [[], 12]);
    assert.deepEqual(updateWarnings(partial, fixed, ['net/core/dev.c', 'net/core/dev.h']), []);
    assert.deepEqual(
      updateWarnings(partial, fixed, []).map((w) => w.file),
      ['net/core/dev.h'],
      'dev.c went with dev.o',
    );
  });

  it('objtool warnings go with their object; link-time ones with a successful relink', () => {
    const objtool = analyse('objtool').warnings[0]!;
    const modpost = analyse('modpost').warnings[0]!;
    const nothing: BuildLogAnalysis = {
      errors: [],
      warnings: [],
      firstError: null,
      failedTargets: [],
      compiledUnits: [],
      steps: 0,
      networkAttempt: false,
    };
    assert.deepEqual(
      updateWarnings([objtool, modpost], nothing, []),
      [objtool, modpost],
      'nothing built: nothing replaced',
    );
    const otherUnit = { ...nothing, compiledUnits: ['net/core/dev.o'], steps: 30 };
    assert.deepEqual(updateWarnings([objtool, modpost], otherUnit, []), [objtool], 'relinked: modpost ran again');
    assert.deepEqual(
      updateWarnings([objtool, modpost], { ...otherUnit, errors: [analyse('build-error').firstError!] }, []),
      [objtool, modpost],
      'a failed build never got to the link',
    );
    // kconfig.log recompiled net/core/skbuff.o and relinked.
    assert.deepEqual(
      updateWarnings([objtool, modpost], analyse('kconfig'), ['net/Kconfig']),
      analyse('kconfig').warnings,
    );
  });
});

describe('normalisePath', () => {
  it('makes sandbox and relative paths source-relative', () => {
    assert.equal(normalisePath('/ksci/src/net/core/dev.c'), 'net/core/dev.c');
    assert.equal(normalisePath('/ksci/obj/tools/objtool/libsubcmd/help.o'), 'tools/objtool/libsubcmd/help.o');
    assert.equal(normalisePath('./include/generated/autoconf.h'), 'include/generated/autoconf.h');
    assert.equal(normalisePath('../../net/core/dev.c'), 'net/core/dev.c');
  });
});
