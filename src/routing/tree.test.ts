import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigSchema, type TreeConfig } from '../config/schema.js';
import { silentLogger } from '../log.js';
import { parseMbox } from '../series/load.js';
import type { Series } from '../series/types.js';
import { git, kernelishRepoWithSeries, writeFiles } from '../testing/git.js';
import { gitTreeProbe } from './probe.js';
import { routeTree, type TreeProbe } from './tree.js';

const limits = { maxMboxBytes: 64 << 20, maxMessageBytes: 10 << 20, maxPatches: 500 };

function config(dataDir: string, extra: Record<string, unknown> = {}) {
  return ConfigSchema.parse({
    dataDir,
    trees: [
      { name: 'net', source: { kind: 'git', url: join(dataDir, 'net') }, tags: ['net'] },
      { name: 'net-next', source: { kind: 'git', url: join(dataDir, 'net-next') }, tags: ['net-next'] },
      { name: 'bpf-next', source: { kind: 'git', url: join(dataDir, 'bpf-next') }, tags: ['bpf-next'] },
    ],
    defaultTree: 'net-next',
    ...extra,
  });
}

function series(over: Partial<Series>): Series {
  return {
    title: 't',
    version: 1,
    total: 1,
    isRfc: false,
    isResend: false,
    treeTags: [],
    author: { name: 'a', address: 'a@b' },
    messageId: 'm@x',
    cover: null,
    patches: [],
    baseCommit: null,
    changeId: null,
    fingerprint: 'f',
    ...over,
  };
}

/** A probe that answers from tables and records what it was asked. */
function scripted(commits: Record<string, string[]>, applies: string[]): TreeProbe & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async hasCommit(tree: TreeConfig, c: string) {
      asked.push(`commit ${tree.name}`);
      return (commits[tree.name] ?? []).includes(c);
    },
    async applies(tree: TreeConfig) {
      asked.push(`applies ${tree.name}`);
      return applies.includes(tree.name);
    },
  };
}

describe('routeTree', () => {
  const cfg = config('/nonexistent');

  it('a subject tag wins and the trees are not asked', async () => {
    const probe = scripted({}, []);
    const c = await routeTree(series({ treeTags: ['bpf-next'], baseCommit: 'abcdef1' }), cfg, { probe });
    assert.equal(c.tree.name, 'bpf-next');
    assert.equal(c.reason, 'subject tag bpf-next');
    assert.deepEqual(probe.asked, []);
  });

  it('then the tree whose history has the base-commit, in the given order', async () => {
    const probe = scripted({ net: ['abcdef1234'], 'bpf-next': ['abcdef1234'] }, []);
    const c = await routeTree(series({ treeTags: ['foo'], baseCommit: 'abcdef1234' }), cfg, {
      probe,
      order: ['bpf-next', 'net'],
    });
    assert.equal(c.tree.name, 'bpf-next');
    assert.equal(c.reason, 'no tree claims tag foo; base-commit abcdef1234 is in bpf-next');
  });

  it('then the first tree the series applies to, naming what was tried', async () => {
    const probe = scripted({}, ['bpf-next']);
    const c = await routeTree(series({ baseCommit: 'deadbeef' }), cfg, { probe });
    assert.equal(c.tree.name, 'bpf-next');
    assert.equal(
      c.reason,
      'base-commit deadbeef is in none of net, net-next, bpf-next; applies to bpf-next (tried in order: net, net-next, bpf-next)',
    );
    assert.deepEqual(probe.asked, [
      'commit net',
      'commit net-next',
      'commit bpf-next',
      'applies net',
      'applies net-next',
      'applies bpf-next',
    ]);
  });

  it('routing.order narrows the candidates; nothing fits: the default tree, with why', async () => {
    const c = await routeTree(series({}), config('/x', { routing: { order: ['net', 'bpf-next'] } }), {
      probe: scripted({}, []),
    });
    assert.equal(c.tree.name, 'net-next');
    assert.equal(c.reason, 'applies to none of net, bpf-next; default tree');
  });

  it("a list's own trees: the first of them when nothing else decides", async () => {
    const c = await routeTree(series({}), cfg, { order: ['bpf-next'], probe: scripted({}, []) });
    assert.equal(c.tree.name, 'bpf-next');
    assert.equal(c.reason, 'first tree of the list (bpf-next)');
  });

  it('an explicit tree needs no rule; an unknown one is a usage error', async () => {
    assert.equal(
      (await routeTree(series({ treeTags: ['net'] }), cfg, { explicit: 'bpf-next' })).reason,
      'chosen on the command line',
    );
    await assert.rejects(routeTree(series({}), cfg, { explicit: 'nope' }), /no tree named "nope"/);
  });

  it('the config refuses routing and list trees that do not exist', () => {
    const issues = (extra: Record<string, unknown>) => {
      const r = ConfigSchema.safeParse({ ...config('/x'), ...extra });
      return r.success ? [] : r.error.issues.map((i) => i.message);
    };
    assert.deepEqual(issues({ routing: { order: ['nope'] } }), ['routing tree "nope" is not one of the trees']);
    assert.deepEqual(
      issues({
        lore: {
          lists: [{ name: 'bpf', url: 'https://lore.kernel.org/bpf', address: 'bpf@vger.kernel.org', trees: ['nope'] }],
        },
      }),
      ['list bpf: tree "nope" is not one of the trees'],
    );
  });
});

describe('gitTreeProbe on real repositories', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ksci-route-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the base-commit in the right tree and tells which tree the series applies to', async () => {
    // net-next has the series' base; net has diverged so the same patches conflict there.
    const { mbox, base } = kernelishRepoWithSeries(join(dir, 'net-next'));
    git(dir, 'init', '-q', '-b', 'master', 'net');
    writeFiles(join(dir, 'net'), {
      'net/core/skbuff.c': 'int skb_alloc(void)\n{\n\treturn -1;\n}\n',
      'include/linux/skbuff.h': 'different\n',
    });
    git(join(dir, 'net'), 'add', '-A');
    git(join(dir, 'net'), 'commit', '-q', '-m', 'net tree');
    git(dir, 'clone', '-q', join(dir, 'net-next'), 'bpf-next');

    const cfg = config(dir);
    const probe = gitTreeProbe(cfg, silentLogger);
    const s = await parseMbox(Buffer.from(mbox), limits);
    const byName = (n: string) => cfg.trees.find((t) => t.name === n)!;
    assert.equal(await probe.hasCommit(byName('net-next'), base), true);
    assert.equal(await probe.hasCommit(byName('net-next'), base.slice(0, 12)), true, 'abbreviated ids resolve');
    assert.equal(await probe.hasCommit(byName('net'), base), false);
    assert.equal(
      await probe.hasCommit(byName('net'), '--upload-pack=evil'),
      false,
      'not a commit id: never reaches git',
    );
    assert.equal(await probe.applies(byName('net'), s), false);
    assert.equal(await probe.applies(byName('net-next'), s), true);

    const c = await routeTree({ ...s, treeTags: [], baseCommit: null }, cfg, {
      probe,
      order: ['net', 'bpf-next', 'net-next'],
    });
    assert.equal(c.tree.name, 'bpf-next');
    assert.match(c.reason, /^applies to bpf-next/);
  });
});
