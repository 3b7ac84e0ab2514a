import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../testing/paths.js';
import { affectsKconfig, kernelTargets } from './kernel.js';

describe('affectsKconfig', () => {
  it('names the files that can change what olddefconfig makes of the fragments', () => {
    for (const p of [
      'net/Kconfig',
      'net/core/Kconfig',
      'arch/x86/Kconfig.debug',
      'Kconfig',
      'scripts/kconfig/confdata.c',
      'arch/x86/configs/tiny.config',
      'kernel/configs/tiny.config',
    ])
      assert.ok(affectsKconfig(p), p);
    for (const p of [
      'net/core/skbuff.c',
      'net/core/Makefile',
      'include/linux/skbuff.h',
      'Documentation/kbuild/kconfig.rst',
      'scripts/Makefile.build',
    ])
      assert.ok(!affectsKconfig(p), p);
  });
});

describe('kernelTargets', () => {
  const frag = (text: string) => [{ name: 'f', text }];
  it('builds modules (and so the external module kit) only for a config whose fragments turn them on', () => {
    assert.deepEqual(kernelTargets(frag('CONFIG_NET=y\n')), ['bzImage']);
    assert.deepEqual(kernelTargets(frag('CONFIG_MODULES=y\n')), ['bzImage', 'modules']);
    assert.deepEqual(
      kernelTargets([...frag('CONFIG_MODULES=y\n'), { name: 'g', text: '# CONFIG_MODULES is not set\n' }]),
      ['bzImage'],
      'a later fragment wins',
    );
  });

  it('the shipped bpf config builds modules, the others do not', () => {
    for (const [name, modules] of [
      ['bpf', true],
      ['vm', false],
      ['perf', false],
    ] as const) {
      const text = readFileSync(join(repoRoot, 'kconfigs', `${name}.config`), 'utf8');
      assert.equal(kernelTargets(frag(text)).includes('modules'), modules, name);
    }
  });
});
