import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadSuite } from '../../suite/suite.js';
import { repoRoot } from '../../testing/paths.js';
import { reproducer } from './stage.js';

describe('the test stage reproducer', () => {
  const bpf = loadSuite(join(repoRoot, 'selftests'), 'bpf');
  const smoke = loadSuite(join(repoRoot, 'selftests'), 'smoke');

  it("a BPF suite: the same kernel and the same selftests build, the failing runners, and each runner's failing tests named its way", () => {
    const lines = reproducer(
      '/a/bzImage',
      '/a/selftests',
      bpf,
      ['test_progs:xdp_bonding/xdp_bonding_attach', 'test_verifier:calls: conditional call 6 (priv)'],
      'f'.repeat(40),
      'bpf-next',
    );
    assert.deepEqual(lines, [
      '# kernel: tree bpf-next at ffffffffffff, config bpf',
      '# failing test_progs tests: xdp_bonding/xdp_bonding_attach (test_progs -a NAME runs one)',
      '# failing test_verifier entries: calls: conditional call 6 (priv) (test_verifier N runs entry N of its table)',
      'ksci test --kernel /a/bzImage --selftests /a/selftests --suite bpf --only test_progs,test_verifier',
    ]);
  });

  it('a suite of plain tests: no selftests, the failing tests', () => {
    assert.deepEqual(
      reproducer('/k', null, smoke, ['loopback'], 'a'.repeat(40), 't').at(-1),
      'ksci test --kernel /k --suite smoke --only loopback',
    );
  });
});
