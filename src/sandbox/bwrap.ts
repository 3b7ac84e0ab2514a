import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SandboxIdentity } from './identity.js';

export interface Bind {
  host: string;
  /** Where it appears inside the sandbox. */
  inside: string;
  writable: boolean;
}

export interface SandboxLimits {
  /** RLIMIT_CPU of each process: a host tool spinning forever dies on its own. */
  cpuSeconds: number;
  /** RLIMIT_FSIZE: no single file larger than this. */
  fileBytes: number;
  /** Tasks (processes and threads) at once: cgroup pids.max, else RLIMIT_NPROC. */
  pids?: number;
  /** Memory of all its processes together (tmpfs pages included): cgroup memory; not capped where no cgroup can be made. */
  memoryBytes?: number;
  /** The private /tmp and /dev/shm: tmpfs of this size (host RAM otherwise). */
  tmpBytes?: number;
  shmBytes?: number;
}

export const DEFAULT_LIMITS = {
  pids: 4096,
  memoryBytes: 8 * 2 ** 30,
  tmpBytes: 2 * 2 ** 30,
  shmBytes: 64 * 2 ** 20,
} as const;

export interface SandboxSpec {
  binds: Bind[];
  /** Working directory inside the sandbox. */
  cwd: string;
  /** The whole environment: nothing of the worker's (tokens, REDIS_URL...) leaks in. */
  env: Record<string, string>;
  argv: string[];
  /** Host device nodes passed through (QEMU's /dev/kvm); builds get none. */
  devices?: string[];
  limits: SandboxLimits;
}

/** Facts of this run the command line depends on, decided by run.ts. */
export interface SandboxContext {
  identity: SandboxIdentity;
  /** The fd (in bwrap) its seccomp program is read from. */
  seccompFd: number;
  /** No cgroup caps the process count: RLIMIT_NPROC does, for the sandbox's uid. */
  nprocLimit: boolean;
  /** Supplementary groups the command keeps (the device nodes' groups: /dev/kvm is root:kvm 0660). */
  groups: number[];
}

/** The system's toolchain, read-only; nothing else of the host. */
const SYSTEM_DIRS = ['/usr'];
const ETC_FILES = [
  '/etc/alternatives',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/passwd',
  '/etc/group',
  '/etc/localtime',
];
const TOP_LINKS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/**
 * bubblewrap's command line for untrusted code: its own pid, network (only
 * a loopback of its own), IPC and UTS namespaces; no capabilities; the
 * seccomp filter of seccomp.ts; the host's /usr read-only, a size-capped
 * /tmp and /dev/shm, a minimal /dev, /proc of its own with /proc/sys
 * read-only, no /sys; only the given directories visible. The worker's
 * home, data directory, Redis and database sockets do not exist inside.
 *
 * The command never runs as host root (see identity.ts): as root, bwrap
 * keeps CAP_SETUID/CAP_SETGID only for setpriv, which drops to the sandbox
 * user before anything untrusted starts; unprivileged, bwrap's own user
 * namespace already holds no host privilege. Limits are applied by prlimit
 * inside, so they bind make and everything it starts.
 */
export function bwrapArgs(
  spec: SandboxSpec,
  ctx: SandboxContext,
  host: { exists(p: string): boolean; symlinkTarget(p: string): string | null } = realHost,
): string[] {
  const root = ctx.identity.mode === 'sandbox-user';
  // As root, no user namespace: bwrap would map uid 0 to host root, which is what this avoids.
  const args = root
    ? [
        '--unshare-ipc',
        '--unshare-pid',
        '--unshare-net',
        '--unshare-uts',
        '--unshare-cgroup-try',
        '--cap-drop',
        'ALL',
        '--cap-add',
        'CAP_SETUID',
        '--cap-add',
        'CAP_SETGID',
      ]
    : ['--unshare-all', '--unshare-user', '--cap-drop', 'ALL'];
  args.push('--die-with-parent', '--new-session', '--hostname', 'ksci-sandbox', '--seccomp', String(ctx.seccompFd));
  for (const d of SYSTEM_DIRS) args.push('--ro-bind', d, d);
  for (const l of TOP_LINKS) {
    if (!host.exists(l)) continue;
    const target = host.symlinkTarget(l);
    if (target !== null) args.push('--symlink', target, l);
    else args.push('--ro-bind', l, l);
  }
  // bwrap makes missing mount points 0700 as root: /etc would be unreadable to the sandbox user.
  args.push('--perms', '0755', '--dir', '/etc');
  for (const f of ETC_FILES) args.push('--ro-bind-try', f, f);
  const lim = { ...DEFAULT_LIMITS, ...spec.limits };
  args.push('--dev', '/dev', '--perms', '1777', '--size', String(lim.shmBytes), '--tmpfs', '/dev/shm');
  args.push(
    '--proc',
    '/proc',
    '--ro-bind',
    '/proc/sys',
    '/proc/sys',
    '--ro-bind-try',
    '/proc/sysrq-trigger',
    '/proc/sysrq-trigger',
  );
  args.push('--perms', '1777', '--size', String(lim.tmpBytes), '--tmpfs', '/tmp');
  // Mount points bwrap would otherwise create 0700 as root: unreadable to the sandbox user.
  for (const d of parentDirs(spec.binds.map((b) => b.inside))) args.push('--perms', '0755', '--dir', d);
  for (const b of spec.binds) args.push(b.writable ? '--bind' : '--ro-bind', b.host, b.inside);
  for (const d of spec.devices ?? []) args.push('--dev-bind', d, d);
  args.push('--chdir', spec.cwd, '--clearenv');
  for (const [k, v] of Object.entries(spec.env)) args.push('--setenv', k, v);
  args.push('--');
  if (ctx.identity.mode === 'sandbox-user') {
    const groups = ctx.groups.length > 0 ? `--groups=${ctx.groups.join(',')}` : '--clear-groups';
    args.push(
      '/usr/bin/setpriv',
      `--reuid=${ctx.identity.uid}`,
      `--regid=${ctx.identity.gid}`,
      groups,
      '--inh-caps=-all',
      '--no-new-privs',
      '--',
    );
  }
  const nproc = ctx.nprocLimit ? [`--nproc=${lim.pids}`] : [];
  args.push(
    '/usr/bin/prlimit',
    `--cpu=${spec.limits.cpuSeconds}`,
    `--fsize=${spec.limits.fileBytes}`,
    '--core=0',
    ...nproc,
    '--',
    ...spec.argv,
  );
  return args;
}

/** Directories above the mount points that no bind provides, outermost first. Pure. */
export function parentDirs(mountPoints: string[]): string[] {
  const provided = (d: string) => mountPoints.some((m) => d === m || d.startsWith(`${m}/`));
  const dirs = new Set<string>();
  for (const m of mountPoints) {
    for (let d = dirname(m); d !== '/' && d !== '.'; d = dirname(d)) if (!provided(d)) dirs.add(d);
  }
  return [...dirs].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
}

const realHost = {
  exists: (p: string) => existsSync(p),
  symlinkTarget: (p: string) => (lstatSync(p).isSymbolicLink() ? readlinkSync(p) : null),
};
