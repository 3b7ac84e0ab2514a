/**
 * The seccomp filter every sandboxed process runs under (bwrap --seccomp):
 * a classic BPF program, assembled here because it is twenty instructions
 * and libseccomp has no Node binding worth a native dependency.
 *
 * It refuses what builds and QEMU never need and what widens the host
 * kernel's attack surface, as flatpak and Docker's default profile do:
 * - new user namespaces (unshare/clone with CLONE_NEWUSER; clone3, whose
 *   flags live in memory a filter cannot read, answers ENOSYS and glibc
 *   falls back to clone). Inside one, a build would be "root" again there:
 *   it could mount a tmpfs of its own, outside the size caps, and reach the
 *   namespaced-root code paths of the host kernel.
 * - the kernel keyring, bpf(), perf_event_open and userfaultfd;
 * - io_uring (ENOSYS: QEMU falls back to ppoll);
 * - every syscall of another ABI (i386 through int 0x80, x32).
 * Everything else is allowed. x86_64 only, like the builds.
 */

const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;

const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;
const EPERM = 1;
const ENOSYS = 38;

const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;
const CLONE_NEWUSER = 0x10000000;

/** struct seccomp_data: nr at 0, arch at 4, args[0] (low 32 bits, little endian) at 16. */
const OFF_NR = 0;
const OFF_ARCH = 4;
const OFF_ARG0_LO = 16;

/** x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
export const SYSCALLS = {
  clone: 56,
  unshare: 272,
  clone3: 435,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  perf_event_open: 298,
  bpf: 321,
  userfaultfd: 323,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
} as const;

const REFUSED: { nr: number; errno: number }[] = [
  { nr: SYSCALLS.clone3, errno: ENOSYS },
  { nr: SYSCALLS.add_key, errno: EPERM },
  { nr: SYSCALLS.request_key, errno: EPERM },
  { nr: SYSCALLS.keyctl, errno: EPERM },
  { nr: SYSCALLS.perf_event_open, errno: EPERM },
  { nr: SYSCALLS.bpf, errno: EPERM },
  { nr: SYSCALLS.userfaultfd, errno: EPERM },
  { nr: SYSCALLS.io_uring_setup, errno: ENOSYS },
  { nr: SYSCALLS.io_uring_enter, errno: ENOSYS },
  { nr: SYSCALLS.io_uring_register, errno: ENOSYS },
];

type Insn = { code: number; jt: number | string; jf: number | string; k: number } | { label: string };

const ld = (off: number): Insn => ({ code: LD_W_ABS, jt: 0, jf: 0, k: off });
const jeq = (k: number, jt: number | string, jf: number | string): Insn => ({ code: JEQ_K, jt, jf, k });
const ret = (k: number): Insn => ({ code: RET_K, jt: 0, jf: 0, k });

/** The filter as the kernel's struct sock_filter array (what bwrap --seccomp reads from its fd). */
export function seccompFilter(): Buffer {
  const prog: Insn[] = [
    ld(OFF_ARCH),
    jeq(AUDIT_ARCH_X86_64, 'native', 0),
    ret(RET_ERRNO | ENOSYS),
    { label: 'native' },
    ld(OFF_NR),
    { code: JGE_K, jt: 'nosys', jf: 0, k: X32_SYSCALL_BIT },
    jeq(SYSCALLS.unshare, 'flags', 0),
    jeq(SYSCALLS.clone, 'flags', 0),
    ...REFUSED.map((r) => jeq(r.nr, r.errno === ENOSYS ? 'nosys' : 'eperm', 0)),
    ret(RET_ALLOW),
    { label: 'flags' },
    ld(OFF_ARG0_LO),
    { code: JSET_K, jt: 'eperm', jf: 0, k: CLONE_NEWUSER },
    ret(RET_ALLOW),
    { label: 'eperm' },
    ret(RET_ERRNO | EPERM),
    { label: 'nosys' },
    ret(RET_ERRNO | ENOSYS),
  ];
  return assemble(prog);
}

/** Resolves labels to the forward offsets classic BPF jumps take (relative to the next instruction). */
function assemble(prog: Insn[]): Buffer {
  const at = new Map<string, number>();
  const insns: Exclude<Insn, { label: string }>[] = [];
  for (const i of prog) {
    if ('label' in i) at.set(i.label, insns.length);
    else insns.push(i);
  }
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach((i, n) => {
    const off = (t: number | string): number => {
      if (typeof t === 'number') return t;
      const target = at.get(t);
      if (target === undefined || target <= n || target - n - 1 > 255)
        throw new Error(`seccomp: bad jump to ${t} at ${n}`);
      return target - n - 1;
    };
    buf.writeUInt16LE(i.code, n * 8);
    buf.writeUInt8(off(i.jt), n * 8 + 2);
    buf.writeUInt8(off(i.jf), n * 8 + 3);
    buf.writeUInt32LE(i.k >>> 0, n * 8 + 4);
  });
  return buf;
}
