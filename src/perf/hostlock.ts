/**
 * One perf job per bare-metal host at a time, across every ksci worker that
 * shares the Redis: two jobs kexec'ing the same machine would measure (and
 * boot) each other's kernels. The perf stage holds the lock around all the
 * sessions of a job (A B A B), not around each one.
 *
 * The lock is a key set with NX and a TTL, holding a random token. While the
 * holder works it renews the TTL; if the holder dies, the key expires after
 * at most one TTL and the next job takes it. Renewal and release check the
 * token (Lua, atomically), so a holder that lost its lock (paused past the
 * TTL) never extends or deletes its successor's.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { CancelledError } from '../errors.js';

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export function hostLockKey(host: string): string {
  return `ksci:hostlock:${host}`;
}

export interface HostLockOptions {
  /** Stop waiting (CancelledError); once held, also passed on to fn through its signal. */
  signal?: AbortSignal | undefined;
  /** First wait between attempts; doubles up to maxPollMs (default 200 ms → 5 s). */
  pollMs?: number;
  maxPollMs?: number;
  /** Called once when the lock is found held by someone else. */
  onWait?: (holder: string | null) => void;
}

/**
 * Run fn while holding the host's lock; waits while someone else holds it.
 * fn gets a signal that aborts if the lock is lost (renewal found another
 * token or the key gone), or if opts.signal aborts: it should stop then.
 * The lock is released when fn settles, whether it returned or threw.
 */
export async function withHostLock<T>(
  redis: Redis,
  host: string,
  ttlMs: number,
  fn: (signal: AbortSignal) => Promise<T>,
  opts: HostLockOptions = {},
): Promise<T> {
  if (!(ttlMs >= 100)) throw new Error(`host lock ttl must be at least 100 ms, got ${ttlMs}`);
  const key = hostLockKey(host);
  const token = `${process.pid}:${randomBytes(16).toString('hex')}`;
  let wait = opts.pollMs ?? 200;
  const maxWait = opts.maxPollMs ?? 5000;
  let told = false;
  for (;;) {
    if (opts.signal?.aborted) throw new CancelledError(`cancelled while waiting for the lock on host ${host}`);
    const ok = await redis.set(key, token, 'PX', ttlMs, 'NX');
    if (ok === 'OK') break;
    if (!told) {
      told = true;
      opts.onWait?.(await redis.get(key));
    }
    // Jitter so that contenders do not retry in lockstep.
    const delay = Math.round(wait * (0.75 + Math.random() * 0.5));
    try {
      await sleep(delay, undefined, opts.signal ? { signal: opts.signal } : {});
    } catch {
      throw new CancelledError(`cancelled while waiting for the lock on host ${host}`);
    }
    wait = Math.min(wait * 2, maxWait);
  }

  const lost = new AbortController();
  const onOuterAbort = () => lost.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const renewEvery = Math.max(50, Math.floor(ttlMs / 3));
  let renewing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    renewing = (async () => {
      try {
        const r = await redis.eval(RENEW, 1, key, token, String(ttlMs));
        if (r !== 1 && !lost.signal.aborted) lost.abort(new Error(`lost the lock on host ${host}`));
      } catch {
        // Redis unreachable for a moment: try again at the next tick; the TTL covers a few misses.
      }
    })();
  }, renewEvery);
  try {
    return await fn(lost.signal);
  } finally {
    clearInterval(timer);
    opts.signal?.removeEventListener('abort', onOuterAbort);
    await renewing;
    try {
      await redis.eval(RELEASE, 1, key, token);
    } catch {
      // Could not release: the key expires on its own after ttlMs.
    }
  }
}
