import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { ConfigSchema, type Config } from './schema.js';

/**
 * The embedded defaults: a fresh machine with Debian's linux-source-6.12
 * package can test a series with no configuration file at all.
 */
export function embeddedDefaults(env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const xdg = env['XDG_DATA_HOME'] || join(homedir(), '.local', 'share');
  return {
    dataDir: join(xdg, 'ksci'),
    trees: [
      {
        name: 'debian-6.12',
        source: { kind: 'debian-linux-source', tarball: '/usr/src/linux-source-6.12.tar.xz' },
        branch: 'master',
        tags: ['net', 'net-next', 'bpf', 'bpf-next'],
      },
    ],
    defaultTree: 'debian-6.12',
  };
}

/** Where a config file is looked for when none is named: first hit wins. */
export function configSearchPath(env: NodeJS.ProcessEnv = process.env): string[] {
  const xdgConfig = env['XDG_CONFIG_HOME'] || join(homedir(), '.config');
  return [join(process.cwd(), 'ksci.yaml'), join(xdgConfig, 'ksci', 'config.yaml')];
}

export interface LoadedConfig {
  config: Config;
  /** The file that was read, or null for embedded defaults only. */
  file: string | null;
}

/**
 * Load configuration: embedded defaults, overlaid by the file (named, from
 * KSCI_CONFIG, or found on the search path), overlaid by the environment
 * (KSCI_DATA_DIR, REDIS_URL, DATABASE_URL). Every value is validated.
 */
export function loadConfig(opts: { file?: string | undefined; env?: NodeJS.ProcessEnv } = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const named = opts.file ?? env['KSCI_CONFIG'];
  let file: string | null = null;
  if (named) {
    file = resolve(named);
    if (!existsSync(file))
      throw new UsageError(
        `config file ${file} does not exist`,
        'check the path, or unset KSCI_CONFIG to use the embedded defaults',
      );
  } else {
    file = configSearchPath(env).find((p) => existsSync(p)) ?? null;
  }

  const merged: Record<string, unknown> = { ...embeddedDefaults(env) };
  if (file) {
    let parsed: unknown;
    try {
      parsed = YAML.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new UsageError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed))
        throw new UsageError(`config file ${file} must be a YAML mapping`);
      Object.assign(merged, parsed);
    }
  }
  if (env['KSCI_DATA_DIR']) merged['dataDir'] = env['KSCI_DATA_DIR'];
  if (env['REDIS_URL']) merged['redisUrl'] = env['REDIS_URL'];
  if (env['DATABASE_URL']) merged['databaseUrl'] = env['DATABASE_URL'];

  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    throw new UsageError(
      `invalid configuration${file ? ` in ${file}` : ''}:\n${z.prettifyError(result.error)}`,
      'fix the listed keys; "ksci config check" validates a file without running anything',
    );
  }
  const config = result.data;
  config.dataDir = expandHome(config.dataDir, file);
  for (const t of config.trees) {
    if (t.source.kind === 'git' && !/^[a-z+]+:\/\//.test(t.source.url) && !t.source.url.includes('@')) {
      t.source.url = expandHome(t.source.url, file);
    }
  }
  return { config, file };
}

/** `~` is the home directory; relative paths are relative to the config file. */
function expandHome(p: string, file: string | null): string {
  if (p === '~' || p.startsWith('~/')) return join(homedir(), p.slice(1));
  if (isAbsolute(p)) return p;
  return resolve(file ? join(file, '..') : process.cwd(), p);
}
