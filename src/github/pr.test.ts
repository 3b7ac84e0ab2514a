import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BadInputError, InfraError, UsageError } from '../errors.js';
import { parseMbox } from '../series/load.js';
import { git, kernelishBase } from '../testing/git.js';
import { loadPrFixture, startGitHubWithApp, type FakeGitHub, type PrFixture } from '../testing/github-server.js';
import { fixturePath } from '../testing/paths.js';
import type { RepoClient } from './client.js';
import { fetchPullRequest, fetchPrPatches, loadPrSeries, parsePrUrl, prToMbox } from './pr.js';

const limits = { maxMboxBytes: 64 << 20, maxMessageBytes: 10 << 20, maxPatches: 500 };

describe('parsePrUrl', () => {
  it('reads owner, repo and number, ignoring what follows', () => {
    assert.deepEqual(parsePrUrl('https://github.com/o/r/pull/12'), {
      owner: 'o',
      repo: 'r',
      number: 12,
      host: 'github.com',
    });
    assert.deepEqual(parsePrUrl('https://github.com/torvalds/linux.git-mirror/pull/3/files#diff-1'), {
      owner: 'torvalds',
      repo: 'linux.git-mirror',
      number: 3,
      host: 'github.com',
    });
  });
  it('refuses what is not a PR URL, as a usage error', () => {
    for (const bad of [
      'o/r#12',
      'https://github.com/o/r/issues/12',
      'https://github.com/o/r/pull/0',
      'https://github.com/o/r/pull/x',
      'ftp://github.com/o/r/pull/1',
      'https://github.com/o/pull/1',
    ]) {
      assert.throws(() => parsePrUrl(bad), UsageError, bad);
    }
  });
});

describe('a pull request as a series (App client against the local GitHub)', () => {
  let gh: FakeGitHub;
  let client: RepoClient;
  let fx: PrFixture;

  before(async () => {
    // Two per page: the fixture's three commits take two pages.
    ({ gh, fx, client } = await startGitHubWithApp({ maxPerPage: 2 }));
  });
  after(() => gh.close());

  it('reads the PR, pages through its commits, and parseMbox makes the series: cover from the PR, patches in order', async () => {
    const { pr, series, mbox } = await loadPrSeries(client, 7, limits);
    assert.equal(pr.head.sha, '83e826e1bf826821422e1290f321a25b3c4f8e6e');
    assert.equal(pr.fromFork, false);
    assert.deepEqual(pr.labels, ['networking']);

    assert.equal(series.total, 3);
    assert.equal(series.title, 'net: skbuff: make skb_alloc() report success – and say so');
    assert.equal(series.baseCommit, '318dacb2a24a3e4e41b12d35573ad754602ca5e8');
    assert.deepEqual(series.author, { name: 'janedev', address: '5501+janedev@users.noreply.github.com' });
    assert.equal(series.messageId, 'ksci.kdev.linux.pr7.83e826e1bf82.0@github');
    assert.match(
      series.cover!.body,
      /^skb_alloc\(\) returned 0 on success, which every caller reads as failure\.\n\nThis series/,
    );
    assert.match(series.cover!.body, /\nFrom the maintainer's point of view/, 'the mboxrd-escaped line comes back');
    assert.match(series.cover!.body, /Pull request: https:\/\/github.com\/kdev\/linux\/pull\/7/);
    assert.deepEqual(
      series.patches.map((p) => [p.counter, p.subject.title, p.author.name, p.messageId]),
      [
        [1, 'net: skbuff: return 1 from skb_alloc', 'Jane Developer', 'ksci.kdev.linux.pr7.83e826e1bf82.1@github'],
        [
          2,
          'net: skbuff: document the return value of skb_alloc so that callers stop guessing what it means',
          'Łukasz Wiśniewski',
          'ksci.kdev.linux.pr7.83e826e1bf82.2@github',
        ],
        [3, 'net: skbuff: add skb_headroom()', 'Jane Developer', 'ksci.kdev.linux.pr7.83e826e1bf82.3@github'],
      ],
    );
    assert.deepEqual(
      series.patches[0]!.trailers.map((t) => t.key),
      ['Signed-off-by'],
    );

    const lists = gh.requests.filter((r) => r.path === '/repos/kdev/linux/pulls/7/commits');
    assert.deepEqual(
      lists.map((r) => r.query['page'] ?? '1'),
      ['1', '2'],
    );
    const patches = gh.requests.filter((r) => r.path.startsWith('/repos/kdev/linux/commits/'));
    assert.equal(patches.length, 3);
    assert.ok(patches.every((r) => r.headers.accept === 'application/vnd.github.patch'));

    // Deterministic: the same push gives the same bytes.
    assert.ok(prToMbox(pr, await fetchPrPatches(client, pr, 500)).equals(mbox));
  });

  it('gives git am exactly the commits GitHub has: same trees, authors and messages', async () => {
    const { series } = await loadPrSeries(client, 7, limits);
    const dir = mkdtempSync(join(tmpdir(), 'ksci-gh-am-'));
    try {
      kernelishBase(dir);
      for (const p of series.patches) {
        execFileSync('git', ['am', '-q'], {
          cwd: dir,
          input: Buffer.from(p.rawBase64, 'base64'),
          env: {
            ...process.env,
            HOME: dir,
            GIT_CONFIG_NOSYSTEM: '1',
            GIT_COMMITTER_NAME: 'ksci',
            GIT_COMMITTER_EMAIL: 'ksci@example.org',
          },
        });
      }
      const trees = git(dir, 'log', '--reverse', '--format=%T', 'HEAD~3..HEAD').trim().split('\n');
      const want = fx.commits.map((c) => c.commit.tree.sha);
      assert.deepEqual(trees, want);
      assert.equal(
        git(dir, 'log', '-1', '--format=%an <%ae>', 'HEAD~1').trim(),
        'Łukasz Wiśniewski <lukasz@example.org>',
      );
      assert.equal(git(dir, 'log', '-1', '--format=%B', 'HEAD~2').trim(), fx.commits[0]!.commit.message);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses merge commits, a PR longer than the limit, and a PR that moved while being read', async () => {
    const pr = await fetchPullRequest(client, 7);
    await assert.rejects(
      fetchPrPatches(client, pr, 2),
      (err: unknown) => err instanceof BadInputError && /3 commits, more than the limit of 2/.test(err.message),
    );
    await assert.rejects(
      fetchPrPatches(client, { ...pr, commits: null }, 2),
      (err: unknown) => err instanceof BadInputError && /more than 2/.test(err.message),
    );
    await assert.rejects(fetchPrPatches(client, { ...pr, head: { ...pr.head, sha: 'f'.repeat(40) } }, 500), InfraError);

    const merge = structuredClone(loadPrFixture());
    merge.number = 8;
    merge.commits[1]!.parents.push({ sha: merge.base.sha, url: '' });
    gh.addPullRequest(merge);
    await assert.rejects(
      loadPrSeries(client, 8, limits),
      (err: unknown) => err instanceof BadInputError && /merge commit 2aa57ba6234e/.test(err.message),
    );
  });

  it('reports a PR that does not exist as bad input with a hint', async () => {
    await assert.rejects(
      fetchPullRequest(client, 99),
      (err: unknown) =>
        err instanceof BadInputError &&
        /kdev\/linux#99.*404/.test(err.message) &&
        /private repository/.test(err.hint ?? ''),
    );
  });

  it('keeps the patch bytes: parseMbox of the mbox holds GitHub’s patch text', async () => {
    const { mbox } = await loadPrSeries(client, 7, limits);
    const series = await parseMbox(mbox, limits);
    const raw = Buffer.from(series.patches[1]!.rawBase64, 'base64').toString('utf8');
    const original = readFileSync(
      fixturePath('github', 'pr', '2aa57ba6234e034fc4f795040d3a178c66f4e828.patch'),
      'utf8',
    );
    assert.ok(
      raw.endsWith(original.slice(original.indexOf('\n\n') + 2)),
      'the body after the headers is GitHub’s, byte for byte',
    );
    assert.match(raw, /^From: =\?UTF-8\?q\?=C5=81ukasz=20Wi=C5=9Bniewski\?= <lukasz@example.org>$/m);
    assert.match(raw, /^Subject: \[PATCH 2\/3\] net: skbuff: document/m);
    assert.doesNotMatch(raw, /^Subject: \[PATCH\] /m);
  });
});
