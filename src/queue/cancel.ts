import type { Redis } from 'ioredis';

/*
 * Cancellation crosses processes: the coordinator marks the run in Redis
 * (so jobs not yet started refuse to run) and publishes it (so workers abort
 * the jobs they are running now).
 */
const KEY_PREFIX = 'ksci:cancel:';
export const CANCEL_CHANNEL = 'ksci:cancel';
const KEEP_SECONDS = 14 * 24 * 3600;

export async function requestCancel(redis: Redis, runId: string, reason: string): Promise<void> {
  await redis.set(KEY_PREFIX + runId, reason, 'EX', KEEP_SECONDS);
  await redis.publish(CANCEL_CHANNEL, JSON.stringify({ runId, reason }));
}

export async function cancelReason(redis: Redis, runId: string): Promise<string | null> {
  return redis.get(KEY_PREFIX + runId);
}

export function parseCancelMessage(message: string): { runId: string; reason: string } | null {
  try {
    const v = JSON.parse(message) as unknown;
    if (v && typeof v === 'object' && typeof (v as { runId?: unknown }).runId === 'string') {
      const reason = (v as { reason?: unknown }).reason;
      return { runId: (v as { runId: string }).runId, reason: typeof reason === 'string' ? reason : 'cancelled' };
    }
  } catch {
    // A foreign message on our channel is ignored, not fatal.
  }
  return null;
}

/** Failure reasons of cancelled jobs start with this, so bookkeeping can tell them from errors. */
export const CANCELLED_PREFIX = 'cancelled: ';
