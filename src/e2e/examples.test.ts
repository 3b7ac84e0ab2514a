import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadSeries } from '../series/load.js';
import { repoRoot } from '../testing/paths.js';

const TARBALL = '/usr/src/linux-source-6.12.tar.xz';
const limits = { maxMboxBytes: 64 << 20, maxMessageBytes: 10 << 20, maxPatches: 500 };
const example = (name: string) => join(repoRoot, 'examples', 'series', `${name}.mbox`);

describe('example series parse as written', () => {
  it('pass: v2, 2 patches, the Acked-by from the reply to the cover on every patch', async () => {
    const s = await loadSeries(example('pass'), limits);
    assert.equal(s.version, 2);
    assert.deepEqual(s.treeTags, ['net-next']);
    assert.deepEqual(
      s.patches.map((p) => p.subject.title),
      [
        'net: skbuff: add skb_metadata_present() helper',
        'net: skbuff: use skb_metadata_present() in skb_reorder_vlan_header()',
      ],
    );
    for (const p of s.patches) {
      assert.ok(
        p.trailers.some(
          (t) =>
            t.key === 'Acked-by' &&
            t.value.startsWith('Tomas Ferreira') &&
            t.fromMessageId === 'Z9A4c1kTf3e2@example.net',
        ),
      );
    }
    assert.ok(s.patches[1]!.trailers.some((t) => t.key === 'Reviewed-by' && t.fromMessageId === null));
  });

  it('slow-path: an RFC, 2 patches', async () => {
    const s = await loadSeries(example('slow-path'), limits);
    assert.equal(s.isRfc, true);
    assert.equal(s.patches.length, 2);
  });

  it('selftest-break: a single patch without cover letter is a series of one', async () => {
    const s = await loadSeries(example('selftest-break'), limits);
    assert.equal(s.cover, null);
    assert.equal(s.total, 1);
    assert.deepEqual(s.treeTags, ['bpf-next']);
  });
});

/**
 * The whole pipeline for real: the ksci binary, its private redis-server,
 * PGlite, Debian's 6.12 source imported into git, git am -3, and kernel
 * builds (config "vm": tinyconfig + kconfigs/vm.config) in bubblewrap. One
 * data dir for all cases, so the tree is imported and the base built once;
 * ccache lives outside it (~/.cache/ksci/ccache), so a second CI run on
 * the same machine compiles little.
 */
describe('end to end on the Debian 6.12 tree', {
  skip:
    !existsSync(TARBALL) && !process.env['KSCI_REQUIRE_E2E']
      ? `${TARBALL} missing (apt-get install linux-source-6.12)`
      : false,
}, () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'ksci-e2e-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  /**
   * The ksci binary on the shared data dir, with embedded services and no
   * config of the user's. The default timeout is long: the first run imports
   * the tree, checks it out for builds and builds the base.
   */
  function ksci(args: string[], timeoutMs = 60 * 60_000) {
    const r = spawnSync(process.execPath, [join(repoRoot, 'bin/ksci'), ...args], {
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
      timeout: timeoutMs,
      cwd: dataDir,
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  }

  function run(file: string, args: string[] = []) {
    return ksci(['run', ...args, file]);
  }

  it('pass applies and builds (first run imports the tree and builds the base)', () => {
    const r = run(example('pass'));
    assert.equal(r.code, 0, r.err + r.out);
    assert.match(r.out, /PASS/);
    assert.match(r.out, /Tree:\s+debian-6.12 \(subject tag net-next\)/);
    assert.match(r.out, /apply\s+passed\s+applied 2 patch\(es\)/);
    assert.match(r.out, /build\s+passed\s+vm: built, warnings (\d+) -> \1/);
    const artifacts = /artifacts: (\S+)/.exec(r.out)?.[1];
    assert.ok(artifacts && existsSync(join(artifacts, 'bzImage')), `bzImage in ${artifacts}`);
    assert.ok(statSync(join(artifacts, 'bzImage')).size > 500_000);
    // Both kernels booted in QEMU and ran the smoke suite.
    assert.match(r.out, /test\s+passed\s+smoke: 3\/3 passed/);
    assert.match(
      r.out,
      /suite smoke \(config vm\): 6\.12\.\d+ under (TCG|KVM), boot [\d.]+ s; base [0-9a-f]{12}, series [0-9a-f]{12}/,
    );
    assert.match(r.out, /pass {2}loopback [\d.]+ s {2}\(base: pass\)/);
  });

  it('the same series again is a cache hit that builds nothing', () => {
    const r = run(example('pass'), ['--force']);
    assert.equal(r.code, 0, r.err + r.out);
    assert.match(r.out, /vm: built \(cached\)/);
    assert.match(r.out, /base [0-9a-f]{12} cached, series [0-9a-f]{12} built cached/);
    assert.match(r.out, /base [0-9a-f]{12} \(cached\), series/, "the base kernel's test results are reused too");
  });

  it('a series that makes the kernel WARN on ping fails the test stage with the splat, the test and a reproducer', () => {
    const r = run(join(repoRoot, 'test', 'fixtures', 'series', 'warn-on-ping.mbox'));
    assert.equal(r.code, 1, r.err + r.out);
    assert.match(
      r.out,
      /FAIL: test: smoke: 3\/3 passed; new kernel splats: WARNING in icmp_echo \(net\/ipv4\/icmp\.c:\d+\)/,
    );
    assert.match(r.out, /NEW SPLAT WARNING in icmp_echo .* \(during loopback\), fingerprint warning \| icmp_echo/);
    assert.match(r.out, /\| WARNING: CPU: \d+ PID: \d+ at net\/ipv4\/icmp\.c:\d+ icmp_echo/);
    const repro = /ksci test --kernel (\S+) --suite smoke --only loopback/.exec(r.out);
    assert.ok(repro, 'a reproducer command');
    // The reproducer really reproduces.
    const again = ksci(['test', '--kernel', repro[1]!, '--suite', 'smoke', '--only', 'loopback'], 5 * 60_000);
    assert.equal(again.code, 1, again.err + again.out);
    assert.match(again.out, /SPLAT warning: WARNING in icmp_echo/);
  });

  it('build-break fails the build at patch 2, naming the file, line and error; per-patch names the patch', () => {
    const r = run(example('build-break'), ['--per-patch']);
    assert.equal(r.code, 1, r.err + r.out);
    assert.match(
      r.out,
      /FAIL: build: vm: patch 2 "[^"]+" breaks the build: net\/core\/skbuff\.c:\d+:\d+: error: too few arguments to function 'skb_metadata_start'/,
    );
    assert.match(r.out, /patch 1 builds/);
    assert.match(r.out, /patch 2 BREAKS THE BUILD/);
  });

  it('a series that adds compiler warnings fails the build with the new ones listed', () => {
    const r = run(join(repoRoot, 'test', 'fixtures', 'series', 'new-warnings.mbox'));
    assert.equal(r.code, 1, r.err + r.out);
    assert.match(r.out, /FAIL: build: vm: 2 new warning\(s\), first net\/core\/skbuff\.c:\d+:\d+: warning: /);
    assert.match(
      r.out,
      /\+ net\/core\/skbuff\.c:\d+:\d+: warning: unused variable 'meta_budget' \[-Wunused-variable\]/,
    );
    assert.match(
      r.out,
      /\+ net\/core\/skbuff\.c:\d+:\d+: warning: 'skb_meta_budget' defined but not used \[-Wunused-function\]/,
    );
    assert.match(r.out, /warnings before: (\d+), this series: \d+, new: 2/);
  });

  it('a Makefile that reaches for the network and writes outside its tree fails clearly and leaves no trace', () => {
    const marks = ['/root/ksci-hostile-was-here', '/tmp/ksci-hostile-was-here'];
    for (const m of marks) rmSync(m, { force: true });
    const r = run(join(repoRoot, 'test', 'fixtures', 'series', 'hostile-makefile.mbox'));
    assert.equal(r.code, 1, r.err + r.out);
    assert.match(r.out, /FAIL: build: vm: the build tried to reach the network/);
    for (const m of marks) assert.equal(existsSync(m), false, `${m} must not exist`);
    const src = join(dataDir, 'cache', 'build', 'src', 'debian-6.12');
    assert.equal(existsSync(join(src, 'ksci-hostile-was-here')), false, 'the source tree is read-only to the build');
  });

  it('conflict fails at patch 2 in include/linux/skbuff.h, exit 1', () => {
    const r = run(example('conflict'));
    assert.equal(r.code, 1, r.err);
    assert.match(
      r.out,
      /FAIL: apply: patch 2 "net: skbuff: drop the metadata owner in skb_metadata_clear\(\)" does not apply/,
    );
    assert.match(r.out, /failed after 1 applied cleanly/);
    assert.match(r.out, /conflicting files: include\/linux\/skbuff\.h/);
  });

  for (const [name, n] of [
    ['selftest-break', 1],
    ['slow-path', 2],
  ] as const) {
    it(`${name} applies (${n} patches) and builds; its failure belongs to a later stage`, () => {
      const r = run(example(name));
      assert.equal(r.code, 0, r.err + r.out);
      assert.match(r.out, new RegExp(`applied ${n} patch\\(es\\)`));
      assert.match(r.out, /build\s+passed\s+vm: built/);
    });
  }
});
