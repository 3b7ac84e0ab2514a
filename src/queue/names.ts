/**
 * Every queue ksci has, by what it carries. One place, so that a worker, a
 * submitter and `ksci status` can never disagree on a name.
 */
export const QUEUES = {
  /** mboxes submitted to a running coordinator (`ksci submit`). */
  ingest: 'ksci-ingest',
  /** Scheduled polls of lore lists. */
  lore: 'ksci-lore',
  /** GitHub webhook deliveries, polls and publishes. */
  github: 'ksci-github',
  /** Replies to lists, one job per finished run. */
  email: 'ksci-email',
  /** Nightly measurements of tree heads. */
  nightly: 'ksci-nightly',
  /** Single VM boots, for VM hosts (test.vmHosts: queue). */
  vm: 'ksci-vm',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** A pipeline stage's queue: one per stage, or one per variant (ksci-build.x86_64-gcc). */
export function stageQueueName(stage: string, variant?: string): string {
  return variant ? `ksci-${stage}.${variant}` : `ksci-${stage}`;
}
