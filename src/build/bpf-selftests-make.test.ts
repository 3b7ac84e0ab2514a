import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { extraFiles, findLlvmBinDir, orphanTests, selftestsMakeArgv, shipList } from './bpf-selftests-make.js';

describe('selftestsMakeArgv', () => {
  it('builds out of the read-only tree against the kernel build, without modules', () => {
    const argv = selftestsMakeArgv({ jobs: 2, runners: ['test_progs', 'test_verifier'], modules: false });
    assert.deepEqual(argv, [
      'make',
      '-C',
      '/ksci/src/tools/testing/selftests/bpf',
      'OUTPUT=/ksci/out/bpf',
      'VMLINUX_BTF=/ksci/obj/vmlinux',
      'GENDIR=/ksci/obj/include/generated',
      'feature-llvm=0',
      `TRUNNER_EXTRA_FILES=${extraFiles(false)}`,
      '-j2',
      'test_progs',
      'test_verifier',
    ]);
    // O= would send libbpf's and bpftool's output into the read-only kernel build directory.
    assert.ok(!argv.some((a) => a.startsWith('O=')));
    assert.ok(!argv.some((a) => a.includes('.ko') || a.startsWith('KDIR=')));
  });

  it('with a kernel built with modules: KDIR is the module kit, and the test modules are built and copied like the helpers', () => {
    const argv = selftestsMakeArgv({ jobs: 2, runners: ['test_verifier'], modules: true });
    assert.ok(argv.includes('KDIR=/ksci/obj'));
    // test_verifier does not depend on bpf_testmod.ko in the Makefile: the modules are targets of their own.
    assert.deepEqual(argv.slice(argv.indexOf('-j2') + 1), [
      'test_verifier',
      '/ksci/out/bpf/bpf_testmod.ko',
      '/ksci/out/bpf/bpf_test_no_cfi.ko',
      '/ksci/out/bpf/bpf_test_modorder_x.ko',
      '/ksci/out/bpf/bpf_test_modorder_y.ko',
    ]);
    const extra = argv.find((a) => a.startsWith('TRUNNER_EXTRA_FILES='))!;
    assert.match(extra, /\$\(OUTPUT\)\/bpf_testmod\.ko .*\$\(OUTPUT\)\/bpf_test_modorder_y\.ko/);
  });
});

describe('shipList', () => {
  const listing = [
    'test_progs',
    'test_progs-no_alu32',
    'test_verifier',
    'test_maps',
    'xdp_dummy.bpf.o',
    'test_pkt_access.bpf.o',
    'no_alu32/xdp_dummy.bpf.o',
    'cpuv4/xdp_dummy.bpf.o',
    'no_alu32/urandom_read',
    'urandom_read',
    'liburandom_read.so',
    'uprobe_multi',
    'xdp_synproxy',
    'sign-file',
    'ima_setup.sh',
    'verify_sig_setup.sh',
    'btf_dump_test_case_bitfields.c',
    'bpf_testmod.ko',
    'bpf_test_no_cfi.ko',
    'no_alu32/bpf_testmod.ko',
    'test_progs.o',
    'xdp_dummy.skel.h',
    'FEATURE-DUMP.selftests',
  ];

  it('ships test_progs with its runtime .bpf.o files and helpers, not build leftovers', () => {
    assert.deepEqual(shipList(listing, ['test_progs']), [
      'bpf_test_no_cfi.ko',
      'bpf_testmod.ko',
      'btf_dump_test_case_bitfields.c',
      'ima_setup.sh',
      'liburandom_read.so',
      'sign-file',
      'test_pkt_access.bpf.o',
      'test_progs',
      'uprobe_multi',
      'urandom_read',
      'verify_sig_setup.sh',
      'xdp_dummy.bpf.o',
      'xdp_synproxy',
    ]);
  });

  it('ships a flavour with its own subdirectory of objects', () => {
    const files = shipList(listing, ['test_progs-no_alu32']);
    assert.ok(files.includes('test_progs-no_alu32'));
    assert.ok(files.includes('no_alu32/xdp_dummy.bpf.o'));
    assert.ok(!files.includes('xdp_dummy.bpf.o'));
    assert.ok(!files.some((f) => f.startsWith('cpuv4/')));
    // It runs in no_alu32/: the helpers the Makefile copied there are the ones it starts.
    assert.ok(files.includes('no_alu32/urandom_read'));
    assert.ok(!files.includes('urandom_read'));
    assert.ok(files.includes('uprobe_multi'), 'a helper the Makefile did not copy stays where it is');
    assert.ok(
      files.includes('no_alu32/bpf_testmod.ko') && !files.includes('bpf_testmod.ko'),
      'it loads the test modules from its directory',
    );
  });

  it('ships test_verifier with bpf_testmod.ko, which it loads from its directory', () => {
    assert.deepEqual(shipList(listing, ['test_verifier']), ['bpf_testmod.ko', 'test_verifier']);
    assert.deepEqual(
      shipList(
        listing.filter((f) => !f.endsWith('.ko')),
        ['test_verifier'],
      ),
      ['test_verifier'],
    );
  });

  it('leaves out a runner the build did not produce', () => {
    assert.ok(!shipList(listing, ['test_progs-cpuv4']).includes('test_progs-cpuv4'));
  });
});

describe('findLlvmBinDir', () => {
  it('picks the newest LLVM that has clang, llc and ld.lld', () => {
    const root = mkdtempSync(join(tmpdir(), 'ksci-llvm-'));
    try {
      for (const [v, tools] of [
        ['14', ['clang', 'llc', 'ld.lld']],
        ['19', ['clang', 'llc', 'ld.lld']],
        ['20', ['llc']],
      ] as const) {
        mkdirSync(join(root, `llvm-${v}`, 'bin'), { recursive: true });
        for (const t of tools) writeFileSync(join(root, `llvm-${v}`, 'bin', t), '');
      }
      assert.equal(findLlvmBinDir(root), join(root, 'llvm-19', 'bin'));
      assert.equal(findLlvmBinDir(join(root, 'none')), null);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('orphanTests', () => {
  it('finds a test whose skeleton has no BPF source (Debian 6.12.117 bpf_attr_size.c)', () => {
    const tests = [
      { file: 'bpf_attr_size.c', text: '#include <test_progs.h>\n#include "cgroup_skb_direct_packet_access.skel.h"\n' },
      { file: 'xdp_context_test_run.c', text: '#include "test_xdp_context_test_run.skel.h"\n' },
      { file: 'static_linked.c', text: '#include "test_static_linked.skel.h"\n' },
      { file: 'fentry_test.c', text: '#include "fentry_test.lskel.h"\n#include "fentry_many_args.skel.h"\n' },
      { file: 'subskeleton.c', text: '#include "test_subskeleton_lib.subskel.h"\n' },
    ];
    const progs = new Set(['test_xdp_context_test_run', 'fentry_test', 'fentry_many_args']);
    const makefile =
      'test_static_linked.skel.h-deps := test_static_linked1.bpf.o\ntest_subskeleton_lib.skel.h-deps := a.bpf.o\n';
    assert.deepEqual(orphanTests(tests, progs, makefile), [
      { test: 'bpf_attr_size', missing: 'cgroup_skb_direct_packet_access.skel.h' },
    ]);
  });
});
