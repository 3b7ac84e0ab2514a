import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
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
    assert.deepEqual(s.patches.map((p) => p.subject.title), [
      'net: skbuff: add skb_metadata_present() helper',
      'net: skbuff: use skb_metadata_present() in skb_reorder_vlan_header()',
    ]);
    for (const p of s.patches) {
      assert.ok(p.trailers.some((t) => t.key === 'Acked-by' && t.value.startsWith('Tomas Ferreira') && t.fromMessageId === 'Z9A4c1kTf3e2@example.net'));
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
 * PGlite, Debian's 6.12 source imported into git, git am -3. One data dir
 * for all cases, so the tree is imported once.
 */
describe('end to end on the Debian 6.12 tree', { skip: !existsSync(TARBALL) && !process.env['KSCI_REQUIRE_E2E'] ? `${TARBALL} missing (apt-get install linux-source-6.12)` : false }, () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'ksci-e2e-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  function run(name: string) {
    const r = spawnSync(process.execPath, [join(repoRoot, 'bin/ksci'), 'run', example(name)], {
      encoding: 'utf8',
      env: { ...process.env, KSCI_DATA_DIR: dataDir, KSCI_CONFIG: '', REDIS_URL: '', DATABASE_URL: '', KSCI_LOG_LEVEL: 'warn', XDG_CONFIG_HOME: dataDir },
      timeout: 15 * 60_000,
      cwd: dataDir,
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  }

  it('pass applies cleanly (first run imports the tree)', () => {
    const r = run('pass');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /PASS/);
    assert.match(r.out, /Tree:\s+debian-6.12 \(subject tag net-next\)/);
    assert.match(r.out, /apply\s+passed\s+applied 2 patch\(es\)/);
  });

  it('conflict fails at patch 2 in include/linux/skbuff.h, exit 1', () => {
    const r = run('conflict');
    assert.equal(r.code, 1, r.err);
    assert.match(r.out, /FAIL: apply: patch 2 "net: skbuff: drop the metadata owner in skb_metadata_clear\(\)" does not apply/);
    assert.match(r.out, /failed after 1 applied cleanly/);
    assert.match(r.out, /conflicting files: include\/linux\/skbuff\.h/);
  });

  for (const [name, n] of [['build-break', 3], ['selftest-break', 1], ['slow-path', 2]] as const) {
    it(`${name} applies (${n} patches); its failure belongs to a later stage`, () => {
      const r = run(name);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`applied ${n} patch\\(es\\)`));
    });
  }
});
