/**
 * Reading a kernel build log: compiler, linker, modpost and objtool
 * diagnostics, make's failed targets, and kbuild's quiet step lines. Pure,
 * so it is tested on real captured logs.
 */

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  severity: Severity;
  /** Relative to the kernel source root, or null. */
  file: string | null;
  line: number | null;
  column: number | null;
  message: string;
  /** The option in brackets, e.g. "-Wunused-variable"; null if none. */
  flag: string | null;
  tool: 'compiler' | 'linker' | 'modpost' | 'objtool' | 'kconfig' | 'make' | 'other';
  /** "In function"/"In file included from" lines before, the source snippet and notes after. */
  context: string[];
}

export interface BuildLogAnalysis {
  errors: Diagnostic[];
  warnings: Diagnostic[];
  firstError: Diagnostic | null;
  /** Targets make reported failing, e.g. "net/core/skbuff.o". */
  failedTargets: string[];
  /** Objects compiled in this build (kbuild's CC/AS lines). */
  compiledUnits: string[];
  /** Kbuild step lines (CC, AS, LD, AR, ...): progress, and the size of the next build. */
  steps: number;
  /** The build tried to reach the network. */
  networkAttempt: boolean;
}

const MAX_CONTEXT = 20;
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
/** `  CC      net/core/skbuff.o`, `  CC [M]  drivers/x.o`, `  LD      vmlinux`. */
const STEP = /^ {2}([A-Z][A-Z0-9_-]{1,9})(?: \[M\])? +(\S+)/;
const COMPILER = /^(.+?):(\d+):(?:(\d+):)? (fatal error|error|warning): (.*?)(?: \[(-W[^\]]+)\])?$/;
const OBJTOOL = /^(\S+?): (warning|error): objtool: (.*)$/;
const MODPOST = /^(ERROR|WARNING): modpost: (.*)$/;
const LINK_REF = /^(\S+?):\(([^)]+)\): (undefined reference to .*|multiple definition of .*)$/;
const LD_ERROR = /^(?:\S*\/)?ld(?:\.[\w]+)?: (?:error: )?(.*)$/;
const MAKE_FAIL = /^make(?:\[\d+\])?: \*\*\* \[([^\]]+?)\] (Error \d+|Killed|Segmentation fault.*|Terminated)/;
const MAKE_NO_RULE = /^make(?:\[\d+\])?: \*\*\* (No rule to make target .*)$/;
const CONTEXT_BEFORE = /^(In file included from .*|\s+from .*|.+: In (function|member function|static function) .*:|.+: At top level:)$/;
const INCLUDE_CHAIN = /^(In file included from .*|\s+from .*)$/;
const SNIPPET = /^\s*\d*\s+\|/;
const NOTE = /^.+?:\d+:(?:\d+:)? note: /;
const NETWORK = /Network is unreachable|Could not resolve host|Temporary failure in name resolution|Name or service not known|No address associated with hostname|getaddrinfo|Connection refused|connect: /;

/** Paths as the sandbox shows them (/ksci/src/..., ./include/generated/...) become source-relative. */
export function normalisePath(p: string): string {
  return p
    .replace(/^\/ksci\/(src|obj)\//, '')
    .replace(/^(\.\.?\/)+/, '')
    .trim();
}

export function isBuildStep(line: string): boolean {
  return STEP.test(line.replace(ANSI, ''));
}

export function analyzeBuildLog(log: string): BuildLogAnalysis {
  const lines = log.replace(ANSI, '').replace(/\r/g, '').split('\n');
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  const seen = new Set<string>();
  const failedTargets: string[] = [];
  const units: string[] = [];
  let steps = 0;
  let networkAttempt = false;
  const makeFailures: { at: number; target: string; makefile: string | null; line: number | null; status: string }[] = [];

  const add = (d: Diagnostic) => {
    const id = `${d.severity}|${d.file}|${d.line}|${d.column}|${d.message}`;
    if (seen.has(id)) return;
    seen.add(id);
    (d.severity === 'error' ? errors : warnings).push(d);
  };

  for (const [i, line] of lines.entries()) {
    const step = STEP.exec(line);
    if (step) {
      steps++;
      if ((step[1] === 'CC' || step[1] === 'AS') && step[2]!.endsWith('.o')) units.push(step[2]!);
      continue;
    }
    if (NETWORK.test(line)) networkAttempt = true;

    const objtool = OBJTOOL.exec(line);
    if (objtool) {
      add({ severity: objtool[2] as Severity, file: normalisePath(objtool[1]!), line: null, column: null, message: objtool[3]!, flag: null, tool: 'objtool', context: [] });
      continue;
    }
    const cc = COMPILER.exec(line);
    if (cc) {
      const file = normalisePath(cc[1]!);
      const isKconfig = /(^|\/)Kconfig[\w.]*$|\.config$/.test(file);
      add({
        severity: cc[4] === 'warning' ? 'warning' : 'error',
        file,
        line: Number(cc[2]),
        column: cc[3] ? Number(cc[3]) : null,
        message: cc[5]!,
        flag: cc[6] ?? null,
        tool: isKconfig ? 'kconfig' : 'compiler',
        context: contextAround(lines, i),
      });
      continue;
    }
    const modpost = MODPOST.exec(line);
    if (modpost) {
      add({ severity: modpost[1] === 'ERROR' ? 'error' : 'warning', file: null, line: null, column: null, message: modpost[2]!, flag: null, tool: 'modpost', context: [] });
      continue;
    }
    const ref = LINK_REF.exec(line);
    if (ref) {
      add({ severity: 'error', file: normalisePath(ref[1]!), line: null, column: null, message: ref[3]!, flag: null, tool: 'linker', context: lines.slice(Math.max(0, i - 1), i).filter((l) => /in function/.test(l)) });
      continue;
    }
    const ld = LD_ERROR.exec(line);
    if (ld && !/: in function `/.test(line) && /error|undefined|cannot|multiple definition|not found/i.test(ld[1]!)) {
      add({ severity: 'error', file: null, line: null, column: null, message: ld[1]!, flag: null, tool: 'linker', context: [] });
      continue;
    }
    const fail = MAKE_FAIL.exec(line);
    if (fail) {
      // "[/ksci/src/scripts/Makefile.build:234: net/core/skbuff.o]": the makefile location, then the target.
      const where = /^(.+?):(\d+): (.+)$/.exec(fail[1]!);
      const target = normalisePath(where ? where[3]! : fail[1]!);
      // Recursion (make[4]: *** [...: net/core] Error 2) only echoes the real failure.
      if (!relayed(target, fail[2]!)) {
        if (!failedTargets.includes(target)) failedTargets.push(target);
        makeFailures.push({ at: i, target, makefile: where ? normalisePath(where[1]!) : null, line: where ? Number(where[2]) : null, status: fail[2]! });
      }
      continue;
    }
    const noRule = MAKE_NO_RULE.exec(line);
    if (noRule) add({ severity: 'error', file: null, line: null, column: null, message: noRule[1]!, flag: null, tool: 'make', context: [] });
  }

  // A recipe that failed without a compiler diagnostic (a script, a download,
  // a host tool): the error is make's own line, explained by the output
  // just before it.
  if (errors.length === 0 && makeFailures[0]) {
    const f = makeFailures[0];
    add({
      severity: 'error',
      file: f.makefile,
      line: f.line,
      column: null,
      message: `recipe for ${f.target} failed (${f.status})`,
      flag: null,
      tool: 'make',
      context: recipeOutput(lines, f.at),
    });
  }
  return { errors, warnings, firstError: errors[0] ?? null, failedTargets, compiledUnits: units, steps, networkAttempt };
}

/** The output of a failed recipe: the lines before make's error, back to the previous kbuild step or make message. */
function recipeOutput(lines: string[], at: number): string[] {
  const out: string[] = [];
  for (let j = at - 1; j >= 0 && out.length < MAX_CONTEXT - 1; j--) {
    const l = lines[j]!;
    if (STEP.test(l) || /^make(\[\d+\])?: (Entering|Leaving)/.test(l)) break;
    out.unshift(stripSandboxPaths(l));
  }
  return [...out, stripSandboxPaths(lines[at]!)];
}

/**
 * make exits 2 when something below it failed, so "Error 2" on a directory
 * (net/core), on "." or on __sub-make only relays the real failure.
 */
function relayed(target: string, status: string): boolean {
  if (status !== 'Error 2') return false;
  const last = target.split('/').pop() ?? target;
  return target === '.' || target === '__sub-make' || !/\.[A-Za-z0-9]+$/.test(last);
}

function stripSandboxPaths(l: string): string {
  return l.replace(/\/ksci\/(src|obj)\//g, '');
}

/** The lines that explain a compiler diagnostic: include chain and function before, snippet and notes after. */
function contextAround(lines: string[], at: number): string[] {
  const before: string[] = [];
  for (let j = at - 1; j >= 0 && before.length < 6 && CONTEXT_BEFORE.test(lines[j]!); j--) before.unshift(lines[j]!);
  const out = [...before, lines[at]!];
  for (let j = at + 1; j < lines.length && out.length < MAX_CONTEXT; j++) {
    const l = lines[j]!;
    if (SNIPPET.test(l) || NOTE.test(l)) {
      out.push(l);
      continue;
    }
    // An include chain belongs to this diagnostic when it leads to a note ("declared here").
    let k = j;
    while (k < lines.length && INCLUDE_CHAIN.test(lines[k]!)) k++;
    if (k > j && k < lines.length && NOTE.test(lines[k]!)) {
      out.push(...lines.slice(j, k));
      j = k - 1;
      continue;
    }
    break;
  }
  return out.slice(0, MAX_CONTEXT).map(stripSandboxPaths);
}

/** Identity of a warning that survives line shifts: file, flag and message with numbers blurred. */
export function warningKey(d: Diagnostic): string {
  return `${d.tool}|${d.file ?? ''}|${d.flag ?? ''}|${d.message.replace(/\d+/g, 'N')}`;
}

/** Warnings a series added and removed relative to its base, counted as multisets of warningKey. */
export function warningDelta(base: Diagnostic[], series: Diagnostic[]): { before: number; after: number; added: Diagnostic[]; removed: Diagnostic[] } {
  const diff = (a: Diagnostic[], b: Diagnostic[]) => {
    const left = new Map<string, number>();
    for (const d of b) left.set(warningKey(d), (left.get(warningKey(d)) ?? 0) + 1);
    return a.filter((d) => {
      const n = left.get(warningKey(d)) ?? 0;
      if (n > 0) {
        left.set(warningKey(d), n - 1);
        return false;
      }
      return true;
    });
  };
  return { before: base.length, after: series.length, added: diff(series, base), removed: diff(base, series) };
}

/**
 * An incremental build's log holds only the warnings of what it rebuilt.
 * The whole tree's warnings are the previous list with those of rebuilt
 * and changed files replaced by this build's. Link-time warnings (objtool,
 * modpost) come back at every relink, so a build that ran any step
 * replaces them too.
 */
export function updateWarnings(previous: Diagnostic[], analysis: BuildLogAnalysis, changedFiles: string[]): Diagnostic[] {
  const replaced = new Set(changedFiles);
  for (const u of analysis.compiledUnits) {
    const stem = u.replace(/\.o$/, '');
    replaced.add(`${stem}.c`).add(`${stem}.S`);
  }
  const kept = previous.filter((w) => {
    if (w.tool !== 'compiler' && w.tool !== 'kconfig') return analysis.steps === 0;
    return w.file === null || !replaced.has(w.file);
  });
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const w of [...kept, ...analysis.warnings]) {
    const id = `${w.tool}|${w.file}|${w.line}|${w.column}|${w.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(w);
  }
  return out;
}
