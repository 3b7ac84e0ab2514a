import { simpleGit, type SimpleGit } from 'simple-git';
import { CancelledError, InfraError, errorMessage } from '../errors.js';

/**
 * simple-git with what every ksci git call wants: no hooks, no
 * prompts, no foreground auto-gc (minutes on a kernel tree), a fixed
 * committer, and the run's abort signal wired in.
 */
export function gitAt(dir: string, signal?: AbortSignal, env: Record<string, string> = {}): SimpleGit {
  return simpleGit({
    baseDir: dir,
    ...(signal ? { abort: signal } : {}),
    // We set hooksPath ourselves, to disable hooks: patches are untrusted.
    unsafe: { allowUnsafeHooksPath: true },
    allowEnvironment: [
      'GIT_TERMINAL_PROMPT',
      'GIT_DIR',
      'GIT_WORK_TREE',
      'GIT_INDEX_FILE',
      'GIT_AUTHOR_NAME',
      'GIT_AUTHOR_EMAIL',
      'GIT_AUTHOR_DATE',
      'GIT_COMMITTER_NAME',
      'GIT_COMMITTER_EMAIL',
      'GIT_COMMITTER_DATE',
    ],
    config: [
      'core.hooksPath=/dev/null',
      'gc.auto=0',
      'user.name=ksci',
      'user.email=ksci@localhost',
      'advice.detachedHead=false',
    ],
  }).env({
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: process.env['HOME'] ?? '/',
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C',
    ...env,
  });
}

/** Turns simple-git's errors into ksci's kinds. */
export function gitFailure(what: string, err: unknown, signal?: AbortSignal): Error {
  if (signal?.aborted) return new CancelledError(`${what}: cancelled`);
  return new InfraError(
    `${what}: ${errorMessage(err)}`,
    'check the tree cache (KSCI_DATA_DIR/cache/trees) and disk space',
    { cause: err },
  );
}
