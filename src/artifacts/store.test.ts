import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { selftestsFiles } from '../build/bpf-selftests.js';
import { ArtifactStore } from './store.js';

describe('ArtifactStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ksci-artifacts-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new ArtifactStore(join(dir, 'store'));
  const file = (name: string, text: string) => {
    const p = join(dir, name.replace(/\//g, '_'));
    writeFileSync(p, text);
    return p;
  };

  it('keeps a flavour subdirectory apart from the top level: same base name, two files', () => {
    const key = 'ab'.repeat(16);
    const set = store.put(
      key,
      [
        { from: file('top', 'top'), name: 'xdp_dummy.bpf.o' },
        { from: file('flavour', 'no_alu32'), name: 'no_alu32/xdp_dummy.bpf.o' },
        file('test_progs', 'bin'),
      ],
      {},
    );
    assert.equal(readFileSync(set.path('xdp_dummy.bpf.o'), 'utf8'), 'top');
    assert.equal(readFileSync(set.path('no_alu32/xdp_dummy.bpf.o'), 'utf8'), 'no_alu32');
    assert.deepEqual(Object.keys(store.get(key)!.manifest.files).sort(), [
      'no_alu32/xdp_dummy.bpf.o',
      'test_progs',
      'xdp_dummy.bpf.o',
    ]);
    // What the test stage ships to the guest: every file at its relative path, not the manifest.
    assert.deepEqual(selftestsFiles(set.dir), ['no_alu32/xdp_dummy.bpf.o', 'test_progs', 'xdp_dummy.bpf.o']);
  });

  it('a set missing one of its files is not a hit', () => {
    const key = 'cd'.repeat(16);
    const set = store.put(key, [{ from: file('x', 'x'), name: 'sub/x' }], {});
    rmSync(set.path('sub/x'));
    assert.equal(store.get(key), null);
  });

  it('refuses a name that leaves the set, and leaves nothing behind', () => {
    const key = 'ef'.repeat(16);
    assert.throws(() => store.put(key, [{ from: file('y', 'y'), name: '../y' }], {}), /leaves the artifact directory/);
    assert.equal(store.get(key), null);
  });
});
