import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { InfraError } from '../errors.js';
import { copyRegular, outputPath } from '../sandbox/outputs.js';
import { runSandboxed } from '../sandbox/run.js';
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
 * guest (busybox has no libc of its own) and on any x86_64 test host.
 * These are ksci's own sources, but a suites directory is configuration
 * anyone with a config can point elsewhere: they build in the sandbox like
 * everything else, as the sandbox user, with no network.
 */
export async function buildSuiteTools(suite: Suite, cacheDir: string): Promise<BuiltTool[]> {
  if (suite.tools.length === 0) return [];
  const cc = process.env['CC'] || 'cc';
  let version: string;
  try {
    version = (await execFileP(cc, ['--version'])).stdout;
  } catch {
    throw new InfraError(
      `suite ${suite.name} needs a C compiler for its tools (${suite.tools.map((t) => t.name).join(', ')}), and "${cc}" does not run`,
      'apt-get install build-essential',
    );
  }
  const built: BuiltTool[] = [];
  for (const tool of suite.tools) {
    const source = join(suite.dir, tool.source);
    const key = createHash('sha256')
      .update(version)
      .update('\0')
      .update(readFileSync(source))
      .digest('hex')
      .slice(0, 16);
    const dir = join(cacheDir, 'tools', key);
    const out = join(dir, tool.name);
    if (!existsSync(out)) {
      const work = `${dir}.tmp-${process.pid}`;
      rmSync(work, { recursive: true, force: true });
      mkdirSync(work, { recursive: true });
      const logFile = `${work}.log`;
      try {
        const run = await runSandboxed(
          {
            binds: [
              { host: dirname(source), inside: '/ksci/src', writable: false },
              { host: work, inside: '/ksci/out', writable: true },
            ],
            cwd: '/ksci/out',
            env: { PATH: '/usr/bin:/bin', HOME: '/tmp', LC_ALL: 'C' },
            argv: [cc, '-static', '-O2', '-Wall', '-o', `/ksci/out/${tool.name}`, `/ksci/src/${basename(source)}`],
            limits: { cpuSeconds: 300, fileBytes: 256 * 2 ** 20, memoryBytes: 2 * 2 ** 30, pids: 256 },
          },
          { logFile, timeoutMs: 5 * 60_000 },
        );
        const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim() : '';
        if (run.exitCode !== 0 || run.killed)
          throw new InfraError(
            `building ${tool.name} of suite ${suite.name} from ${source} failed:\n${log || run.killed}`,
            'static linking needs libc6-dev (build-essential)',
          );
        mkdirSync(dir, { recursive: true });
        copyRegular(outputPath(work, tool.name), `${out}.tmp`);
        chmodSync(`${out}.tmp`, 0o755);
        renameSync(`${out}.tmp`, out);
      } finally {
        rmSync(work, { recursive: true, force: true });
        rmSync(logFile, { force: true });
      }
    }
    built.push({ name: tool.name, path: out });
  }
  return built;
}
