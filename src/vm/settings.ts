import { existsSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { sandboxAvailable } from '../sandbox/run.js';
import type { Suite } from '../suite/suite.js';

/** Why this host cannot run VMs (the sandbox, QEMU, the guest's userspace), or null when it can. */
export async function vmHostProblem(config: Config): Promise<string | null> {
  const sandbox = await sandboxAvailable();
  if (!sandbox.ok) return `bubblewrap cannot create its sandbox here: ${sandbox.why}`;
  const missing = ['/usr/bin/qemu-system-x86_64', config.test.busybox, '/usr/bin/cpio'].filter((f) => !existsSync(f));
  if (missing.length) return `missing ${missing.join(', ')} (apt-get install qemu-system-x86 busybox-static cpio)`;
  return null;
}

/** How the config (and the suite's own vm settings) says a suite's VMs run: what the test stage and `ksci test` share. */
export function vmSettings(config: Config, suite: Suite) {
  const t = config.test;
  return {
    memoryMiB: suite.vm.memoryMiB ?? t.memoryMiB,
    cpus: suite.vm.cpus ?? t.cpus,
    accel: t.accel,
    limits: {
      bootTimeoutMs: t.bootTimeoutSeconds * 1000,
      runTimeoutMs: t.runTimeoutMinutes * 60_000,
      testGraceMs: t.testGraceSeconds * 1000,
      maxOutputBytes: Math.round(t.maxOutputMiB * 2 ** 20),
    },
    busybox: t.busybox,
    retries: t.retries,
    maxBoots: t.maxBoots,
    parallel: t.parallel,
  };
}
