import { join } from 'node:path';
import { packageRoot } from '../paths.js';

export const repoRoot = packageRoot;

/** A file under test/fixtures/. */
export function fixturePath(...parts: string[]): string {
  return join(repoRoot, 'test', 'fixtures', ...parts);
}
