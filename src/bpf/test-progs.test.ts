import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { BadInputError } from '../errors.js';
import { fixturePath } from '../testing/paths.js';
import {
  capLog,
  countResults,
  MAX_LOG,
  mergeTestProgs,
  parseResultId,
  parseTestProgsJson,
  parseTestProgsText,
  parseTestVerifier,
  resultId,
} from './test-progs.js';

// Real captures; test/fixtures/selftests/README.md says where each came from.
const fixture = (name: string) => readFileSync(fixturePath('selftests', name), 'utf8');
/** The captures hold the JSON file's one line between other text. */
const jsonOf = (name: string) =>
  fixture(name)
    .split('\n')
    .find((l) => l.startsWith('{'))!;

describe('parseTestProgsText: a complete -t xdp run', () => {
  const t = parseTestProgsText(fixture('test_progs_xdp_tiny.txt'));

  it('reads the Summary line and knows the run completed', () => {
    assert.deepEqual(t.summary, { passed: 18, passedSubtests: 96, skipped: 1, failed: 5 });
    assert.equal(t.complete, true);
    assert.equal(t.running, null);
    assert.deepEqual(t.trailing, []);
    assert.equal(t.signal, null);
  });

  it('each test and subtest once: the re-printed failures at the end are not new results', () => {
    assert.equal(t.results.length, 23 + 109);
    assert.equal(new Set(t.results.map((r) => r.number)).size, t.results.length);
    // The Summary counts skipped tests as passed, and "1 SKIPPED" is a skip count, not a third set.
    assert.deepEqual(countResults(t.results.map((r) => ({ ...r, log: [] }))), {
      tests: { pass: 17, fail: 5, skip: 1 },
      subtests: { pass: 96, fail: 13, skip: 0 },
    });
    const c = countResults(t.results.map((r) => ({ ...r, log: [] })));
    assert.equal(c.tests.pass + c.tests.skip, t.summary!.passed);
    assert.equal(c.subtests.pass, t.summary!.passedSubtests);
  });

  it('splits names at the first "/" and keeps subtest names with commas, quotes and spaces whole', () => {
    const r = t.results.find((x) => x.number === '553/3')!;
    assert.deepEqual(
      [r.name, r.subtest, r.status, r.raw],
      [
        'verifier_xdp_direct_packet_access',
        "XDP pkt read, pkt_data' > pkt_end, corner case, good access",
        'pass',
        'OK',
      ],
    );
    const cpumap = t.results.find((x) => x.number === '565/2')!;
    assert.deepEqual(
      [cpumap.name, cpumap.subtest, cpumap.status],
      ['xdp_cpumap_attach', 'CPUMAP with frags programs in entries', 'fail'],
    );
    assert.deepEqual(
      t.results.filter((x) => x.subtest === null && x.status !== 'pass').map((x) => `${x.number} ${x.name}:${x.raw}`),
      [
        '562 xdp_bonding:FAIL',
        '565 xdp_cpumap_attach:FAIL',
        '568 xdp_do_redirect:FAIL',
        '569 xdp_flowtable:SKIP',
        '572 xdp_metadata:FAIL',
        '575 xdp_synproxy:FAIL',
      ],
    );
  });

  it("the lines before a result line are that result's log", () => {
    const first = t.results.find((x) => x.number === '562/1')!;
    assert.equal(first.log.length, 10, "xdp_bonding's output (this capture kept its lines with a '#')");
    assert.match(first.log[0]!, /^libbpf: sec '\.relxdp': relo #0/);
    assert.deepEqual(t.results.find((x) => x.number === '563')!.log, []);
  });

  it('ignores the JSON line and anything else after the Summary', () => {
    assert.equal(t.last!.number, '577');
  });
});

describe('parseTestProgsText: output cut short (the VM died)', () => {
  it('between two tests: incomplete, the last finished test is known, the running one is not', () => {
    const t = parseTestProgsText(fixture('test_progs_xdp_cut_after_test.txt'));
    assert.deepEqual([t.complete, t.summary, t.running], [false, null, null]);
    assert.equal(`${t.last!.number} ${t.last!.name}`, '564 xdp_context_test_run');
    assert.equal(t.results.length, 111);
    assert.deepEqual(t.trailing, []);
  });

  it("after some of a test's subtests: that test was running (its own line always comes last)", () => {
    const t = parseTestProgsText(fixture('test_progs_xdp_cut_in_subtests.txt'));
    assert.equal(t.complete, false);
    assert.deepEqual(t.running, { name: 'xdp_bonding', subtest: null, evidence: 'subtests' });
    assert.equal(resultId(t.last!), 'xdp_bonding/xdp_bonding_activebackup');
    assert.equal(
      t.results.some((r) => r.number === '562'),
      false,
    );
  });

  it('in the middle of a line: the partial line is not a result, it is kept as trailing output', () => {
    const t = parseTestProgsText(fixture('test_progs_xdp_cut_midline.txt'));
    assert.equal(t.last!.number, '567/1');
    assert.deepEqual(t.running, { name: 'xdp_devmap_attach', subtest: null, evidence: 'subtests' });
    assert.deepEqual(t.trailing, ['#567/2   xdp_devmap_attach/DEVMAP with f']);
  });

  it('merged without JSON (never written): results from the text, marked incomplete', () => {
    const run = mergeTestProgs(parseTestProgsText(fixture('test_progs_xdp_cut_in_subtests.txt')), null);
    assert.deepEqual([run.complete, run.summary, run.running?.name], [false, null, 'xdp_bonding']);
    const attach = run.results.find((r) => r.number === '562/1')!;
    assert.equal(attach.status, 'fail');
    assert.equal(attach.log.length, 10, "the text's log when there is no JSON");
  });
});

describe('parseTestProgsJson', () => {
  it('a failing run: counts and the failed test with its log', () => {
    const j = parseTestProgsJson(jsonOf('test_progs_json_fail.txt'));
    assert.deepEqual([j.success, j.success_subtest, j.skipped, j.failed], [1, 0, 0, 1]);
    assert.deepEqual(
      j.results.map((r) => [r.name, r.number, r.failed, r.subtests.length]),
      [['xdp_metadata', 572, true, 0]],
    );
    assert.match(j.results[0]!.message, /test_xdp_metadata:FAIL:ip link add link veTX veTX\.59 type vlan/);
  });

  it('a passing run has no results at all', () => {
    const j = parseTestProgsJson(jsonOf('test_progs_json_pass.txt'));
    assert.deepEqual(j, { success: 2, success_subtest: 0, skipped: 0, failed: 0, results: [] });
  });

  it('subtests carry their own number (1-based within the test) and message', () => {
    const j = parseTestProgsJson(jsonOf('test_progs_xdp_tiny.txt'));
    assert.deepEqual(
      j.results.map((r) => `${r.number} ${r.name} ${r.subtests.length}`),
      [
        '562 xdp_bonding 9',
        '565 xdp_cpumap_attach 2',
        '568 xdp_do_redirect 0',
        '572 xdp_metadata 0',
        '575 xdp_synproxy 2',
      ],
    );
    assert.equal(j.results[1]!.message, '', 'a test that only failed in subtests has an empty message');
  });

  it('refuses a cut-off file and a wrong shape, saying what is wrong', () => {
    const whole = jsonOf('test_progs_json_fail.txt');
    assert.throws(
      () => parseTestProgsJson(whole.slice(0, 200)),
      (e: unknown) => e instanceof BadInputError && /not JSON/.test(e.message),
    );
    const wrong = JSON.parse(whole);
    wrong.results[0].number = '572';
    assert.throws(() => parseTestProgsJson(JSON.stringify(wrong)), /results\.0\.number/);
  });
});

describe('mergeTestProgs', () => {
  const text = parseTestProgsText(fixture('test_progs_xdp_tiny.txt'));
  const run = mergeTestProgs(text, parseTestProgsJson(jsonOf('test_progs_xdp_tiny.txt')));

  it('one list: the text gives what ran and how, the JSON the logs', () => {
    assert.equal(run.results.length, 132);
    assert.deepEqual(run.summary, text.summary);
    assert.equal(run.complete, true);
    const meta = run.results.find((r) => resultId(r) === 'xdp_metadata')!;
    assert.deepEqual(
      meta.log[0],
      'test_xdp_metadata:FAIL:ip link add link veTX veTX.59 type vlan proto 802.1Q id 59 unexpected error: 512 (errno 22)',
    );
    assert.equal(meta.log.length, 8);
  });

  it("a subtest's log is its own, FAIL assertion lines first", () => {
    const rr = run.results.find((r) => resultId(r) === 'xdp_bonding/xdp_bonding_roundrobin')!;
    assert.deepEqual(rr.log.slice(0, 3), [
      'bonding_setup:FAIL:ip link add bond1 type bond mode balance-rr xmit_hash_policy layer2+3 unexpected error: 512 (errno 95)',
      'bonding_cleanup:FAIL:delete bond1 unexpected error: 256 (errno 95)',
      'bonding_setup:PASS:ip netns add ns_dst 0 nsec',
    ]);
    assert.equal(rr.log.length, 9);
  });

  it('passes carry no log; a long log is capped to its end', () => {
    assert.ok(run.results.filter((r) => r.status === 'pass').every((r) => r.log.length === 0));
    const bonding = run.results.find((r) => resultId(r) === 'xdp_bonding')!;
    assert.equal(bonding.log.length, MAX_LOG);
    assert.equal(
      bonding.log[0],
      '[... 24 lines omitted]',
      '74 lines of libbpf loading, no FAIL line at the test level',
    );
    assert.equal(bonding.log.at(-1), 'serial_test_xdp_bonding:PASS:xdp_redirect_multi_kern__open_and_load 0 nsec');
  });

  it('the JSON alone (no console captured) still gives the failures', () => {
    const only = mergeTestProgs(null, parseTestProgsJson(jsonOf('test_progs_json_fail.txt')));
    assert.deepEqual(only.summary, { passed: 1, passedSubtests: 0, skipped: 0, failed: 1 });
    assert.deepEqual(
      only.results.map((r) => [r.number, resultId(r), r.status]),
      [['572', 'xdp_metadata', 'fail']],
    );
  });
});

describe('result ids', () => {
  it('test or test/subtest, split back at the first "/"', () => {
    assert.equal(resultId({ name: 'xdp_bonding', subtest: null }), 'xdp_bonding');
    assert.equal(resultId({ name: 'xdp_synproxy', subtest: 'tc' }), 'xdp_synproxy/tc');
    assert.deepEqual(parseResultId('sockmap_basic/sockmap udp multi channels'), {
      name: 'sockmap_basic',
      subtest: 'sockmap udp multi channels',
    });
    assert.deepEqual(parseResultId('a/b/c'), { name: 'a', subtest: 'b/c' });
  });
});

describe('capLog', () => {
  it('keeps FAIL lines first even when the rest has to go', () => {
    const lines = JSON.parse(jsonOf('test_progs_xdp_tiny.txt')).results[0].subtests[8].message.split('\n');
    const capped = capLog(lines, 5);
    assert.deepEqual(capped.slice(0, 2), [
      'bonding_setup:FAIL:ip link add bond1 type bond mode balance-rr xmit_hash_policy layer2+3 unexpected error: 512 (errno 95)',
      'bonding_cleanup:FAIL:delete bond1 unexpected error: 256 (errno 95)',
    ]);
    assert.equal(capped[2], '[... 6 lines omitted]');
    assert.deepEqual(capped.slice(3), [
      'bonding_cleanup:PASS:delete veth1_2 0 nsec',
      'bonding_cleanup:PASS:delete ns_dst 0 nsec',
    ]);
  });
});

describe('parseTestVerifier (LKP kselftest capture, "# "-prefixed)', () => {
  it('a run cut off: per-test results, failures with their reason and verifier log', () => {
    const v = parseTestVerifier(fixture('test_verifier_lkp_head.txt'));
    assert.equal(v.complete, false);
    assert.equal(v.results.length, 198);
    const fails = v.results.filter((r) => r.status === 'fail');
    assert.deepEqual(
      fails.map((r) => `#${r.number}/${r.mode[0]} ${r.description}`),
      ['#108/p calls: conditional call 3', '#110/p calls: conditional call 5', '#111/p calls: conditional call 6'],
    );
    assert.deepEqual(fails[2]!.log.slice(0, 3), [
      'Unexpected error message!',
      '\tEXP: back-edge from insn',
      '\tRES: R1 !read_ok',
    ]);
    assert.deepEqual(fails[0]!.log, [
      'Unexpected success to load!',
      'verification time 7 usec',
      'stack depth 0',
      'processed 15 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 0',
    ]);
    const u = v.results.find((r) => r.number === 97 && r.mode === 'unpriv')!;
    assert.deepEqual([u.description, u.status], ['calls: not on unpriviledged', 'pass']);
  });

  it('the end of the run: its summary, different from test_progs (no subtest count)', () => {
    const v = parseTestVerifier(fixture('test_verifier_lkp_tail.txt'));
    assert.deepEqual(v.summary, { passed: 1429, skipped: 1, failed: 9 });
    assert.equal(v.complete, true);
    assert.equal(v.results.at(-1)!.description, "XDP pkt read, pkt_data <= pkt_meta', bad access 2");
    // test_progs's parser must not take this line for its own.
    assert.equal(parseTestProgsText(fixture('test_verifier_lkp_tail.txt')).summary, null);
  });
});
