import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sandboxAvailable } from '../sandbox/run.js';
import { repoRoot } from './paths.js';

/**
 * Why the tests that boot real VMs cannot run here, or false when they can.
 * With KSCI_REQUIRE_E2E=1 (CI) they never skip: a missing tool then fails
 * them instead of hiding them. `extraTools` are host binaries a suite needs besides QEMU's.
 */
export async function vmTestSkip(extraTools: string[] = []): Promise<string | false> {
  if (process.env['KSCI_REQUIRE_E2E'] === '1') return false;
  const sandbox = await sandboxAvailable();
  if (!sandbox.ok) return 'bubblewrap cannot run here';
  const missing = ['/usr/bin/qemu-system-x86_64', '/bin/busybox', '/usr/bin/cpio', ...extraTools].filter(
    (f) => !existsSync(f),
  );
  return missing.length ? `missing ${missing.join(', ')}` : false;
}

/** A bootable 6.12 bzImage: $KSCI_TEST_KERNEL, else Debian's prebuilt one (scripts/test-kernel.sh fetches it once). */
export function testKernel(): string {
  return (
    process.env['KSCI_TEST_KERNEL'] ||
    execFileSync(join(repoRoot, 'scripts', 'test-kernel.sh'), {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim()
  );
}
