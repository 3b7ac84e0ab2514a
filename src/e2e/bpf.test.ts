/**
 * Opt-in (KSCI_E2E_BPF=1; also needs clang-19 lld-19 llvm-19): the BPF
 * selftests through the whole pipeline. The bpf config kernel of the base
 * and of the series (with modules and their kit), test_progs, its no_alu32
 * flavour, test_verifier and the test modules built against each in the
 * sandbox, and the bpf suite (selftests/bpf) booted on both. Cold, this
 * takes over half an hour on 2 cores (two bpf kernels, two selftests
 * builds), which is why CI runs only bpf-subset.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findLlvmBinDir } from '../build/bpf-selftests-make.js';
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

  it('pass: test_progs -t xdp and test_verifier run on the base and the series kernels, one result per test and entry, nothing new fails', () => {
    const r = spawnSync(
      process.execPath,
      [
        join(repoRoot, 'bin/ksci'),
        'run',
        '--suite',
        'bpf',
        '--force',
        join(repoRoot, 'examples', 'series', 'pass.mbox'),
      ],
      {
        encoding: 'utf8',
        env: {
          ...process.env,
          KSCI_DATA_DIR: dataDir,
          KSCI_CONFIG: '',
          REDIS_URL: '',
          DATABASE_URL: '',
          KSCI_LOG_LEVEL: 'warn',
          XDG_CONFIG_HOME: dataDir,
        },
        timeout: 3 * 3600_000,
      },
    );
    assert.equal(r.status, 0, r.stderr + r.stdout);
    for (const side of ['base', 'series']) {
      assert.match(
        r.stdout,
        new RegExp(
          `BPF selftests \\(${side}\\): built test_progs, test_progs-no_alu32, test_verifier and the test modules, \\d+ files`,
        ),
      );
    }
    assert.match(r.stdout, /test\s+passed\s+bpf: (\d+)\/(\d+) passed/);
    const [, passed, total] = /bpf: (\d+)\/(\d+) passed/.exec(r.stdout)!;
    assert.ok(
      Number(total) > 500,
      `one result per test_progs test and subtest, and per test_verifier entry (${total})`,
    );
    assert.ok(Number(passed) > 0.9 * Number(total), `most pass (${passed}/${total})`);
    // test_verifier ran its whole table, unprivileged entries too, with bpf_testmod loaded (it exits at once without).
    const runId = /^Run:\s+(\S+)$/m.exec(r.stdout)![1]!;
    const channel = readFileSync(
      join(dataDir, 'runs', runId, 'test', 'bpf', 'series', 'boot-1', 'channel.log'),
      'utf8',
    );
    assert.doesNotMatch(channel, /bpf_testmod\.ko kernel module|Failed to load bpf_testmod/);
    const [, tvPassed, tvSkipped, tvFailed] = /^Summary: (\d+) PASSED, (\d+) SKIPPED, (\d+) FAILED$/m
      .exec(channel)!
      .map(Number);
    assert.ok(
      tvPassed! > 700 && tvSkipped === 0 && tvFailed === 0,
      `test_verifier: ${tvPassed} passed, ${tvSkipped} skipped, ${tvFailed} failed`,
    );
  });
});
