import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config, TreeConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { gitAt } from '../tree/git.js';
import { ensureTree, type PreparedTree } from '../tree/trees.js';
import type { TreeProbe } from './tree.js';

/**
 * Routing's questions answered by git on ksci's own mirrors (the ones the
 * apply stage uses). A tree is fetched at most once per probe, so one
 * submission asks each tree once. A tree that cannot be fetched answers
 * "no" and is logged: routing then falls through to the next rule.
 */
export function gitTreeProbe(config: Config, log: Logger, opts: { freshForMs?: number } = {}): TreeProbe {
  const freshFor = opts.freshForMs ?? 5 * 60_000;
  const prepared = new Map<string, { at: number; tree: Promise<PreparedTree | null> }>();
  // One probe serves every submission: a tree is fetched at most once per freshForMs, not per series.
  const prepare = (tree: TreeConfig) => {
    let p = prepared.get(tree.name);
    if (!p || Date.now() - p.at > freshFor) {
      p = {
        at: Date.now(),
        tree: ensureTree(tree, { cacheDir: join(config.dataDir, 'cache'), log }).catch((err) => {
          log.warn({ tree: tree.name, err: errorMessage(err) }, 'routing: tree unavailable; skipping it');
          return null;
        }),
      };
      prepared.set(tree.name, p);
    }
    return p.tree;
  };
  return {
    async hasCommit(tree, commit) {
      const t = await prepare(tree);
      if (!t || !/^[0-9a-f]{7,64}$/i.test(commit)) return false;
      try {
        // Not --quiet: simple-git only fails a command that exits non-zero with something on stderr.
        const full = (await gitAt(t.gitDir).raw(['rev-parse', '--verify', `${commit}^{commit}`])).trim();
        // On the branch, not merely in the mirror: a rebased tree keeps its old commits around.
        const base = (await gitAt(t.gitDir).raw(['merge-base', full, `refs/heads/${t.branch}`])).trim();
        return base === full;
      } catch {
        return false;
      }
    },
    async applies(tree, series) {
      const t = await prepare(tree);
      if (!t) return false;
      // A private index in a temp dir: `git apply --cached` then needs no worktree, and the mirror is untouched.
      const dir = mkdtempSync(join(tmpdir(), 'ksci-route-'));
      try {
        const git = gitAt(t.gitDir, undefined, { GIT_INDEX_FILE: join(dir, 'index') });
        await git.raw(['read-tree', t.branch]);
        for (const p of series.patches) {
          const file = join(dir, `${p.counter}.patch`);
          writeFileSync(file, Buffer.from(p.rawBase64, 'base64'));
          await git.raw(['apply', '--cached', file]);
        }
        return true;
      } catch {
        return false;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
