import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fixturePath } from '../testing/paths.js';
import { analyzeBuildLog, isBuildStep, normalisePath, updateWarnings, warningDelta, warningKey, type Diagnostic } from './log.js';

// Real logs from ksci's build stage; test/fixtures/build/README.md says how each was made.
const log = (name: string) => readFileSync(fixturePath('build', `${name}.log`), 'utf8');

describe('analyzeBuildLog on real kernel build logs', () => {
  it('a clean cold build: no diagnostics, every unit and step counted', () => {
    const a = analyzeBuildLog(log('clean-base'));
    assert.deepEqual([a.errors, a.warnings, a.failedTargets, a.firstError, a.networkAttempt], [[], [], [], null, false]);
    assert.equal(a.steps, 1654);
    assert.equal(a.compiledUnits.length, 1010);
    assert.ok(a.compiledUnits.includes('net/core/skbuff.o'));
    assert.ok(a.compiledUnits.includes('arch/x86/entry/entry_64.o'), 'AS units count too');
  });

  it('a compile error: file, line, column, message, the function and the note that explain it', () => {
    const a = analyzeBuildLog(log('error-too-few-args'));
    assert.equal(a.errors.length, 1);
    const e = a.firstError!;
    assert.deepEqual([e.file, e.line, e.column, e.message, e.flag, e.tool], ['net/core/skbuff.c', 6218, 24, "too few arguments to function 'skb_metadata_start'", null, 'compiler']);
    assert.equal(e.context[0], "net/core/skbuff.c: In function 'skb_reorder_vlan_header':");
    assert.ok(e.context.includes('include/linux/skbuff.h:4462:21: note: declared here'), 'the include chain and note follow');
    assert.ok(e.context.some((l) => l.includes('meta = skb_metadata_start(skb);')));
    assert.deepEqual(a.failedTargets, ['net/core/skbuff.o'], 'recursive make "Error 2" lines only relay it');
    assert.deepEqual(a.compiledUnits, ['net/core/skbuff.o']);
  });

  it('new warnings: flags, columns, and which function', () => {
    const a = analyzeBuildLog(log('new-warnings'));
    assert.deepEqual(
      a.warnings.map((w) => [w.file, w.line, w.column, w.message, w.flag]),
      [
        ['net/core/skbuff.c', 494, 22, "unused variable 'meta_budget'", '-Wunused-variable'],
        ['net/core/skbuff.c', 1298, 21, "'skb_meta_budget' defined but not used", '-Wunused-function'],
      ],
    );
    assert.equal(a.errors.length, 0);
    assert.match(a.warnings[0]!.context[0]!, /In function 'build_skb'/);
  });

  it('a recipe that reaches for the network: make\'s error with the recipe\'s output, and the attempt flagged', () => {
    const a = analyzeBuildLog(log('hostile-network'));
    assert.equal(a.networkAttempt, true);
    const e = a.firstError!;
    assert.deepEqual([e.tool, e.file, e.line, e.message], ['make', 'net/core/Makefile', 55, 'recipe for net/core/meta-layout.h failed (Error 1)']);
    assert.ok(e.context.includes('bash: connect: Network is unreachable'));
    assert.ok(e.context.some((l) => l.includes('cannot create ksci-hostile-was-here: Read-only file system')));
    assert.deepEqual(a.failedTargets, ['net/core/meta-layout.h'], 'ignored errors ("(ignored)") are not failures');
  });

  it('an incremental build after a header change: only what it rebuilt', () => {
    const a = analyzeBuildLog(log('incremental-header'));
    assert.equal(a.errors.length + a.warnings.length, 0);
    assert.equal(a.compiledUnits.length, 235);
    assert.equal(a.networkAttempt, false);
  });

  it('strips colour codes gcc adds when told to', () => {
    const a = analyzeBuildLog('\x1b[01m\x1b[K/ksci/src/net/core/dev.c:10:5:\x1b[m\x1b[K \x1b[01;35m\x1b[Kwarning: \x1b[m\x1b[Kunused variable \'x\' [\x1b[01;35m\x1b[K-Wunused-variable\x1b[m\x1b[K]\n');
    assert.deepEqual(a.warnings.map((w) => [w.file, w.line, w.flag]), [['net/core/dev.c', 10, '-Wunused-variable']]);
  });
});

describe('isBuildStep', () => {
  it('matches kbuild quiet lines only', () => {
    for (const l of ['  CC      net/core/skbuff.o', '  LD      vmlinux', '  AR      drivers/built-in.a', '  CC [M]  drivers/net/dummy.o', '  BTF     .btf.vmlinux.bin.o']) assert.ok(isBuildStep(l), l);
    for (const l of ['make[1]: Entering directory', '/ksci/src/net/core/skbuff.c:1:1: error: x', ' 6218 |   meta = x;', 'Kernel: arch/x86/boot/bzImage is ready  (#1)']) assert.ok(!isBuildStep(l), l);
  });
});

const w = (file: string, line: number, message: string, flag = '-Wunused-variable', tool: Diagnostic['tool'] = 'compiler'): Diagnostic => ({ severity: 'warning', file, line, column: 1, message, flag, tool, context: [] });

describe('warning accounting across incremental builds', () => {
  it('a warning that only moved lines is the same warning', () => {
    assert.equal(warningKey(w('a.c', 10, "unused variable 'x'")), warningKey(w('a.c', 99, "unused variable 'x'")));
    assert.notEqual(warningKey(w('a.c', 10, "unused variable 'x'")), warningKey(w('b.c', 10, "unused variable 'x'")));
  });

  it('the delta of the real new-warnings build against its clean base', () => {
    const base = analyzeBuildLog(log('clean-base')).warnings;
    const series = updateWarnings(base, analyzeBuildLog(log('new-warnings')), ['net/core/skbuff.c']);
    const d = warningDelta(base, series);
    assert.deepEqual([d.before, d.after, d.added.length, d.removed.length], [0, 2, 2, 0]);
  });

  it('counts duplicates as a multiset and reports fixed warnings', () => {
    const base = [w('a.c', 1, 'm'), w('a.c', 2, 'm'), w('b.c', 1, 'gone')];
    const series = [w('a.c', 5, 'm'), w('a.c', 6, 'm'), w('a.c', 7, 'm')];
    const d = warningDelta(base, series);
    assert.deepEqual([d.before, d.after, d.added.length, d.removed.map((x) => x.file)], [3, 3, 1, ['b.c']]);
  });

  it('replaces the warnings of rebuilt and changed files, keeps the rest, and renews link-time ones on relink', () => {
    const previous = [w('net/core/skbuff.c', 1, 'old'), w('net/core/dev.c', 2, 'kept'), w('include/linux/skbuff.h', 3, 'header'), w('vmlinux.o', 0, 'objtool thing', '', 'objtool')];
    // The error log rebuilt net/core/skbuff.o and nothing else; the series changed the header.
    const next = updateWarnings(previous, analyzeBuildLog(log('error-too-few-args')), ['include/linux/skbuff.h']);
    assert.deepEqual(next.map((x) => x.message), ['kept']);
    const noBuild = updateWarnings(previous, { errors: [], warnings: [], firstError: null, failedTargets: [], compiledUnits: [], steps: 0, networkAttempt: false }, []);
    assert.equal(noBuild.length, 4, 'nothing rebuilt: nothing replaced');
  });

  it('normalises the sandbox paths', () => {
    assert.equal(normalisePath('/ksci/src/net/core/dev.c'), 'net/core/dev.c');
    assert.equal(normalisePath('./include/generated/autoconf.h'), 'include/generated/autoconf.h');
  });
});
