import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from '../log.js';
import { gitAt, gitFailure } from '../tree/git.js';
import { withLock } from '../tree/lock.js';
import type { PreparedTree } from '../tree/trees.js';

/**
 * One full checkout per tree, kept between builds. Moving it from commit to
 * commit with `git checkout` rewrites only the files that differ, so their
 * mtimes are the only ones that change and make rebuilds only what a series
 * touched. The build itself sees it read-only.
 */
export class SourceTree {
  readonly dir: string;

  constructor(
    private readonly tree: PreparedTree,
    cacheDir: string,
    private readonly log: Logger,
  ) {
    this.dir = join(cacheDir, 'build', 'src', tree.name);
  }

  /** Holds the checkout for the duration of `fn`: one build per checkout at a time. */
  async use<T>(fn: (checkout: (commit: string) => Promise<void>) => Promise<T>, signal?: AbortSignal): Promise<T> {
    mkdirSync(dirname(this.dir), { recursive: true });
    return withLock(`${this.dir}.lock`, () => fn((commit) => this.checkout(commit, signal)), {
      signal,
      timeoutMs: 6 * 3600_000,
    });
  }

  private async checkout(commit: string, signal?: AbortSignal): Promise<void> {
    try {
      if (!existsSync(join(this.dir, '.git'))) {
        this.log.info(
          { tree: this.tree.name, dir: this.dir },
          'checking out the tree for builds (once per tree; takes a minute or two)',
        );
        const bare = gitAt(this.tree.gitDir, signal);
        await bare.raw(['worktree', 'prune']);
        await bare.raw(['worktree', 'add', '--detach', '--force', '--quiet', this.dir, commit]);
        return;
      }
      const wt = gitAt(this.dir, signal);
      // A build never writes here (the sandbox mounts it read-only); clean
      // anyway, so nothing but the commit's own files can reach a build.
      await wt.raw(['checkout', '--detach', '--force', '--quiet', commit]);
      await wt.raw(['clean', '-ffdxq']);
    } catch (err) {
      throw gitFailure(`checking out ${commit.slice(0, 12)} for a build`, err, signal);
    }
  }
}
