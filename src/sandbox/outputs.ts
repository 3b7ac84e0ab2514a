import { closeSync, constants, copyFileSync, fstatSync, lstatSync, openSync, readFileSync, type Stats } from 'node:fs';
import { join, relative } from 'node:path';
import { BadInputError } from '../errors.js';

/**
 * Reading what a sandboxed run left in a directory it could write. Every
 * name in it is the run's to choose: a build that replaced build products
 * with symlinks to /etc/shadow or ~/.ssh would otherwise have the worker
 * (root) read, store and ship those files. So no component below the
 * directory may be a symlink, and the file must be a regular file.
 *
 * Checking components with lstat and then opening is only race-free once no
 * sandboxed process is left: runSandboxed returns after its pid namespace
 * and cgroup are empty, and nothing else can reach the directory.
 */
export class RefusedOutputError extends BadInputError {
  constructor(
    readonly path: string,
    why: string,
  ) {
    // The series' fault (its build chose what the name is): a failed outcome, never retried.
    super(
      `refused to read the build output ${path}: ${why}`,
      'a build may only leave its own regular files where ksci collects outputs; a link there reads as an attempt on the host',
    );
    this.name = 'RefusedOutputError';
  }
}

/** The host path of `rel` under `root`, after checking no component of it is a symlink. */
export function outputPath(root: string, rel: string): string {
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new RefusedOutputError(join(root, rel), 'the name leaves the output directory');
  let p = root;
  for (const part of parts) {
    p = join(p, part);
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch {
      return join(root, ...parts); // Missing: the caller's open or exists check says so.
    }
    if (st.isSymbolicLink())
      throw new RefusedOutputError(join(root, rel), `${relative(root, p) || p} is a symbolic link`);
  }
  return p;
}

/** Opens a file for reading without following a final symlink; it must be a regular file. Returns the fd. */
export function openRegular(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new RefusedOutputError(path, 'it is a symbolic link');
    throw err;
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new RefusedOutputError(path, 'it is not a regular file (a FIFO or device would block or leak)');
  }
  return fd;
}

/** Reads an output file under `root` (see outputPath). */
export function readOutput(root: string, rel: string): string {
  const fd = openRegular(outputPath(root, rel));
  try {
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Copies an opened regular file: through /proc/self/fd, so the copy is of
 * the file checked, and a reflink where the filesystem offers one.
 */
export function copyRegular(from: string, to: string): number {
  const fd = openRegular(from);
  try {
    copyFileSync(`/proc/self/fd/${fd}`, to, constants.COPYFILE_FICLONE);
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}
