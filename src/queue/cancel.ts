import type { Redis } from 'ioredis';

/*
 * Cancellation crosses processes, one protocol for everything that can be
 * cancelled: a run (all its stage jobs) or one job (a boot on the ksci-vm
 * queue). The canceller marks the target in Redis, so a job not yet started
 * refuses to run, and publishes it, so the worker running it now aborts it.
 */
export type CancelTarget = { run: string } | { job: string };

const KEY_PREFIX = 'ksci:cancel:';
export const CANCEL_CHANNEL = 'ksci:cancel';
const KEEP_SECONDS = 14 * 24 * 3600;

function keyOf(t: CancelTarget): string {
  return 'run' in t ? `${KEY_PREFIX}run:${t.run}` : `${KEY_PREFIX}job:${t.job}`;
}

export async function requestCancel(redis: Redis, target: CancelTarget, reason: string): Promise<void> {
  await redis.set(keyOf(target), reason, 'EX', KEEP_SECONDS);
  await redis.publish(CANCEL_CHANNEL, JSON.stringify({ ...target, reason }));
}

/** Why the target was cancelled, or null when it was not. */
export async function cancelReason(redis: Redis, target: CancelTarget): Promise<string | null> {
  return redis.get(keyOf(target));
}

/** A message of CANCEL_CHANNEL; null for anything else (a foreign message on the channel is ignored, not fatal). */
export function parseCancelMessage(message: string): { target: CancelTarget; reason: string } | null {
  let v: unknown;
  try {
    v = JSON.parse(message);
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  const reason = typeof o['reason'] === 'string' ? o['reason'] : 'cancelled';
  if (typeof o['run'] === 'string') return { target: { run: o['run'] }, reason };
  if (typeof o['job'] === 'string') return { target: { job: o['job'] }, reason };
  return null;
}

/** Failure reasons of cancelled jobs start with this, so bookkeeping can tell them from errors. */
export const CANCELLED_PREFIX = 'cancelled: ';
