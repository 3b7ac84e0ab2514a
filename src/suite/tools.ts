import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { InfraError } from '../errors.js';
import type { Suite } from './suite.js';

const execFileP = promisify(execFile);

export interface BuiltTool {
  name: string;
  /** The static binary on this machine. */
  path: string;
}

/**
 * Builds a suite's own C tools (suite.yaml `tools:`) statically with the
 * host's cc, once per source and compiler: a static binary runs in any
 * guest (busybox has no libc of its own) and on any x86_64 test host. These
 * are ksci's sources, not a series', so they build outside the sandbox.
 */
export async function buildSuiteTools(suite: Suite, cacheDir: string): Promise<BuiltTool[]> {
  if (suite.tools.length === 0) return [];
  const cc = process.env['CC'] || 'cc';
  let version: string;
  try {
    version = (await execFileP(cc, ['--version'])).stdout;
  } catch {
    throw new InfraError(`suite ${suite.name} needs a C compiler for its tools (${suite.tools.map((t) => t.name).join(', ')}), and "${cc}" does not run`, 'apt-get install build-essential');
  }
  const built: BuiltTool[] = [];
  for (const tool of suite.tools) {
    const source = join(suite.dir, tool.source);
    const key = createHash('sha256').update(version).update('\0').update(readFileSync(source)).digest('hex').slice(0, 16);
    const dir = join(cacheDir, 'tools', key);
    const out = join(dir, tool.name);
    if (!existsSync(out)) {
      mkdirSync(dir, { recursive: true });
      try {
        await execFileP(cc, ['-static', '-O2', '-Wall', '-o', `${out}.tmp`, source], { maxBuffer: 4 << 20 });
      } catch (err) {
        const e = err as { stderr?: string };
        throw new InfraError(`building ${tool.name} of suite ${suite.name} from ${source} failed:\n${(e.stderr ?? String(err)).trim()}`, 'static linking needs libc6-dev (build-essential)');
      }
      renameSync(`${out}.tmp`, out);
    }
    built.push({ name: tool.name, path: out });
  }
  return built;
}
