import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, lstatSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { InfraError } from '../errors.js';
import { bwrapArgs, DEFAULT_LIMITS, type SandboxSpec } from './bwrap.js';
import { cgroupPlan, describeCgroups, SandboxCgroup } from './cgroup.js';
import { describeIdentity, sandboxIdentity, type SandboxIdentity } from './identity.js';
import { seccompFilter } from './seccomp.js';

const execFileP = promisify(execFile);

export interface SandboxRun {
  exitCode: number | null;
  /** Why ksci stopped it, if it did. */
  killed: 'timeout' | 'disk' | 'cancelled' | null;
  /** The memory cap's OOM killer ended a process of it (cgroups only). */
  outOfMemory: boolean;
  /** A fork was refused at the process cap (cgroups only). */
  processCapHit: boolean;
  durationMs: number;
}

export interface RunOptions {
  /** Combined stdout and stderr go here. Must be a path the sandbox cannot see: it is opened by the worker. */
  logFile: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Called for every complete output line (progress). */
  onLine?: (line: string) => void;
  /** A writable directory whose size is capped: checked every `everyMs`. */
  diskWatch?: { dir: string; maxBytes: number; everyMs?: number };
}

/** bwrap reads the seccomp program from this fd: the child's stdio[3]. */
const SECCOMP_FD = 3;
/** The wrapper's exit status when it cannot join the run's cgroup. */
const CGROUP_JOIN_FAILED = 125;
/** Joins the cgroups named before "--" (writing 0 moves the writer), then becomes bwrap: bwrap and all it starts are born inside. */
const JOIN_SCRIPT = `while [ "$1" != -- ]; do echo 0 > "$1" || exit ${CGROUP_JOIN_FAILED}; shift; done; shift; exec "$@"`;

interface Started {
  child: ChildProcess;
  cgroup: SandboxCgroup | null;
}

/**
 * Starts bwrap for the spec: as the sandbox identity, inside a cgroup of its
 * own where the host offers one, with the seccomp filter on its fd 3.
 */
function start(spec: SandboxSpec, identity: SandboxIdentity): Started {
  const limits = { ...DEFAULT_LIMITS, ...spec.limits };
  const cgroup = SandboxCgroup.create(cgroupPlan(), { pids: limits.pids, memoryBytes: limits.memoryBytes });
  const groups = identity.mode === 'sandbox-user' ? [...new Set((spec.devices ?? []).map((d) => statSync(d).gid))] : [];
  const args = bwrapArgs(spec, { identity, seccompFd: SECCOMP_FD, nprocLimit: !cgroup?.capped.pids, groups });
  const [cmd, argv] = cgroup
    ? ['/bin/sh', ['-c', JOIN_SCRIPT, 'sh', ...cgroup.procsFiles, '--', 'bwrap', ...args]]
    : ['bwrap', args];
  const child = spawn(cmd, argv, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    env: { PATH: '/usr/bin:/bin' },
  });
  const seccomp = child.stdio[SECCOMP_FD] as NodeJS.WritableStream | null;
  // An error here means bwrap is gone already; the exit status tells why.
  (seccomp as unknown as { on(e: string, f: () => void): void } | null)?.on('error', () => {});
  seccomp?.end(seccompFilter());
  return { child, cgroup };
}

/**
 * Makes the writable directories the sandbox user's (builds write there).
 * Recursive only when the top is someone else's: a directory first made by
 * the worker, or by an older ksci that built as root.
 */
async function ownWritable(spec: SandboxSpec, identity: SandboxIdentity): Promise<void> {
  if (identity.mode !== 'sandbox-user') return;
  for (const b of spec.binds) {
    if (!b.writable) continue;
    const st = lstatSync(b.host);
    if (st.uid === identity.uid && st.gid === identity.gid) continue;
    await execFileP('chown', ['-R', `${identity.uid}:${identity.gid}`, b.host]);
  }
}

/**
 * Runs a command in the sandbox and waits for it and for every process it
 * started: the sandbox is its own pid namespace (its processes die with
 * its first one) and, where the host allows, its own cgroup (killed whole
 * at the end, whatever forked or called setsid). Stopping it (timeout,
 * disk cap, cancellation) kills everything make started, and bwrap dies
 * with the worker if the worker dies.
 */
export async function runSandboxed(spec: SandboxSpec, opts: RunOptions): Promise<SandboxRun> {
  const none = { outOfMemory: false, processCapHit: false };
  if (opts.signal?.aborted) return { exitCode: null, killed: 'cancelled', durationMs: 0, ...none };
  const identity = sandboxIdentity();
  await ownWritable(spec, identity);
  const started = Date.now();
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  const { child, cgroup } = start(spec, identity);
  let killed: SandboxRun['killed'] = null;
  const stop = (why: NonNullable<SandboxRun['killed']>) => {
    if (killed !== null || child.exitCode !== null) return;
    killed = why;
    killGroup(child.pid, 'SIGTERM');
    // make and gcc exit at once on SIGTERM; a patch's own tool might not.
    setTimeout(() => {
      killGroup(child.pid, 'SIGKILL');
      cgroup?.kill();
    }, 5000).unref();
  };
  let pending = '';
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    if (!opts.onLine) return;
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const l of lines) opts.onLine(l);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const onAbort = () => stop('cancelled');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => stop('timeout'), opts.timeoutMs);
  timer.unref();
  let watching = true;
  const watch = opts.diskWatch;
  if (watch) {
    // Runs beside the build and ends at its next tick after the build does.
    void (async () => {
      while (watching) {
        await new Promise((r) => setTimeout(r, watch.everyMs ?? 15_000).unref());
        if (!watching) break;
        const bytes = await dirBytes(watch.dir).catch(() => 0);
        if (bytes > watch.maxBytes) stop('disk');
      }
    })();
  }
  let exitCode: number | null;
  try {
    exitCode = await new Promise<number | null>((resolve, reject) => {
      child.on('error', (err) => {
        const e = err as NodeJS.ErrnoException;
        reject(
          e.code === 'ENOENT'
            ? new InfraError(
                'bubblewrap (bwrap) is not installed; builds run only inside its sandbox',
                'apt-get install bubblewrap',
              )
            : new InfraError(`cannot start the build sandbox: ${e.message}`),
        );
      });
      child.on('close', (code) => resolve(code));
    });
  } finally {
    watching = false;
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    if (pending && opts.onLine) opts.onLine(pending);
    await new Promise<void>((r) => log.end(() => r()));
  }
  const limitsHit = { outOfMemory: (cgroup?.oomKills() ?? 0) > 0, processCapHit: (cgroup?.pidsRefusals() ?? 0) > 0 };
  await cgroup?.remove();
  if (cgroup && exitCode === CGROUP_JOIN_FAILED && killed === null) {
    throw new InfraError(
      `the sandbox could not join its cgroup (${cgroup.procsFiles.join(', ')})`,
      'is /sys/fs/cgroup writable for this worker? `ksci config check` shows what the sandbox uses',
    );
  }
  return { exitCode, killed, durationMs: Date.now() - started, ...limitsHit };
}

function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // Already gone.
  }
}

async function dirBytes(dir: string): Promise<number> {
  const { stdout } = await execFileP('du', ['-sb', dir]);
  return Number(stdout.split('\t')[0]);
}

export type SandboxProbe = { ok: true; identity: string; resources: string } | { ok: false; why: string };

/**
 * Whether untrusted code can run here, tried for real: the same identity,
 * cgroup, seccomp filter and namespaces as every run (containers may
 * forbid namespaces; a root worker needs its sandbox user).
 */
export async function sandboxAvailable(): Promise<SandboxProbe> {
  let identity: SandboxIdentity;
  try {
    identity = sandboxIdentity();
  } catch (err) {
    const e = err as InfraError;
    return { ok: false, why: `${e.message}${e.hint ? `; ${e.hint}` : ''}` };
  }
  const spec: SandboxSpec = {
    binds: [],
    cwd: '/',
    env: { PATH: '/usr/bin:/bin' },
    argv: ['/usr/bin/true'],
    limits: { cpuSeconds: 10, fileBytes: 1 << 20 },
  };
  try {
    const { child, cgroup } = start(spec, identity);
    let stderr = '';
    child.stdout!.resume();
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    await cgroup?.remove();
    if (code !== 0)
      return { ok: false, why: `bwrap exited ${code}: ${stderr.trim().split('\n').slice(0, 3).join(' ')}` };
    return { ok: true, identity: describeIdentity(identity), resources: describeCgroups(cgroupPlan()) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ok: false, why: e.code === 'ENOENT' ? 'bubblewrap (bwrap) is not installed' : e.message };
  }
}
