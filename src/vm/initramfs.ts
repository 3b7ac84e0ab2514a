import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { InfraError } from '../errors.js';
import { parseLdd } from '../ldd.js';

const execFileP = promisify(execFile);

export interface InitramfsSpec {
  /** The guest's /init. */
  init: string;
  /** A static busybox: the guest's shell and tools. */
  busybox: string;
  /** Host files copied in as they are. */
  files: { host: string; guest: string }[];
  /** Host executables copied to the same path in the guest, with the shared libraries they load. */
  binaries: string[];
  /** Files written from memory (the plan, the test scripts). */
  generated: { guest: string; content: string; mode?: number }[];
}

/**
 * Builds a gzipped newc initramfs. The kernel's built-in initramfs already
 * provides /dev/console, so this needs no device nodes and no root.
 */
export async function buildInitramfs(spec: InitramfsSpec, outFile: string): Promise<{ bytes: number }> {
  const root = mkdtempSync(join(dirname(outFile), '.initramfs-'));
  try {
    const put = (guest: string, host: string, mode?: number) => {
      const dest = join(root, guest);
      mkdirSync(dirname(dest), { recursive: true });
      copyFileSync(host, dest);
      if (mode !== undefined) chmodSync(dest, mode);
    };
    for (const d of [
      'bin',
      'sbin',
      'usr/bin',
      'usr/sbin',
      'proc',
      'sys',
      'dev',
      'tmp',
      'run',
      'root',
      'ksci/suite',
      'ksci/results',
    ])
      mkdirSync(join(root, d), { recursive: true });
    put('/init', spec.init, 0o755);
    put('/bin/busybox', spec.busybox, 0o755);
    for (const f of spec.files) put(f.guest, f.host);
    const libs = new Set<string>();
    for (const bin of spec.binaries) {
      if (!existsSync(bin))
        throw new InfraError(
          `the guest needs ${bin}, which this host lacks`,
          'install it (scripts/debian-deps.sh lists the packages)',
        );
      put(bin, bin, statSync(bin).mode & 0o777);
      const { stdout } = await execFileP('ldd', [bin]).catch(() => ({ stdout: '' })); // static: "not a dynamic executable"
      for (const l of parseLdd(stdout)) libs.add(l);
    }
    for (const l of libs) put(l, l);
    for (const g of spec.generated) {
      const dest = join(root, g.guest);
      mkdirSync(dirname(dest), { recursive: true });
      writeFileSync(dest, g.content, { mode: g.mode ?? 0o644 });
    }
    await execFileP('sh', [
      '-c',
      'cd "$1" && find . -print0 | LC_ALL=C sort -z | cpio --null --quiet -o -H newc -R 0:0 | gzip -1 > "$2"',
      'sh',
      root,
      outFile,
    ]).catch((err: Error) => {
      throw new InfraError(
        `cannot pack the initramfs: ${err.message}`,
        'are cpio and gzip installed? (apt-get install cpio)',
      );
    });
    return { bytes: statSync(outFile).size };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
