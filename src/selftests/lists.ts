/**
 * BPF CI's allow/deny lists for test_progs (selftests/bpf/DENYLIST, DENYLIST.<arch>,
 * DENYLIST.<tree>; ALLOWLIST alike): parsing with provenance, layering, matching a
 * result against them the way test_progs does, the test_progs arguments that apply
 * them, and which failures of a run they explain. Pure (no I/O).
 *
 * The format is the one test_progs reads with `-a@FILE`/`-d@FILE` (parse_test_list_file()
 * in tools/testing/selftests/bpf/testing_helpers.c) and that kernel-patches/vmtest keeps in
 * ci/vmtest/configs/: one `test` or `test/subtest` per line, `*` globs, everything from the
 * first `#` on is a comment, surrounding blanks are ignored. Our one addition is meaning:
 * the trailing comment is the entry's reason, which reports quote ("denied: <reason>").
 */
import { BadInputError } from '../errors.js';
import { isFailLine, parseResultId, resultId, type TestResult } from './test-progs.js';

export interface ListEntry {
  /** `test`, `test/subtest`, either part may use `*`. */
  pattern: string;
  /** The trailing `# comment`, or null. */
  reason: string | null;
  /** The comment lines heading the paragraph the entry is in ("# Disabled temporarily for a crash."), or null. */
  section: string | null;
  file: string;
  /** 1-based. */
  line: number;
}

export interface ParsedList {
  file: string;
  entries: ListEntry[];
}

export interface ListProblem {
  file: string;
  line: number;
  message: string;
}

/** Every malformed line of a list, each as `file:line: message`. */
export class ListSyntaxError extends BadInputError {
  constructor(readonly problems: ListProblem[]) {
    super(
      problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('\n'),
      'one `test` or `test/subtest` per line, `*` globs, `# reason` may trail (selftests/bpf/README.md)',
    );
    this.name = 'ListSyntaxError';
  }
}

/**
 * test_progs's tests are prog_tests/*.c functions test_<name>() or serial_test_<name>(),
 * so a test name is a C identifier; `*` is its only wildcard. Anything else in the test
 * part is a typo (a space where the '/' should be, a subtest name without its test).
 */
const TEST_PART = /^[A-Za-z0-9_*]+$/;

/**
 * Parses one list file. Collects every malformed line and throws them together
 * (ListSyntaxError), so one CI run shows all the typos of an edit.
 */
export function parseList(text: string, file: string): ParsedList {
  const entries: ListEntry[] = [];
  const problems: ListProblem[] = [];
  let section: string[] = [];
  let sectionOpen = false;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const hash = raw.indexOf('#');
    const body = (hash < 0 ? raw : raw.slice(0, hash)).trim();
    const comment = hash < 0 ? null : raw.slice(hash + 1).trim() || null;
    if (body === '') {
      if (raw.trim() === '') {
        section = [];
        sectionOpen = false;
      } else if (comment !== null) {
        // A comment line: starts (or continues) the heading of the paragraph below it.
        if (sectionOpen) section = [];
        sectionOpen = false;
        section.push(comment);
      }
      return;
    }
    sectionOpen = true;
    const problem = checkPattern(body);
    if (problem) {
      problems.push({ file, line, message: `${problem}: ${JSON.stringify(raw.trim())}` });
      return;
    }
    entries.push({ pattern: body, reason: comment, section: section.length ? section.join(' ') : null, file, line });
  });
  if (problems.length) throw new ListSyntaxError(problems);
  return { file, entries };
}

function checkPattern(body: string): string | null {
  const slash = body.indexOf('/');
  const test = slash < 0 ? body : body.slice(0, slash);
  const subtest = slash < 0 ? null : body.slice(slash + 1);
  if (test === '') return 'missing test name before "/"';
  if (!TEST_PART.test(test)) {
    return /\s/.test(test)
      ? `test name "${test}" has a space (a subtest is written test/subtest)`
      : `test name "${test}" is not a test_progs test name (letters, digits, _ and * only)`;
  }
  // test_progs would look for a subtest named "" and deny nothing.
  if (subtest !== null && subtest.trim() === '') return 'missing subtest name after "/"';
  return null;
}

/**
 * Layers lists, most general first: common, then per arch, then per kernel tree
 * (BPF CI concatenates DENYLIST, DENYLIST.<arch>, ... the same way). The result is the
 * union; a pattern listed again by a later layer keeps one entry, the later one, whose
 * reason is the more specific. Missing layers are simply not passed.
 */
export function mergeLists(layers: readonly ParsedList[]): ListEntry[] {
  const byPattern = new Map<string, ListEntry>();
  for (const layer of layers) {
    for (const e of layer.entries) {
      byPattern.delete(e.pattern); // re-insert: keep the order of the layer that has the last word
      byPattern.set(e.pattern, e);
    }
  }
  return [...byPattern.values()];
}

/**
 * test_progs's glob_match() (adapted there from perf's): `*` matches any run of
 * characters, everything else only itself; no `?`, no classes, no escapes (subtest names
 * do contain `[::]` and `(dgram)`, literally).
 */
export function globMatch(str: string, pat: string): boolean {
  let s = 0;
  let p = 0;
  // Where the last `*` was seen, and the string position it is currently stretched to.
  let star = -1;
  let mark = 0;
  while (s < str.length) {
    if (p < pat.length && pat[p] === '*') {
      star = p++;
      mark = s;
    } else if (p < pat.length && pat[p] === str[s]) {
      p++;
      s++;
    } else if (star >= 0) {
      p = star + 1;
      s = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.length && pat[p] === '*') p++;
  return p === pat.length;
}

/**
 * Whether a list pattern covers a test or subtest id, as test_progs applies -a/-d: the
 * test part is globbed against the test name; a pattern without a subtest part covers
 * the test and all its subtests; one with a subtest part covers only matching subtests
 * (not the test's own result).
 */
export function covers(pattern: string, id: string): boolean {
  const p = parseResultId(pattern);
  const t = parseResultId(id);
  if (!globMatch(t.name, p.name)) return false;
  if (p.subtest === null) return true;
  return t.subtest !== null && globMatch(t.subtest, p.subtest);
}

/** How precisely an entry names a test: exact subtest > globbed subtest > exact test > globbed test. */
function specificity(pattern: string): number {
  const { name, subtest } = parseResultId(pattern);
  const exact = (s: string) => (s.includes('*') ? 0 : 1);
  return subtest === null ? exact(name) : 2 + exact(subtest) + exact(name);
}

/**
 * The entry that covers an id, the most specific if several do (a `foo/bar` entry says
 * more about foo/bar's failure than `foo` or `foo*`); among equals, the later layer's.
 */
export function matchEntry(entries: readonly ListEntry[], id: string): ListEntry | null {
  let best: ListEntry | null = null;
  let bestScore = -1;
  for (const e of entries) {
    if (!covers(e.pattern, id)) continue;
    const score = specificity(e.pattern);
    if (score >= bestScore) {
      best = e;
      bestScore = score;
    }
  }
  return best;
}

/**
 * The patterns to hand test_progs, de-duplicated and without entries a whole-test entry
 * already covers. This is not only tidiness: test_progs groups a list's patterns by
 * their exact test part, and a group that has any subtest pattern no longer matches the
 * whole test (should_run() skips a test only for groups without subtests). So `foo` with
 * `foo/bar` in the same list would deny just foo/bar. BPF CI's normalize_bpf_test_names.py
 * drops the subtest lines for the same reason.
 */
export function normalizePatterns(entries: readonly ListEntry[]): string[] {
  const wholeTests = new Set(entries.map((e) => e.pattern).filter((p) => !p.includes('/')));
  const out = new Set<string>();
  for (const e of entries) {
    const { name, subtest } = parseResultId(e.pattern);
    if (subtest !== null && wholeTests.has(name)) continue;
    out.add(e.pattern);
  }
  return [...out];
}

/**
 * A list file for test_progs (`-a@FILE`/`-d@FILE`): the normalised patterns, each with
 * where it came from and why, as trailing comments test_progs ignores, so the file in a
 * run's artifacts explains itself.
 */
export function renderList(entries: readonly ListEntry[]): string {
  const keep = new Set(normalizePatterns(entries));
  const lines: string[] = [];
  for (const e of entries) {
    if (!keep.delete(e.pattern)) continue;
    const why = e.reason ?? e.section;
    // '#' ends the pattern for test_progs; a reason may contain one, the pattern cannot.
    lines.push(`${e.pattern}  # ${e.file}:${e.line}${why ? ` ${why}` : ''}`);
  }
  return lines.map((l) => `${l}\n`).join('');
}

export interface TestProgsListArgs {
  allow?: readonly ListEntry[];
  deny?: readonly ListEntry[];
  /** Where renderList(allow) was written, as the guest sees it: passed as -a@FILE. */
  allowFile?: string;
  /** Where renderList(deny) was written, as the guest sees it: passed as -d@FILE. */
  denyFile?: string;
}

/**
 * test_progs arguments applying the lists: `-a@FILE`/`-d@FILE` when a file is given,
 * else inline `-a name,name`. Inline only works when no pattern has a comma (test_progs
 * splits inline lists on commas, and subtest names such as "XDP, using ifindex from
 * netdev" have them): those need the file, and this throws rather than pass a wrong list.
 */
export function testProgsArgs(opts: TestProgsListArgs): string[] {
  const args: string[] = [];
  const one = (flag: '-a' | '-d', entries: readonly ListEntry[] | undefined, file: string | undefined) => {
    if (file !== undefined) {
      args.push(`${flag}@${file}`);
      return;
    }
    const patterns = normalizePatterns(entries ?? []);
    if (patterns.length === 0) return;
    const comma = patterns.find((p) => p.includes(','));
    if (comma !== undefined) {
      throw new BadInputError(
        `cannot pass "${comma}" inline to test_progs ${flag}: it contains a comma`,
        `write the list with renderList() and pass ${flag}@FILE`,
      );
    }
    args.push(flag, patterns.join(','));
  };
  one('-a', opts.allow, opts.allowFile);
  one('-d', opts.deny, opts.denyFile);
  return args;
}

export interface DeniedFailure {
  result: TestResult;
  /** The entry that covers it (for a test failing only through denied subtests: the first one's). */
  entry: ListEntry;
}

export interface FailureTriage {
  /** Failures the deny list expects: reported as "denied: <reason>", not as the series' fault. */
  denied: DeniedFailure[];
  /** Failures nothing in the list covers. */
  unexpected: TestResult[];
}

/**
 * Sorts a run's failures into those the deny list covers and the rest. A test whose own
 * result is FAIL only because of its failing subtests counts as denied when every one of
 * those is; if it failed outside any subtest too (or has no failing subtest in the list of
 * results), only an entry for the test itself covers it.
 */
export function triageFailures(results: readonly TestResult[], deny: readonly ListEntry[]): FailureTriage {
  const denied: DeniedFailure[] = [];
  const unexpected: TestResult[] = [];
  const failedSubtests = new Map<string, TestResult[]>();
  for (const r of results) {
    if (r.status === 'fail' && r.subtest !== null) {
      const list = failedSubtests.get(r.name) ?? [];
      list.push(r);
      failedSubtests.set(r.name, list);
    }
  }
  for (const r of results) {
    if (r.status !== 'fail') continue;
    const direct = matchEntry(deny, resultId(r));
    if (direct) {
      denied.push({ result: r, entry: direct });
      continue;
    }
    const subs = r.subtest === null ? failedSubtests.get(r.name) : undefined;
    // The test's own log having a FAIL line means it failed outside its subtests as well.
    const ownFailure = r.log.some(isFailLine);
    if (subs && subs.length > 0 && !ownFailure) {
      const entries = subs.map((s) => matchEntry(deny, resultId(s)));
      if (entries.every((e) => e !== null)) {
        denied.push({ result: r, entry: entries[0]! });
        continue;
      }
    }
    unexpected.push(r);
  }
  return { denied, unexpected };
}
