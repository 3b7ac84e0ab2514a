import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A cgroup per sandbox run: caps its processes (pids) and memory, and kills
 * all of them when the run ends. cgroup v2 where the controller is on the
 * unified hierarchy; v1 controllers where a host still mounts them there
 * (hybrid hosts, as these machines are). Creating cgroups needs root; an
 * unprivileged worker gets none and the sandbox falls back to rlimits.
 */

export type Controller = 'pids' | 'memory';
const CONTROLLERS: Controller[] = ['pids', 'memory'];

export interface CgroupMount {
  version: 1 | 2;
  /** Where it is mounted. */
  mountPoint: string;
  /** The hierarchy path that mount point shows (not / inside a cgroup namespace). */
  root: string;
  /** v1: the controllers of this hierarchy. v2: filled from cgroup.controllers. */
  controllers: string[];
}

/** The cgroup mounts in /proc/self/mountinfo. Pure. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const f = pre.split(' ');
    const [fstype, , superOpts] = post.split(' ');
    const root = unescapeMountField(f[3] ?? '');
    const mountPoint = unescapeMountField(f[4] ?? '');
    if (fstype === 'cgroup2') out.push({ version: 2, mountPoint, root, controllers: [] });
    else if (fstype === 'cgroup')
      out.push({
        version: 1,
        mountPoint,
        root,
        controllers: (superOpts ?? '').split(',').filter((o) => CONTROLLERS.includes(o as Controller)),
      });
  }
  return out;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** /proc/self/cgroup: the process's path per hierarchy ("" names the v2 one). Pure. */
export function parseProcCgroup(text: string): { controllers: string[]; path: string }[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [, ctl = '', ...rest] = l.split(':');
      return { controllers: ctl === '' ? [] : ctl.split(','), path: rest.join(':') };
    });
}

export interface CgroupPlan {
  /** The unified hierarchy's directory the sandboxes' groups go under (for cgroup.kill even without controllers). */
  v2Parent: string | null;
  /** Controllers enabled for them on v2. */
  v2Controllers: Controller[];
  /** v1 hierarchies for the controllers v2 does not have: where the groups go. */
  v1Parents: Partial<Record<Controller, string>>;
}

/**
 * Where each controller comes from. Pure. v2 groups go under the unified
 * root (where controllers can be enabled whatever runs there); v1 groups
 * nest under this process's own group, so whatever caps the worker still
 * caps its sandboxes.
 */
export function planCgroups(mounts: CgroupMount[], own: { controllers: string[]; path: string }[]): CgroupPlan {
  const v2 = mounts.find((m) => m.version === 2 && m.root === '/');
  const v2Controllers = CONTROLLERS.filter((c) => v2?.controllers.includes(c));
  const v1Parents: CgroupPlan['v1Parents'] = {};
  for (const c of CONTROLLERS) {
    if (v2Controllers.includes(c)) continue;
    const m = mounts.find((x) => x.version === 1 && x.controllers.includes(c));
    const mine = own.find((o) => o.controllers.includes(c));
    if (!m || !mine || !(mine.path === m.root || mine.path.startsWith(m.root === '/' ? '/' : `${m.root}/`))) continue;
    const rel = m.root === '/' ? mine.path : mine.path.slice(m.root.length);
    v1Parents[c] = join(m.mountPoint, rel, 'ksci.sandbox');
  }
  return { v2Parent: v2 ? join(v2.mountPoint, 'ksci.sandbox') : null, v2Controllers, v1Parents };
}

export interface CgroupLimits {
  pids: number;
  memoryBytes: number;
}

/** Reads the host's plan once: mounts do not change under a running worker. */
let hostPlan: CgroupPlan | null | undefined;
export function cgroupPlan(): CgroupPlan | null {
  if (hostPlan !== undefined) return hostPlan;
  hostPlan = null;
  if ((process.getuid?.() ?? 0) !== 0) return hostPlan;
  try {
    const mounts = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
    for (const m of mounts) {
      if (m.version === 2)
        m.controllers = readFileSync(join(m.mountPoint, 'cgroup.controllers'), 'utf8')
          .trim()
          .split(/\s+/)
          .filter(Boolean);
    }
    const plan = planCgroups(mounts, parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8')));
    // Enabling the v2 controllers for ksci's subtree is the only set-up; a
    // controller the host will not delegate is left to v1 or to rlimits.
    if (plan.v2Parent) {
      mkdirSync(plan.v2Parent, { recursive: true });
      plan.v2Controllers = plan.v2Controllers.filter(
        (c) =>
          tryWrite(join(plan.v2Parent!, '..', 'cgroup.subtree_control'), `+${c}`) &&
          tryWrite(join(plan.v2Parent!, 'cgroup.subtree_control'), `+${c}`),
      );
    }
    for (const dir of Object.values(plan.v1Parents)) mkdirSync(dir, { recursive: true });
    hostPlan = plan;
  } catch {
    hostPlan = null;
  }
  return hostPlan;
}

/** What `ksci config check` prints about resource caps. */
export function describeCgroups(plan: CgroupPlan | null): string {
  if (!plan)
    return 'no cgroups (not root, or none writable): processes capped by RLIMIT_NPROC, memory not capped, left-over processes killed with the sandbox pid namespace';
  const where = (c: Controller) =>
    plan.v2Controllers.includes(c) ? 'cgroup v2' : plan.v1Parents[c] ? 'cgroup v1' : null;
  const parts = CONTROLLERS.map((c) => `${c}: ${where(c) ?? (c === 'pids' ? 'RLIMIT_NPROC' : 'not capped')}`);
  return `${parts.join(', ')}; every process killed at the end through ${plan.v2Parent ? 'cgroup.kill' : 'the cgroup'} and the pid namespace`;
}

let counter = 0;

/** One sandbox run's groups. */
export class SandboxCgroup {
  private constructor(
    private readonly v2Dir: string | null,
    private readonly v1Dirs: Partial<Record<Controller, string>>,
    readonly capped: Record<Controller, boolean>,
  ) {}

  /** Creates the groups with their limits; null when this host offers none. */
  static create(plan: CgroupPlan | null, limits: CgroupLimits): SandboxCgroup | null {
    if (!plan) return null;
    const name = `${process.pid}-${++counter}`;
    sweep(plan);
    let v2Dir: string | null = null;
    const v1Dirs: Partial<Record<Controller, string>> = {};
    const capped: Record<Controller, boolean> = { pids: false, memory: false };
    if (plan.v2Parent) {
      v2Dir = join(plan.v2Parent, name);
      mkdirSync(v2Dir);
      if (plan.v2Controllers.includes('pids')) capped.pids = tryWrite(join(v2Dir, 'pids.max'), String(limits.pids));
      if (plan.v2Controllers.includes('memory')) {
        capped.memory = tryWrite(join(v2Dir, 'memory.max'), String(limits.memoryBytes));
        tryWrite(join(v2Dir, 'memory.swap.max'), '0');
      }
    }
    for (const [c, parent] of Object.entries(plan.v1Parents) as [Controller, string][]) {
      const dir = join(parent, name);
      mkdirSync(dir);
      v1Dirs[c] = dir;
      if (c === 'pids') capped.pids = tryWrite(join(dir, 'pids.max'), String(limits.pids));
      if (c === 'memory') {
        capped.memory = tryWrite(join(dir, 'memory.limit_in_bytes'), String(limits.memoryBytes));
        // Only where swap accounting is on; the cap above already binds RAM.
        tryWrite(join(dir, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
      }
    }
    return new SandboxCgroup(v2Dir, v1Dirs, capped);
  }

  /** The cgroup.procs files the sandbox's first process writes itself into, before it starts bwrap. */
  get procsFiles(): string[] {
    return [this.v2Dir, ...Object.values(this.v1Dirs)]
      .filter((d): d is string => d !== null)
      .map((d) => join(d, 'cgroup.procs'));
  }

  pids(): number[] {
    const set = new Set<number>();
    for (const f of this.procsFiles) {
      for (const l of readQuiet(f).split('\n')) if (l.trim()) set.add(Number(l));
    }
    return [...set];
  }

  /** Kills every process in the groups (cgroup.kill on v2: nothing forks its way out). */
  kill(): void {
    if (this.v2Dir && tryWrite(join(this.v2Dir, 'cgroup.kill'), '1')) return;
    for (const pid of this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }

  /** Times the memory cap killed a process (the OOM killer, inside the group). */
  oomKills(): number {
    const v2 = this.v2Dir ? /^oom_kill (\d+)$/m.exec(readQuiet(join(this.v2Dir, 'memory.events'))) : null;
    const v1 = this.v1Dirs.memory
      ? /^oom_kill (\d+)$/m.exec(readQuiet(join(this.v1Dirs.memory, 'memory.oom_control')))
      : null;
    return Number(v2?.[1] ?? 0) + Number(v1?.[1] ?? 0);
  }

  /** Times a fork was refused at the process cap. */
  pidsRefusals(): number {
    let n = 0;
    for (const d of [this.v2Dir, this.v1Dirs.pids]) {
      if (d) n += Number(/^max (\d+)$/m.exec(readQuiet(join(d, 'pids.events')))?.[1] ?? 0);
    }
    return n;
  }

  /** Kills what is left and removes the groups; waits (briefly) for the kernel to reap them. */
  async remove(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      this.kill();
      if (this.pids().length === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const d of [this.v2Dir, ...Object.values(this.v1Dirs)]) {
      if (!d) continue;
      try {
        rmdirSync(d);
      } catch {
        // Still populated (a process in uninterruptible sleep): the next sweep takes it.
      }
    }
  }
}

/** Removes empty groups left by workers that died (named <pid>-<n>, their pid no longer alive). */
function sweep(plan: CgroupPlan): void {
  for (const parent of [plan.v2Parent, ...Object.values(plan.v1Parents)]) {
    if (!parent || !existsSync(parent)) continue;
    for (const e of readdirSync(parent, { withFileTypes: true })) {
      const m = /^(\d+)-\d+$/.exec(e.name);
      if (!e.isDirectory() || !m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
      try {
        rmdirSync(join(parent, e.name));
      } catch {
        // Not empty yet.
      }
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryWrite(file: string, value: string): boolean {
  try {
    writeFileSync(file, value);
    return true;
  } catch {
    return false;
  }
}

function readQuiet(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
