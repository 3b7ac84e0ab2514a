import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Synchronous git for building test repositories; fixed identity and dates keep ids stable. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'Jane Developer',
      GIT_AUTHOR_EMAIL: 'jane@example.org',
      GIT_COMMITTER_NAME: 'Jane Developer',
      GIT_COMMITTER_EMAIL: 'jane@example.org',
      GIT_AUTHOR_DATE: '2024-11-05T10:00:00Z',
      GIT_COMMITTER_DATE: '2024-11-05T10:00:00Z',
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: cwd,
    },
  });
}

export function writeFiles(root: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

/** The base of kernelishRepoWithSeries alone: one commit, the tree the GitHub PR fixture's patches apply to. Returns its id. */
export function kernelishBase(dir: string): string {
  mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q', '-b', 'master');
  writeFiles(dir, {
    'net/core/skbuff.c': 'int skb_alloc(void)\n{\n\treturn 0;\n}\n',
    'include/linux/skbuff.h': '#ifndef _LINUX_SKBUFF_H\n#define _LINUX_SKBUFF_H\nint skb_alloc(void);\n#endif\n',
  });
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'Initial import');
  return git(dir, 'rev-parse', 'HEAD').trim();
}

/**
 * A small kernel-shaped repository with one commit, and a 2-patch series on
 * top of it produced by real `git format-patch --cover-letter` (returned as
 * one mbox). The repository is left at the base commit.
 */
export function kernelishRepoWithSeries(dir: string): { mbox: string; base: string } {
  const base = kernelishBase(dir);
  git(dir, 'checkout', '-q', '-b', 'series');
  writeFiles(dir, { 'net/core/skbuff.c': 'int skb_alloc(void)\n{\n\treturn 1;\n}\n' });
  git(
    dir,
    'commit',
    '-q',
    '-a',
    '-m',
    'net: skbuff: return 1 from skb_alloc\n\nSigned-off-by: Jane Developer <jane@example.org>',
  );
  writeFiles(dir, {
    'include/linux/skbuff.h':
      '#ifndef _LINUX_SKBUFF_H\n#define _LINUX_SKBUFF_H\n/* allocate */\nint skb_alloc(void);\n#endif\n',
  });
  git(
    dir,
    'commit',
    '-q',
    '-a',
    '-m',
    'net: skbuff: document skb_alloc\n\nSigned-off-by: Jane Developer <jane@example.org>',
  );
  const mbox = git(
    dir,
    'format-patch',
    '--stdout',
    '--cover-letter',
    '--subject-prefix=PATCH net-next',
    '-v2',
    `${base}..series`,
  );
  git(dir, 'checkout', '-q', 'master');
  return { mbox, base };
}
