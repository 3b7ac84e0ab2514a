import { BadInputError } from '../errors.js';
import type { DiffFile } from './types.js';

function unquote(p: string): string {
  const q = /^"(.*)"$/.exec(p);
  return q ? q[1]!.replace(/\\(.)/g, '$1') : p;
}

function stripPrefix(p: string): string | null {
  const path = unquote(p.trim().split('\t')[0]!);
  if (path === '/dev/null') return null;
  return path.replace(/^[ab]\//, '');
}

/** Files a patch body touches, from git's extended headers (or plain ---/+++ pairs). */
export function parseDiffFiles(body: string): DiffFile[] {
  const files: DiffFile[] = [];
  let cur: DiffFile | null = null;
  const lines = body.split('\n').map((l) => l.replace(/\r$/, ''));
  const gitStyle = lines.some((l) => l.startsWith('diff --git '));
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (gitStyle) {
      const m = /^diff --git ("?a\/.*?"?) ("?b\/.*"?)$/.exec(line);
      if (m) {
        cur = { oldPath: stripPrefix(m[1]!), newPath: stripPrefix(m[2]!), binary: false, newMode: null };
        files.push(cur);
        continue;
      }
      if (!cur) continue;
      let h: RegExpExecArray | null;
      if ((h = /^new file mode (\d+)/.exec(line))) {
        cur.oldPath = null;
        cur.newMode = h[1]!;
      } else if (/^deleted file mode /.test(line)) cur.newPath = null;
      else if ((h = /^new mode (\d+)/.exec(line))) cur.newMode = h[1]!;
      else if ((h = /^rename from (.*)$/.exec(line))) cur.oldPath = unquote(h[1]!);
      else if ((h = /^rename to (.*)$/.exec(line))) cur.newPath = unquote(h[1]!);
      else if ((h = /^copy to (.*)$/.exec(line))) cur.newPath = unquote(h[1]!);
      else if (line === 'GIT binary patch' || /^Binary files .* differ$/.test(line)) cur.binary = true;
      else if (line.startsWith('--- ') && cur.oldPath !== null) cur.oldPath = stripPrefix(line.slice(4)) ?? cur.oldPath;
      else if (line.startsWith('+++ ')) {
        const p = stripPrefix(line.slice(4));
        if (p !== null && cur.newPath !== null) cur.newPath = p;
      }
    } else if (line.startsWith('--- ') && lines[i + 1]?.startsWith('+++ ')) {
      files.push({
        oldPath: stripPrefix(line.slice(4)),
        newPath: stripPrefix(lines[i + 1]!.slice(4)),
        binary: false,
        newMode: null,
      });
      i++;
    }
  }
  return files;
}

function unsafeReason(path: string): string | null {
  if (path.startsWith('/')) return 'is absolute';
  const parts = path.split('/');
  if (parts.includes('..')) return 'climbs out of the tree (..)';
  if (parts.some((p) => p.toLowerCase() === '.git')) return 'touches .git';
  if (path.includes('\0')) return 'contains a NUL byte';
  return null;
}

/**
 * Patches are untrusted: refuse paths outside the tree, into .git, symlinks
 * and binary content (KernelCI refuses the same).
 */
export function checkPatchSafety(files: DiffFile[], label = 'patch'): void {
  for (const f of files) {
    for (const p of [f.oldPath, f.newPath]) {
      if (p === null) continue;
      const why = unsafeReason(p);
      if (why)
        throw new BadInputError(
          `${label}: path ${p} ${why}; refused`,
          'patches may only touch files inside the kernel tree',
        );
    }
    const name = f.newPath ?? f.oldPath ?? '?';
    if (f.newMode === '120000')
      throw new BadInputError(`${label}: ${name} would be a symlink; refused`, 'symlinks in patches are not accepted');
    if (f.binary)
      throw new BadInputError(`${label}: ${name} is a binary patch; refused`, 'binary patches are not accepted');
  }
}
