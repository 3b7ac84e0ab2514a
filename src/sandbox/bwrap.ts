import { existsSync, lstatSync, readlinkSync } from 'node:fs';

export interface Bind {
  host: string;
  /** Where it appears inside the sandbox. */
  inside: string;
  writable: boolean;
}

export interface SandboxSpec {
  binds: Bind[];
  /** Working directory inside the sandbox. */
  cwd: string;
  /** The whole environment: nothing of the worker's (tokens, REDIS_URL...) leaks in. */
  env: Record<string, string>;
  argv: string[];
  /** Host device nodes passed through (QEMU's /dev/kvm); builds get none. */
  devices?: string[];
  limits: {
    /** RLIMIT_CPU of each process: a host tool spinning forever dies on its own. */
    cpuSeconds: number;
    /** RLIMIT_FSIZE: no single file larger than this. */
    fileBytes: number;
  };
}

/** The system's toolchain, read-only; nothing else of the host. */
const SYSTEM_DIRS = ['/usr'];
const ETC_FILES = ['/etc/alternatives', '/etc/ld.so.cache', '/etc/ld.so.conf', '/etc/ld.so.conf.d', '/etc/passwd', '/etc/group', '/etc/localtime'];
const TOP_LINKS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/**
 * bubblewrap's command line for an untrusted build: every namespace
 * unshared (no network: only a loopback of its own), no capabilities, a
 * fresh /tmp, /dev and /proc, the host's /usr read-only, and only the
 * given directories visible. The worker's home, data directory, Redis and
 * database sockets do not exist inside. Limits are applied by prlimit
 * inside, so they bind make and everything it starts.
 */
export function bwrapArgs(spec: SandboxSpec, host: { exists(p: string): boolean; symlinkTarget(p: string): string | null } = realHost): string[] {
  const args = ['--unshare-all', '--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--hostname', 'ksci-sandbox'];
  for (const d of SYSTEM_DIRS) args.push('--ro-bind', d, d);
  for (const l of TOP_LINKS) {
    if (!host.exists(l)) continue;
    const target = host.symlinkTarget(l);
    if (target !== null) args.push('--symlink', target, l);
    else args.push('--ro-bind', l, l);
  }
  for (const f of ETC_FILES) args.push('--ro-bind-try', f, f);
  args.push('--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp');
  for (const b of spec.binds) args.push(b.writable ? '--bind' : '--ro-bind', b.host, b.inside);
  for (const d of spec.devices ?? []) args.push('--dev-bind', d, d);
  args.push('--chdir', spec.cwd, '--clearenv');
  for (const [k, v] of Object.entries(spec.env)) args.push('--setenv', k, v);
  args.push('--', '/usr/bin/prlimit', `--cpu=${spec.limits.cpuSeconds}`, `--fsize=${spec.limits.fileBytes}`, '--core=0', '--', ...spec.argv);
  return args;
}

const realHost = {
  exists: (p: string) => existsSync(p),
  symlinkTarget: (p: string) => (lstatSync(p).isSymbolicLink() ? readlinkSync(p) : null),
};
