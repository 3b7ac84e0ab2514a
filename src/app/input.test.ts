import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigSchema, type Config } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { appKeys, FakeGitHub, loadPrFixture } from '../testing/github-server.js';
import { kernelishRepoWithSeries } from '../testing/git.js';
import { loadInput } from './input.js';

describe('what ksci run accepts', () => {
  let gh: FakeGitHub;
  let dir: string;
  let config: Config;
  before(async () => {
    const keys = appKeys();
    gh = await FakeGitHub.start({ appPublicKey: keys.publicKey });
    gh.addPullRequest(loadPrFixture());
    dir = mkdtempSync(join(tmpdir(), 'ksci-input-'));
    config = ConfigSchema.parse({
      dataDir: dir,
      trees: [{ name: 'net-next', source: { kind: 'git', url: join(dir, 'up') } }],
      defaultTree: 'net-next',
      github: {
        app: { appId: gh.appId, privateKey: keys.privateKey, webhookSecret: 'x', baseUrl: gh.baseUrl },
        repos: [{ repo: 'kdev/linux', tree: 'net-next' }],
      },
      lore: { lookupUrl: null },
    });
  });
  after(async () => {
    await gh?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a pull request URL: its commits as a series, the PR as source and lineage, the repo's tree", async () => {
    const input = await loadInput('https://github.com/kdev/linux/pull/7', config);
    assert.equal(input.series.patches.length, 3);
    assert.deepEqual(input.source, { kind: 'github', ref: 'https://github.com/kdev/linux/pull/7' });
    assert.equal(input.lineage, 'github:kdev/linux#7');
    assert.equal(input.tree, 'net-next');
  });

  it('a file is read as mail; anything else must look like a lore reference', async () => {
    const file = join(dir, 's.mbox');
    writeFileSync(file, kernelishRepoWithSeries(join(dir, 'up')).mbox);
    const input = await loadInput(file, config);
    assert.deepEqual([input.source.kind, input.series.patches.length], ['mbox', 2]);
    await assert.rejects(
      loadInput(join(dir, 'missing.mbox'), config),
      /neither a file, a pull request nor a lore URL or Message-ID/,
    );
    await assert.rejects(loadInput('<someone@example.org>', config), /no list to look <someone@example.org> up on/);
  });

  it('a pull request without credentials says which variable to set', async () => {
    const bare = ConfigSchema.parse({ ...config, github: { tokenEnv: 'KSCI_TEST_NO_SUCH_TOKEN' } });
    await assert.rejects(
      loadInput('https://github.com/kdev/linux/pull/7', bare),
      (err: unknown) =>
        err instanceof UsageError &&
        /needs GitHub credentials/.test(err.message) &&
        /set KSCI_TEST_NO_SUCH_TOKEN to a token/.test(err.hint ?? ''),
    );
  });
});
