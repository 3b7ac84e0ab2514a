import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { affectsKconfig } from './kernel.js';

describe('affectsKconfig', () => {
  it('names the files that can change what olddefconfig makes of the fragments', () => {
    for (const p of ['net/Kconfig', 'net/core/Kconfig', 'arch/x86/Kconfig.debug', 'Kconfig', 'scripts/kconfig/confdata.c', 'arch/x86/configs/tiny.config', 'kernel/configs/tiny.config']) assert.ok(affectsKconfig(p), p);
    for (const p of ['net/core/skbuff.c', 'net/core/Makefile', 'include/linux/skbuff.h', 'Documentation/kbuild/kconfig.rst', 'scripts/Makefile.build']) assert.ok(!affectsKconfig(p), p);
  });
});
