import { type DestinationStream, pino, type Logger } from 'pino';

export type { DestinationStream, Logger };

/**
 * Structured JSON logs on stderr; stdout is kept for what the user asked for
 * (reports, status tables). KSCI_LOG_LEVEL picks the level (default info).
 * `destination` sends them elsewhere: `ksci run` on a terminal writes them
 * to a file and shows a live view on stderr instead.
 */
export function createLogger(
  name: string,
  level = process.env['KSCI_LOG_LEVEL'] ?? 'info',
  destination: DestinationStream = pino.destination(2),
): Logger {
  return pino({ name, level, base: { pid: process.pid } }, destination);
}

/** A logger that drops everything: for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
