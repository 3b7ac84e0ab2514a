import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TreeConfig } from '../config/schema.js';
import { UsageError, errorMessage, InfraError } from '../errors.js';
import type { Logger } from '../log.js';
import { gitAt, gitFailure } from './git.js';
import { withLock } from './lock.js';

const run = promisify(execFile);

export interface PreparedTree {
  name: string;
  /** A bare repository owned by ksci; the user's checkout is never touched. */
  gitDir: string;
  branch: string;
}

interface ImportMarker {
  tarball: string;
  size: number;
  mtimeMs: number;
  commit: string;
}

export async function ensureTree(
  tree: TreeConfig,
  opts: { cacheDir: string; log: Logger; onProgress?: (msg: string) => void; signal?: AbortSignal },
): Promise<PreparedTree> {
  const root = join(opts.cacheDir, 'trees');
  mkdirSync(root, { recursive: true });
  const prepared: PreparedTree = { name: tree.name, gitDir: join(root, `${tree.name}.git`), branch: tree.branch };
  await withLock(
    `${prepared.gitDir}.lock`,
    async () => {
      if (tree.source.kind === 'git') await mirrorGit(prepared, tree.source.url, opts);
      else await importDebianSource(prepared, tree.source.tarball, opts);
    },
    { signal: opts.signal },
  );
  return prepared;
}

async function mirrorGit(
  t: PreparedTree,
  url: string,
  opts: { log: Logger; onProgress?: (m: string) => void; signal?: AbortSignal },
): Promise<void> {
  const refspec = `+refs/heads/${t.branch}:refs/heads/${t.branch}`;
  if (existsSync(join(t.gitDir, 'ksci-ready'))) {
    try {
      await gitAt(t.gitDir, opts.signal).raw(['fetch', '--quiet', url, refspec]);
    } catch (err) {
      if (opts.signal?.aborted) throw gitFailure('fetch', err, opts.signal);
      // Testing on what we have beats not testing; the report names the base commit.
      opts.log.warn({ tree: t.name, url, err: errorMessage(err) }, 'fetch failed; using the mirror as it is');
    }
    return;
  }
  opts.onProgress?.(`cloning ${url}`);
  const tmp = `${t.gitDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  rmSync(t.gitDir, { recursive: true, force: true });
  try {
    await gitAt(join(t.gitDir, '..'), opts.signal).raw(['init', '--quiet', '--bare', tmp]);
    await gitAt(tmp, opts.signal).raw(['fetch', '--quiet', url, refspec]);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (opts.signal?.aborted) throw gitFailure('clone', err, opts.signal);
    throw new InfraError(
      `cannot clone tree ${t.name} from ${url} (branch ${t.branch}): ${errorMessage(err)}`,
      "check the tree's url and branch in the config",
    );
  }
  writeFileSync(join(tmp, 'ksci-ready'), url + '\n');
  renameSync(tmp, t.gitDir);
}

/**
 * Debian's linux-source tarball as a git repository: unpacked, committed
 * with a fixed identity and the tarball's mtime as date (the same tarball
 * always gives the same commit id, so build caches keyed by base commit
 * survive a cache wipe), pushed to the bare repository and tagged.
 */
async function importDebianSource(
  t: PreparedTree,
  tarball: string,
  opts: { log: Logger; onProgress?: (m: string) => void; signal?: AbortSignal },
): Promise<void> {
  let st: Stats;
  try {
    st = statSync(tarball);
  } catch {
    throw new UsageError(`kernel source tarball ${tarball} is missing`, 'apt-get install linux-source-6.12');
  }
  const markerPath = join(t.gitDir, 'ksci-import.json');
  if (existsSync(markerPath)) {
    const m = JSON.parse(readFileSync(markerPath, 'utf8')) as ImportMarker;
    if (m.tarball === tarball && m.size === st.size && m.mtimeMs === st.mtimeMs) return;
  }
  if (!existsSync(join(t.gitDir, 'HEAD')))
    await gitAt(join(t.gitDir, '..'), opts.signal).raw(['init', '--quiet', '--bare', t.gitDir]);

  const work = `${t.gitDir}.import-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const started = Date.now();
  try {
    opts.onProgress?.(`unpacking ${tarball}`);
    opts.log.info({ tree: t.name, tarball }, 'importing kernel source (once per tarball)');
    await run('tar', ['-xf', tarball, '-C', work, '--strip-components=1'], {
      signal: opts.signal,
      maxBuffer: 64 * 1024 * 1024,
    });
    // Debian's top-level .gitignore ignores everything but debian/ ("/*", "!/debian/").
    const gi = join(work, '.gitignore');
    if (existsSync(gi)) {
      writeFileSync(
        gi,
        readFileSync(gi, 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '/*' && l.trim() !== '!/debian/')
          .join('\n'),
      );
    }
    const makefile = readFileSync(join(work, 'Makefile'), 'utf8');
    const v = (k: string) => new RegExp(`^${k}\\s*=\\s*(\\S*)`, 'm').exec(makefile)?.[1] ?? '';
    const kernelVersion = [v('VERSION'), v('PATCHLEVEL'), v('SUBLEVEL')].filter(Boolean).join('.');
    const date = new Date(Math.floor(st.mtimeMs / 1000) * 1000).toISOString();
    // Objects go straight into the bare repository: a separate repo plus
    // a push would write (and pack) the 1.7 GB tree twice.
    const env = {
      GIT_DIR: t.gitDir,
      GIT_WORK_TREE: work,
      GIT_INDEX_FILE: join(t.gitDir, `ksci-import-${process.pid}.index`),
      GIT_AUTHOR_NAME: 'ksci import',
      GIT_AUTHOR_EMAIL: 'ksci@localhost',
      GIT_COMMITTER_NAME: 'ksci import',
      GIT_COMMITTER_EMAIL: 'ksci@localhost',
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_DATE: date,
    };
    const git = gitAt(work, opts.signal, env);
    opts.onProgress?.('committing the tree to git');
    let imported: string;
    try {
      await git.raw(['add', '-A']);
      const tree = (await git.raw(['write-tree'])).trim();
      // A newer tarball (package upgrade) becomes a commit on top of the previous import.
      const head = (
        await git.raw(['rev-parse', '--verify', '--quiet', `refs/heads/${t.branch}`]).catch(() => '')
      ).trim();
      const commit = (
        await git.raw([
          'commit-tree',
          tree,
          ...(head ? ['-p', head] : []),
          '-m',
          `Import Debian linux-source ${kernelVersion}\n\nFrom ${tarball} (${st.size} bytes).`,
        ])
      ).trim();
      await git.raw(['update-ref', `refs/heads/${t.branch}`, commit]);
      await git.raw(['tag', '-f', `debian/${kernelVersion}`, commit]);
      await git.raw(['symbolic-ref', 'HEAD', `refs/heads/${t.branch}`]);
      imported = commit;
    } finally {
      rmSync(env.GIT_INDEX_FILE, { force: true });
    }
    const marker: ImportMarker = { tarball, size: st.size, mtimeMs: st.mtimeMs, commit: imported };
    writeFileSync(`${markerPath}.tmp`, JSON.stringify(marker));
    renameSync(`${markerPath}.tmp`, markerPath);
    opts.log.info(
      { tree: t.name, commit: imported, kernelVersion, seconds: Math.round((Date.now() - started) / 1000) },
      'kernel source imported',
    );
  } catch (err) {
    throw err instanceof UsageError ? err : gitFailure(`importing ${tarball}`, err, opts.signal);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export async function resolveBase(
  tree: PreparedTree,
  baseCommit: string | null,
): Promise<{ commit: string; reason: 'base-commit' | 'branch-head'; note: string | null }> {
  const git = gitAt(tree.gitDir);
  const head = (
    await git.raw(['rev-parse', '--verify', `refs/heads/${tree.branch}^{commit}`]).catch((err) => {
      throw new InfraError(`tree ${tree.name} has no branch ${tree.branch}: ${errorMessage(err)}`);
    })
  ).trim();
  if (baseCommit) {
    const found = await git.raw(['rev-parse', '--verify', '--quiet', `${baseCommit}^{commit}`]).catch(() => '');
    if (found.trim()) return { commit: found.trim(), reason: 'base-commit', note: null };
    return {
      commit: head,
      reason: 'branch-head',
      note: `base-commit ${baseCommit.slice(0, 12)} is not in tree ${tree.name}; applied to ${tree.branch} at ${head.slice(0, 12)}`,
    };
  }
  return { commit: head, reason: 'branch-head', note: null };
}
