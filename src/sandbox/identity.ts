import { readFileSync } from 'node:fs';
import { InfraError } from '../errors.js';

/**
 * Who untrusted code runs as. Never host root: as root, a build could write
 * host sysctls (kernel.core_pattern is a path to host root), however many
 * capabilities are dropped, because /proc/sys checks the owner, not a
 * capability.
 *
 * - `sandbox-user`: the worker is root; bwrap sets up the mounts as root and
 *   the command drops to a dedicated system user (setpriv) before anything
 *   untrusted starts. It keeps no capability and cannot gain one (no_new_privs).
 * - `invoking-user`: the worker is an ordinary user; bwrap (unprivileged)
 *   runs the command in a user namespace of its own as that same user.
 */
export type SandboxIdentity =
  | { mode: 'sandbox-user'; user: string; uid: number; gid: number }
  | { mode: 'invoking-user'; uid: number; gid: number };

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

/** /etc/passwd lines to entries; malformed lines are skipped. Pure. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !f[0]) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (Number.isInteger(uid) && Number.isInteger(gid)) out.push({ name: f[0], uid, gid });
  }
  return out;
}

export const DEFAULT_SANDBOX_USER = 'ksci-sandbox';

/** The command that creates the sandbox user, for error messages and the setup scripts' documentation. */
export function createUserCommand(user: string): string {
  return `useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ${user}`;
}

/**
 * Decides the identity from the worker's uid and the passwd database. Pure:
 * throws (an InfraError saying what to do) where untrusted code would
 * otherwise run as root.
 */
export function decideIdentity(
  workerUid: number,
  workerGid: number,
  user: string,
  passwd: PasswdEntry[],
): SandboxIdentity {
  if (workerUid !== 0) return { mode: 'invoking-user', uid: workerUid, gid: workerGid };
  const entry = passwd.find((p) => p.name === user);
  if (!entry) {
    throw new InfraError(
      `this worker runs as root, and builds and boots of untrusted series never run as host root: the sandbox user "${user}" they drop to does not exist`,
      `create it (${createUserCommand(user)}; scripts/quickstart.sh and .ci/run do), set sandbox.user to another unprivileged user, or run the worker as an unprivileged user`,
    );
  }
  if (entry.uid === 0 || entry.gid === 0) {
    throw new InfraError(
      `sandbox.user "${user}" has uid ${entry.uid} / gid ${entry.gid}: root is what the sandbox exists to avoid`,
      `point sandbox.user at an unprivileged system user (${createUserCommand(DEFAULT_SANDBOX_USER)})`,
    );
  }
  return { mode: 'sandbox-user', user, uid: entry.uid, gid: entry.gid };
}

let configuredUser = DEFAULT_SANDBOX_USER;
let cached: SandboxIdentity | null = null;

/** Set once at start from the config (sandbox.user); the identity is a fact of the host, not of a run. */
export function configureSandboxUser(user: string): void {
  if (user !== configuredUser) cached = null;
  configuredUser = user;
}

/** This process's sandbox identity (read once); throws where none is safe. */
export function sandboxIdentity(): SandboxIdentity {
  if (cached) return cached;
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const passwd = uid === 0 ? parsePasswd(readFileSync('/etc/passwd', 'utf8')) : [];
  cached = decideIdentity(uid, gid, configuredUser, passwd);
  return cached;
}

/** One line for `ksci config check` and the worker's start-up log. */
export function describeIdentity(id: SandboxIdentity): string {
  return id.mode === 'sandbox-user'
    ? `untrusted code runs as the unprivileged user ${id.user} (uid ${id.uid}, gid ${id.gid}), dropped to from root inside the sandbox, with no capabilities`
    : `untrusted code runs as this user (uid ${id.uid}) in a user namespace of its own, with no capabilities`;
}
