/**
 * Opt-in (KSCI_E2E_BPF=1; also needs clang-19 lld-19 llvm-19): the BPF
 * selftests through the whole pipeline. The bpf config kernel of the base
 * and of the series, test_progs built against each in the sandbox, and the
 * bpf suite (test_progs -t xdp, selftests/bpf) booted on both. Cold, this
 * takes about half an hour on 2 cores (two bpf kernels, two selftests
 * builds), which is why CI does not run it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findLlvmBinDir } from '../build/selftests.js';
import { repoRoot } from '../testing/paths.js';

const wanted = process.env['KSCI_E2E_BPF'] === '1';
const skip = !wanted ? 'opt-in: KSCI_E2E_BPF=1' : !findLlvmBinDir() ? 'needs clang-19 lld-19 llvm-19' : false;

describe('BPF selftests end to end', { skip, timeout: 3 * 3600_000 }, () => {
  let dataDir: string;
  before(() => {
    dataDir = process.env['KSCI_E2E_BPF_DATA_DIR'] || mkdtempSync(join(tmpdir(), 'ksci-e2e-bpf-'));
  });
  after(() => {
    if (!process.env['KSCI_E2E_BPF_DATA_DIR']) rmSync(dataDir, { recursive: true, force: true });
  });

  it('pass: test_progs -t xdp runs on the base and the series kernels, one result per test, nothing new fails', () => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'bin/ksci'), 'run', '--suite', 'bpf', '--force', join(repoRoot, 'examples', 'series', 'pass.mbox')], {
      encoding: 'utf8',
      env: { ...process.env, KSCI_DATA_DIR: dataDir, KSCI_CONFIG: '', REDIS_URL: '', DATABASE_URL: '', KSCI_LOG_LEVEL: 'warn', XDG_CONFIG_HOME: dataDir },
      timeout: 3 * 3600_000,
    });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /BPF selftests \(base\): built test_progs, test_progs-no_alu32, \d+ files/);
    assert.match(r.stdout, /BPF selftests \(series\): built test_progs, test_progs-no_alu32, \d+ files/);
    assert.match(r.stdout, /test\s+passed\s+bpf: (\d+)\/(\d+) passed/);
    const [, passed, total] = /bpf: (\d+)\/(\d+) passed/.exec(r.stdout)!;
    assert.ok(Number(total) > 50, `one result per test_progs test and subtest (${total})`);
    assert.ok(Number(passed) > 40, `most of the XDP tests pass (${passed}/${total})`);
  });
});
