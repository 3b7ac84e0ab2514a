import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fixturePath } from '../testing/paths.js';
import { retryPlan } from '../vm/kernel-run.js';
import { expandTestProgs, splitExpanded, TEST_PROGS_JSON } from './expand.js';

const capture = (name: string) => readFileSync(fixturePath('selftests', name), 'utf8');

describe('expandTestProgs on real test_progs output', () => {
  it('a complete run: one result per test and subtest, named after the runner; the JSON file adds the messages', () => {
    const text = capture('test_progs_xdp_tiny.txt');
    const json = text.split('\n').find((l) => l.startsWith('{'))!;
    const e = expandTestProgs({ name: 'test_progs', output: text.split('\n').filter((l) => !l.startsWith('{')), files: { [TEST_PROGS_JSON]: Buffer.from(json) } }, null)!;
    assert.equal(e.jsonError, null);
    const byName = new Map(e.results.map((r) => [r.name, r]));
    assert.equal(byName.get('test_progs:xdp_context_test_run')?.status, 'pass');
    assert.equal(byName.get('test_progs:xdp_bonding/xdp_bonding_attach')?.status, 'fail');
    assert.equal(byName.get('test_progs:xdp_metadata')?.status, 'fail');
    assert.ok(byName.get('test_progs:xdp_metadata')!.log.length > 0, 'the failure carries its log');
    assert.deepEqual(
      e.results.filter((r) => r.status === 'fail' && !r.name.includes('/')).map((r) => r.name).sort(),
      ['test_progs:xdp_bonding', 'test_progs:xdp_cpumap_attach', 'test_progs:xdp_do_redirect', 'test_progs:xdp_metadata', 'test_progs:xdp_synproxy'],
    );
  });

  it('a run the kernel cut short inside a test: that test crashed, the ones before it stand', () => {
    const e = expandTestProgs({ name: 'test_progs', output: capture('test_progs_xdp_cut_in_subtests.txt').split('\n'), files: {} }, 'crash')!;
    const last = e.results[e.results.length - 1]!;
    assert.deepEqual([last.name, last.status], ['test_progs:xdp_bonding', 'crash']);
    assert.equal(e.results.find((r) => r.name === 'test_progs:xdp_bonding/xdp_bonding_attach')?.status, 'fail');
  });

  it('a broken JSON file is reported, and the text still counts', () => {
    const e = expandTestProgs({ name: 't', output: capture('test_progs_xdp_cut_after_test.txt').split('\n'), files: { [TEST_PROGS_JSON]: Buffer.from('{"success": ') } }, null)!;
    assert.match(e.jsonError ?? '', /^test_progs\.json: /);
    assert.ok(e.results.length > 10);
  });

  it('output without results leaves the runner its own status', () => {
    assert.equal(expandTestProgs({ name: 't', output: ['./test_progs: error while loading shared libraries: libelf.so.1'], files: {} }, null), null);
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
    assert.deepEqual(plan.map((t) => [t.name, t.only ?? null]), [['test_progs', ['xdp_metadata', 'xdp_bonding/xdp_bonding_attach']], ['smoke', null]]);
  });
  it('a runner that crashed as a whole reruns whole', () => {
    assert.deepEqual(retryPlan(tests, ['test_progs', 'test_progs:xdp_metadata']).map((t) => t.only ?? null), [null]);
    assert.deepEqual(splitExpanded('test_progs:a/b: c'), { suiteTest: 'test_progs', id: 'a/b: c' });
  });
});
