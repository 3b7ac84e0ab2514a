/**
 * Reading a kernel build log: compiler, assembler, linker, modpost, objtool
 * and Kconfig diagnostics, the targets make reported failing, and kbuild's
 * quiet step lines. Pure (no I/O), so it is tested on real captured logs
 * (test/fixtures/build/README.md says how each was made).
 */

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  severity: Severity;
  /** Path relative to the kernel source root (strip /ksci/src/, /ksci/obj/, leading ./ and ../ prefixes), or null. */
  file: string | null;
  line: number | null;
  column: number | null;
  message: string;
  /** gcc/clang option in brackets, e.g. "-Wunused-variable"; null if none. */
  flag: string | null;
  tool: 'compiler' | 'linker' | 'modpost' | 'objtool' | 'kconfig' | 'make' | 'other';
  /** The lines that explain it: "In function ..."/"In file included from ..." before, source snippet and notes after. Capped (~20 lines). */
  context: string[];
}

export interface BuildLogAnalysis {
  /** De-duplicated. */
  errors: Diagnostic[];
  /** De-duplicated: a header warning repeated by every unit that includes it counts once. */
  warnings: Diagnostic[];
  firstError: Diagnostic | null;
  /** Targets make reported failing: "net/core/skbuff.o" from `make[4]: *** [scripts/Makefile.build:229: net/core/skbuff.o] Error 1`. */
  failedTargets: string[];
  /** Objects compiled in this build, from kbuild's quiet lines (CC, AS, HOSTCC): "net/core/skbuff.o". */
  compiledUnits: string[];
  /** Kbuild step lines counted (CC, AS, LD, AR, ...), for progress and to size the next build. */
  steps: number;
  /** The build tried to reach the network (resolver/connect failures seen). */
  networkAttempt: boolean;
}

export const MAX_CONTEXT = 20;
/** Output printed this many kbuild steps before a failure is too old to be the failing recipe's. */
const RECIPE_STEP_WINDOW = 50;

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
/** Production mounts the source and build dirs here; reports speak of source-relative paths. */
const SANDBOX_ROOTS = /\/ksci\/(?:src|obj)\//g;

/** kbuild's quiet mode: printf "  %-7s %s" -> `  CC      net/core/skbuff.o`, `  CC [M]  drivers/x.o`. */
const STEP = /^ {2}([A-Z][A-Z0-9_-]{0,11})(?: \[[A-Z]\])? +(\S.*)$/;
/** Steps that compile one object; their target's source is what a warning points at. */
const COMPILE_TAGS = new Set(['CC', 'AS', 'HOSTCC', 'HOSTCXX', 'CXX']);

/** gcc/clang/gas: `file:line[:col]: severity: message [-Wflag]`. gas capitalises Error/Warning. */
const LOCATED =
  /^(\S.*?):(\d+):(?:(\d+):)? (fatal error|internal compiler error|error|warning|note|Error|Warning): (.*)$/;
const FLAG = /^(.*) \[(-W[^\]]+)\]$/;
/** A driver speaking without a location: `gcc: error: unrecognized command-line option '-mfoo'`. */
const DRIVER =
  /^(?:\S*\/)?(?:gcc|cc1|cc1plus|clang|g\+\+|cc|as|ccache)(?:-[\d.]+)?: (fatal error|error|warning): (.*)$/;
/** gcc's source excerpt (` 6218 |   meta = ...`, `      |   ^~~~`) and fix-it lines (`  +++ |+#include`). */
const SNIPPET = /^\s*(?:\d+|\+{3})?\s+\|/;
/** clang prints the source line bare, so it is only recognisable by the caret line under it. */
const CARET = /^\s*[~^ ]*\^[~^ ]*$/;
const INCLUDE_FIRST = /^In file included from \S/;
const INCLUDE_MORE = /^\s+from \S/;
const SCOPE =
  /^\S+: (?:In (?:static |member )?function|In constructor|In destructor|In instantiation of|At top level|At global scope|Assembler messages)/;
/** Lines that only restate the failure of the diagnostic before them. */
const CONSEQUENCE =
  /^(?:cc1(?:plus)?: (?:all|some) warnings being treated as errors|compilation terminated\.|collect2: error: ld returned \d+ exit status|\d+ (?:warning|error)s? generated\.|.*: more undefined references to .* follow)$/;

const OBJTOOL = /^(\S+): (warning|error): objtool: (.*)$/;
const MODPOST = /^(WARNING|ERROR|FATAL): modpost: (.*)$/;
const KCONFIG_LOCATED = /^(\S*(?:Kconfig[\w.-]*|\.config)):(\d+):\s*(?:(warning|error|note):\s*)?(.*)$/;
const KCONFIG_UNMET = /^WARNING: (unmet direct dependencies detected for .*)$/;

const LD = /^(?:\S*\/)?(?:[\w.-]+-)?ld(?:\.bfd|\.gold|\.lld)?: (.*)$/;
const LD_IN_FUNCTION = /^(\S+): in function [`'].*':$/;
/** `skbuff.c:(.text+0x662a): undefined reference to ...`, or `file.c:123: ...` with debug info. */
const LD_REFERENCE =
  /^(\S+?):(?:\([^)]*\)|(\d+)): ((?:undefined reference to|multiple definition of|relocation truncated to fit|dangerous relocation)\b.*)$/;
/** lld's follow-up lines: `>>> referenced by skbuff.c:123 (net/core/skbuff.c:123)`. */
const LLD_MORE = /^>>> /;

const MAKE = /^(?:\S*\/)?g?make(?:\[(\d+)\])?: (.*)$/;
/** `*** [scripts/Makefile.build:234: net/core/skbuff.o] Error 1`; make < 4.3 omits the makefile location. */
const MAKE_FAILED =
  /^\*\*\* \[(?:(\S+?):(\d+): )?(.+?)\] (Error \d+|Killed|Terminated|Interrupt|Segmentation fault.*|Aborted.*)$/;
const MAKE_NO_RULE = /^\*\*\* No rule to make target '([^']+)'.*$/;
/** `net/core/Makefile:50: *** missing separator.  Stop.`, also what $(error ...) prints. */
const MAKEFILE_ERROR = /^(\S+?):(\d+): \*\*\* (.*?)\.?\s+Stop\.$/;
const MAKEFILE = /(?:^|\/)(?:Makefile|Kbuild)(?:\.[\w.-]+)?$|\.mk$/;
const KCONFIG_FILE = /(?:^|\/)Kconfig[\w.-]*$|\.config$/;

/**
 * What a tool prints when it cannot reach the network: the sandbox has no
 * network namespace access and no resolv.conf, so lookups and connects fail.
 */
const NETWORK = new RegExp(
  [
    'Network is unreachable',
    'Could not resolve host',
    "Couldn't resolve host",
    'Could not resolve hostname',
    'unable to resolve host address',
    'Temporary failure in name resolution',
    'Name or service not known',
    'No address associated with hostname',
    'getaddrinfo',
    'Failed to connect to',
    '/dev/(?:tcp|udp)/',
  ].join('|'),
);

/** Paths as the sandbox shows them (/ksci/src/..., ../include/...) become source-relative. */
export function normalisePath(p: string): string {
  return p
    .trim()
    .replace(/^\/ksci\/(?:src|obj)\//, '')
    .replace(/^(?:\.\.?\/)+/, '');
}

/** True if this output line is a kbuild step (for live progress counting). */
export function isBuildStep(line: string): boolean {
  return STEP.test(line.replace(ANSI, '').replace(/\r$/, ''));
}

export function analyzeBuildLog(log: string): BuildLogAnalysis {
  const lines = log
    .replace(ANSI, '')
    .split(/\r?\n/)
    .map((l) => l.replace(SANDBOX_ROOTS, ''));
  const reader = new LogReader();
  for (const [i, line] of lines.entries()) reader.read(line, lines[i + 1] ?? '');
  return reader.finish();
}

interface MakeFailure {
  /** N of make[N]: the recursion depth, 0 for the top-level make. */
  level: number;
  target: string;
  makefile: string | null;
  line: number | null;
  status: string;
  /** The recipe's output, then make's own line. */
  output: string[];
}

/**
 * One pass over the log. gcc prints a diagnostic as several lines (scope and
 * include chain before, excerpt and notes after) and -j2 interleaves the
 * other job's step lines between them, so the reader keeps the diagnostic
 * those follow-up lines belong to instead of matching lines in isolation.
 */
class LogReader {
  private readonly diagnostics: Diagnostic[] = [];
  /** The diagnostic that following excerpt/note lines belong to. */
  private current: Diagnostic | null = null;
  /** Scope and include-chain lines waiting for the located line they introduce. */
  private pending: string[] = [];
  /** modpost and Kconfig explain themselves in free text on the following lines. */
  private freeText = false;
  /** `ld: net/core/skbuff.o: in function ...`: the object the next reference lines are about. */
  private linkerObject: string | null = null;
  /** Output nothing recognised, with the step count when it was printed: what a failing recipe said. */
  private recent: { line: string; step: number }[] = [];
  private readonly failures: MakeFailure[] = [];
  private readonly failedTargets = new Set<string>();
  private readonly units = new Set<string>();
  private steps = 0;
  private network = false;

  read(line: string, next: string): void {
    if (NETWORK.test(line)) this.network = true;
    if (line.trim() === '') return;
    const handled =
      this.step(line) ||
      this.make(line) ||
      this.followUp(line, next) ||
      this.located(line) ||
      this.objtool(line) ||
      this.modpost(line) ||
      this.kconfig(line) ||
      this.linker(line) ||
      this.driver(line);
    if (handled) return;
    if (this.freeText && this.current) {
      this.addContext(this.current, [line]);
      return;
    }
    this.remember(line);
  }

  finish(): BuildLogAnalysis {
    const all = dedupe(this.diagnostics);
    const errors = all.filter((d) => d.severity === 'error');
    const first = this.failures[0];
    // A recipe that failed without any diagnostic (a script, a download, a
    // host tool): make's own line is the error, explained by what the recipe printed.
    if (errors.length === 0 && first) {
      errors.push({
        severity: 'error',
        file: first.makefile,
        line: first.line,
        column: null,
        message: `recipe for ${first.target} failed (${first.status})`,
        flag: null,
        tool: 'make',
        context: first.output.slice(-MAX_CONTEXT),
      });
    }
    return {
      errors,
      warnings: all.filter((d) => d.severity === 'warning'),
      firstError: errors[0] ?? null,
      failedTargets: [...this.failedTargets],
      compiledUnits: [...this.units],
      steps: this.steps,
      networkAttempt: this.network,
    };
  }

  private remember(line: string): void {
    this.recent.push({ line, step: this.steps });
    if (this.recent.length > MAX_CONTEXT) this.recent.shift();
  }

  /**
   * What the failing recipe printed. With -j the other jobs' step lines land
   * in between (hostile-network.log), so steps do not cut it short; only
   * output from long before is left out.
   */
  private recipeOutput(): string[] {
    const out = this.recent.filter((r) => r.step >= this.steps - RECIPE_STEP_WINDOW).map((r) => r.line);
    this.recent = [];
    return out;
  }

  private step(line: string): boolean {
    const m = STEP.exec(line);
    if (!m) return false;
    this.steps++;
    const target = normalisePath(m[2]!);
    if (COMPILE_TAGS.has(m[1]!) && target.endsWith('.o')) this.units.add(target);
    // The current diagnostic stays open: -j2 puts steps between its lines.
    this.freeText = false;
    this.linkerObject = null;
    return true;
  }

  private make(line: string): boolean {
    const located = MAKEFILE_ERROR.exec(line);
    if (located) {
      this.add({
        severity: 'error',
        file: normalisePath(located[1]!),
        line: Number(located[2]),
        column: null,
        message: located[3]!,
        flag: null,
        tool: 'make',
        context: [line],
      });
      return true;
    }
    const m = MAKE.exec(line);
    if (!m) return false;
    const level = m[1] ? Number(m[1]) : 0;
    const text = m[2]!;
    this.endBlock();
    const failed = MAKE_FAILED.exec(text);
    if (failed) {
      this.failed(level, failed, line);
      return true;
    }
    const noRule = MAKE_NO_RULE.exec(text);
    if (noRule) {
      this.failedTargets.add(normalisePath(noRule[1]!));
      this.add({
        severity: 'error',
        file: null,
        line: null,
        column: null,
        message: text.replace(/^\*\*\* /, '').replace(/\.?\s+Stop\.$/, ''),
        flag: null,
        tool: 'make',
        context: [line],
      });
      return true;
    }
    if (/^\[.*\] .* \(ignored\)$/.test(text)) {
      // `-`-prefixed recipe lines: make goes on, and so does the recipe's output.
      this.remember(line);
      return true;
    }
    if (/^\*\*\* (?:Waiting for unfinished jobs|Deleting (?:intermediate )?file)/.test(text)) return true;
    if (text.startsWith('*** ')) {
      this.add({
        severity: 'error',
        file: null,
        line: null,
        column: null,
        message: text.slice(4).replace(/\.?\s+Stop\.$/, ''),
        flag: null,
        tool: 'make',
        context: [line],
      });
    } else if (text.startsWith('warning: ')) {
      // Clock skew and jobserver trouble: worth seeing, as cp -a'd build dirs depend on mtimes.
      this.add({
        severity: 'warning',
        file: null,
        line: null,
        column: null,
        message: text.slice('warning: '.length),
        flag: null,
        tool: 'make',
        context: [line],
      });
    }
    return true;
  }

  /**
   * make exits 2 when a sub-make failed, so an "Error 2" printed after a
   * failure deeper down (net/core, net, ., __sub-make) only relays it.
   */
  private failed(level: number, m: RegExpExecArray, line: string): void {
    const status = m[4]!;
    const relayed = status === 'Error 2' && this.failures.some((f) => f.level > level);
    const output = [...this.recipeOutput(), line];
    if (relayed) return;
    const target = normalisePath(m[3]!);
    this.failedTargets.add(target);
    this.failures.push({
      level,
      target,
      makefile: m[1] ? normalisePath(m[1]) : null,
      line: m[2] ? Number(m[2]) : null,
      status,
      output,
    });
  }

  /** Lines that continue or introduce a located diagnostic. */
  private followUp(line: string, next: string): boolean {
    if (SNIPPET.test(line) || (CARET.test(line) && this.current)) {
      if (this.current) this.addContext(this.current, [line]);
      return true;
    }
    if (INCLUDE_FIRST.test(line) || INCLUDE_MORE.test(line) || SCOPE.test(line)) {
      this.pending.push(line);
      this.freeText = false;
      return true;
    }
    if (CONSEQUENCE.test(line) || (LLD_MORE.test(line) && this.current)) {
      if (this.current) this.addContext(this.current, [line]);
      return true;
    }
    // clang's bare source line: known by the caret line that follows it.
    if (this.current?.tool === 'compiler' && CARET.test(next) && !STEP.test(line)) {
      this.addContext(this.current, [line]);
      return true;
    }
    return false;
  }

  private located(line: string): boolean {
    const m = LOCATED.exec(line);
    if (!m) return false;
    const [, rawFile, lineNo, col, kind, text] = m as unknown as [
      string,
      string,
      string,
      string | undefined,
      string,
      string,
    ];
    const file = normalisePath(rawFile);
    const before = compressIncludeChain(this.pending);
    this.pending = [];
    this.freeText = false;
    if (kind === 'note') {
      if (this.current) {
        this.addContext(this.current, [...before, line]);
        // A diagnostic inside a macro is reported where the macro is
        // defined (kern_levels.h for a pr_debug format); the outermost
        // expansion is the line the author wrote, and the one a patch touches.
        if (text.startsWith('in expansion of macro '))
          Object.assign(this.current, { file, line: Number(lineNo), column: col ? Number(col) : null });
      }
      return true;
    }
    const flagged = FLAG.exec(text);
    const tool: Diagnostic['tool'] = MAKEFILE.test(file) ? 'make' : KCONFIG_FILE.test(file) ? 'kconfig' : 'compiler';
    this.open({
      severity: /error/i.test(kind) ? 'error' : 'warning',
      file,
      line: Number(lineNo),
      column: col ? Number(col) : null,
      message: flagged ? flagged[1]! : text,
      flag: flagged ? flagged[2]! : null,
      tool,
      context: [...before, line],
    });
    return true;
  }

  private objtool(line: string): boolean {
    const m = OBJTOOL.exec(line);
    if (!m) return false;
    // The object, not its source: objtool reads the .o (vmlinux.o for whole-kernel checks).
    this.open({
      severity: m[2] as Severity,
      file: normalisePath(m[1]!),
      line: null,
      column: null,
      message: m[3]!,
      flag: null,
      tool: 'objtool',
      context: [line],
    });
    return true;
  }

  private modpost(line: string): boolean {
    const m = MODPOST.exec(line);
    if (!m) return false;
    const text = m[2]!;
    const module = /^"[^"]+" \[([^\]]+)\]/.exec(text)?.[1] ?? /^(\S+\.k?o):/.exec(text)?.[1] ?? null;
    this.open({
      severity: m[1] === 'WARNING' ? 'warning' : 'error',
      file: module ? normalisePath(module) : null,
      line: null,
      column: null,
      message: text,
      flag: null,
      tool: 'modpost',
      context: [line],
    });
    this.freeText = true;
    return true;
  }

  private kconfig(line: string): boolean {
    const unmet = KCONFIG_UNMET.exec(line);
    if (unmet) {
      this.open({
        severity: 'warning',
        file: null,
        line: null,
        column: null,
        message: unmet[1]!,
        flag: null,
        tool: 'kconfig',
        context: [line],
      });
      this.freeText = true;
      return true;
    }
    const m = KCONFIG_LOCATED.exec(line);
    if (!m) return false;
    // Kconfig writes `net/Kconfig:49:warning: ...` (no space) and bare `net/Kconfig:12: syntax error`.
    this.open({
      severity: m[3] === 'warning' ? 'warning' : 'error',
      file: normalisePath(m[1]!),
      line: Number(m[2]),
      column: null,
      message: m[4]!,
      flag: null,
      tool: 'kconfig',
      context: [line],
    });
    return true;
  }

  private linker(line: string): boolean {
    const ref = LD_REFERENCE.exec(line);
    if (ref) {
      const context = this.linkerObject ? [...this.pending, line] : [line];
      this.pending = [];
      this.open({
        severity: 'error',
        file: linkerSource(ref[1]!, this.linkerObject),
        line: ref[2] ? Number(ref[2]) : null,
        column: null,
        message: ref[3]!,
        flag: null,
        tool: 'linker',
        context,
      });
      return true;
    }
    const m = LD.exec(line);
    if (!m) return false;
    const text = m[1]!;
    const inFunction = LD_IN_FUNCTION.exec(text);
    if (inFunction) {
      this.endBlock();
      this.linkerObject = normalisePath(inFunction[1]!);
      this.pending = [line];
      return true;
    }
    const warning = /^warning: (.*)$/.exec(text);
    const body = warning ? warning[1]! : text.replace(/^error: /, '');
    const object = /^(\S+\.o): /.exec(body)?.[1] ?? null;
    this.open({
      severity: warning ? 'warning' : 'error',
      file: object ? normalisePath(object) : null,
      line: null,
      column: null,
      message: body,
      flag: null,
      tool: 'linker',
      context: [line],
    });
    return true;
  }

  private driver(line: string): boolean {
    const m = DRIVER.exec(line);
    if (!m) return false;
    this.open({
      severity: m[1] === 'warning' ? 'warning' : 'error',
      file: null,
      line: null,
      column: null,
      message: m[2]!,
      flag: null,
      tool: 'compiler',
      context: [line],
    });
    return true;
  }

  private open(d: Diagnostic): void {
    this.freeText = false;
    d.context = d.context.slice(0, MAX_CONTEXT);
    this.add(d);
    this.current = d;
  }

  private add(d: Diagnostic): void {
    this.diagnostics.push(d);
  }

  private endBlock(): void {
    this.current = null;
    this.pending = [];
    this.freeText = false;
  }

  private addContext(d: Diagnostic, lines: string[]): void {
    for (const l of lines) if (d.context.length < MAX_CONTEXT) d.context.push(l);
  }
}

/**
 * A header warning's include chain can run to ten lines and would push the
 * excerpt and notes out of a short report: keep the header that did the
 * including and the unit at the bottom of the chain.
 */
function compressIncludeChain(lines: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!INCLUDE_FIRST.test(lines[i]!)) {
      out.push(lines[i]!);
      continue;
    }
    let end = i;
    while (end + 1 < lines.length && INCLUDE_MORE.test(lines[end + 1]!)) end++;
    out.push(lines[i]!);
    if (end > i) out.push(lines[end]!);
    i = end;
  }
  return out;
}

/**
 * ld names the source by its basename only (`skbuff.c:(.text+0x662a)`); the
 * object in the preceding "in function" line says which directory.
 */
function linkerSource(file: string, object: string | null): string {
  if (file.includes('/') || !object) return normalisePath(file);
  const dir = object.includes('/') ? object.slice(0, object.lastIndexOf('/') + 1) : '';
  const stem = (p: string) => p.slice(p.lastIndexOf('/') + 1).replace(/\.[^.]+$/, '');
  return stem(object) === stem(file) ? `${dir}${file}` : file;
}

/** Same tool, place, message and flag: one diagnostic, however many units repeated it. */
function dedupe(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const id = [d.severity, d.tool, d.file, d.line, d.column, d.message, d.flag].join('|');
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** Identity of a warning that survives line shifts: file + flag + message with numbers/quoted line refs normalised. */
export function warningKey(d: Diagnostic): string {
  // Offsets (skb_foo+0x33), line references (declared at x.c:123) and
  // sizes in messages move with unrelated edits.
  const message = d.message
    .replace(SANDBOX_ROOTS, '')
    .replace(/0x[0-9a-fA-F]+/g, 'N')
    .replace(/\d+/g, 'N');
  return [d.tool, d.file ?? '', d.flag ?? '', message].join('|');
}

/** Warnings a series added/removed relative to its base (multiset by warningKey). */
export function warningDelta(
  base: Diagnostic[],
  series: Diagnostic[],
): { before: number; after: number; added: Diagnostic[]; removed: Diagnostic[] } {
  return {
    before: base.length,
    after: series.length,
    added: multisetMinus(series, base),
    removed: multisetMinus(base, series),
  };
}

/** The members of `a` left over after each of `b` cancels one with the same key. */
function multisetMinus(a: Diagnostic[], b: Diagnostic[]): Diagnostic[] {
  const counts = new Map<string, number>();
  for (const d of b) counts.set(warningKey(d), (counts.get(warningKey(d)) ?? 0) + 1);
  return a.filter((d) => {
    const n = counts.get(warningKey(d)) ?? 0;
    if (n === 0) return true;
    counts.set(warningKey(d), n - 1);
    return false;
  });
}

const SOURCE_EXTENSIONS = ['.c', '.S', '.s', '.cc', '.cpp', '.rs'];

/**
 * Incremental builds only recompile what changed, so their logs hold only the warnings of rebuilt files.
 * Keep a "current warnings of the whole tree" list: drop previous warnings whose file is one of the
 * recompiled units' sources (net/core/skbuff.o -> net/core/skbuff.c) or one of `changedFiles`, then add this build's warnings.
 *
 * Also dropped: a previous warning this build printed again (its fresh copy
 * has the current line), and link-time warnings (ld, modpost, objtool on
 * vmlinux.o) once a successful build recompiled anything, since that relinks
 * vmlinux and the link prints them again if they still hold.
 */
export function updateWarnings(
  previous: Diagnostic[],
  analysis: BuildLogAnalysis,
  changedFiles: string[],
): Diagnostic[] {
  const replaced = new Set(changedFiles.map(normalisePath));
  for (const unit of analysis.compiledUnits) {
    replaced.add(unit);
    const stem = unit.replace(/\.o$/, '');
    for (const ext of SOURCE_EXTENSIONS) replaced.add(stem + ext);
  }
  const reprinted = new Set(analysis.warnings.map(warningKey));
  const relinked = analysis.compiledUnits.length > 0 && analysis.errors.length === 0;
  const kept = previous.filter((w) => {
    if (reprinted.has(warningKey(w))) return false;
    if (w.file !== null && replaced.has(w.file)) return false;
    return !(relinked && isLinkTime(w));
  });
  return [...kept, ...analysis.warnings];
}

function isLinkTime(d: Diagnostic): boolean {
  if (d.tool === 'linker' || d.tool === 'modpost') return true;
  return d.tool === 'objtool' && (d.file === null || d.file === 'vmlinux.o' || !d.file.endsWith('.o'));
}
