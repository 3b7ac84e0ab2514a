import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stderr; stdout is kept for what the user asked for
 * (reports, status tables). KSCI_LOG_LEVEL picks the level (default info).
 */
export function createLogger(name: string, level = process.env['KSCI_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination(2));
}

/** A logger that drops everything: for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
