/**
 * Error kinds and the process exit codes they map to. Scripts around ksci
 * (cron jobs, bots) branch on the exit code, so every failure names its kind:
 * a series that fails is not the same event as Redis being down.
 */
export const EXIT = {
  ok: 0,
  /** The pipeline ran and the series failed (conflict, build error, new test failures). */
  verdictFail: 1,
  /** Wrong command line or configuration. */
  usage: 2,
  /** The input (mbox, patch, series) is malformed or refused. */
  badInput: 3,
  /** Infrastructure failed (Redis, database, git, a worker): retry later. */
  infra: 4,
  /** The run was cancelled or superseded. */
  cancelled: 5,
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export type ErrorKind = 'usage' | 'bad-input' | 'infra' | 'cancelled';

export class KsciError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** What the user can do about it; printed after the message. */
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KsciError';
  }

  get exitCode(): ExitCode {
    return EXIT_OF_KIND[this.kind];
  }
}

const EXIT_OF_KIND: Record<ErrorKind, ExitCode> = {
  usage: EXIT.usage,
  'bad-input': EXIT.badInput,
  infra: EXIT.infra,
  cancelled: EXIT.cancelled,
};

/** Malformed or refused input: never retried, reported to the submitter. */
export class BadInputError extends KsciError {
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super('bad-input', message, hint, options);
    this.name = 'BadInputError';
  }
}

export class UsageError extends KsciError {
  constructor(message: string, hint?: string) {
    super('usage', message, hint);
    this.name = 'UsageError';
  }
}

/** Something outside the series broke; the queue retries these with backoff. */
export class InfraError extends KsciError {
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super('infra', message, hint, options);
    this.name = 'InfraError';
  }
}

export class CancelledError extends KsciError {
  constructor(message = 'cancelled') {
    super('cancelled', message);
    this.name = 'CancelledError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
