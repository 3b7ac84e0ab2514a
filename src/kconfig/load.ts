import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { configHash, parseKconfig, type Fragment } from './fragment.js';

export interface KernelConfig {
  /** The name runs use: "vm", "bpf", ... */
  name: string;
  base: 'tinyconfig' | 'allnoconfig' | 'defconfig';
  fragments: Fragment[];
  /** Host paths of the fragment files, in order. */
  files: string[];
  hash: string;
}

export function kconfigDir(build: BuildConfig): string {
  return build.kconfigDir ?? join(packageRoot, 'kconfigs');
}

/** Reads and checks the fragments of a named config; errors name the file and line. */
export function loadKernelConfig(build: BuildConfig, name: string): KernelConfig {
  const spec = build.configs[name];
  if (!spec)
    throw new UsageError(
      `no kernel config "${name}"`,
      `known configs: ${Object.keys(build.configs).join(', ')} (build.configs in the config file)`,
    );
  const dir = kconfigDir(build);
  const files = spec.fragments.map((f) => join(dir, `${f}.config`));
  const fragments = files.map((file, i) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new UsageError(
        `kconfig fragment ${file} (of config "${name}") cannot be read`,
        `fragments live in ${dir}; build.kconfigDir moves them`,
      );
    }
    parseKconfig(text, file);
    return { name: spec.fragments[i]!, text };
  });
  return { name, base: spec.base, fragments, files, hash: configHash(spec.base, fragments, build.arch) };
}
