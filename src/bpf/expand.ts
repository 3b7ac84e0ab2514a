/**
 * One run of a BPF selftests runner is one test of a suite, but what a
 * report compares is each test it ran: this turns the run's output into one
 * result per test, named `<suite test>:<id>`. For test_progs (the text on
 * the channel and the `-J` file it handed back) the id is `test[/subtest]`;
 * for test_verifier, `<description> (priv)` or `(unpriv)`. Pure.
 */
import {
  mergeTestProgs,
  parseTestProgsJson,
  parseTestProgsText,
  parseTestVerifier,
  resultId,
  type TestProgsJson,
} from './test-progs.js';

/**
 * How a test's results are read: its exit code; or the output of a BPF
 * selftests runner, one result per test it ran: test_progs (its text and
 * `-J $KSCI_RESULTS/test_progs.json`: each test and subtest), test_verifier
 * (its text: each table entry, privileged and unprivileged apart).
 */
export const RESULT_KINDS = ['exit-code', 'test_progs', 'test_verifier'] as const;
export type ResultsKind = (typeof RESULT_KINDS)[number];

/** What the expansion needs of a finished (or interrupted) suite test. */
export interface RunnerOutput {
  name: string;
  output: string[];
  files: Record<string, Buffer>;
}

export interface ExpandedResult {
  name: string;
  status: 'pass' | 'fail' | 'skip' | 'crash' | 'hang';
  log: string[];
}

/** The file the suite's test_progs command writes with `-J "$KSCI_RESULTS/test_progs.json"`. */
export const TEST_PROGS_JSON = 'test_progs.json';

/**
 * Per-test results of one test_progs run; null when the output holds none
 * (test_progs did not start, or printed nothing), so the suite test's own
 * status stands. `died` says how the VM ended if the run was cut short: the
 * test that was running then gets that status.
 */
export function expandTestProgs(t: RunnerOutput, died: 'crash' | 'hang' | null): Expansion {
  const text = parseTestProgsText(t.output.join('\n'));
  let json: TestProgsJson | null = null;
  let jsonError: string | null = null;
  const file = t.files[TEST_PROGS_JSON];
  if (file) {
    try {
      json = parseTestProgsJson(file.toString('utf8'));
    } catch (err) {
      jsonError = `${TEST_PROGS_JSON}: ${(err as Error).message}`;
    }
  }
  const run = mergeTestProgs(text, json);
  const results: ExpandedResult[] = run.results.map((r) => ({
    name: `${t.name}:${resultId(r)}`,
    status: r.status,
    log: r.log,
  }));
  if (!run.complete && run.running && died) {
    results.push({ name: `${t.name}:${resultId(run.running)}`, status: died, log: run.trailing.slice(-20) });
  }
  return results.length ? { results, jsonError } : null;
}

type Expansion = { results: ExpandedResult[]; jsonError: string | null } | null;

/** Per-test results of a runner whose results are read the `kind` way. */
export function expandRunner(
  kind: Exclude<ResultsKind, 'exit-code'>,
  t: RunnerOutput,
  died: 'crash' | 'hang' | null,
): Expansion {
  return kind === 'test_progs' ? expandTestProgs(t, died) : expandTestVerifier(t);
}

/**
 * Per-entry results of one test_verifier run; null when it printed none.
 * Its table has no stable names but the descriptions (the numbers shift
 * when a series adds a test); the few that repeat get their number too.
 * A run the guest cut short keeps the entries it finished; the last line,
 * if it has no result, was the one running (stdout is a pipe and
 * buffered, so it may not be shown at all): the runner's own crash or hang
 * says so.
 */
export function expandTestVerifier(t: RunnerOutput): Expansion {
  const run = parseTestVerifier(t.output.join('\n'));
  const ids = run.results.map((r) => `${r.description} (${r.mode})`);
  const count = new Map<string, number>();
  for (const id of ids) count.set(id, (count.get(id) ?? 0) + 1);
  const results: ExpandedResult[] = run.results.map((r, i) => ({
    name: `${t.name}:${count.get(ids[i]!)! > 1 ? `${ids[i]} #${r.number}` : ids[i]}`,
    status: r.status,
    log: r.log,
  }));
  if (!run.complete && run.results.length > 0 && !run.results[run.results.length - 1]!.finished) results.pop();
  return results.length ? { results, jsonError: null } : null;
}

/** The suite test an expanded result belongs to, and its test_progs id. */
export function splitExpanded(name: string): { suiteTest: string; id: string | null } {
  const i = name.indexOf(':');
  return i < 0 ? { suiteTest: name, id: null } : { suiteTest: name.slice(0, i), id: name.slice(i + 1) };
}
