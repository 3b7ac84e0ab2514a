import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createLogger, type Logger } from '../log.js';
import { configureSandboxUser } from '../sandbox/identity.js';
import type { LogFormat } from './log-format.js';
import type { RunView } from './progress.js';

/** What every command is given before its own arguments (the global options). */
export interface ContextOptions {
  /** The configuration file; default: $KSCI_CONFIG, ./ksci.yaml, ~/.config/ksci/config.yaml. */
  configFile?: string;
  /** The data directory, over $KSCI_DATA_DIR and the config's. */
  dataDir?: string;
  logFormat?: LogFormat;
}

/** The live view of a command that draws one, and where its JSON log went instead of stderr. */
export interface LiveView {
  view: RunView;
  logFile: string;
}

/** What a command runs with: the loaded configuration and a logger. */
export interface Context {
  config: Config;
  /** The configuration file read, or null for the embedded defaults. */
  file: string | null;
  log: Logger;
  /** Set only for a command that asked for a live view, when one is drawn (see createContext). */
  live: LiveView | null;
}

/** Whether logs are for a human: asked for, or "auto" and stderr is a terminal. */
export function prettyLogs(format: LogFormat = 'auto', stream: { isTTY?: boolean } = process.stderr): boolean {
  return format === 'pretty' || (format !== 'json' && stream.isTTY === true);
}

/**
 * Loads the configuration, sets up the sandbox user and the data directory,
 * and makes the logger. `live`: the command can show a live view (ksci
 * run). When it does (pretty, or auto on a terminal), the JSON log goes to a
 * file of its own and its warnings and errors to the view; every other
 * command keeps JSON on stderr.
 */
export async function createContext(opts: ContextOptions, { live = false }: { live?: boolean } = {}): Promise<Context> {
  const env = { ...process.env, ...(opts.dataDir ? { KSCI_DATA_DIR: resolve(opts.dataDir) } : {}) };
  const { config, file } = loadConfig({ file: opts.configFile, env });
  configureSandboxUser(config.sandbox.user);
  mkdirSync(config.dataDir, { recursive: true });
  if (!live || !prettyLogs(opts.logFormat)) return { config, file, log: createLogger('ksci'), live: null };
  // The live view's terminal code is loaded only by a command that draws one.
  const { RunView, ttyLogDestination } = await import('./progress.js');
  const view = new RunView(process.stderr);
  // One file per invocation, named so that they sort by time.
  const logFile = join(config.dataDir, 'logs', `${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
  const log = createLogger('ksci', undefined, ttyLogDestination({ file: logFile, onWarn: (line) => view.note(line) }));
  return { config, file, log, live: { view, logFile } };
}
