import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { kernelishRepoWithSeries } from '../testing/git.js';
import { repoRoot } from '../testing/paths.js';

/** The real CLI in a child process, as a user runs it. */
function ksci(dataDir: string, config: string, ...args: string[]) {
  const res = spawnSync(
    process.execPath,
    [join(repoRoot, 'bin/ksci'), '--config', config, '--data-dir', dataDir, ...args],
    {
      encoding: 'utf8',
      env: { ...process.env, KSCI_LOG_LEVEL: 'warn', REDIS_URL: '', DATABASE_URL: '' },
      timeout: 120_000,
    },
  );
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe('ksci CLI', () => {
  let dir: string;
  let config: string;
  let mbox: string;
  let goodMbox: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ksci-cli-'));
    const upstream = join(dir, 'upstream');
    mbox = kernelishRepoWithSeries(upstream).mbox;
    config = join(dir, 'ksci.yaml');
    // A toy tree: it applies like a kernel but does not build like one, so no build stage here (the e2e suite builds).
    writeFileSync(
      config,
      YAML.stringify({
        trees: [{ name: 'net-next', source: { kind: 'git', url: upstream }, tags: ['net-next'] }],
        defaultTree: 'net-next',
        stages: ['apply'],
      }),
    );
    goodMbox = join(dir, 'good.mbox');
    writeFileSync(goodMbox, mbox);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a series end to end and exits 0 on a pass', () => {
    const r = ksci(join(dir, 'data'), config, 'run', goodMbox);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /PASS/);
    assert.match(r.stdout, /apply\s+passed\s+applied 2 patch\(es\)/);
    assert.match(r.stdout, /Tree:\s+net-next \(subject tag net-next\)/);
    assert.match(r.stdout, /Report: .*\.md/);
  });

  it('does not run the same series version twice', () => {
    const r = ksci(join(dir, 'data'), config, 'run', goodMbox);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /already run on net-next as run/);
  });

  const bad: [string, () => string | Buffer, RegExp][] = [
    ['an empty file', () => '', /empty/i],
    [
      'binary garbage',
      () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)),
      /binary|not.*mail|NUL/i,
    ],
    [
      'a truncated mbox',
      () => mbox.slice(0, mbox.indexOf('Subject:', mbox.indexOf('Subject:') + 1) + 20),
      /truncated|incomplete|missing/i,
    ],
    ['a patch touching ../', () => mbox.replaceAll('net/core/skbuff.c', '../../etc/skbuff.c'), /\.\./],
    ['a patch touching .git/', () => mbox.replaceAll('include/linux/skbuff.h', '.git/hooks/post-checkout'), /\.git/],
  ];
  for (const [what, make, message] of bad) {
    it(`refuses ${what} with a clear error and exit code 3`, () => {
      const file = join(dir, 'bad.mbox');
      writeFileSync(file, make());
      const r = ksci(join(dir, 'data'), config, 'run', file);
      assert.equal(r.code, 3, `exit code; stderr: ${r.stderr}`);
      assert.match(r.stderr, /ksci: error: /);
      assert.match(r.stderr, message);
    });
  }

  it('refuses a 50 MB message before parsing it', () => {
    const file = join(dir, 'huge.mbox');
    const body = mbox.split('\n').slice(0, 12).join('\n') + '\n\n' + ('+' + 'x'.repeat(99) + '\n').repeat(500_000);
    writeFileSync(file, body);
    const r = ksci(join(dir, 'data'), config, 'run', file);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /larger|limit|too (big|large)/i);
  });

  it('keeps earlier runs intact after bad input', () => {
    const r = ksci(join(dir, 'data'), config, 'status', '--json');
    assert.equal(r.code, 0, r.stderr);
    const status = JSON.parse(r.stdout) as { runs: { status: string; seriesTitle: string }[] };
    assert.equal(status.runs.length, 1);
    assert.equal(status.runs[0]?.status, 'passed');
  });

  it('exits 2 with a hint on a bad config', () => {
    const badConfig = join(dir, 'bad.yaml');
    writeFileSync(badConfig, 'trees: []\ndefaultTree: nope\n');
    const r = ksci(join(dir, 'data'), badConfig, 'config', 'check');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid configuration/);
    assert.match(r.stderr, /hint: /);
  });

  it('exits 2 on an unknown command', () => {
    const r = ksci(join(dir, 'data'), config, 'frobnicate');
    assert.equal(r.code, 2);
  });

  it('asking for a perf run or a perf suite where it cannot be is a usage error that says what to do', () => {
    const perfOff = ksci(join(dir, 'data'), config, 'run', '--perf', goodMbox);
    assert.equal(perfOff.code, 2, perfOff.stderr);
    assert.match(perfOff.stderr, /a perf run was asked for, but the perf stage is off/);
    assert.match(perfOff.stderr, /add "perf" to stages/);
    const kernel = join(dir, 'fake-bzImage');
    writeFileSync(kernel, 'not a kernel');
    const asTest = ksci(join(dir, 'data'), config, 'test', '--kernel', kernel, '--suite', 'pktgen');
    assert.equal(asTest.code, 2, asTest.stderr);
    assert.match(asTest.stderr, /suite pktgen is a perf suite/);
    assert.match(asTest.stderr, /ksci perf --base .* --suite pktgen/);
  });

  it('ksci test of a BPF suite needs the selftests build to run, and one that holds its runners', () => {
    const kernel = join(dir, 'fake-bzImage');
    writeFileSync(kernel, 'not a kernel');
    const none = ksci(join(dir, 'data'), config, 'test', '--kernel', kernel, '--suite', 'bpf');
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /suite bpf runs the BPF selftests: --selftests names the build to run/);
    const empty = ksci(join(dir, 'data'), config, 'test', '--kernel', kernel, '--suite', 'bpf', '--selftests', dir);
    assert.equal(empty.code, 2, empty.stderr);
    assert.match(empty.stderr, /holds none of suite bpf's runners \(test_progs, test_progs-no_alu32, test_verifier\)/);
  });
});
