import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError, InfraError } from '../errors.js';
import { pidAlive } from '../pid.js';

/**
 * A lock directory (mkdir is atomic) holding the owner's pid; a dead
 * owner's lock is broken. Serialises tree preparation between workers on
 * one host.
 */
export async function withLock<T>(
  path: string,
  fn: () => Promise<T>,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30 * 60_000);
  mkdirSync(dirname(path), { recursive: true });
  for (;;) {
    try {
      mkdirSync(path);
      writeFileSync(join(path, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(path, 'pid'), 'utf8'));
      } catch {
        // Being created right now: its pid file is not written yet.
      }
      if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) {
        rmSync(path, { recursive: true, force: true });
        continue;
      }
      if (opts.signal?.aborted) throw new CancelledError('cancelled while waiting for a tree lock');
      if (Date.now() > deadline) throw new InfraError(`timed out waiting for lock ${path} (held by pid ${owner})`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { recursive: true, force: true });
  }
}
