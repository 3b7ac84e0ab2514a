import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { availableParallelism, machine } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type ToolchainName = 'gcc' | 'llvm';

export interface Toolchain {
  name: ToolchainName;
  /** First line of --version of each tool: the identity of the compiler for caches. */
  versions: Record<string, string>;
  /** name + short hash of `versions`: a compiler upgrade means new build directories and artifacts. */
  id: string;
  /** make variables that select it. */
  makeVars: string[];
}

/** What a build worker offers; jobs are routed to workers whose capabilities fit. */
export interface Capabilities {
  arch: string;
  toolchains: Toolchain[];
  cores: number;
  sandbox: boolean;
}

const TOOLS: Record<ToolchainName, { probe: string[]; makeVars: string[] }> = {
  gcc: { probe: ['gcc', 'ld', 'make'], makeVars: ['CC=ccache gcc', 'HOSTCC=ccache gcc'] },
  llvm: { probe: ['clang', 'ld.lld', 'make'], makeVars: ['LLVM=1', 'CC=ccache clang', 'HOSTCC=ccache clang'] },
};

async function version(tool: string): Promise<string | null> {
  try {
    const { stdout } = await run(tool, ['--version'], { timeout: 10_000 });
    return stdout.split('\n')[0]?.trim() ?? null;
  } catch {
    return null;
  }
}

export async function detectToolchain(name: ToolchainName): Promise<Toolchain | null> {
  const versions: Record<string, string> = {};
  for (const tool of TOOLS[name].probe) {
    const v = await version(tool);
    if (v === null) return null;
    versions[tool] = v;
  }
  const id = createHash('sha256').update(JSON.stringify(versions)).digest('hex').slice(0, 12);
  return { name, versions, id: `${name}-${id}`, makeVars: TOOLS[name].makeVars };
}

/** Kernel ARCH names for the machine names node reports. */
export function kernelArch(m: string = machine()): string {
  return m === 'amd64' ? 'x86_64' : m;
}

export async function detectCapabilities(opts: { sandbox: boolean }): Promise<Capabilities> {
  const found = await Promise.all((['gcc', 'llvm'] as const).map((t) => detectToolchain(t)));
  return {
    arch: kernelArch(),
    toolchains: found.filter((t): t is Toolchain => t !== null),
    cores: availableParallelism(),
    sandbox: opts.sandbox,
  };
}
