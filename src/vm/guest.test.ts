import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { testScript } from './guest.js';

describe('testScript: what the guest init runs for a test', () => {
  it('exports the environment as given, expanding nothing, then runs the command', () => {
    const hostile = `$(touch /tmp/x) \`id\` '; echo pwned #\nsecond line`;
    const script = testScript(
      {
        name: 't',
        run: 'printf "%s|%s" "$PKTGEN_COUNT" "$ODD"',
        timeoutSeconds: 5,
        env: { PKTGEN_COUNT: '300000', ODD: hostile },
      },
      0,
    );
    const r = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
    assert.equal(r.stdout, `300000|${hostile}`);
  });

  it('a retry of some tests names the file that lists them', () => {
    assert.equal(
      testScript({ name: 't', run: './run.sh', timeoutSeconds: 5, only: ['a'] }, 3),
      'export KSCI_ONLY=/ksci/only/3\n./run.sh\n',
    );
  });
});
