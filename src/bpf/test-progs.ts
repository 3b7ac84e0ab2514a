/**
 * Reading the BPF selftest runners' output: test_progs (its stdout and its
 * `-J file` JSON), test_verifier and test_maps. Pure (no I/O), so it is
 * tested on real captures (test/fixtures/selftests/README.md says where each
 * came from). Formats were read from tools/testing/selftests/bpf/test_progs.c,
 * test_verifier.c and test_maps.c of Linux 6.12.
 */
import { z } from 'zod';
import { BadInputError } from '../errors.js';

export type Status = 'pass' | 'fail' | 'skip';

/** One test or subtest as the report, allow/deny lists and history see it. */
export interface TestResult {
  /** Test name: test_progs's tests are C identifiers (prog_tests/<name>.c's test_<name>()). */
  name: string;
  /** Subtest name (free text: spaces, commas, colons, even '/'), or null for the test itself. */
  subtest: string | null;
  /** "562" or "562/1", as test_progs numbers them (subtests count from 1 inside their test). */
  number: string;
  status: Status;
  /** The test's output, for failures (and skips, if it printed why); see capLog. Empty for passes. */
  log: string[];
}

/**
 * `Summary: 18/96 PASSED, 1 SKIPPED, 5 FAILED`, as calculate_summary_and_print_errors()
 * counts: not three disjoint sets of tests.
 */
export interface ProgsSummary {
  /** Tests without errors, the skipped ones included (xdp_flowtable:SKIP counts here). */
  passed: number;
  /** Subtests that passed, in passing and failing tests alike; skipped ones not. */
  passedSubtests: number;
  /** Skip events: tests that called test__skip() plus skipped subtests. */
  skipped: number;
  /** Tests with an error (in themselves or a subtest). passed + failed = tests run. */
  failed: number;
}

/** A result line of test_progs's stdout with the output printed just before it. */
export interface TextResult {
  name: string;
  subtest: string | null;
  number: string;
  status: Status;
  /** What test_progs printed after the colon: "OK", "FAIL", "SKIP", "OK (SKIP: 1/3)". */
  raw: string;
  /** Lines printed between the previous result line and this one: this result's log. Uncapped. */
  log: string[];
}

export interface RunningTest {
  name: string;
  subtest: string | null;
  /**
   * How we know: `watchdog` from test_progs's "WATCHDOG: test case X executes for N seconds"
   * (kernels after 6.12); `subtests` because some of the test's subtest lines were printed
   * but not the test's own line, which always comes last.
   */
  evidence: 'watchdog' | 'subtests';
}

export interface TestProgsText {
  /** In output order, each test or subtest once (the "All error logs:" re-print is folded in). */
  results: TextResult[];
  summary: ProgsSummary | null;
  /** The Summary line was printed: test_progs ran to its end. */
  complete: boolean;
  /** For an incomplete run, the test that was running when the output stops, if it can be told. */
  running: RunningTest | null;
  /** The last result line printed: an incomplete run stopped after it. */
  last: TextResult | null;
  /**
   * Output after the last result line of an incomplete run (capped). Without -v test_progs keeps
   * a test's output in memory until the test ends, so this is usually empty; with -v it is the
   * running test's log as far as it got.
   */
  trailing: string[];
  /** test_progs's crash handler fired: "Caught signal #11!" (the crashing test's FAIL line precedes it). */
  signal: number | null;
}

export const MAX_LOG = 50;
/** FAIL assertion lines kept at most at the head of a capped log. */
const MAX_FAIL_LINES = 20;

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
/**
 * print_test_result() and print_subtest_name(): `#%-7d name:STATUS`, `#%-7s name/subtest:STATUS`
 * with "N/M" as the number. Test names never contain '/', subtest names may contain anything,
 * colons included ("btf_dump/btf_dump: syntax"), so the status is matched at the end of the line.
 */
const RESULT = /^#(\d+)(?:\/(\d+))? +(.+):(OK|FAIL|SKIP|OK \(SKIP: \d+\/\d+\))$/;
/** calculate_summary_and_print_errors(): `Summary: %d/%d PASSED, %d SKIPPED, %d FAILED`. */
const PROGS_SUMMARY = /^Summary: (\d+)\/(\d+) PASSED, (\d+) SKIPPED, (\d+) FAILED$/;
/** Printed before the failed tests' logs are dumped a second time, when not verbose. */
const ERROR_LOGS = /^All error logs:$/;
/** watchdog_timer_func() (test_progs after 6.12): `WATCHDOG: test case foo/bar executes for 10 seconds...`. */
const WATCHDOG = /^WATCHDOG: test case (.+?) executes for \d+ seconds/;
/** crash_handler(): after dumping the running test's log and FAIL line. */
const SIGNAL = /^(?:\[\d+\]: )?Caught signal #(\d+)!$/;
/**
 * test_progs.h's ASSERT_*() and CHECK(): `func:PASS:tag 0 nsec`, `func:FAIL:tag message`,
 * CHECK_FAIL's `func:FAIL:123`; test_maps.h's CHECK adds the line: `func(123):FAIL:tag`.
 */
const ASSERTION = /^([A-Za-z_]\w*)(?:\(\d+\))?:(PASS|FAIL):/;

/**
 * kselftest's runner (run_kselftest.sh, and LKP through it) prefixes every line of a
 * test's output with "# " and adds TAP lines (`not ok 1 selftests: bpf: test_verifier`).
 */
const KSELFTEST = /^# (?:selftests: \S+: \S+$|#\d+[/ ]|Summary: )/m;

function cleanLines(text: string): string[] {
  const clean = text.replace(ANSI, '');
  const wrapped = KSELFTEST.test(clean);
  const lines = clean.split(/\r?\n/).map((l) => {
    const line = l.replace(/\r$/, '');
    return wrapped && (line === '#' || line.startsWith('# ')) ? line.slice(2) : line;
  });
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

function statusOf(raw: string): Status {
  if (raw === 'FAIL') return 'fail';
  // "OK (SKIP: 1/3)": the test passed, some subtests were skipped (their own lines say SKIP).
  return raw === 'SKIP' ? 'skip' : 'pass';
}

/** `test` or `test/subtest`: the id allow/deny lists and history use. */
export function resultId(r: { name: string; subtest: string | null }): string {
  return r.subtest === null ? r.name : `${r.name}/${r.subtest}`;
}

/** The inverse of resultId: test names have no '/', so the first one separates the subtest. */
export function parseResultId(id: string): { name: string; subtest: string | null } {
  const slash = id.indexOf('/');
  return slash < 0 ? { name: id, subtest: null } : { name: id.slice(0, slash), subtest: id.slice(slash + 1) };
}

/** True for an assertion line that failed: `func:FAIL:...`. */
export function isFailLine(line: string): boolean {
  return ASSERTION.exec(line)?.[2] === 'FAIL';
}

/**
 * A failing test's log cut to what a report can show: its FAIL assertion lines first
 * (they say what broke), then the rest in output order. When that is too long, the
 * end is kept (where the test failed and cleaned up) after a line saying how much
 * was left out; libbpf's loader chatter at the start is what goes.
 */
export function capLog(lines: readonly string[], max: number = MAX_LOG): string[] {
  const log = [...lines];
  while (log.length > 0 && log.at(-1)!.trim() === '') log.pop();
  const fails = log.filter(isFailLine).slice(0, Math.min(MAX_FAIL_LINES, max));
  const failSet = new Set(fails);
  const rest = log.filter((l) => !failSet.has(l));
  if (fails.length + rest.length <= max) return [...fails, ...rest];
  const room = max - fails.length - 1;
  if (room <= 0) return fails.slice(0, max);
  return [...fails, `[... ${rest.length - room} lines omitted]`, ...rest.slice(rest.length - room)];
}

function summaryOf(m: RegExpExecArray): ProgsSummary {
  return { passed: Number(m[1]), passedSubtests: Number(m[2]), skipped: Number(m[3]), failed: Number(m[4]) };
}

/**
 * test_progs's stdout. Without -v a test's output is captured in memory and printed
 * when the test ends, in this order: the test's log, then for each subtest its log and
 * its result line, then the test's result line. Passing tests print only result lines.
 * The lines since the previous result line are therefore the log of the next result:
 * a subtest's own, or for a test, what it printed outside any subtest (with subtests,
 * the test's and the first subtest's logs arrive together; the JSON keeps them apart).
 */
export function parseTestProgsText(text: string): TestProgsText {
  const results: TextResult[] = [];
  const byNumber = new Map<string, TextResult>();
  let pending: string[] = [];
  let summary: ProgsSummary | null = null;
  let signal: number | null = null;
  let watchdog: string | null = null;

  for (const line of cleanLines(text)) {
    const r = RESULT.exec(line);
    if (r && !summary) {
      const [, num, sub, fullName, raw] = r as unknown as [string, string, string | undefined, string, string];
      let name = fullName;
      let subtest: string | null = null;
      if (sub !== undefined) {
        const slash = fullName.indexOf('/');
        if (slash < 0) {
          pending.push(line);
          continue;
        }
        name = fullName.slice(0, slash);
        subtest = fullName.slice(slash + 1);
      }
      const number = sub === undefined ? num : `${num}/${sub}`;
      const seen = byNumber.get(number);
      if (seen) {
        // The "All error logs:" re-print (or a capture that lost that header): same result, same log.
        if (seen.log.length === 0) seen.log = pending;
      } else {
        // Also a result seen first in the error-log re-print: the capture began mid-run.
        const result: TextResult = { name, subtest, number, status: statusOf(raw), raw, log: pending };
        results.push(result);
        byNumber.set(number, result);
      }
      pending = [];
      watchdog = null;
      continue;
    }
    const s = PROGS_SUMMARY.exec(line);
    if (s) {
      summary = summaryOf(s);
      continue;
    }
    if (summary) continue;
    if (ERROR_LOGS.test(line)) {
      // The blank line printed before the header is not part of any log.
      if (pending.at(-1) === '') pending.pop();
      continue;
    }
    const sig = SIGNAL.exec(line);
    if (sig) {
      signal = Number(sig[1]);
      continue;
    }
    const w = WATCHDOG.exec(line);
    if (w) watchdog = w[1]!;
    pending.push(line);
  }

  const complete = summary !== null;
  const last = results.at(-1) ?? null;
  let running: RunningTest | null = null;
  if (!complete) {
    if (watchdog !== null) {
      running = { ...parseResultId(watchdog), evidence: 'watchdog' };
    } else if (last && last.subtest !== null && signal === null) {
      // A test's own line always follows its subtests' lines.
      running = { name: last.name, subtest: null, evidence: 'subtests' };
    }
  }
  return {
    results,
    summary,
    complete,
    running,
    last,
    trailing: complete ? [] : capLog(pending.filter((l) => l.trim() !== '')),
    signal,
  };
}

const JsonSubtest = z.object({
  name: z.string(),
  number: z.number().int().positive(),
  message: z.string(),
  failed: z.boolean(),
});

const JsonTest = z.object({
  name: z.string().min(1),
  number: z.number().int().positive(),
  message: z.string(),
  failed: z.boolean(),
  subtests: z.array(JsonSubtest),
});

/**
 * What `test_progs -J file` writes at the end of the run (nothing if it never got
 * there). Only tests that failed or forced their log out appear in `results`, and of
 * their subtests only the failed ones (when not verbose).
 */
const JsonReport = z.object({
  success: z.number().int().nonnegative(),
  success_subtest: z.number().int().nonnegative(),
  skipped: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  results: z.array(JsonTest),
});

export type TestProgsJson = z.infer<typeof JsonReport>;

/** Parses and validates test_progs's -J output; a BadInputError says what is wrong with it. */
export function parseTestProgsJson(text: string): TestProgsJson {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new BadInputError(
      `test_progs JSON is not JSON: ${(e as Error).message}`,
      'a truncated file means test_progs did not finish',
      { cause: e },
    );
  }
  const parsed = JsonReport.safeParse(data);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new BadInputError(`test_progs JSON has an unexpected shape: ${where}`);
  }
  return parsed.data;
}

export interface TestProgsRun {
  /** Tests and subtests in output order (JSON-only entries after them). */
  results: TestResult[];
  summary: ProgsSummary | null;
  complete: boolean;
  running: RunningTest | null;
  /** Output after the last result of an incomplete run. */
  trailing: string[];
  signal: number | null;
}

function messageLines(message: string): string[] {
  const lines = message.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/**
 * One list of results from test_progs's stdout and its JSON. The text is authoritative
 * for what ran and how it ended (and is all there is when the VM died before the JSON
 * was written); the JSON gives each failed test and subtest its own log. Either may
 * be missing, not both.
 */
export function mergeTestProgs(text: TestProgsText | null, json: TestProgsJson | null): TestProgsRun {
  if (!text && !json) throw new Error('mergeTestProgs: neither text nor JSON');
  const messages = new Map<string, { message: string; failed: boolean; name: string; subtest: string | null }>();
  for (const t of json?.results ?? []) {
    messages.set(String(t.number), { message: t.message, failed: t.failed, name: t.name, subtest: null });
    for (const s of t.subtests) {
      messages.set(`${t.number}/${s.number}`, { message: s.message, failed: s.failed, name: t.name, subtest: s.name });
    }
  }

  const results: TestResult[] = [];
  const seen = new Set<string>();
  for (const r of text?.results ?? []) {
    seen.add(r.number);
    const m = messages.get(r.number);
    // Numbers are per binary and per run; a name mismatch means the two are not from the same run.
    const fromJson = m && m.name === r.name && m.subtest === r.subtest ? messageLines(m.message) : null;
    const log = r.status === 'pass' ? [] : capLog(fromJson ?? r.log);
    results.push({ name: r.name, subtest: r.subtest, number: r.number, status: r.status, log });
  }
  for (const [number, m] of messages) {
    if (seen.has(number)) continue;
    // Without text (or with text cut short), the JSON only tells failed from logged.
    const status: Status = m.failed ? 'fail' : 'pass';
    results.push({
      name: m.name,
      subtest: m.subtest,
      number,
      status,
      log: status === 'pass' ? [] : capLog(messageLines(m.message)),
    });
  }

  const summary =
    text?.summary ??
    (json
      ? { passed: json.success, passedSubtests: json.success_subtest, skipped: json.skipped, failed: json.failed }
      : null);
  return {
    results,
    summary,
    // The JSON is written only at the end, so it alone also says the run completed.
    complete: text ? text.complete : true,
    running: text?.running ?? null,
    trailing: text?.trailing ?? [],
    signal: text?.signal ?? null,
  };
}

/** Counts of a result list, to check against the Summary line or to summarise a cut-short run. */
export function countResults(results: readonly TestResult[]): {
  tests: Record<Status, number>;
  subtests: Record<Status, number>;
} {
  const zero = (): Record<Status, number> => ({ pass: 0, fail: 0, skip: 0 });
  const counts = { tests: zero(), subtests: zero() };
  for (const r of results) (r.subtest === null ? counts.tests : counts.subtests)[r.status]++;
  return counts;
}

// ---------------------------------------------------------------------------
// test_verifier

export interface VerifierResult {
  /** Index into test_verifier's table (from 0). */
  number: number;
  /** `u`: run unprivileged, `p`: privileged; most tests run both ways. */
  mode: 'unpriv' | 'priv';
  description: string;
  status: Status;
  /** The line ended with a result; a line cut short (the run died in this test) did not, and counts as failed. */
  finished: boolean;
  /** For failures: the reason and the verifier log printed after the result line. Capped. */
  log: string[];
}

export interface TestVerifierOutput {
  results: VerifierResult[];
  /** `Summary: %d PASSED, %d SKIPPED, %d FAILED` (no test/subtest split, unlike test_progs). */
  summary: { passed: number; skipped: number; failed: number } | null;
  complete: boolean;
}

/**
 * do_test(): `#%d/u %s ` or `#%d/p %s ` then do_test_single() finishes the line with
 * `OK`, `%d cases OK`, `OK (NOTE: ...)`, `SKIP`, `SKIP (reason)`, or `FAIL...` followed on
 * the next lines by the reason and the verifier log.
 */
const VERIFIER_LINE = /^#(\d+)\/([up]) (.*)$/;
const VERIFIER_STATUS = /^(.*?) (?:(?:\d+ cases )?OK(?: \(NOTE: [^)]*\))?|SKIP(?: \([^)]*\))?|(FAIL\b.*))$/;
const VERIFIER_SUMMARY = /^Summary: (\d+) PASSED, (\d+) SKIPPED, (\d+) FAILED$/;

export function parseTestVerifier(text: string): TestVerifierOutput {
  const results: VerifierResult[] = [];
  let summary: TestVerifierOutput['summary'] = null;
  let current: { result: VerifierResult; log: string[] } | null = null;
  const close = () => {
    if (current && current.result.status === 'fail') current.result.log = capLog(current.log);
    current = null;
  };
  for (const line of cleanLines(text)) {
    const s = VERIFIER_SUMMARY.exec(line);
    if (s) {
      close();
      summary = { passed: Number(s[1]), skipped: Number(s[2]), failed: Number(s[3]) };
      continue;
    }
    const v = VERIFIER_LINE.exec(line);
    if (v) {
      close();
      const rest = v[3]!.trimEnd();
      const st = VERIFIER_STATUS.exec(rest);
      let description = rest;
      let status: Status = 'fail';
      const log: string[] = [];
      if (st) {
        description = st[1]!;
        // "FAIL" alone says nothing the status does not; "FAIL retval 1 != 0 (run 1/1)" does.
        if (st[2] !== undefined) {
          if (st[2] !== 'FAIL') log.push(st[2]);
        } else status = rest.slice(description.length + 1).startsWith('SKIP') ? 'skip' : 'pass';
      }
      const result: VerifierResult = {
        number: Number(v[1]),
        mode: v[2] === 'u' ? 'unpriv' : 'priv',
        description,
        status,
        finished: st !== null,
        log: [],
      };
      results.push(result);
      current = { result, log };
      continue;
    }
    if (current && !summary) (current as { log: string[] }).log.push(line);
  }
  close();
  return { results, summary, complete: summary !== null };
}
