import { availableParallelism, homedir, totalmem } from 'node:os';
import { join } from 'node:path';
import { ArtifactStore } from '../artifacts/store.js';
import type { Config } from '../config/schema.js';
import type { BuildEnv } from './kernel.js';
import type { Toolchain } from './toolchain.js';

/** ccache is worth keeping across data directories (and CI runs): by default it lives in the user's cache. */
export function ccacheDir(config: Config): string {
  return config.build.ccacheDir ?? join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'ksci', 'ccache');
}

/** Where and how builds run on this worker, from the config. */
export function buildEnv(
  config: Config,
  toolchain: Toolchain,
  arch: string,
  deps: Pick<BuildEnv, 'log' | 'signal' | 'onProgress'>,
): BuildEnv {
  const b = config.build;
  return {
    arch,
    toolchain,
    jobs: b.jobs > 0 ? b.jobs : availableParallelism(),
    cacheDir: join(config.dataDir, 'cache'),
    ccacheDir: ccacheDir(config),
    ccacheMaxSize: b.ccacheMaxSize,
    limits: {
      timeoutMs: b.timeoutMinutes * 60_000,
      cpuSeconds: b.cpuSecondsPerProcess,
      fileBytes: Math.round(b.maxFileGiB * 2 ** 30),
      buildDirBytes: Math.round(b.maxBuildDirGiB * 2 ** 30),
      memoryBytes: b.memoryGiB !== null ? Math.round(b.memoryGiB * 2 ** 30) : Math.round(totalmem() * 0.75),
      pids: b.maxProcesses,
      tmpBytes: Math.round(b.tmpGiB * 2 ** 30),
    },
    artifacts: new ArtifactStore(join(config.dataDir, 'artifacts')),
    ...deps,
  };
}
