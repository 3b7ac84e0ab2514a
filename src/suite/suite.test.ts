import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { UsageError } from '../errors.js';
import { repoRoot } from '../testing/paths.js';
import { loadSuite } from './suite.js';

describe('loadSuite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ksci-suites-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const suite = (name: string, yaml: string) => {
    mkdirSync(join(dir, name), { recursive: true });
    writeFileSync(join(dir, name, 'suite.yaml'), yaml);
  };

  it('every suite shipped in selftests/ loads', () => {
    const dir = join(repoRoot, 'selftests');
    const names = readdirSync(dir).filter((n) => existsSync(join(dir, n, 'suite.yaml')));
    assert.ok(names.includes('bpf') && names.includes('smoke'), names.join(' '));
    for (const n of names) loadSuite(join(repoRoot, 'selftests'), n);
  });

  it("the bpf suite asks the build stage for test_progs, its no_alu32 flavour and test_verifier, and runs each, reading each one's results", () => {
    const s = loadSuite(join(repoRoot, 'selftests'), 'bpf');
    assert.deepEqual(s.needs, ['bpf-selftests']);
    assert.deepEqual(s.bpfRunners, ['test_progs', 'test_progs-no_alu32', 'test_verifier']);
    assert.deepEqual(
      s.tests.map((t) => [t.name, t.env?.['RUNNER'] ?? null, t.results]),
      [
        ['test_progs', null, 'test_progs'],
        ['test_progs-no_alu32', 'test_progs-no_alu32', 'test_progs'],
        ['test_verifier', null, 'test_verifier'],
      ],
    );
  });

  it('a suite that needs the selftests without naming runners gets test_progs', () => {
    suite('plain', 'description: d\nconfig: bpf\nneeds: [bpf-selftests]\ntests: [{name: t, run: "true"}]\n');
    assert.deepEqual(loadSuite(dir, 'plain').bpfRunners, ['test_progs']);
  });

  it('a runner the selftests Makefile does not build is refused with the file and field', () => {
    suite(
      'bad',
      'description: d\nconfig: bpf\nneeds: [bpf-selftests]\nbpfRunners: [test_progs-gcc]\ntests: [{name: t, run: "true"}]\n',
    );
    assert.throws(
      () => loadSuite(dir, 'bad'),
      (err: unknown) => err instanceof UsageError && /bad\/suite\.yaml: bpfRunners\.0:/.test(err.message),
    );
  });
});
