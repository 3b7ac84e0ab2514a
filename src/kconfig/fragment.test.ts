import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { UsageError } from '../errors.js';
import { fixturePath, repoRoot } from '../testing/paths.js';
import { configHash, describeMismatch, parseKconfig, requestedSettings, verifyConfig } from './fragment.js';

// A real .config: 6.12.117 `make tinyconfig`, kconfigs/vm.config merged by merge_config.sh, then olddefconfig.
const finalConfig = readFileSync(fixturePath('kconfig', 'tinyconfig-vm.config'), 'utf8');
const fragment = (name: string) => ({ name, text: readFileSync(join(repoRoot, 'kconfigs', `${name}.config`), 'utf8') });

describe('parseKconfig', () => {
  it('reads assignments and "is not set" lines, and nothing from other comments', () => {
    const s = parseKconfig('# a comment\nCONFIG_A=y\n\n# CONFIG_B is not set\nCONFIG_C="x y"\nCONFIG_D=0x10\n', 'f');
    assert.deepEqual(s, [
      { symbol: 'CONFIG_A', value: 'y' },
      { symbol: 'CONFIG_B', value: 'n' },
      { symbol: 'CONFIG_C', value: '"x y"' },
      { symbol: 'CONFIG_D', value: '0x10' },
    ]);
  });

  it('names the file and line of a malformed setting', () => {
    assert.throws(
      () => parseKconfig('CONFIG_A=y\nNET=y\n', 'kconfigs/x.config'),
      (e: unknown) => e instanceof UsageError && /kconfigs\/x.config:2: not a Kconfig setting/.test(e.message),
    );
    assert.throws(() => parseKconfig('CONFIG_A=\n', 'f'), UsageError);
  });

  it('parses every shipped fragment and a whole real .config', () => {
    for (const f of ['vm', 'bpf', 'pktgen', 'debug', 'perf'])
      assert.ok(parseKconfig(fragment(f).text, f).length > 5, f);
    assert.ok(parseKconfig(finalConfig, '.config').length > 300);
  });
});

describe('verifyConfig on a real olddefconfig result', () => {
  it('finds every option of vm.config in the final config', () => {
    assert.deepEqual(verifyConfig(requestedSettings([fragment('vm')]), finalConfig), []);
  });

  it('names an option that did not survive because a dependency is off', () => {
    // tinyconfig has no NAMESPACES, so NET_NS cannot be y; a typo'd option simply does not exist.
    const asked = requestedSettings([
      fragment('vm'),
      { name: 'extra', text: 'CONFIG_NET_NS=y\nCONFIG_NO_SUCH_OPTION=y\n# CONFIG_INET is not set\n' },
    ]);
    const bad = verifyConfig(asked, finalConfig);
    assert.deepEqual(
      bad.map((m) => [m.symbol, m.requested, m.actual, m.from]),
      [
        ['CONFIG_INET', 'n', 'y', 'extra'],
        ['CONFIG_NET_NS', 'y', null, 'extra'],
        ['CONFIG_NO_SUCH_OPTION', 'y', null, 'extra'],
      ],
    );
    assert.match(describeMismatch(bad[1]!), /CONFIG_NET_NS=y \(from extra\) ended up absent/);
  });

  it('lets a later fragment override an earlier one, as merge_config.sh does', () => {
    const asked = requestedSettings([
      { name: 'a', text: 'CONFIG_X=y\n' },
      { name: 'b', text: '# CONFIG_X is not set\n' },
    ]);
    assert.deepEqual(asked.get('CONFIG_X'), { value: 'n', from: 'b' });
    assert.deepEqual(verifyConfig(asked, finalConfig), []);
  });
});

describe('configHash', () => {
  it('changes with the base, the order and the text of fragments', () => {
    const a = fragment('vm');
    const b = fragment('bpf');
    const h = configHash('tinyconfig', [a, b], 'x86_64');
    assert.equal(h, configHash('tinyconfig', [a, b], 'x86_64'));
    assert.notEqual(h, configHash('defconfig', [a, b], 'x86_64'));
    assert.notEqual(h, configHash('tinyconfig', [b, a], 'x86_64'));
    assert.notEqual(h, configHash('tinyconfig', [a, { ...b, text: b.text + 'CONFIG_X=y\n' }], 'x86_64'));
  });
});
