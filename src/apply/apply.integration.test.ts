import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UsageError } from '../errors.js';
import { silentLogger } from '../log.js';
import { parseMbox } from '../series/load.js';
import type { Series } from '../series/types.js';
import { git, kernelishRepoWithSeries } from '../testing/git.js';
import { ensureTree, type PreparedTree } from '../tree/trees.js';
import { applySeries } from './apply.js';

const limits = { maxMboxBytes: 1 << 20, maxMessageBytes: 1 << 20, maxPatches: 50 };

describe('apply on real git repositories', () => {
  let dir: string;
  let upstream: string;
  let series: Series;
  let base: string;
  let tree: PreparedTree;
  const cacheDir = () => join(dir, 'cache');
  const apply = (s: Series, runId: string) =>
    applySeries(tree, s, { runId, workRoot: join(dir, 'work'), mergedCheckDepth: 50, log: silentLogger });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ksci-apply-'));
    upstream = join(dir, 'upstream');
    const made = kernelishRepoWithSeries(upstream);
    base = made.base;
    series = await parseMbox(Buffer.from(made.mbox), limits);
    tree = await ensureTree(
      { name: 'net-next', source: { kind: 'git', url: upstream }, branch: 'master', tags: [] },
      { cacheDir: cacheDir(), log: silentLogger },
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('applies cleanly, keeps the result under a ref and leaves no worktree behind', async () => {
    const r = await apply(series, 'run-clean');
    assert.equal(r.status, 'applied');
    if (r.status !== 'applied') return;
    assert.equal(r.baseCommit, base);
    assert.equal(r.patches.length, 2);
    assert.equal(git(tree.gitDir, 'rev-parse', r.ref).trim(), r.headCommit);
    assert.equal(git(tree.gitDir, 'log', '--format=%s', '-1', r.headCommit).trim(), 'net: skbuff: document skb_alloc');
    assert.deepEqual(readdirSync(join(dir, 'work')), []);
    assert.equal(git(tree.gitDir, 'worktree', 'list').trim().split('\n').length, 1);
  });

  it('honours base-commit when the tree has it, and says so when it does not', async () => {
    const withBase = { ...series, baseCommit: base };
    const a = await apply(withBase, 'run-base');
    assert.equal(a.base.reason, 'base-commit');
    const missing = { ...series, baseCommit: 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeef' };
    const b = await apply(missing, 'run-nobase');
    assert.equal(b.base.reason, 'branch-head');
    assert.match(b.base.note ?? '', /base-commit deadbeefdead is not in tree net-next; applied to master at/);
  });

  it('reports a series already merged in the base, after the mirror fetches it', async () => {
    git(upstream, 'merge', '-q', '--ff-only', 'series');
    await ensureTree(
      { name: 'net-next', source: { kind: 'git', url: upstream }, branch: 'master', tags: [] },
      { cacheDir: cacheDir(), log: silentLogger },
    );
    const r = await apply(series, 'run-merged');
    assert.equal(r.status, 'already-merged');
    if (r.status === 'already-merged')
      assert.deepEqual(
        r.matches.map((m) => m.counter),
        [1, 2],
      );
  });

  it('imports a Debian-style source tarball reproducibly, once', async () => {
    const src = join(dir, 'tarsrc', 'linux-source-6.12');
    mkdirSync(join(src, 'debian'), { recursive: true });
    writeFileSync(join(src, 'Makefile'), 'VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\n');
    writeFileSync(join(src, '.gitignore'), '.*\n!.gitignore\n/*\n!/debian/\n');
    writeFileSync(join(src, 'debian', 'changelog'), 'linux (6.12.117-1) bookworm; urgency=medium\n');
    const tarball = join(dir, 'linux-source-6.12.tar.xz');
    execFileSync('tar', ['-cJf', tarball, '-C', join(dir, 'tarsrc'), 'linux-source-6.12']);
    const cfg = { name: 'deb', source: { kind: 'debian-linux-source' as const, tarball }, branch: 'master', tags: [] };
    const one = await ensureTree(cfg, { cacheDir: join(dir, 'c1'), log: silentLogger });
    const two = await ensureTree(cfg, { cacheDir: join(dir, 'c2'), log: silentLogger });
    const head = (t: PreparedTree) => git(t.gitDir, 'rev-parse', 'refs/heads/master').trim();
    assert.equal(head(one), head(two), 'same tarball, same commit id');
    assert.match(
      git(one.gitDir, 'ls-tree', '--name-only', 'master'),
      /Makefile/,
      "Debian's .gitignore did not hide the tree",
    );
    assert.equal(git(one.gitDir, 'tag').trim(), 'debian/6.12.117');
    await ensureTree(cfg, { cacheDir: join(dir, 'c1'), log: silentLogger });
    assert.equal(head(one), git(one.gitDir, 'rev-parse', 'refs/heads/master').trim(), 'a second call is a no-op');
    assert.ok(!existsSync(join(dir, 'c1', 'trees', 'deb.git.lock')));
    await assert.rejects(
      ensureTree(
        { ...cfg, source: { kind: 'debian-linux-source', tarball: join(dir, 'nope.tar.xz') } },
        { cacheDir: join(dir, 'c3'), log: silentLogger },
      ),
      (e: unknown) => e instanceof UsageError && /apt-get install linux-source-6.12/.test(e.hint ?? ''),
    );
  });
});
