import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fixturePath } from '../testing/paths.js';
import { retryPlan } from '../vm/kernel-run.js';
import { expandTestProgs, expandTestVerifier, splitExpanded, TEST_PROGS_JSON } from './expand.js';

const capture = (name: string) => readFileSync(fixturePath('selftests', name), 'utf8');

describe('expandTestProgs on real test_progs output', () => {
  it('a complete run: one result per test and subtest, named after the runner; the JSON file adds the messages', () => {
    const text = capture('test_progs_xdp_tiny.txt');
    const json = text.split('\n').find((l) => l.startsWith('{'))!;
    const e = expandTestProgs(
      {
        name: 'test_progs',
        output: text.split('\n').filter((l) => !l.startsWith('{')),
        files: { [TEST_PROGS_JSON]: Buffer.from(json) },
      },
      null,
    )!;
    assert.equal(e.jsonError, null);
    const byName = new Map(e.results.map((r) => [r.name, r]));
    assert.equal(byName.get('test_progs:xdp_context_test_run')?.status, 'pass');
    assert.equal(byName.get('test_progs:xdp_bonding/xdp_bonding_attach')?.status, 'fail');
    assert.equal(byName.get('test_progs:xdp_metadata')?.status, 'fail');
    assert.ok(byName.get('test_progs:xdp_metadata')!.log.length > 0, 'the failure carries its log');
    assert.deepEqual(
      e.results
        .filter((r) => r.status === 'fail' && !r.name.includes('/'))
        .map((r) => r.name)
        .sort(),
      [
        'test_progs:xdp_bonding',
        'test_progs:xdp_cpumap_attach',
        'test_progs:xdp_do_redirect',
        'test_progs:xdp_metadata',
        'test_progs:xdp_synproxy',
      ],
    );
  });

  it('a run the kernel cut short inside a test: that test crashed, the ones before it stand', () => {
    const e = expandTestProgs(
      { name: 'test_progs', output: capture('test_progs_xdp_cut_in_subtests.txt').split('\n'), files: {} },
      'crash',
    )!;
    const last = e.results[e.results.length - 1]!;
    assert.deepEqual([last.name, last.status], ['test_progs:xdp_bonding', 'crash']);
    assert.equal(e.results.find((r) => r.name === 'test_progs:xdp_bonding/xdp_bonding_attach')?.status, 'fail');
  });

  it('a broken JSON file is reported, and the text still counts', () => {
    const e = expandTestProgs(
      {
        name: 't',
        output: capture('test_progs_xdp_cut_after_test.txt').split('\n'),
        files: { [TEST_PROGS_JSON]: Buffer.from('{"success": ') },
      },
      null,
    )!;
    assert.match(e.jsonError ?? '', /^test_progs\.json: /);
    assert.ok(e.results.length > 10);
  });

  it('output without results leaves the runner its own status', () => {
    assert.equal(
      expandTestProgs(
        { name: 't', output: ['./test_progs: error while loading shared libraries: libelf.so.1'], files: {} },
        null,
      ),
      null,
    );
  });
});

describe('retryPlan', () => {
  const tests = [
    { name: 'test_progs', run: './run.sh', timeoutSeconds: 600 },
    { name: 'smoke', run: 'true', timeoutSeconds: 10 },
    { name: 'other', run: 'true', timeoutSeconds: 10 },
  ];
  it('a runner reruns only its failed tests; a plain test reruns whole', () => {
    const plan = retryPlan(tests, ['test_progs:xdp_metadata', 'test_progs:xdp_bonding/xdp_bonding_attach', 'smoke']);
    assert.deepEqual(
      plan.map((t) => [t.name, t.only ?? null]),
      [
        ['test_progs', ['xdp_metadata', 'xdp_bonding/xdp_bonding_attach']],
        ['smoke', null],
      ],
    );
  });
  it('a runner that crashed as a whole reruns whole', () => {
    assert.deepEqual(
      retryPlan(tests, ['test_progs', 'test_progs:xdp_metadata']).map((t) => t.only ?? null),
      [null],
    );
    assert.deepEqual(splitExpanded('test_progs:a/b: c'), { suiteTest: 'test_progs', id: 'a/b: c' });
  });
});

describe('expandTestVerifier on real test_verifier output', () => {
  const lines = (name: string) => capture(name).split('\n');

  it('one result per table entry and mode, named by description: numbers shift when a series adds a test', () => {
    const e = expandTestVerifier({ name: 'test_verifier', output: lines('test_verifier_lkp_head.txt'), files: {} })!;
    assert.equal(e.results.length, 198);
    const byName = new Map(e.results.map((r) => [r.name, r]));
    assert.equal(byName.get('test_verifier:invalid and of negative number (unpriv)')?.status, 'pass');
    assert.equal(byName.get('test_verifier:invalid and of negative number (priv)')?.status, 'pass');
    const fail = byName.get('test_verifier:calls: conditional call 6 (priv)')!;
    assert.equal(fail.status, 'fail');
    assert.deepEqual(fail.log.slice(0, 2), ['Unexpected error message!', '\tEXP: back-edge from insn']);
    assert.equal(new Set(e.results.map((r) => r.name)).size, e.results.length, 'names are unique');
    assert.ok(e.results.every((r) => splitExpanded(r.name).suiteTest === 'test_verifier'));
  });

  it('a description the table repeats keeps apart by its number', () => {
    const out = [
      '#0/p same thing OK',
      '#1/p same thing FAIL',
      'Unexpected success to load!',
      '#2/p other OK',
      'Summary: 2 PASSED, 0 SKIPPED, 1 FAILED',
    ];
    const e = expandTestVerifier({ name: 'tv', output: out, files: {} })!;
    assert.deepEqual(
      e.results.map((r) => [r.name, r.status]),
      [
        ['tv:same thing (priv) #0', 'pass'],
        ['tv:same thing (priv) #1', 'fail'],
        ['tv:other (priv)', 'pass'],
      ],
    );
  });

  it('a run cut short: the entries it finished stand, a last line without a result is not taken for a failure', () => {
    const out = ['#0/u a OK', '#0/p a OK', '#1/u b'];
    const e = expandTestVerifier({ name: 'tv', output: out, files: {} })!;
    assert.deepEqual(
      e.results.map((r) => [r.name, r.status]),
      [
        ['tv:a (unpriv)', 'pass'],
        ['tv:a (priv)', 'pass'],
      ],
    );
    assert.equal(
      expandTestVerifier({ name: 'tv', output: ["Can't find bpf_testmod.ko kernel module: -2"], files: {} }),
      null,
      "no results: the runner's own status stands",
    );
  });
});
