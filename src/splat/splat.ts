/**
 * Finding kernel splats in a serial console log: oopses, BUG()s, WARNINGs,
 * sanitizer reports (KASAN, KFENCE, UBSAN), lockups, RCU stalls, hung tasks,
 * OOM kills, lockdep reports, list corruption, panics and boot failures; and
 * deciding which of them fail a run, given a list of known splats to ignore.
 * Pure (no I/O), so it is tested on real captured consoles
 * (test/fixtures/console/README.md says how each was made).
 */
import { parse } from 'yaml';
import { z } from 'zod';

export type SplatKind =
  | 'panic'
  | 'oops'
  | 'bug'
  | 'warning'
  | 'kasan'
  | 'ubsan'
  | 'kfence'
  | 'soft-lockup'
  | 'hard-lockup'
  | 'rcu-stall'
  | 'hung-task'
  | 'oom'
  | 'lockdep'
  | 'list-corruption'
  | 'boot-failure';

export interface Splat {
  kind: SplatKind;
  /** Readable headline: "WARNING in foo (net/core/skbuff.c:123)", "KFENCE: use-after-free read in foo". */
  title: string;
  /** Call trace function names, innermost first, without offsets, modules, compiler suffixes (.constprop.0) or unreliable ("? ") frames. */
  frames: string[];
  /** Stable across runs and builds: kind, the headline with numbers and addresses masked, and the first meaningful frames. */
  fingerprint: string;
  /** 0-based index, in consoleLines(), of the splat's first line. */
  line: number;
  /** The splat's lines (as consoleLines gives them), from its first to its end marker, capped at MAX_EXCERPT. */
  excerpt: string[];
  /**
   * Index (in findSplats' result) of the splat that made the kernel panic:
   * "Kernel panic - not syncing: Fatal exception" names the oops before it.
   * null for every other splat.
   */
  cause: number | null;
}

export interface KnownSplat {
  /** Matched against the fingerprint and the title: a glob (`*`, `?`, whole string) or /regex/flags. */
  pattern: string;
  /** Why it is ignored: shown in reports next to the splat. */
  reason: string;
  /** Only on these trees (globs); every tree if absent. */
  trees?: string[];
}

export interface SplatClassification {
  fatal: Splat[];
  ignored: { splat: Splat; reason: string }[];
}

export const MAX_EXCERPT = 60;
/** How far a splat may run looking for its end marker; lockdep reports with long chains are the longest. */
const MAX_SCAN = 400;
/** Frames in the fingerprint: enough to tell two bugs in one helper apart, few enough to survive refactors below them. */
const FINGERPRINT_FRAMES = 3;

// ---------------------------------------------------------------------------
// Cleaning the console

/** ESC c (terminal reset): SeaBIOS and the kernel's early console send it; what was before it on that line is gone from the screen. */
const RESET = '\x1bc';
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()][A-Za-z0-9]|[=>78DEHMc])/g;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;
/** printk's "[    1.234567] " (6 decimals), optionally with CONFIG_PRINTK_CALLER's "[    T1] ". */
const KERNEL_STAMP = /^\[\s*\d+\.\d{6}\](?:\[\s*[TC]\d+\])? ?/;
/** A capture tool's own stamp, e.g. "[   0.695] " (ksci's serial logger), before the kernel's. */
const HOST_STAMP = /^\[\s*\d+\.\d{1,5}\] ?/;

interface ConsoleLine {
  text: string;
  /** The kernel's printk stamp was on it: kernel output, not a program's. */
  kernel: boolean;
}

function cleanLine(raw: string): ConsoleLine {
  let line = raw;
  const reset = line.lastIndexOf(RESET);
  if (reset >= 0) line = line.slice(reset + RESET.length);
  line = line.replace(ANSI, '').replace(/\r+$/, '');
  if (line.includes('\r')) {
    // A carriage return mid-line rewrote it (iPXE's prompt); the last non-blank pass is what stayed visible.
    line =
      line
        .split('\r')
        .reverse()
        .find((part) => part.trim() !== '') ?? '';
  }
  line = line.replace(CONTROL, '');
  line = line.replace(HOST_STAMP, '');
  const kernel = KERNEL_STAMP.test(line);
  if (kernel) line = line.replace(KERNEL_STAMP, '');
  return { text: line.replace(/\s+$/, ''), kernel };
}

/**
 * The console as lines without timestamps, \r, ANSI escapes and firmware
 * screen-clearing junk. One entry per "\n"-separated line of the input, so
 * an index here is a line number of the raw log.
 */
export function consoleLines(raw: string): string[] {
  return raw.split('\n').map((l) => cleanLine(l).text);
}

// ---------------------------------------------------------------------------
// Recognising headlines

const CUT_HERE = /^-+\[ cut here \]-+$/;
const END_TRACE = /^-+\[ end trace(?: [0-9a-f]+)? \]-+$/;
const END_PANIC = /^-+\[ end Kernel panic/;
/** KASAN/KFENCE/UBSAN reports open and close with a line of '='. */
const RULE = /^={20,}$/;

const WARNING = /^WARNING: (?:CPU: \d+ PID: \d+ )?at (\S+?):(\d+) (\S+)/;
const LOCKDEP =
  /^WARNING: (possible (?:circular locking dependency|recursive locking|irq lock inversion dependency) detected|inconsistent lock state|suspicious RCU usage|bad unlock balance detected!|held lock freed!|lock held (?:when returning to user space|at task exit time)!|[Nn]ested lock was not taken|bad contention detected!|(?:HARD|SOFT)IRQ-safe -> (?:HARD|SOFT)IRQ-unsafe lock order detected)/;
const KERNEL_BUG = /^kernel BUG at (\S+?):(\d+)!$/;
const NULL_DEREF = /^BUG: kernel NULL pointer dereference, address: (\S+)/;
const PAGE_FAULT = /^BUG: unable to handle (page fault for address|kernel paging request at)/;
/** x86 since 6.9 prefixes "Oops: "; before that the trap name led the line. arm64 says "Internal error: Oops:". */
const OOPS =
  /^(?:Oops: |Internal error: )?(Oops|general protection fault|invalid opcode|stack segment|divide error|double fault|int3|Unable to handle kernel \w+(?: \w+)*)\b.*?(?:\[#\d+\]|at virtual address)/;
const KASAN = /^BUG: KASAN: (\S+) in (\S+)/;
const KFENCE = /^BUG: KFENCE: (.+?) in (\S+)/;
const UBSAN = /^UBSAN: (\S+) in (\S+?)(?::(\d+)(?::(\d+))?)?$/;
const SOFT_LOCKUP = /^(?:watchdog: )?BUG: soft lockup - CPU#\d+ stuck for \d+s! \[(.+):\d+\]/;
const HARD_LOCKUP = /^(?:(?:NMI )?watchdog: )?(?:CPU\d+: )?Watchdog detected hard LOCKUP on cpu \d+/;
const RCU_STALL =
  /^(?:rcu: )?INFO: (rcu_\w+) (self-detected stall on CPU|detected stalls? on CPUs\/tasks|detected expedited stalls on CPUs\/tasks)/;
const HUNG_TASK = /^INFO: task (.+):\d+ blocked for more than \d+ seconds\./;
const OOM_INVOKED = /^(.+) invoked oom-killer: /;
const OOM_KILLED = /^(?:Memory cgroup )?Out of memory(?: \([^)]*\))?: Killed process \d+ \((.+?)\)/;
const LIST_CORRUPTION = /^(list_add corruption|list_del corruption|list_add double add|list_del corruption)\b/;
const BUG = /^BUG: (.+)$/;
const PANIC = /^Kernel panic - not syncing: ?(.*)$/;
/** Panics the kernel could not boot past: no root, no init. */
const BOOT_PANIC =
  /^(VFS: Unable to mount root fs|No working init found|Requested init \S+ failed|Unable to mount root fs|No init found)/;
/** Panics that only restate the splat before them (panic_on_oops, panic_on_warn, softlockup_panic, ...). */
const CONSEQUENCE_PANIC =
  /^(Fatal exception|(?:\w+: )?panic_on_warn set|softlockup: hung tasks|hung_task: blocked tasks|Hard LOCKUP|RCU Stall|kasan\.fault=panic set|KFENCE|Oops - BUG|UBSAN)/;
/** PID 1 still named swapper: kernel_init has not exec'd init yet. */
const BEFORE_INIT = /\bPID: 1 Comm: swapper\//;

/** Where a splat's report ends. */
type Closer = 'end-trace' | 'rule' | 'ubsan' | 'panic' | 'oom' | 'trace';

/** Headlines that can be one line of a longer report: they join a splat already open instead of opening their own. */
type Tag = 'cut' | 'warn' | 'kbug' | 'list' | 'fault' | 'oops' | 'oom-killed' | 'other';

interface Header {
  kind: SplatKind;
  closer: Closer;
  tag: Tag;
}

function header(text: string): Header | null {
  const h = (kind: SplatKind, closer: Closer, tag: Tag = 'other'): Header => ({ kind, closer, tag });
  if (CUT_HERE.test(text)) return h('warning', 'end-trace', 'cut');
  if (LOCKDEP.test(text)) return h('lockdep', 'trace');
  if (WARNING.test(text)) return h('warning', 'end-trace', 'warn');
  if (KERNEL_BUG.test(text)) return h('bug', 'end-trace', 'kbug');
  if (LIST_CORRUPTION.test(text)) return h('list-corruption', 'end-trace', 'list');
  if (KASAN.test(text)) return h('kasan', 'rule');
  if (KFENCE.test(text)) return h('kfence', 'rule');
  if (UBSAN.test(text)) return h('ubsan', 'ubsan');
  if (SOFT_LOCKUP.test(text)) return h('soft-lockup', 'trace');
  if (HARD_LOCKUP.test(text)) return h('hard-lockup', 'trace');
  if (RCU_STALL.test(text)) return h('rcu-stall', 'trace');
  if (HUNG_TASK.test(text)) return h('hung-task', 'trace');
  if (OOM_INVOKED.test(text)) return h('oom', 'oom');
  if (OOM_KILLED.test(text)) return h('oom', 'oom', 'oom-killed');
  if (NULL_DEREF.test(text) || PAGE_FAULT.test(text)) return h('oops', 'end-trace', 'fault');
  if (OOPS.test(text)) return h('oops', 'end-trace', 'oops');
  if (BUG.test(text)) return h('bug', 'trace');
  if (PANIC.test(text)) return h('panic', 'panic');
  return null;
}

/**
 * Does headline `next` continue the open report? One report prints several:
 * "cut here" then WARNING or "kernel BUG at"; the list corruption message
 * then "cut here" and "kernel BUG at lib/list_debug.c"; "kernel BUG at" or
 * "BUG: kernel NULL pointer dereference" then the Oops line; the OOM report
 * then "Out of memory: Killed process".
 */
function joins(open: Block, next: Header): boolean {
  const has = (t: Tag) => open.tags.has(t);
  switch (next.tag) {
    case 'cut':
      return has('list') && !has('cut') && !has('warn') && !has('kbug');
    case 'warn':
    case 'kbug':
      return (has('cut') || has('list')) && !has('warn') && !has('kbug');
    case 'oops':
      return (has('kbug') || has('fault')) && !has('oops');
    case 'oom-killed':
      return open.header.kind === 'oom' && !has('oom-killed');
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------
// Call traces

/** ` splat_warn+0x5/0x10 [splat_test]`, `? __pfx_foo+0x10/0x10`, older `[<ffffffff81234567>] foo+0x12/0x34`. */
const FRAME = /^\s*(?:\[<[0-9a-f]+>\] )?(\? )?([A-Za-z_.$][\w.$]*)\+0x[0-9a-f]+\/0x[0-9a-f]+(?: \[[^\]]+\])?\s*$/;
const TRACE_MARKER = /^\s*<\/?(?:TASK|IRQ|NMI|SOFTIRQ|EOI)>\s*$/;
/** Register dump lines that the unwinder prints inside a trace (an interrupted context). */
const REGISTERS = /^\s*(?:RIP|RSP|RAX|RDX|RBP|R10|R13|FS|CS|CR2|Code|pc|lr|sp|x\d+)\s*:/;
/** Kernel-mode instruction pointer: x86 `RIP: 0010:func+0x5/0x10`, arm64 `pc : func+0x1c/0x30`. */
/** Continuation lines of a register dump that start with a register name that is not the line's first field elsewhere. */
const REGISTERS_MORE = /^\s*(?:RBX|RCX|RSI|RDI|R08|R09|R11|R12|R14|R15|DS|ES|CR0|CR3|CR4|DR\d|ORIG_RAX)\b/;
const KERNEL_IP = /^\s*(?:RIP: 0010:|pc : )([A-Za-z_.$][\w.$]*)\+0x[0-9a-f]+\/0x[0-9a-f]+/;
const CALL_TRACE = /^\s*Call [Tt]race:\s*$/;

/** gcc/clang clone suffixes differ between builds of the same code. */
export function frameName(symbol: string): string {
  return symbol.replace(/(?:\.(?:constprop|isra|part|cold|llvm|lto_priv|localalias|specialized)(?:\.\w+)?)+$/, '');
}

/**
 * Frames of the splat's first trace: the "Call Trace:" section, or (KFENCE,
 * arm64) the first run of frame lines. The kernel-mode instruction pointer
 * (RIP/pc) is where the splat happened; the unwinder starts at its caller, so
 * it leads the list.
 */
function traceFrames(lines: string[]): string[] {
  const frames: string[] = [];
  const push = (name: string) => {
    const n = frameName(name);
    if (!n.startsWith('__pfx_')) frames.push(n);
  };
  const callTrace = lines.findIndex((l) => CALL_TRACE.test(l));
  let i = callTrace >= 0 ? callTrace + 1 : lines.findIndex((l) => FRAME.test(l) && !/^\s*\? /.test(l));
  if (i < 0) return [];
  // The kernel RIP printed before the trace (WARNING, Oops, lockups).
  for (const l of lines.slice(0, i)) {
    const ip = KERNEL_IP.exec(l);
    if (ip) {
      push(ip[1]!);
      break;
    }
  }
  let seen = false;
  for (; i < lines.length; i++) {
    const l = lines[i]!;
    const f = FRAME.exec(l);
    if (f) {
      seen = true;
      if (!f[1]) push(f[2]!);
      continue;
    }
    const ip = KERNEL_IP.exec(l);
    if (ip) {
      // An interrupted context inside the trace: the RIP is a frame of its own.
      push(ip[1]!);
      continue;
    }
    if (/^\s*<\/TASK>\s*$/.test(l)) break;
    if (TRACE_MARKER.test(l) || REGISTERS.test(l) || REGISTERS_MORE.test(l)) continue;
    if (seen || l.trim() === '') break;
  }
  // Drop a RIP that the unwinder also listed first.
  return frames.filter((f, k) => k === 0 || f !== frames[k - 1]);
}

/**
 * Frames that are the machinery of reporting, trapping, scheduling or
 * allocating, never the code at fault. The fingerprint skips them so a splat
 * is named by the code that caused it.
 */
const GENERIC_FRAME = new RegExp(
  '^(?:' +
    [
      // printing the report
      'dump_stack(?:_lvl)?',
      'show_stack',
      'show_regs',
      '__show_regs',
      'show_trace_log_lvl',
      'print_report',
      'print_address_description',
      'kasan_report(?:_invalid_free)?',
      '__asan_\\w+',
      '__kasan_\\w+',
      'kasan_\\w+',
      'check_region_inline',
      'save_stack(?:_trace)?',
      'kfence_\\w+',
      '__kfence_\\w+',
      'ubsan_epilogue',
      '__ubsan_handle_\\w+',
      '__warn',
      '__warn_printk',
      'warn_slowpath_\\w+',
      'report_bug',
      'handle_bug',
      'refcount_warn_saturate',
      '__list_(?:add|del_entry)_valid(?:_or_report)?',
      '__list_(?:add|del)_valid_or_report',
      'nmi_cpu_backtrace',
      'nmi_trigger_cpumask_backtrace',
      'lockdep_\\w+',
      '__lock_acquire',
      'lock_acquire',
      'check_noncircular',
      'print_circular_bug',
      'check_prev_add',
      'validate_chain',
      // traps, faults, panics
      'exc_\\w+',
      'asm_exc_\\w+',
      'check_panic_on_warn',
      'do_trap',
      'do_error_trap',
      'do_int3(?:_user)?',
      'die(?:_body|_addr)?',
      'oops_end',
      'panic',
      'vpanic',
      'nmi_panic',
      'page_fault_oops',
      'kernelmode_fixup_or_oops',
      '__bad_area_nosemaphore',
      'bad_area_nosemaphore',
      'do_user_addr_fault',
      'do_kern_addr_fault',
      'handle_page_fault',
      'fixup_exception',
      'no_context',
      // interrupts and timers (a lockup or stall is reported from the tick)
      'asm_sysvec_\\w+',
      'sysvec_\\w+',
      '__sysvec_\\w+',
      'irq_exit_rcu',
      '__irq_exit_rcu',
      'handle_softirqs',
      '__do_softirq',
      'update_process_times',
      'tick_\\w+',
      'hrtimer_\\w+',
      '__hrtimer_run_queues',
      'watchdog_timer_fn',
      'rcu_\\w+',
      'print_cpu_stall',
      'check_cpu_stall',
      'rcu_pending',
      // scheduling and blocking (a hung task sleeps in them)
      '__schedule_bug',
      '__schedule',
      'schedule',
      'schedule_preempt_disabled',
      'schedule_timeout(?:_\\w+)?',
      'io_schedule(?:_timeout)?',
      '__wait_for_common',
      'wait_for_completion(?:_\\w+)?',
      'do_wait_for_common',
      '__mutex_lock(?:_\\w+)?',
      'mutex_lock(?:_\\w+)?',
      'rwsem_down_\\w+',
      'down_(?:read|write)(?:_\\w+)?',
      '__down_\\w+',
      'down',
      'bit_wait(?:_io)?',
      '__wait_on_bit(?:_lock)?',
      'out_of_line_wait_on_bit(?:_lock)?',
      // the OOM killer and the allocator
      'dump_header',
      'oom_kill_process',
      'out_of_memory',
      '__alloc_pages\\w*',
      'alloc_pages\\w*',
      '__alloc_frozen_pages\\w*',
      'alloc_frozen_pages\\w*',
      'folio_alloc\\w*',
      'vma_alloc_folio\\w*',
      '__folio_alloc\\w*',
      '__get_free_pages',
      // thread entry
      'kthread',
      'ret_from_fork(?:_asm)?',
      'worker_thread',
      'process_one_work',
      'process_scheduled_works',
    ].join('|') +
    ')$',
);

function meaningful(frames: string[]): string[] {
  return frames.filter((f) => !GENERIC_FRAME.test(f));
}

// ---------------------------------------------------------------------------
// Finding splats

/** Addresses, pointers and counts vary from run to run; the words around them do not. */
function mask(text: string): string {
  return text
    .replace(/\(____ptrval____\)/g, 'X')
    .replace(/\b0x[0-9a-f]+\b/gi, 'X')
    .replace(/\b[0-9a-f]{8,16}\b/gi, 'X')
    .replace(/\b\d+\b/g, 'N')
    .replace(/\s+/g, ' ')
    .trim();
}

/** `func+0x5/0x10` -> `func`. */
function symbolOf(text: string): string {
  return frameName(text.replace(/\+0x[0-9a-f]+\/0x[0-9a-f]+$/, ''));
}

interface Block {
  header: Header;
  tags: Set<Tag>;
  start: number;
  /** Exclusive. */
  end: number;
  /** A "Call Trace:" line was seen: the headline part of the report is over. */
  traced: boolean;
}

/** Headlines of one report come within this many lines of its first (cut here, WARNING, then up to ~10 lines of registers before the trace). */
const HEADLINE_WINDOW = 12;

/**
 * The kernel splats in a console log, in order. A panic that only follows
 * from an earlier splat ("Fatal exception" after an oops, panic_on_warn)
 * is its own splat, with `cause` naming the earlier one.
 */
export function findSplats(console: string): Splat[] {
  const cleaned = console.split('\n').map(cleanLine);
  const text = cleaned.map((l) => l.text);
  // Programs print "BUG:" and "WARNING:" too (test output, scripts). When the
  // kernel stamps its lines, only stamped lines can open a splat.
  const stamped = cleaned.some((l) => l.kernel);
  const blocks: Block[] = [];
  let open: Block | null = null;

  const close = (end: number) => {
    if (open) {
      open.end = end;
      blocks.push(open);
      open = null;
    }
  };

  for (let i = 0; i < text.length; i++) {
    const line = text[i]!;
    const h = !stamped || cleaned[i]!.kernel ? header(line) : null;
    if (open !== null) {
      const o: Block = open;
      if (h && joins(o, h) && (h.tag === 'oom-killed' || (!o.traced && i - o.start <= HEADLINE_WINDOW))) {
        o.tags.add(h.tag);
        // "kernel BUG at" after "cut here" makes it a BUG; the list corruption message keeps its kind.
        if (o.header.tag === 'cut' && h.tag === 'kbug') o.header = h;
        if (h.tag === 'oom-killed') close(i + 1);
        continue;
      }
      if (!h) {
        if (CALL_TRACE.test(line)) o.traced = true;
        if (closes(o, i, text) || i - o.start >= MAX_SCAN) close(i + 1);
        continue;
      }
      close(i);
    }
    if (h) {
      open = { header: h, tags: new Set([h.tag]), start: i, end: i + 1, traced: false };
      // An OOM kill line alone (the oom-killer report was below the console loglevel) is the whole report.
      if (h.tag === 'oom-killed') close(i + 1);
    }
  }
  close(text.length);

  const splats: Splat[] = [];
  for (const b of blocks) {
    const s = describe(b, text);
    if (!s) continue;
    if (s.kind === 'panic' || s.kind === 'boot-failure') {
      const message = PANIC.exec(text[b.start]!)?.[1] ?? '';
      if (CONSEQUENCE_PANIC.test(message) && splats.length > 0) {
        s.cause = splats.length - 1;
        // "Fatal exception" names no bug; the splat that caused it does.
        s.fingerprint = `${s.kind}: ${mask(message)} <- ${splats[s.cause]!.fingerprint}`;
      }
    }
    splats.push(s);
  }
  return splats;
}

/** Does line i end the open splat (inclusive)? */
function closes(o: Block, i: number, text: string[]): boolean {
  const line = text[i]!;
  switch (o.header.closer) {
    case 'end-trace':
      return END_TRACE.test(line);
    case 'rule':
      return RULE.test(line);
    case 'ubsan':
      return END_TRACE.test(line) || RULE.test(line);
    case 'oom':
      return false;
    case 'panic':
      return END_PANIC.test(line) || /^Kernel Offset: /.test(line) || /^Rebooting in \d+ seconds/.test(line);
    case 'trace':
      return o.traced && (/^\s*<\/TASK>\s*$/.test(line) || traceEndsAfter(o, i, text));
  }
}

/**
 * Traces without <TASK> markers (older kernels, arm64) end at the first line
 * after the frames that is neither a frame nor a register dump.
 */
function traceEndsAfter(o: Block, i: number, text: string[]): boolean {
  const next = text[i + 1];
  if (next === undefined) return false;
  const body = text.slice(o.start, i + 1);
  const ct = body.findIndex((l) => CALL_TRACE.test(l));
  if (body.slice(ct).some((l) => /^\s*<TASK>\s*$/.test(l))) return false;
  const inTrace = (l: string) =>
    FRAME.test(l) || REGISTERS.test(l) || TRACE_MARKER.test(l) || KERNEL_IP.test(l) || REGISTERS_MORE.test(l);
  return FRAME.test(text[i]!) && !inTrace(next);
}

function describe(b: Block, text: string[]): Splat | null {
  const lines = text.slice(b.start, b.end);
  const frames = traceFrames(lines);
  const top = meaningful(frames);
  const fn = top[0] ?? frames[0] ?? null;
  const inFn = fn ? ` in ${fn}` : '';
  let kind = b.header.kind;
  let title = lines[0]!;
  let key = mask(title);
  let useFrames = true;

  const find = (re: RegExp) => {
    for (const l of lines) {
      const m = re.exec(l);
      if (m) return m;
    }
    return null;
  };

  switch (kind) {
    case 'warning': {
      const w = find(WARNING);
      if (!w) return null; // "cut here" with nothing after it: the console was cut.
      const at = lines.findIndex((l) => WARNING.test(l));
      // WARN(cond, "fmt") prints its message between "cut here" and WARNING.
      const message = lines
        .slice(CUT_HERE.test(lines[0]!) ? 1 : 0, at)
        .join(' ')
        .trim();
      title = `WARNING in ${symbolOf(w[3]!)} (${w[1]}:${w[2]})${message ? `: ${message}` : ''}`;
      key = mask(message);
      break;
    }
    case 'bug': {
      const kb = find(KERNEL_BUG);
      if (kb) {
        title = `kernel BUG in ${frames[0] ?? '?'} (${kb[1]}:${kb[2]})`;
        key = 'kernel BUG';
        break;
      }
      const m = BUG.exec(lines[0]!)!;
      // "scheduling while atomic: insmod/136/0x00000002", "sleeping function called from invalid context at mm/x.c:12"
      const what = m[1]!.replace(/: .*$/, '').replace(/ at \S+:\d+$/, '');
      title = `BUG: ${what}${inFn}`;
      key = mask(what);
      break;
    }
    case 'list-corruption': {
      title = `${lines[0]!}${inFn}`;
      key = mask(lines[0]!);
      break;
    }
    case 'oops': {
      const first = lines[0]!;
      const what = NULL_DEREF.test(first)
        ? 'BUG: kernel NULL pointer dereference'
        : PAGE_FAULT.test(first)
          ? 'BUG: unable to handle page fault'
          : `Oops: ${OOPS.exec(first)?.[1] ?? 'Oops'}`;
      title = `${what}${inFn}`;
      key = what;
      break;
    }
    case 'kasan': {
      const m = KASAN.exec(lines[0]!)!;
      const access = find(/^(Read|Write) of size \d+/)?.[1] ?? '';
      title = `KASAN: ${m[1]}${access ? ` ${access}` : ''} in ${symbolOf(m[2]!)}`;
      key = mask(`${m[1]} ${access}`);
      break;
    }
    case 'kfence': {
      const m = KFENCE.exec(lines[0]!)!;
      title = `KFENCE: ${m[1]} in ${symbolOf(m[2]!)}`;
      key = mask(m[1]!);
      break;
    }
    case 'ubsan': {
      const m = UBSAN.exec(lines[0]!)!;
      title = lines[0]!;
      key = `${m[1]} in ${m[2]}`;
      break;
    }
    case 'soft-lockup': {
      const stuck = /stuck for (\d+s)/.exec(lines[0]!)?.[1];
      title = `BUG: soft lockup${inFn}${stuck ? ` (stuck for ${stuck})` : ''}`;
      key = 'soft lockup';
      break;
    }
    case 'hard-lockup':
      title = `hard LOCKUP${inFn}`;
      key = 'hard LOCKUP';
      break;
    case 'rcu-stall': {
      const m = RCU_STALL.exec(lines[0]!)!;
      title = `RCU stall${inFn} (${m[1]} ${m[2]})`;
      key = 'stall';
      break;
    }
    case 'hung-task': {
      const m = HUNG_TASK.exec(lines[0]!)!;
      // The task's name is not in the key: "kworker/0:1" today is "kworker/1:2" tomorrow.
      title = `INFO: task ${m[1]} hung${inFn} (${lines[0]!.replace(/^INFO: task .+?:\d+ /, '').replace(/\.$/, '')})`;
      key = 'task hung';
      break;
    }
    case 'oom': {
      const killed = find(OOM_KILLED);
      const invoker = OOM_INVOKED.exec(lines[0]!)?.[1];
      const constraint = find(/\bconstraint=(\w+)/)?.[1];
      title = killed ? `Out of memory: killed ${killed[1]}` : `${invoker} invoked oom-killer`;
      if (constraint) title += ` (${constraint})`;
      // Where an allocation failed is the workload's luck, not the bug: the same hog fails in a page fault one run and in pipe_write the next.
      key = constraint ? `out of memory ${constraint}` : 'out of memory';
      useFrames = false;
      break;
    }
    case 'lockdep': {
      const m = LOCKDEP.exec(lines[0]!)!;
      title = `WARNING: ${m[1]}${inFn}`;
      key = m[1]!;
      break;
    }
    case 'panic':
    case 'boot-failure': {
      const message = PANIC.exec(lines[0]!)?.[1] ?? '';
      if (BOOT_PANIC.test(message) || lines.some((l) => BEFORE_INIT.test(l))) kind = 'boot-failure';
      title = `Kernel panic - not syncing: ${message}`;
      key = mask(message);
      break;
    }
  }

  const shown = useFrames ? top.slice(0, FINGERPRINT_FRAMES) : [];
  const fingerprint = [kind, key ? `: ${key}` : '', shown.length ? ` | ${shown.join(' < ')}` : ''].join('');
  return { kind, title, frames, fingerprint, line: b.start, excerpt: lines.slice(0, MAX_EXCERPT), cause: null };
}

// ---------------------------------------------------------------------------
// Known splats

const KnownSplatSchema = z.strictObject({
  pattern: z.string().trim().min(1, 'pattern must not be empty'),
  reason: z.string().trim().min(1, 'every known splat needs a reason'),
  trees: z.array(z.string().trim().min(1)).min(1).optional(),
});

/**
 * The known-splats file: a YAML list of { pattern, reason, trees? }. An
 * empty file (or one with only comments) is an empty list. Errors name the
 * file and the entry.
 */
export function parseKnownSplats(yamlText: string, source: string): KnownSplat[] {
  let doc: unknown;
  try {
    doc = parse(yamlText);
  } catch (err) {
    throw new Error(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return [];
  if (!Array.isArray(doc)) throw new Error(`${source}: must be a YAML list of { pattern, reason, trees? }`);
  return doc.map((entry, i) => {
    const r = KnownSplatSchema.safeParse(entry);
    if (!r.success) {
      const issues = r.error.issues
        .map((x) => `${x.path.length ? `${x.path.join('.')}: ` : ''}${x.message}`)
        .join('; ');
      throw new Error(`${source}: entry ${i}: ${issues}`);
    }
    try {
      patternRegExp(r.data.pattern);
    } catch (err) {
      throw new Error(
        `${source}: entry ${i}: bad pattern ${JSON.stringify(r.data.pattern)}: ${(err as Error).message}`,
      );
    }
    const k: KnownSplat = { pattern: r.data.pattern, reason: r.data.reason };
    if (r.data.trees) k.trees = r.data.trees;
    return k;
  });
}

function globRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** `/re/flags` is a regular expression (searched); anything else a glob over the whole string. */
function patternRegExp(pattern: string): RegExp {
  const re = /^\/(.*)\/([a-z]*)$/s.exec(pattern);
  return re ? new RegExp(re[1]!, re[2]) : globRegExp(pattern);
}

function knownFor(splat: Splat, known: KnownSplat[], tree: string): KnownSplat | undefined {
  return known.find((k) => {
    if (k.trees && !k.trees.some((t) => globRegExp(t).test(tree))) return false;
    const re = patternRegExp(k.pattern);
    return re.test(splat.fingerprint) || re.test(splat.title);
  });
}

/**
 * Split splats into those that fail the run and those a known-splats entry
 * covers on this tree. A panic caused by an ignored splat (panic_on_warn
 * after a known WARNING) is ignored with it: it is the same event.
 */
export function classifySplats(splats: Splat[], known: KnownSplat[], tree: string): SplatClassification {
  const fatal: Splat[] = [];
  const ignored: { splat: Splat; reason: string }[] = [];
  const reasons = new Map<number, string>();
  splats.forEach((splat, i) => {
    const k = knownFor(splat, known, tree);
    let reason = k?.reason;
    if (reason === undefined && splat.cause !== null && reasons.has(splat.cause)) {
      reason = `caused by an ignored splat: ${reasons.get(splat.cause)}`;
    }
    if (reason === undefined) {
      fatal.push(splat);
    } else {
      reasons.set(i, reason);
      ignored.push({ splat, reason });
    }
  });
  return { fatal, ignored };
}
