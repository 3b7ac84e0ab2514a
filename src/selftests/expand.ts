/**
 * One test_progs run is one test of a suite, but what a report compares is
 * each test_progs test and subtest: this turns the run's output (the text on
 * the channel and the `-J` file it handed back) into one result per
 * test_progs test and subtest, named `<suite test>:<test>[/<subtest>]`.
 * Pure.
 */
import { mergeTestProgs, parseTestProgsJson, parseTestProgsText, resultId, type TestProgsJson } from './test-progs.js';

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
export function expandTestProgs(t: RunnerOutput, died: 'crash' | 'hang' | null): { results: ExpandedResult[]; jsonError: string | null } | null {
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
  const results: ExpandedResult[] = run.results.map((r) => ({ name: `${t.name}:${resultId(r)}`, status: r.status, log: r.log }));
  if (!run.complete && run.running && died) {
    results.push({ name: `${t.name}:${resultId(run.running)}`, status: died, log: run.trailing.slice(-20) });
  }
  return results.length ? { results, jsonError } : null;
}

/** The suite test an expanded result belongs to, and its test_progs id. */
export function splitExpanded(name: string): { suiteTest: string; id: string | null } {
  const i = name.indexOf(':');
  return i < 0 ? { suiteTest: name, id: null } : { suiteTest: name.slice(0, i), id: name.slice(i + 1) };
}
