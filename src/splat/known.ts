import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { packageRoot } from '../paths.js';
import { parseKnownSplats, type KnownSplat } from './splat.js';

/** The splats a configuration ignores, each with its reason: test.knownSplats, else selftests/known-splats.yaml. */
export function loadKnownSplats(config: Config): KnownSplat[] {
  const file = config.test.knownSplats ?? join(packageRoot, 'selftests', 'known-splats.yaml');
  if (!existsSync(file)) return [];
  return parseKnownSplats(readFileSync(file, 'utf8'), file);
}
