import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config, TreeConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Series } from '../series/types.js';
import { gitAt } from '../tree/git.js';
import { ensureTree, type PreparedTree } from '../tree/trees.js';
import type { TreeProbe } from './tree.js';

/**
 * Routing's questions answered by git on ksci's own mirrors (the ones the
 * apply stage uses). A tree is fetched at most once per probe, so one
 * submission asks each tree once. A tree that cannot be fetched answers
 * "no" and is logged: routing then falls through to the next rule.
 */
export function gitTreeProbe(config: Config, log: Logger): TreeProbe {
  const prepared = new Map<string, Promise<PreparedTree | null>>();
  const prepare = (tree: TreeConfig) => {
    let p = prepared.get(tree.name);
    if (!p) {
      p = ensureTree(tree, { cacheDir: join(config.dataDir, 'cache'), log }).catch((err) => {
        log.warn({ tree: tree.name, err: errorMessage(err) }, 'routing: tree unavailable; skipping it');
        return null;
      });
      prepared.set(tree.name, p);
    }
    return p;
  };
  return {
    async hasCommit(tree, commit) {
      const t = await prepare(tree);
      if (!t || !/^[0-9a-f]{7,64}$/i.test(commit)) return false;
      try {
        // Not --quiet: simple-git only fails a command that exits non-zero with something on stderr.
        await gitAt(t.gitDir).raw(['rev-parse', '--verify', `${commit}^{commit}`]);
        return true;
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
