import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot, fixturePath } from '../testing/paths.js';
import {
  covers,
  globMatch,
  ListSyntaxError,
  matchEntry,
  mergeLists,
  normalizePatterns,
  parseList,
  renderList,
  testProgsArgs,
  triageFailures,
  type ParsedList,
} from './lists.js';
import { mergeTestProgs, parseTestProgsJson, parseTestProgsText, resultId } from './test-progs.js';

// Real lists: BPF CI's and the kernel's own (test/fixtures/selftests/README.md), and ours.
const listFixture = (dir: string, name: string): ParsedList =>
  parseList(readFileSync(fixturePath('selftests', 'lists', dir, name), 'utf8'), `${dir}/${name}`);
const ours = (name: string): ParsedList =>
  parseList(readFileSync(join(repoRoot, 'selftests', 'bpf', name), 'utf8'), name);
const patterns = (l: ParsedList) => l.entries.map((e) => e.pattern);

describe('parseList: the real lists', () => {
  it('every list BPF CI and Linux 6.12 ship parses', () => {
    for (const dir of ['linux-6.12', 'vmtest-2024-11-20', 'libbpf-ci']) {
      for (const name of readdirSync(fixturePath('selftests', 'lists', dir))) {
        const l = listFixture(dir, name);
        assert.ok(l.entries.length > 0, `${dir}/${name}`);
      }
    }
    assert.equal(listFixture('libbpf-ci', 'DENYLIST.test_progs-bpf_gcc').entries.length, 904);
  });

  it('trailing comments are reasons; tabs and wide padding are trimmed', () => {
    const l = listFixture('vmtest-2024-11-20', 'DENYLIST');
    const ima = l.entries.find((e) => e.pattern === 'test_ima')!;
    assert.deepEqual(
      [ima.reason, ima.line, ima.file],
      ['All of CI is broken on it following 6.3-rc1 merge', 7, 'vmtest-2024-11-20/DENYLIST'],
    );
    const s390 = listFixture('linux-6.12', 'DENYLIST.s390x').entries[0]!;
    assert.deepEqual(
      [s390.pattern, s390.reason],
      [
        'get_stack_raw_tp',
        'user_stack corrupted user stack                                             (no backchain userspace)',
      ],
    );
    const riscv = listFixture('linux-6.12', 'DENYLIST.riscv64').entries;
    assert.deepEqual(
      riscv.map((e) => [e.pattern, e.reason]),
      [
        ['exceptions', 'JIT does not support exceptions'],
        ['tailcalls/tailcall_bpf2bpf*', 'JIT does not support mixing bpf2bpf and tailcalls'],
      ],
    );
  });

  it('subtest names keep their spaces, colons, commas and brackets', () => {
    const gcc = patterns(listFixture('libbpf-ci', 'DENYLIST.test_progs-bpf_gcc'));
    for (const p of [
      'btf_dump/btf_dump: syntax',
      "sock_addr/sendmsg6: kernel_sendmsg [::] (BSD'ism) (dgram)",
      'exceptions/non-throwing fentry -> exception_cb',
    ]) {
      assert.ok(gcc.includes(p), p);
    }
  });

  it('a comment block heads the entries below it until a blank line', () => {
    const l = listFixture('vmtest-2024-11-20', 'DENYLIST.s390x');
    const e = l.entries.find((x) => x.pattern === 'xdp_metadata')!;
    assert.deepEqual(
      [e.reason, e.section],
      [
        null,
        'Disabled temporarily for a crash. https://lore.kernel.org/bpf/c9923c1d-971d-4022-8dc8-1364e929d34c@gmail.com/',
      ],
    );
    assert.equal(l.entries.find((x) => x.pattern === 'deny_namespace')!.section, null);
    assert.equal(listFixture('linux-6.12', 'DENYLIST').entries[1]!.section, 'TEMPORARY Alphabetical order');
  });

  it("ksci's own lists parse, every entry with a reason", () => {
    for (const l of [ours('DENYLIST'), ours('DENYLIST.x86_64')]) {
      assert.ok(l.entries.length > 0);
      for (const e of l.entries) assert.ok(e.reason, `${e.file}:${e.line} ${e.pattern} has no reason`);
    }
  });
});

describe('parseList: malformed lines', () => {
  it('reports every bad line with file:line', () => {
    const lines = readFileSync(
      fixturePath('selftests', 'lists', 'vmtest-2024-11-20', 'DENYLIST.aarch64'),
      'utf8',
    ).split('\n');
    lines[1] = 'core_reloc_btfgen run_core_reloc_tests   # a space where the / goes';
    lines.push('/multispec  # no test', 'usdt/   # no subtest', 'usdt-2  # not a test name');
    assert.throws(
      () => parseList(lines.join('\n'), 'DENYLIST.aarch64'),
      (e: unknown) => {
        assert.ok(e instanceof ListSyntaxError);
        assert.deepEqual(
          e.problems.map((p) => `${p.file}:${p.line}`),
          ['DENYLIST.aarch64:2', 'DENYLIST.aarch64:6', 'DENYLIST.aarch64:7', 'DENYLIST.aarch64:8'],
        );
        assert.match(
          e.message,
          /^DENYLIST\.aarch64:2: test name "core_reloc_btfgen run_core_reloc_tests" has a space \(a subtest is written test\/subtest\)/,
        );
        assert.match(e.message, /DENYLIST\.aarch64:6: missing test name before "\/"/);
        assert.match(e.message, /DENYLIST\.aarch64:7: missing subtest name after "\/"/);
        assert.match(e.message, /DENYLIST\.aarch64:8: test name "usdt-2" is not a test_progs test name/);
        return true;
      },
    );
  });
});

describe('layering', () => {
  it('common, then arch, then tree: the union, a repeated pattern takes the later reason', () => {
    const common = listFixture('vmtest-2024-11-20', 'DENYLIST');
    const arch = listFixture('vmtest-2024-11-20', 'DENYLIST.x86_64');
    const tree = parseList('connect_force_port   # fixed in this tree? no: still flaky here\n', 'DENYLIST.debian-6.12');
    const merged = mergeLists([common, arch, tree]);
    assert.equal(merged.length, common.entries.length + arch.entries.length);
    const cfp = merged.find((e) => e.pattern === 'connect_force_port')!;
    assert.deepEqual([cfp.file, cfp.reason], ['DENYLIST.debian-6.12', 'fixed in this tree? no: still flaky here']);
    assert.equal(merged.find((e) => e.pattern === 'netcnt')!.file, 'vmtest-2024-11-20/DENYLIST.x86_64');
  });
});

describe('matching, as test_progs does', () => {
  it('glob_match: * is the only wildcard', () => {
    assert.ok(globMatch('tailcall_bpf2bpf_fentry', 'tailcall_bpf2bpf*'));
    assert.ok(globMatch('verifier_xdp', '*xdp*'));
    assert.ok(globMatch('abc', 'a**c'));
    assert.ok(globMatch('', '*'));
    assert.ok(!globMatch('verifier_xdp', 'verifier_xd'));
    assert.ok(globMatch("kernel_sendmsg [::] (BSD'ism)", "kernel_sendmsg [::] (BSD'ism)"));
    assert.ok(!globMatch('a', '?'), '? is literal');
  });

  it('a test entry covers the test and its subtests; a subtest entry only matching subtests', () => {
    assert.ok(covers('xdp_bonding', 'xdp_bonding'));
    assert.ok(covers('xdp_bonding', 'xdp_bonding/xdp_bonding_features'));
    assert.ok(!covers('xdp_bonding', 'xdp_bonding_two/x'), 'no prefix matching without a *');
    assert.ok(covers('xdp_bonding/xdp_bonding_features', 'xdp_bonding/xdp_bonding_features'));
    assert.ok(!covers('xdp_bonding/xdp_bonding_features', 'xdp_bonding'));
    assert.ok(covers('tailcalls/tailcall_bpf2bpf*', 'tailcalls/tailcall_bpf2bpf_fentry_fexit'));
    assert.ok(!covers('tailcalls/tailcall_bpf2bpf*', 'tailcalls/tailcall_1'));
    assert.ok(covers('verifier_*', 'verifier_xdp/XDP, using ifindex from netdev'));
  });

  it('the most specific entry explains a result', () => {
    const l = parseList(
      'xdp_*   # whole family\nxdp_bonding   # needs CONFIG_BONDING\nxdp_bonding/xdp_bonding_features   # started failing after net merge\n',
      'DENYLIST',
    );
    assert.equal(matchEntry(l.entries, 'xdp_bonding/xdp_bonding_features')!.reason, 'started failing after net merge');
    assert.equal(matchEntry(l.entries, 'xdp_bonding/xdp_bonding_attach')!.reason, 'needs CONFIG_BONDING');
    assert.equal(matchEntry(l.entries, 'xdp_link')!.reason, 'whole family');
    assert.equal(matchEntry(l.entries, 'verifier_xdp'), null);
  });
});

describe('test_progs arguments', () => {
  const deny = mergeLists([
    listFixture('vmtest-2024-11-20', 'DENYLIST'),
    parseList('tc_redirect   # whole test broken on this arch\n', 'DENYLIST.s390x'),
  ]);

  it('drops subtest entries a whole-test entry covers (test_progs would otherwise deny only the subtest)', () => {
    const p = normalizePatterns(deny);
    assert.ok(p.includes('tc_redirect'));
    assert.ok(!p.includes('tc_redirect/tc_redirect_dtime'));
    assert.ok(p.includes('xdp_bonding/xdp_bonding_features'));
    assert.equal(p.length, deny.length - 1);
  });

  it('renders a file test_progs reads, with provenance in comments it ignores', () => {
    const text = renderList(deny);
    assert.match(text, /^btf_dump\/btf_dump: syntax {2}# vmtest-2024-11-20\/DENYLIST:2 TEMPORARY\n/);
    assert.match(text, /\ntc_redirect {2}# DENYLIST\.s390x:1 whole test broken on this arch\n$/);
    // What test_progs sees: everything before the '#', trimmed; and it parses back.
    const reparsed = parseList(text, 'rendered');
    assert.deepEqual(patterns(reparsed), normalizePatterns(deny));
  });

  it('-a@FILE/-d@FILE, or inline lists when no name has a comma', () => {
    assert.deepEqual(testProgsArgs({ allowFile: '/ksci/suite/allow', denyFile: '/ksci/suite/deny' }), [
      '-a@/ksci/suite/allow',
      '-d@/ksci/suite/deny',
    ]);
    const x86 = listFixture('vmtest-2024-11-20', 'DENYLIST.x86_64').entries;
    assert.deepEqual(testProgsArgs({ deny: x86 }), ['-d', 'netcnt']);
    assert.deepEqual(testProgsArgs({ allow: parseList('xdp_*\nverifier_xdp\n', 'ALLOWLIST').entries, deny: x86 }), [
      '-a',
      'xdp_*,verifier_xdp',
      '-d',
      'netcnt',
    ]);
    assert.deepEqual(testProgsArgs({ deny: [] }), []);
    const comma = parseList(
      "verifier_xdp_direct_packet_access/XDP pkt read, pkt_data' > pkt_end, good access\n",
      'DENYLIST',
    ).entries;
    assert.throws(() => testProgsArgs({ deny: comma }), /contains a comma/);
  });
});

describe('triageFailures on a real run', () => {
  const text = readFileSync(fixturePath('selftests', 'test_progs_xdp_tiny.txt'), 'utf8');
  const run = mergeTestProgs(
    parseTestProgsText(text),
    parseTestProgsJson(text.split('\n').find((l) => l.startsWith('{'))!),
  );

  it("a list denying the ethtool failures (the capture's guest had no ethtool) leaves the rest to the report", () => {
    const deny = parseList(
      [
        'xdp_do_redirect     # needs ethtool in the guest: "ethtool -K veth_src gro on" fails with 32512',
        'xdp_synproxy        # needs ethtool in the guest: "ethtool -K tmp0 tx off" fails with 32512',
      ].join('\n'),
      'DENYLIST',
    ).entries;
    const t = triageFailures(run.results, deny);
    assert.deepEqual(
      t.denied.map((d) => `${resultId(d.result)} <- ${d.entry.file}:${d.entry.line}`),
      [
        'xdp_do_redirect <- DENYLIST:1',
        'xdp_synproxy/xdp <- DENYLIST:2',
        'xdp_synproxy/tc <- DENYLIST:2',
        'xdp_synproxy <- DENYLIST:2',
      ],
    );
    assert.match(t.denied[0]!.entry.reason!, /needs ethtool in the guest/);
    assert.deepEqual(
      t.unexpected.filter((r) => r.subtest === null).map((r) => r.name),
      ['xdp_bonding', 'xdp_cpumap_attach', 'xdp_metadata'],
    );
    assert.equal(t.unexpected.length, 9 + 1 + 2 + 1 + 1);
  });

  it('a test failing only in denied subtests is denied; one that also failed itself is not', () => {
    const deny = parseList(
      [
        'xdp_cpumap_attach/CPUMAP with*   # cpumap max_entries 4 > NR_CPUS: E2BIG (-7)',
        'xdp_bonding/xdp_bonding_*        # needs CONFIG_BONDING',
      ].join('\n'),
      'DENYLIST',
    ).entries;
    const t = triageFailures(run.results, deny);
    const cpumap = t.denied.find((d) => resultId(d.result) === 'xdp_cpumap_attach')!;
    assert.equal(cpumap.entry.reason, 'cpumap max_entries 4 > NR_CPUS: E2BIG (-7)');
    assert.ok(
      t.denied.some((d) => resultId(d.result) === 'xdp_bonding'),
      'its own log has no FAIL line: the subtests are why it failed',
    );
    assert.deepEqual(
      t.unexpected.map((r) => resultId(r)),
      ['xdp_do_redirect', 'xdp_metadata', 'xdp_synproxy/xdp', 'xdp_synproxy/tc', 'xdp_synproxy'],
    );
  });
});
